"""Live captioning: the video pipeline over a live source (``emoreason caption --live``, the server's live page).

One pipeline, two sources. A live source (:mod:`emoreason.pipelines.live_source`: a camera, a network stream,
stdin, or the WebSocket's frames) goes through the file path's own faces pass
(:func:`emoreason.pipelines.video_faces.faces_pass` with ``frames=``), with fixed sampling and its VIDEO-mode
landmarker (frames arrive in order, a fifth of a second apart). Windows are fixed (``--window``, else
``windows.DEFAULT_WINDOW``), laid ahead of the frames as they come; when a frame passes a window's end, that window's
Evidence is built by the file path's :func:`~emoreason.pipelines.video.track_evidence` (on each track so far) and
reasoned by :func:`~emoreason.pipelines.video.reason_segments`. At the end (end of stream, Ctrl-C, Stop) the last
window closes at the last frame and :func:`~emoreason.pipelines.video.media_result` makes the usual caption.

Every step is an event (a dict, rendered at the edge): ``reading`` (one face in one frame: capture time, track,
label, probabilities, top AUs, box, latency from the frame's arrival), ``segment`` (a window's reasoned part),
``speech`` (words attached to segments already out) and ``end``. Speech, where the source has audio, is read in
chunks on a worker (:class:`LiveSpeech`); the faces never wait for it, so a segment is reasoned with the words heard
by the time it closes, and words heard later are attached to it afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emoreason import facs
from emoreason.errors import EmoreasonError
from emoreason.perception.speech import utterances_text, words_in
from emoreason.pipelines.live_source import LiveFrame
from emoreason.pipelines.video import (
    VideoPerception,
    media_result,
    reason_segments,
    speech_evidence,
    track_evidence,
    track_record,
)
from emoreason.pipelines.video_faces import faces_pass
from emoreason.pipelines.video_options import VideoOptions
from emoreason.pipelines.windows import DEFAULT_WINDOW, frame_scores
from emoreason.schema import MediaResult, SegmentResult, Utterance

logger = logging.getLogger(__name__)

TOP_AUS = 5  # AUs a reading names
SPEECH_QUEUE = 2  # audio chunks waiting for the speech worker; past it the oldest is dropped (and counted)


class LiveSpeech:
    """Speech in chunks on a worker thread: the prosody track and, with a transcriber, the words. ``feed`` never
    blocks (the reader thread calls it): past ``SPEECH_QUEUE`` chunks waiting, the oldest is dropped."""

    def __init__(self, transcriber: Any = None) -> None:
        from emoreason.perception.prosody import ProsodyTrack

        self.transcriber = transcriber
        self.prosody = ProsodyTrack()
        self.utterances: list[Utterance] = []
        self.fresh: list[Utterance] = []  # heard since the last take_fresh()
        self.dropped_chunks = 0
        self._lock = threading.Lock()
        self._todo: queue.Queue[tuple[float, np.ndarray] | None] = queue.Queue(maxsize=SPEECH_QUEUE)
        self._worker = threading.Thread(target=self._work, name="emoreason-live-speech", daemon=True)
        self._worker.start()

    def feed(self, start: float, samples: np.ndarray) -> None:
        while True:
            try:
                self._todo.put_nowait((start, samples))
                return
            except queue.Full:
                try:
                    self._todo.get_nowait()
                    self.dropped_chunks += 1
                except queue.Empty:
                    pass

    def _work(self) -> None:
        while (item := self._todo.get()) is not None:
            start, samples = item
            try:
                with self._lock:
                    self.prosody.add(start, samples)
                heard = self.transcriber(samples, offset=start) if self.transcriber is not None else []
            except Exception as err:  # noqa: BLE001 - speech is optional: the faces go on
                logger.warning("live speech: a chunk at %.1f s failed: %s", start, err)
                continue
            with self._lock:
                self.utterances += heard
                self.fresh += heard

    def take_fresh(self) -> list[Utterance]:
        with self._lock:
            fresh, self.fresh = self.fresh, []
        return fresh

    def speech_for(self, start: float, end: float) -> tuple[str, str]:
        """(transcript, prosody text) of a span, as the file path's ``speech_for``."""
        with self._lock:
            text = utterances_text(self.utterances, start, end)
            cues = self.prosody.cues(start, end, words_in(self.utterances, start, end), text)
        return text, cues.text if cues else ""

    def close(self, wait_s: float) -> None:
        """Let the chunks waiting be read (for at most ``wait_s``), then stop the worker."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._todo.put(None, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    return
        self._worker.join(max(0.0, deadline - time.monotonic()))


def _silent(_start: float, _end: float) -> tuple[str, str]:
    return "", ""


class LiveCaption:
    """One live run: frames in, events out (module docstring). ``emit(event)`` is called on the caller's thread."""

    def __init__(
        self,
        reasoner: Any,
        options: VideoOptions,
        emit: Callable[[dict[str, Any]], None],
        video_id: str = "live",
        speech: LiveSpeech | None = None,
        keep_crops: bool = False,
        frame_done: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.options = dataclasses.replace(options, sampling="fixed")  # frames in order, close together
        self.reasoner, self.emit, self.id, self.speech = reasoner, emit, video_id, speech
        self.keep_crops = keep_crops
        self.frame_done = frame_done  # gets a ``frame`` event after each frame read, faces or not (the live page)
        self.window = options.window or DEFAULT_WINDOW
        self.step = 1.0 / self.options.fps if self.options.fps else 0.2
        self.plan: list[tuple[float, float]] = []  # the windows, laid ahead of the frames
        self.closed = 0  # windows reasoned and out
        self.segments: list[SegmentResult] = []
        self.perception = VideoPerception(id=video_id, path=video_id, duration=None)
        self.readings = 0
        self.latencies: deque[float] = deque(maxlen=100_000)
        self.last_time: float | None = None
        self.source: Any = None
        self._series: dict[int, Any] = {}
        self._peaks: dict[tuple[int, int, str], Any] = {}
        self._fusion: dict | None = None

    # ------------------------------------------------------------------------------------------------ running
    def run(self, source: Any) -> MediaResult:
        """Caption ``source`` (a ``LiveSource`` or ``FrameBox``) until it ends; returns the caption so far."""
        from emoreason.perception import expression

        self.source = source
        model = expression.model_for(self.options.expression_model)
        self._fusion = expression.fusion_card(model)
        if model is not None:  # its first run is slow: made before the first frame comes in
            model.read([expression.whole_image_crop(np.zeros((64, 64, 3), np.uint8))])
        notes: list[str] = []
        series, peaks = faces_pass(None, self.options, self.plan, notes, frames=self._frames(source.frames()),
                                   on_frame=self._on_frame)  # fmt: skip
        self._series, self._peaks = series, peaks
        return self.finish(notes + list(getattr(source, "notes", [])))

    def _frames(self, frames: Iterator[LiveFrame]) -> Iterator[LiveFrame]:
        # asked for its first frame once the faces pass has warmed up: a sender may start now without its first
        # frames waiting behind the models' first runs (2-3 s), dropped, and the track split by the gap
        if self.frame_done is not None:
            self.frame_done({"type": "ready"})
        for frame in frames:
            while not self.plan or self.plan[-1][1] <= frame.time:
                start = self.plan[-1][1] if self.plan else 0.0
                self.plan.append((start, start + self.window))
            self.last_time = frame.time
            yield frame

    def _on_frame(self, frame: Any, found: list[Any], series: dict[int, Any], peaks: dict) -> None:
        self._series, self._peaks = series, peaks
        latency = time.monotonic() - getattr(frame, "arrival", time.monotonic())
        self.latencies.append(latency)
        for face in found:
            self.readings += 1
            self.emit(self._reading(frame, face, latency))
        if self.frame_done is not None:  # a sender can tell what became of each frame: read, or dropped
            dropped = int(getattr(self.source, "dropped", 0))
            self.frame_done({"type": "frame", "time": round(frame.time, 3), "faces": len(found),
                             "frames": len(self.latencies), "dropped": dropped})  # fmt: skip
        while self.closed < len(self.plan) and self.plan[self.closed][1] <= frame.time:
            self._close_window(self.closed)
        self._attach_words()

    def _reading(self, frame: Any, face: Any, latency: float) -> dict[str, Any]:
        label, probabilities = frame_scores(
            face.aus, self.options.label_set, tuple(face.uncertain_aus), face.expression, self._fusion
        )
        top = sorted(probabilities.items(), key=lambda kv: -kv[1])[:4]
        return {
            "type": "reading",
            "id": f"r{self.readings}",
            "time": round(frame.time, 3),
            "track": int(face.track_id) if face.track_id is not None else None,
            "label": label,
            "probabilities": {k: round(v, 3) for k, v in top},
            "aus": {k: round(v, 2) for k, v in facs.active_aus(face.aus)[:TOP_AUS]},
            "box": [round(float(v), 1) for v in face.box],
            "size": [int(frame.image.shape[1]), int(frame.image.shape[0])],
            "latency": round(latency, 3),
            "dropped": int(getattr(self.source, "dropped", 0)),
        }

    def _close_window(self, si: int) -> None:
        """Reason window ``si`` over each track so far and emit its segments."""
        speech_for = self.speech.speech_for if self.speech is not None else _silent
        evidence, crops = [], {}
        for tid in sorted(self._series):
            evs, found = track_evidence(self.id, self._series[tid], self.plan, [si], self._peaks, self.options,
                                        speech_for)  # fmt: skip
            evidence += evs
            crops.update(found)
        if not evidence:
            ev = speech_evidence(self.id, si, self.plan[si], self.options, speech_for)
            evidence = [ev] if ev is not None else []
        for key in [k for k in self._peaks if k[1] == si]:  # this window's crops are in ``crops`` now
            del self._peaks[key]
        segments = reason_segments(evidence, crops, self.reasoner) if evidence else []
        self.closed = si + 1
        self.perception.evidence += evidence
        if self.keep_crops:
            self.perception.crops.update(crops)
        for seg in segments:
            self.segments.append(seg)
            self.emit(self._segment(seg))

    def _segment(self, seg: SegmentResult) -> dict[str, Any]:
        return {
            "type": "segment",
            "id": f"s{len(self.segments)}",
            "start": round(seg.start, 3),
            "end": round(seg.end, 3),
            "track": seg.track,
            "label": seg.label,
            "aus": {k: round(v, 2) for k, v in facs.active_aus(seg.aus)[:TOP_AUS]},
            "transcript": seg.transcript,
            "cot": seg.raw,
        }

    def _attach_words(self) -> None:
        """Words heard since the last look, attached to the segments already out that they fall in."""
        if self.speech is None:
            return
        fresh = self.speech.take_fresh()
        if not fresh:
            return
        for seg in self.segments:
            if any(u.start < seg.end and u.end > seg.start for u in fresh):
                seg.transcript = self.speech.speech_for(seg.start, seg.end)[0]
                self.emit({"type": "speech", "id": f"w{id(seg)}-{len(seg.transcript)}", "start": seg.start,
                           "end": seg.end, "track": seg.track, "transcript": seg.transcript})  # fmt: skip

    def finish(self, notes: list[str]) -> MediaResult:
        """The last window closes at the last frame; the caption of everything so far."""
        if self.last_time is not None and self.closed < len(self.plan):
            start, end = self.plan[self.closed]
            self.plan[self.closed] = (start, min(end, self.last_time + self.step))
            del self.plan[self.closed + 1 :]
            self._close_window(self.closed)
        if self.speech is not None:
            self.speech.close(wait_s=10.0)
            self._attach_words()
            self.perception.utterances = list(self.speech.utterances)
            if self.speech.dropped_chunks:
                notes.append(f"speech fell behind: {self.speech.dropped_chunks} audio chunks skipped")
        perc = self.perception
        perc.tracks = [track_record(self._series[tid]) for tid in sorted(self._series)]
        perc.duration = round(self.last_time + self.step, 3) if self.last_time is not None else 0.0
        dropped = int(getattr(self.source, "dropped", 0))
        if dropped:
            notes.append(f"{dropped} frames dropped (analysis fell behind; the newest frame was read instead)")
        perc.notes = notes
        result = media_result(perc, self.segments)
        self.emit({"type": "end", "id": "end", **self.stats(), "notes": notes})
        return result

    def stats(self) -> dict[str, Any]:
        """Readings, drops and latency so far (p50/p95 over the frames read)."""
        lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) if lat else None

        return {"frames": len(lat), "readings": self.readings, "dropped": int(getattr(self.source, "dropped", 0)),
                "latency_p50": pct(0.5), "latency_p95": pct(0.95)}  # fmt: skip


class LiveFiles:
    """``--out DIR`` of a live run: ``live.jsonl`` (every event, flushed as it happens, so a crash keeps all up to
    the last reading), ``live.srt`` and ``live.vtt`` (rewritten atomically after each segment) and, at the end,
    ``caption.jsonl``: the caption's one line, as ``emoreason caption`` writes it."""

    def __init__(self, folder: str | Path) -> None:
        from emoreason.io import JsonlLog

        self.folder = Path(folder)
        if (self.folder / "live.jsonl").exists():
            raise EmoreasonError(f"{self.folder} already holds a live caption (live.jsonl); pass another --out")
        self.log = JsonlLog(self.folder / "live.jsonl")
        self.run: LiveCaption | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        self.log.append(event, sync=event["type"] != "reading")  # a reading is flushed; a segment also fsynced
        if event["type"] in ("segment", "speech") and self.run is not None:
            self.subtitles(self.run.segments)

    def subtitles(self, segments: list[SegmentResult]) -> None:
        from emoreason.pipelines.video import write_subtitles

        tracks = sorted({s.track for s in segments if s.track is not None})
        result = MediaResult(id="live", path="live", status="ok", segments=segments,
                             tracks=[{"track": t} for t in tracks])
        for ext in ("srt", "vtt"):
            write_subtitles(result, self.folder / f"live.{ext}")

    def close(self, result: MediaResult | None) -> None:
        from emoreason.io import atomic_write_text

        if result is not None:
            self.subtitles(result.segments)
            atomic_write_text(self.folder / "caption.jsonl", json.dumps(result.model_dump(mode="json")) + "\n")
        self.log.close()


def live_speech(container: Any, options: VideoOptions, notes: list[str]) -> LiveSpeech | None:
    """The speech worker for a source with audio (None: no audio, or ``--no-speech``); whisper as for files."""
    from emoreason.pipelines.video_speech import get_transcriber

    if options.no_speech:
        notes.append("speech skipped (--no-speech)")
        return None
    if container is None or not container.streams.audio:
        notes.append("no audio track: speech and prosody skipped")
        return None
    return LiveSpeech(get_transcriber(options, notes))


def caption_live(
    source: str,
    reasoner: Any,
    options: VideoOptions,
    emit: Callable[[dict[str, Any]], None],
    out: str | Path | None = None,
    speech_chunk: float = 5.0,
    reconnect: int = 0,
    stall_s: float = 10.0,
    stdin: Any = None,
    say: Callable[[str], None] | None = None,
    started: Callable[[Any], None] | None = None,
) -> MediaResult:
    """Caption a live ``source`` until it ends or its ``stop()`` is called (``started(source)`` gets it first, so
    a signal handler can). Every event goes to ``emit`` and, with ``out``, to :class:`LiveFiles`; everything up
    to the last reading is on disk whatever stops the run, and the last segment is closed on a stop or an end."""
    from emoreason.pipelines.live_source import LiveSource

    files = LiveFiles(out) if out is not None else None
    notes: list[str] = []
    speech: LiveSpeech | None = None
    holder: dict[str, Any] = {}

    def on_audio(start: float, samples: np.ndarray) -> None:
        if holder.get("speech") is not None:
            holder["speech"].feed(start, samples)

    live = LiveSource(source, options.fps, options.max_side, reconnect, stall_s, on_audio, speech_chunk, stdin, say)
    speech = holder["speech"] = live_speech(live._container, options, notes)

    def both(event: dict[str, Any]) -> None:
        emit(event)
        if files is not None:
            files(event)

    run = LiveCaption(reasoner, options, both, video_id=source, speech=speech)
    if files is not None:
        files.run = run
    if started is not None:
        started(live)
    result: MediaResult | None = None
    try:
        result = run.run(live)
        result.notes = notes + result.notes
        return result
    finally:
        live.stop()
        if files is not None:
            files.close(result)
