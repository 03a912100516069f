"""The engines of ``emoreason caption``: how :func:`emoreason.pipelines.caption.caption_inputs` runs each video.

Every engine runs :func:`caption_one` (or its two halves) and yields one :class:`~emoreason.schema.MediaResult` per
item, never an exception. ``local`` runs in this process, or perception in ``workers`` spawned processes and reasoning
here (one model in memory); ``ray`` runs :func:`caption_one` on Ray Data, one reasoner per actor.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.pipelines.inputs import Item
from emoreason.pipelines.video import caption_video, error_result, perceive_video, reason_video
from emoreason.pipelines.video_options import VideoOptions
from emoreason.schema import MediaResult

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")


# ------------------------------------------------------------------------------------------------ per video
def caption_one(item: dict[str, str], reasoner: Any, options: VideoOptions) -> MediaResult:
    """The per-video function every engine runs: a result, never an exception."""
    try:
        result = caption_video(item["path"], reasoner, options, item["id"])
    except Exception as err:  # noqa: BLE001 - a per-item record, the run goes on
        logger.exception("%s: failed", item["path"])
        result = error_result(item["path"], err, item["id"])
    return result


def perceive_job(item: Item, options: VideoOptions) -> Any:
    """Worker-process half: perception only (returns VideoPerception or an error MediaResult)."""
    try:
        return perceive_video(item.path, options, item.id)
    except Exception as err:  # noqa: BLE001
        if not isinstance(err, EmoreasonError):
            logger.exception("%s: perception failed", item.path)
        return error_result(item.path, err, item.id)


def run_local(
    items: list[Item],
    reasoner: Any,
    options: VideoOptions,
    workers: int,
    job: Callable[..., Any] | None = None,
    on_start: Callable[[Item], None] | None = None,
) -> Iterator[MediaResult]:
    """Sequential in this process, or perception in ``workers`` spawned processes and reasoning here.

    A worker that dies (a native crash in a decoder or the face model) breaks the whole pool and fails every item
    in flight. Those items are rerun one at a time in a fresh pool, so only the file that kills a worker gets an
    error record and the run goes on.
    """
    if workers <= 1:
        for item in items:
            if on_start:
                on_start(item)
            yield caption_one({"id": item.id, "path": item.path}, reasoner, options)
        return
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    job = job or perceive_job
    queue = list(reversed(items))
    suspects: list[Item] = []  # in flight when a worker died; run alone
    while queue or suspects:
        broken: list[Item] = []
        dead = False  # the pool is unusable: go on in a fresh one
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending: dict[Future, Item] = {}
            try:
                while (queue or suspects or pending) and not dead:
                    if suspects:
                        if not pending:
                            item = suspects.pop()
                            pending[pool.submit(job, item, options)] = item
                    else:
                        while queue and len(pending) < 2 * workers:
                            item = queue.pop()
                            pending[pool.submit(job, item, options)] = item
                    alone = len(pending) == 1
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        item = pending.pop(fut)
                        try:
                            got = fut.result()
                            result = got if isinstance(got, MediaResult) else reason_video(got, reasoner)
                        except BrokenProcessPool:
                            dead = True
                            if not alone:
                                broken.append(item)
                                continue
                            err = EmoreasonError(
                                f"{item.path}: the perception worker process crashed on this file (a fault in a "
                                "decoder or the face model); check the file, or re-encode it as MP4 (H.264/AAC)"
                            )
                            result = error_result(item.path, err, item.id)
                        except Exception as err:  # noqa: BLE001 - one item's error
                            result = error_result(item.path, err, item.id)
                        yield result
                    if dead:
                        broken += pending.values()
                        pending.clear()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        if broken:
            logger.warning("a perception worker crashed; rerunning %d file(s) one at a time", len(broken))
            suspects += reversed(broken)


class _RayCaptioner:
    """A Ray Data actor: builds the reasoner once, then runs :func:`caption_one` per row."""

    def __init__(self, reasoner_settings: dict[str, Any], options: VideoOptions):
        from emoreason.reasoning.base import build_reasoner

        self.reasoner = build_reasoner(**reasoner_settings)
        self.options = options

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "record": caption_one(row, self.reasoner, self.options).model_dump_json()}


def run_ray(
    items: list[Item], reasoner_settings: dict[str, Any], options: VideoOptions, workers: int
) -> Iterator[MediaResult]:
    """Ray Data over ``items``: :func:`caption_one` in ``workers`` actors; rows travel as the result's JSON."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise EmoreasonError("--engine ray needs Ray Data: pip install 'ray[data]' (or emoreason[scale])") from err
    started_here = not ray.is_initialized()
    if started_here:  # Ray's INFO lines off; its warnings, errors and a failed video's exception still show
        ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, ignore_reinit_error=True)  # fmt: skip
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # "Starting execution ...", "Execution plan ..."
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "Progress bars disabled": we chose so
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ds = ray.data.from_items([{"id": it.id, "path": it.path} for it in items])
        with warnings.catch_warnings():  # max_restarts as a remote arg is deprecated in Ray 2.60 (no named one yet)
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map(
                _RayCaptioner,
                fn_constructor_kwargs={"reasoner_settings": reasoner_settings, "options": options},
                compute=ray.data.ActorPoolStrategy(size=max(1, workers)),
                num_cpus=1,
                # No restarts: Ray Data's default (restart and retry forever) loops on a video that kills its actor
                # and prints a false "E core_worker ... constructor arguments" line each run (ray-project/ray#57733)
                max_restarts=0,
            )
        for row in ds.iter_rows():
            yield MediaResult.model_validate_json(row["record"])
    finally:
        if started_here:
            ray.shutdown()
