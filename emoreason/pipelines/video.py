"""The video agent: video -> sampled frames -> face tracks + AU series -> utterances -> segments -> one Evidence per
(track, segment) -> reasoner (batched) -> :class:`~emoreason.schema.MediaResult`.

Two halves, so batch jobs can run perception in worker processes and reasoning in one place:
:func:`perceive_video` (decode, faces, speech, prosody; the result pickles, crops travel as JPEG bytes) and
:func:`reason_video` (Evidence batches -> reasoner -> timeline, caption). :func:`caption_video` does both and
never raises for a bad file; :func:`video_evidence` gives the chat REPL the Evidence of one video. The speech
(transcript, prosody) is read in :mod:`emoreason.pipelines.video_speech`, the faces (tracks, AU series, peak crops)
in :mod:`emoreason.pipelines.video_faces`; where windows fall, how they split and what one window's Evidence holds
is in :mod:`emoreason.pipelines.windows`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.perception import media
from emoreason.perception.speech import utterances_text, words_in
from emoreason.perception.tracks import AUSeries
from emoreason.pipelines import timeline
from emoreason.pipelines.video_faces import faces_pass
from emoreason.pipelines.video_options import VideoOptions
from emoreason.pipelines.video_speech import no_words_reason, read_audio, speech_source
from emoreason.pipelines.windows import _segment_evidence, label_runs, plan_segments
from emoreason.reasoning.base import Reasoner
from emoreason.schema import Evidence, MediaResult, SegmentResult, Utterance

logger = logging.getLogger(__name__)


@dataclass
class VideoPerception:
    """Everything perception found in one video; pickles (crops are JPEG bytes, decoded when reasoning)."""

    id: str
    path: str
    duration: float | None
    evidence: list[Evidence] = field(default_factory=list)
    crops: dict[str, bytes] = field(default_factory=dict)
    tracks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    utterances: list[Utterance] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "ok" if self.tracks else "no_face"


# ------------------------------------------------------------------------------------------------ perception
def perceive_video(
    path: str | Path, options: VideoOptions | None = None, video_id: str | None = None
) -> VideoPerception:
    """Perception for one video. Raises EmoreasonError for unreadable media (no video stream, corrupt, ...)."""
    options = options or VideoOptions()
    path = Path(path)
    info = media.probe(path)
    if not info.has_video:
        raise EmoreasonError(f"{path}: no video stream (audio only); caption needs a video track")
    out = VideoPerception(id=video_id or str(path), path=str(path), duration=info.duration)
    out.utterances, transcriber, audio = speech_source(path, info, options, out.notes)
    prosody = None
    if audio and transcriber is not None:  # the windows follow the words: transcribe first
        heard, prosody = read_audio(path, options, transcriber, out.notes)
        out.utterances += heard
    duration = info.duration or max((u.end for u in out.utterances), default=0.0)
    segments = plan_segments(duration, out.utterances, options.window)
    if audio and transcriber is None:
        # the audio gives only the prosody track, which the windows do not wait for: it is read in a thread while
        # the faces pass runs (its notes still come first)
        speech_notes: list[str] = []
        face_notes: list[str] = []
        with ThreadPoolExecutor(1, thread_name_prefix="emoreason-audio") as pool:
            future = pool.submit(read_audio, path, options, None, speech_notes)
            series, peaks = faces_pass(path, options, segments, face_notes)
            _, prosody = future.result()
        out.notes += speech_notes + face_notes
    else:
        series, peaks = faces_pass(path, options, segments, out.notes)
    if series:
        duration = max(duration, max(s.times[-1] for s in series.values()))
    out.duration = round(duration, 3)

    def speech_for(start: float, end: float) -> tuple[str, str]:
        text = utterances_text(out.utterances, start, end)
        cues = prosody.cues(start, end, words_in(out.utterances, start, end), text) if prosody else None
        return text, cues.text if cues else ""

    covered: set[int] = set()  # segments with at least one face frame
    for tid in sorted(series):
        s = series[tid]
        out.tracks.append(track_record(s))
        evidence, crops = track_evidence(out.id, s, segments, range(len(segments)), peaks, options, speech_for)
        covered |= {si for si, span in enumerate(segments) if s.frames_between(*span)}
        out.evidence += evidence
        out.crops.update(crops)
    # Segments where no face is visible (none in the whole video, or the speaker is off screen for a while) keep
    # their words: speech-only Evidence, so the transcript is never dropped.
    for si, span in enumerate(segments):
        if si not in covered:
            ev = speech_evidence(out.id, si, span, options, speech_for)
            if ev is not None:
                out.evidence.append(ev)
    if not out.utterances:  # the chat says why there are no words, not a list of possible causes
        reason = no_words_reason(path, info, options)
        for ev in out.evidence:
            ev.meta["no_words"] = reason
    return out


def track_record(s: AUSeries) -> dict[str, Any]:
    """A track's entry in ``VideoPerception.tracks`` (and the result's ``tracks``): frames, span, resting face."""
    return {
        "track": s.track, "frames": len(s.times), "start": s.times[0], "end": s.times[-1], "baseline": s.baseline()
    }


def track_evidence(
    video_id: str,
    s: AUSeries,
    segments: list[tuple[float, float]],
    windows: Iterable[int],
    peaks: dict[tuple[int, int, str], tuple[float, float, bytes]],
    options: VideoOptions,
    speech_for: Callable[[float, float], tuple[str, str]],
) -> tuple[list[Evidence], dict[str, bytes]]:
    """The Evidence of one face track in the given ``windows`` (indices into ``segments``), a window split where
    the track's smoothed label changes, and the peak crop of each part (JPEG bytes by Evidence id). The file pass
    calls it once per track over all windows; the live pass once per window as it closes, on the track so far."""
    tid = s.track
    baseline = s.baseline()
    step = 1.0 / options.fps if options.fps else 0.25
    run_of = [0] * len(s.times)  # frame -> index of its run over the whole track
    track_runs = label_runs(s.labels or [""] * len(s.times))
    for r, (_, first, last) in enumerate(track_runs):
        run_of[first : last + 1] = [r] * (last - first + 1)
    evidence: list[Evidence] = []
    crops: dict[str, bytes] = {}
    for si in windows:
        start, end = segments[si]
        idx = s.frames_between(start, end)
        if not idx:
            continue
        runs = []  # (label, first, last) positions in idx, one per track run the window overlaps
        for pos, i in enumerate(idx):
            if runs and run_of[i] == runs[-1][3]:
                runs[-1][2] = pos
            else:
                runs.append([track_runs[run_of[i]][0], pos, pos, run_of[i]])
        for k, (label, first, last, _) in enumerate(runs):
            part = idx[first : last + 1]
            # a part starts at its first frame (the window's start for the first part when the face is there
            # from the start) and ends where the next part starts, or after its last frame: the face left
            t0 = start if k == 0 and s.times[part[0]] - start <= step + 1e-6 else s.times[part[0]]
            t1 = s.times[idx[runs[k + 1][1]]] if k + 1 < len(runs) else min(end, s.times[part[-1]] + step)
            ev_id = f"{video_id}#t{tid}s{si}" + (f"p{k}" if len(runs) > 1 else "")
            crop = peaks.get((tid, si, label))
            if crop is None:  # the run's (smoothed) label is no frame's own here: the window's best frame
                crop = max((v for k, v in peaks.items() if k[:2] == (tid, si)), default=None, key=lambda v: v[0])
            ev = _segment_evidence(s, part, baseline, ev_id, (t0, t1), crop, options, speech_for)
            if crop is not None:
                crops[ev.id] = crop[2]
            evidence.append(ev)
    return evidence, crops


def speech_evidence(
    video_id: str, si: int, span: tuple[float, float], options: VideoOptions,
    speech_for: Callable[[float, float], tuple[str, str]],
) -> Evidence | None:
    """A window with no face in it, as speech-only Evidence (None when nothing was heard in it either)."""
    start, end = span
    transcript, prosody_text = speech_for(start, end)
    if not (transcript or prosody_text):
        return None
    return Evidence(
        id=f"{video_id}#s{si}",
        transcript=transcript,
        prosody=prosody_text,
        au_text="No face visible.",
        start=round(start, 3),
        end=round(end, 3),
        label_set=options.label_set,
        meta={"face": False},
    )


def attach_crops(evidence: list[Evidence], crops: dict[str, bytes]) -> list[Evidence]:
    """Decode each Evidence's peak crop into ``images`` (done per batch, so memory stays small)."""
    from PIL import Image

    for ev in evidence:
        if ev.id in crops and not ev.images:
            ev.images = [Image.open(io.BytesIO(crops[ev.id])).convert("RGB")]
    return evidence


# ------------------------------------------------------------------------------------------------ reasoning
def reason_video(perc: VideoPerception, reasoner: Reasoner, batch_size: int = 16) -> MediaResult:
    """Run the reasoner over the Evidence in batches and build the video-level result."""
    segments: list[SegmentResult] = []
    for i in range(0, len(perc.evidence), batch_size):
        segments += reason_segments(perc.evidence[i : i + batch_size], perc.crops, reasoner, batch_size)
    return media_result(perc, segments)


def reason_segments(
    evidence: list[Evidence], crops: dict[str, bytes], reasoner: Reasoner, batch_size: int = 16
) -> list[SegmentResult]:
    """One batch of Evidence -> its segments (crops decoded for the batch only, dropped after)."""
    from emoreason.reasoning.base import reason_each

    batch = attach_crops(evidence, crops)
    answers = reason_each(reasoner, batch, batch_size)
    failed = next((a for a in answers if isinstance(a, Exception)), None)
    if failed is not None:  # a window the backend fails on even alone fails the video (recorded per video)
        raise failed
    segments = []
    for ev, ans in zip(batch, answers, strict=True):
        segments.append(
            SegmentResult(
                start=ev.start or 0.0,
                end=ev.end or 0.0,
                track=ev.track,
                aus=ev.aus,
                uncertain_aus=list(ev.uncertain_aus),
                transcript=ev.transcript,
                prosody=ev.prosody,
                label=ans.label,
                raw=ans.raw,
            )
        )
        ev.images = []
    return segments


def media_result(perc: VideoPerception, segments: list[SegmentResult]) -> MediaResult:
    """The video-level result from its perception and reasoned segments: tracks with their timelines, caption."""
    track_ids = [t["track"] for t in perc.tracks]
    tracks = [
        {**t, "dominant": timeline.dominant(segments, t["track"]), "timeline": timeline.timeline(segments, t["track"])}
        for t in perc.tracks
    ]
    return MediaResult(
        id=perc.id,
        path=perc.path,
        status=perc.status,
        duration=perc.duration,
        tracks=tracks,
        segments=sorted(segments, key=lambda s: (s.start, s.track or 0)),
        caption=timeline.temporal_caption(segments, track_ids),
        notes=perc.notes,
    )


def error_result(path: str | Path, err: BaseException, video_id: str | None = None) -> MediaResult:
    message = str(err) if isinstance(err, EmoreasonError) else f"{type(err).__name__}: {err}"
    return MediaResult(id=video_id or str(path), path=str(path), status="error", error=message)


def caption_video(
    path: str | Path, reasoner: Reasoner, options: VideoOptions | None = None, video_id: str | None = None
) -> MediaResult:
    """perceive + reason one video. Bad media gives ``status="error"`` with the reason; it never raises for it."""
    try:
        perc = perceive_video(path, options, video_id)
    except EmoreasonError as err:
        return error_result(path, err, video_id)
    return reason_video(perc, reasoner)


def video_evidence(path: str | Path, options: VideoOptions | None = None, **overrides: Any) -> list[Evidence]:
    """The Evidence of one video (crops attached), for the chat REPL's ``/video PATH``. Raises EmoreasonError."""
    options = options or VideoOptions()
    for key, value in overrides.items():
        if not hasattr(options, key):
            raise EmoreasonError(f"unknown video option {key!r}")
        setattr(options, key, value)
    perc = perceive_video(path, options)
    return attach_crops(perc.evidence, perc.crops)


def _cues(result: MediaResult) -> list[Any]:
    return timeline.subtitle_cues(result.segments, [t["track"] for t in result.tracks])


def subtitles_text(result: MediaResult, style: str = "srt") -> str:
    """Emotion subtitles for one result, as .srt or .vtt (``style``) text."""
    from emoreason.perception.subtitles import render_subtitles

    return render_subtitles(_cues(result), style)


def write_subtitles(result: MediaResult, path: str | Path) -> Path:
    """Emotion subtitles (.srt or .vtt by extension) for one result, written atomically."""
    from emoreason.perception.subtitles import write_subtitles as _write

    return _write(path, _cues(result))
