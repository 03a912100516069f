"""Resumable batch captioning: many videos -> one JSON line each (``MediaResult``), plus optional emotion subtitles.

Inputs are files, directories (searched recursively for videos), globs, or manifests (``.txt`` one path a line,
``.csv`` with a ``path`` column, ``.jsonl`` with ``path``/``video``; optional ``id``). Each finished video is
appended as one whole line with flush + fsync, so Ctrl-C or a kill leaves a valid file; a partial last line from a
crash is cut off on the next run, and ids already present are skipped. A bad video becomes an ``error`` line and
the run carries on.

Engines: ``local`` runs perception in ``workers`` processes and reasoning in this one (one model in memory);
``ray`` runs the same per-video function (:func:`caption_one`) on Ray Data, one reasoner per actor.
"""

from __future__ import annotations

import csv
import glob
import itertools
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.perception.media import VIDEO_EXTENSIONS
from emoreason.schema import MediaResult
from emoreason.video import VideoOptions, caption_video, error_result, perceive_video, reason_video, write_subtitles

logger = logging.getLogger(__name__)

MANIFEST_EXTENSIONS = (".txt", ".csv", ".jsonl", ".list")
ENGINES = ("local", "ray")


@dataclass
class Item:
    id: str
    path: str


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


# ------------------------------------------------------------------------------------------------ inputs
def _manifest(path: Path) -> list[Item]:
    base = path.parent
    items: list[Item] = []

    def add(p: str, id_: str | None = None) -> None:
        full = Path(p).expanduser()
        full = full if full.is_absolute() else base / full
        items.append(Item(id=id_ or str(full.resolve()), path=str(full)))

    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise EmoreasonError(f"{path}, line {n}: not JSON ({err.msg})") from err
                p = row.get("path") or row.get("video") if isinstance(row, dict) else None
                if not p:
                    raise EmoreasonError(f"{path}, line {n}: needs a 'path' (or 'video') field")
                add(str(p), row.get("id"))
    elif path.suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        col = next((c for c in ("path", "video", "file") if rows and c in rows[0]), None)
        if col is None:
            raise EmoreasonError(f"{path}: a CSV manifest needs a 'path' (or 'video') column")
        for row in rows:
            if row[col]:
                add(row[col], row.get("id") or None)
    else:
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                add(line.strip())
    return items


def expand_inputs(inputs: list[str]) -> list[Item]:
    """Files, directories, globs and manifests -> items in a stable order, duplicates dropped."""
    items: list[Item] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                logger.warning("%s: no video files found", p)
            items += [Item(str(f.resolve()), str(f)) for f in found]
        elif p.is_file() and p.suffix.lower() in MANIFEST_EXTENSIONS:
            items += _manifest(p)
        elif p.is_file() or not any(ch in raw for ch in "*?["):
            items.append(Item(str(p.resolve()), str(p)))  # a missing file becomes a per-item error
        else:
            matches = sorted(glob.glob(str(p), recursive=True))
            if not matches:
                raise EmoreasonError(f"{raw}: the pattern matches no files")
            items += [Item(str(Path(m).resolve()), m) for m in matches if Path(m).is_file()]
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            unique.append(item)
    return unique


# ------------------------------------------------------------------------------------------------ resumable output
def load_done(out: Path) -> set[str]:
    """Ids already in ``out``. A torn last line (a crash mid-write) is cut off so appending continues cleanly."""
    if not out.exists():
        return set()
    done: set[str] = set()
    good_end = 0
    with open(out, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                done.add(json.loads(line)["id"])
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                if line.strip():
                    break
            good_end += len(line)
    if good_end < out.stat().st_size:
        logger.warning(
            "%s: dropping a partial last line (%d bytes) from an interrupted run", out, out.stat().st_size - good_end
        )
        with open(out, "r+b") as f:
            f.truncate(good_end)
    return done


class JsonlAppender:
    """Appends whole JSON lines, flushed and fsynced one by one."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        self.f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


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
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"id": item.id, "path": item.path, "deaths": deaths}), encoding="utf-8")
        os.replace(tmp, self.path)

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
    if started_here:
        ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ds = ray.data.from_items([{"id": it.id, "path": it.path} for it in items])
        ds = ds.map(
            _RayCaptioner,
            fn_constructor_kwargs={"reasoner_settings": reasoner_settings, "options": options},
            concurrency=max(1, workers),
            num_cpus=1,
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
    done = load_done(out)
    todo = [it for it in items if it.id not in done]
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
    writer = JsonlAppender(out)
    start = time.perf_counter()
    names: set[str] = set()
    finished: set[str] = set()
    upcoming = iter(todo)  # the bar names the first unfinished item: the one being worked on (workers: the oldest)
    current: Item | None = next(upcoming, None)
    try:
        with _progress(progress, len(todo), Path(todo[0].path).name) as advance:
            for record in results:
                writer.write(record)
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
