"""Resumable batch captioning: many videos -> one JSON line each (``MediaResult``), plus optional emotion subtitles.

Inputs are files, directories, globs or manifests (:mod:`emoreason.pipelines.inputs`). The output is an
:class:`emoreason.io.JsonlLog`: each finished video is appended as one whole line with flush + fsync, so Ctrl-C or
a kill leaves a valid file; a partial last line from a crash is cut off on the next run, and ids already present
are skipped. The settings that change a caption are kept in ``<out>.settings.json``; a resume with other settings
refuses. A bad video becomes an ``error`` line and the run carries on.

Engines (:mod:`emoreason.pipelines.caption_engines`): ``local`` runs perception in ``workers`` processes and
reasoning in this one (one model in memory); ``ray`` runs the same per-video function on Ray Data, one reasoner per
actor. Subtitles are written from each result before it is dumped to its line.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import JsonlLog, atomic_write_text, check_settings
from emoreason.pipelines.caption_engines import ENGINES, run_local, run_ray
from emoreason.pipelines.inputs import Item, expand_inputs
from emoreason.pipelines.video import error_result, write_subtitles
from emoreason.pipelines.video_options import VideoOptions
from emoreason.schema import MediaResult

logger = logging.getLogger(__name__)


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
        """One line: ``2 captioned (no_face 1, ok 1), 1 failed; ...``; an error line is failed, not captioned."""
        captioned = sorted((k, v) for k, v in self.counts.items() if k != "error")
        line = f"{sum(v for _, v in captioned)} captioned"
        if captioned:
            line += f" ({', '.join(f'{k} {v}' for k, v in captioned)})"
        if self.failed:
            line += f", {self.failed} failed"
        parts = [line]
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


def _warn_missing_whisper(todo: list[Item], options: VideoOptions) -> None:
    """Say once, before the work, that the videos without a transcript file will have no words, and the fix (each
    video's ``notes`` say it too, but a batch that skips speech silently looks like one that heard nothing)."""
    from emoreason.perception.speech import transcript_source
    from emoreason.pipelines.video_speech import missing_whisper

    missing = missing_whisper(options)
    if missing is None:
        return
    files = [it for it in todo if Path(it.path).is_file()]  # a missing file is its own error, said after
    unheard = [it for it in files if transcript_source(it.path, options.transcript)[0] == "whisper"]
    if unheard:
        logger.warning("speech skipped in %d of %d videos (no transcript file): %s", len(unheard), len(todo), missing)


def _crash_result(item: Item, deaths: int) -> MediaResult:
    err = EmoreasonError(
        f"{item.path}: the captioning process died {deaths} times while working on this file (a crash in a decoder "
        "or the face model, or a kill); check the file or re-encode it as MP4 (H.264/AAC), then delete its line "
        "from the output to retry it"
    )
    return error_result(item.path, err, item.id)


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
    _warn_missing_whisper(todo, options)
    if engine == "ray":
        results = run_ray(todo, settings, options, workers)
    else:
        poison = [it for it in todo if died_on and it.id == died_on["id"] and deaths >= InFlight.MAX_DEATHS]
        todo = [it for it in todo if it not in poison]
        results = itertools.chain(
            (_crash_result(it, deaths) for it in poison),
            run_local(
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
            for result in results:
                record = result.model_dump(mode="json")
                writer.append(record)
                summary.counts[record["status"]] += 1
                summary.video_seconds += record.get("duration") or 0.0
                if record["status"] == "error":
                    summary.errors.append((record["path"], record.get("error") or ""))
                elif srt_dir or vtt_dir:
                    _subtitles(result, srt_dir, vtt_dir, names)
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


def _subtitles(result: MediaResult, srt_dir: Any, vtt_dir: Any, names: set[str]) -> None:
    """The result's .srt / .vtt, named after the video (two videos with one name: the id's hash is added)."""
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
