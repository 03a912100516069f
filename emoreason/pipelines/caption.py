"""Resumable batch captioning: many videos -> one JSON line each (``MediaResult``), plus optional emotion subtitles.

Inputs are files, directories, globs or manifests (:mod:`emoreason.pipelines.inputs`). The output is an
:class:`emoreason.io.JsonlLog`: each finished video is appended as one whole line with flush + fsync, so Ctrl-C or
a kill leaves a valid file; a partial last line from a crash is cut off on the next run, and ids already present
are skipped. The settings that change a caption are kept in ``<out>.settings.json``; a resume with other settings
refuses. A bad video becomes an ``error`` line and the run carries on.

Engines: ``local`` runs perception in ``workers`` processes and reasoning in this one (one model in memory);
``ray`` runs the same per-video function (:func:`caption_one`) on Ray Data, one reasoner per actor.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import JsonlLog, atomic_write_text, check_settings
from emoreason.pipelines.inputs import Item, expand_inputs
from emoreason.pipelines.video import (
    VideoOptions,
    caption_video,
    error_result,
    perceive_video,
    reason_video,
    write_subtitles,
)
from emoreason.schema import MediaResult

logger = logging.getLogger(__name__)

ENGINES = ("local", "ray")


@dataclass
class CaptionSummary:
    """What a run did. ``counts`` is by status (ok / no_face / error); ``skipped`` were already in ``out``."""

    out: str
    total: int = 0
    skipped: int = 0
    counts: Counter = field(default_factory=Counter)
    video_seconds: float = 0.0
    wall_seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.counts.get("error", 0)

    def text(self) -> str:
        done = sum(self.counts.values())
        parts = [f"{done} captioned ({', '.join(f'{k} {v}' for k, v in sorted(self.counts.items())) or 'none'})"]
        if self.skipped:
            parts.append(f"{self.skipped} already in {self.out}, skipped")
        if self.video_seconds and self.wall_seconds:
            parts.append(
                f"{self.video_seconds:.0f} s of video in {self.wall_seconds:.1f} s "
                f"({self.video_seconds / self.wall_seconds:.1f}x real time)"
            )
        return "; ".join(parts) + f" -> {self.out}"


# ------------------------------------------------------------------------------------------------ resumable output
class InFlight:
    """``<out>.inflight``: the video the single-process engine is working on, and how many runs died on it.

    A native crash (a decoder or face-model fault) or a kill ends the whole process, and a plain resume would start
    on the same file again. When a run dies twice on one file, the next run records it as an error and goes on.
    """

    MAX_DEATHS = 2

    def __init__(self, out: Path):
        self.path = out.with_name(out.name + ".inflight")

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def mark(self, item: Item, deaths: int) -> None:
        atomic_write_text(self.path, json.dumps({"id": item.id, "path": item.path, "deaths": deaths}))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _crash_record(item: Item, deaths: int) -> dict[str, Any]:
    err = EmoreasonError(
        f"{item.path}: the captioning process died {deaths} times while working on this file (a crash in a decoder "
        "or the face model, or a kill); check the file or re-encode it as MP4 (H.264/AAC), then delete its line "
        "from the output to retry it"
    )
    return error_result(item.path, err, item.id).model_dump(mode="json")


# ------------------------------------------------------------------------------------------------ per video
def caption_one(item: dict[str, str], reasoner: Any, options: VideoOptions) -> dict[str, Any]:
    """The per-video function every engine runs: a JSON-ready record, never an exception."""
    try:
        result = caption_video(item["path"], reasoner, options, item["id"])
    except Exception as err:  # noqa: BLE001 - a per-item record, the run goes on
        logger.exception("%s: failed", item["path"])
        result = error_result(item["path"], err, item["id"])
    return result.model_dump(mode="json")


def _perceive_job(item: Item, options: VideoOptions) -> Any:
    """Worker-process half: perception only (returns VideoPerception or an error MediaResult)."""
    try:
        return perceive_video(item.path, options, item.id)
    except Exception as err:  # noqa: BLE001
        if not isinstance(err, EmoreasonError):
            logger.exception("%s: perception failed", item.path)
        return error_result(item.path, err, item.id)


def _run_local(
    items: list[Item],
    reasoner: Any,
    options: VideoOptions,
    workers: int,
    job: Callable[..., Any] | None = None,
    on_start: Callable[[Item], None] | None = None,
) -> Iterator[dict[str, Any]]:
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

    job = job or _perceive_job
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
                        yield result.model_dump(mode="json")
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
        return {"id": row["id"], "record": json.dumps(caption_one(row, self.reasoner, self.options))}


def _run_ray(items: list[Item], reasoner_settings: dict[str, Any], options: VideoOptions, workers: int):
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
            yield json.loads(row["record"])
    finally:
        if started_here:
            ray.shutdown()


# ------------------------------------------------------------------------------------------------ the batch job
def caption_inputs(
    inputs: list[str],
    out: str | Path,
    reasoner_settings: dict[str, Any] | None = None,
    options: VideoOptions | None = None,
    srt_dir: str | Path | None = None,
    vtt_dir: str | Path | None = None,
    workers: int = 1,
    engine: str = "local",
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    reasoner: Any = None,
) -> CaptionSummary:
    """Caption every input video into ``out`` (JSONL, appended, resumable). See the module docstring.

    ``reasoner_settings`` are :func:`~emoreason.reasoning.base.build_reasoner` keywords (Ray actors build from
    them); a ready ``reasoner`` is used as is by the local engine.
    """
    from emoreason.reasoning.base import build_reasoner

    if engine not in ENGINES:
        raise EmoreasonError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if workers < 1:
        raise EmoreasonError("--workers must be at least 1")
    options = options or VideoOptions()
    settings = {"backend": "rules", **(reasoner_settings or {})}
    out = Path(out)
    items = expand_inputs(inputs)
    if not items:
        raise EmoreasonError("no input videos found; pass files, directories, globs or a manifest")
    if options.whisper:  # an explicit --whisper must work before hours of work start
        from emoreason.perception.speech import resolve_whisper

        resolve_whisper(options.whisper)
    sidecar = out.with_name(out.name + ".settings.json")
    restart = f"use another --out, or delete {out} and {sidecar.name} to caption everything again"
    fingerprinted = asdict(options)  # every setting that changes a caption; not engine or workers
    fingerprinted.update({k if k not in fingerprinted else f"reasoner_{k}": v for k, v in settings.items()})
    check_settings(sidecar, fingerprinted, out, restart)
    writer = JsonlLog(out)
    todo = [it for it in items if it.id not in writer]
    summary = CaptionSummary(out=str(out), total=len(items), skipped=len(items) - len(todo))
    inflight = InFlight(out)
    died_on = inflight.read() or {}
    if died_on.get("id") not in {it.id for it in todo}:
        died_on = {}
    deaths = int(died_on.get("deaths") or 0) + 1 if died_on else 0
    if died_on:
        logger.warning("the last run died while captioning %s (%d time(s))", died_on.get("path"), deaths)
    if not todo:
        inflight.clear()
        return summary
    if engine == "ray":
        results = _run_ray(todo, settings, options, workers)
    else:
        poison = [it for it in todo if died_on and it.id == died_on["id"] and deaths >= InFlight.MAX_DEATHS]
        todo = [it for it in todo if it not in poison]
        results = itertools.chain(
            (_crash_record(it, deaths) for it in poison),
            _run_local(
                todo,
                reasoner or build_reasoner(**settings),
                options,
                workers,
                on_start=lambda it: inflight.mark(it, deaths if it.id == died_on.get("id") else 0),
            ),
        )
        todo = poison + todo
    start = time.perf_counter()
    names: set[str] = set()
    finished: set[str] = set()
    upcoming = iter(todo)  # the bar names the first unfinished item: the one being worked on (workers: the oldest)
    current: Item | None = next(upcoming, None)
    try:
        with _progress(progress, len(todo), Path(todo[0].path).name) as advance:
            for record in results:
                writer.append(record)
                summary.counts[record["status"]] += 1
                summary.video_seconds += record.get("duration") or 0.0
                if record["status"] == "error":
                    summary.errors.append((record["path"], record.get("error") or ""))
                elif srt_dir or vtt_dir:
                    _subtitles(record, srt_dir, vtt_dir, names)
                if on_result:
                    on_result(record)
                finished.add(record["id"])
                while current is not None and current.id in finished:
                    current = next(upcoming, None)
                advance(Path(current.path).name if current else "")
    except KeyboardInterrupt:
        inflight.clear()  # an interrupt is not the file's fault
        raise
    else:
        inflight.clear()
    finally:
        writer.close()
        summary.wall_seconds = time.perf_counter() - start
    return summary


def _subtitles(record: dict[str, Any], srt_dir: Any, vtt_dir: Any, names: set[str]) -> None:
    result = MediaResult.model_validate(record)
    stem = Path(result.path).stem
    if stem in names:
        import hashlib

        stem = f"{stem}-{hashlib.sha1(result.id.encode()).hexdigest()[:8]}"
    names.add(stem)
    for folder, ext in ((srt_dir, ".srt"), (vtt_dir, ".vtt")):
        if folder:
            write_subtitles(result, Path(folder) / f"{stem}{ext}")


class _progress:
    """A rich progress bar on stderr (items, current file, ETA), or nothing."""

    def __init__(self, enabled: bool, total: int, first: str = ""):
        self.enabled, self.total, self.first = enabled, total, first
        self.bar: Any = None

    def __enter__(self) -> Callable[[str], None]:
        """``advance(name)``: one more item done; ``name`` is the file now being worked on ("" at the end)."""
        if not self.enabled:
            return lambda _name: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]caption"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            transient=False,
        )
        self.bar.start()
        task = self.bar.add_task(self.first, total=self.total)

        def advance(current: str) -> None:
            self.bar.update(task, advance=1, description=current)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
