"""The video agent: video -> sampled frames -> face tracks + AU series -> utterances -> segments -> one Evidence per
(track, segment) -> reasoner (batched) -> :class:`~emoreason.schema.MediaResult`.

Two halves, so batch jobs can run perception in worker processes and reasoning in one place:
:func:`perceive_video` (decode, faces, speech, prosody; the result pickles, crops travel as JPEG bytes) and
:func:`reason_video` (Evidence batches -> reasoner -> timeline, caption). :func:`caption_video` does both and
never raises for a bad file; :func:`video_evidence` gives the chat REPL the Evidence of one video. Where windows
fall, how they split and what one window's Evidence holds is in :mod:`emoreason.pipelines.windows`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.perception import media
from emoreason.perception.prosody import ProsodyTrack
from emoreason.perception.speech import (
    DEFAULT_WHISPER,
    Transcriber,
    transcript_source,
    utterances_text,
    whisper_cache_dir,
    words_in,
)
from emoreason.perception.subtitles import read_subtitles
from emoreason.perception.tracks import AUSeries, FaceTracker, expressiveness
from emoreason.pipelines import timeline
from emoreason.pipelines.windows import _segment_evidence, frame_label, label_runs, plan_segments
from emoreason.reasoning.base import Reasoner
from emoreason.schema import Evidence, MediaResult, SegmentResult, Utterance

logger = logging.getLogger(__name__)


@dataclass
class VideoOptions:
    """Perception settings for one video (the caption CLI's options)."""

    fps: float = 4.0
    window: float | None = None  # fixed windows of this many seconds; None: speech-aligned utterances
    whisper: str | None = None  # name or path; None: DEFAULT_WHISPER if it is cached, else speech is skipped
    language: str | None = None
    transcript: str | None = None
    no_speech: bool = False
    num_faces: int = 4
    face_model: str | None = None
    max_side: int = 640
    max_miss: float = 1.0
    crop_size: int = 224
    label_set: str = "compound"
    audio_chunk: float = 120.0  # seconds of audio decoded at a time (whisper + prosody); bounds memory


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


# ------------------------------------------------------------------------------------------------ speech
_TRANSCRIBERS: dict[tuple[str, str | None], Transcriber] = {}


def get_transcriber(options: VideoOptions, notes: list[str]) -> Transcriber | None:
    """The whisper transcriber for these options (cached per process). With no ``--whisper`` given, a missing
    default model is a note, not an error; an explicit ``--whisper`` that can't load raises EmoreasonError."""
    name = options.whisper or DEFAULT_WHISPER
    key = (name, options.language)
    if not options.whisper and not (whisper_cache_dir() / f"{DEFAULT_WHISPER}.pt").is_file():
        # checked before importing whisper (and torch): seconds saved on every video of a batch
        notes.append(
            f"speech skipped: no --whisper given and whisper model {DEFAULT_WHISPER!r} is not in "
            f"{whisper_cache_dir()}; pass --whisper NAME|PATH, --transcript FILE, or put a .srt next to the video"
        )
        return None
    if key not in _TRANSCRIBERS:
        try:
            _TRANSCRIBERS[key] = Transcriber.load(name, language=options.language)
        except EmoreasonError as err:
            if options.whisper:
                raise
            notes.append(f"speech skipped: {err}")
            return None
    return _TRANSCRIBERS[key]


def _speech(path: Path, info: media.MediaInfo, options: VideoOptions, notes: list[str]):
    """Utterances and the prosody track (None without audio)."""
    kind, source = transcript_source(path, options.transcript, options.no_speech)
    utterances: list[Utterance] = read_subtitles(source) if kind == "file" and source else []
    if kind == "file":
        notes.append(f"transcript from {source}")
    if options.no_speech:
        notes.append("speech skipped (--no-speech)")
        return utterances, None
    if not info.has_audio:
        notes.append("no audio track: speech and prosody skipped")
        return utterances, None
    transcriber = get_transcriber(options, notes) if kind == "whisper" else None
    track = ProsodyTrack()
    report = media.DecodeReport()
    try:
        for start, chunk in media.iter_audio(path, options.audio_chunk, report=report):
            track.add(start, chunk)
            if transcriber is not None:
                utterances += transcriber(chunk, offset=start)
    except EmoreasonError as err:
        notes.append(f"audio skipped: {err}")
        return utterances, None
    notes += report.notes
    return utterances, track


# ------------------------------------------------------------------------------------------------ faces
def _box_crop(image: Any, face: Any, size: int = 224) -> Any:
    """A square crop around the face box with a 25% margin (for a face without its mesh landmarks)."""
    from PIL import Image

    x, y, w, h = face.box
    side = max(w, h) * 1.25
    cx, cy = x + w / 2, y + h / 2
    box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    return Image.fromarray(image).crop(box).resize((size, size), Image.BILINEAR)


# The second pass costs a landmarker run per face and frame. In video the VIDEO-mode landmarker already places each
# face's region from its landmarks in the previous frame (what the second pass does for a still), so only tiny
# faces, under a tenth of the frame's long side (64 px at 640), get it.
VIDEO_REFINE_BELOW = 0.1


def _face_backend(options: VideoOptions) -> tuple[Any, Any, Any, Any]:
    """(landmarker in VIDEO mode, faces_from_result, reading function, crop function) from the image perception.

    The reading function is ``readings.read_face`` after the second pass (``faces.refine_face``) for faces that are
    small in the frame (``VIDEO_REFINE_BELOW``): a large face already fills the landmarker's own crop.
    """
    from emoreason.perception import faces
    from emoreason.perception.crops import aligned_crop
    from emoreason.perception.readings import read_face

    def read(image: Any, face: Any) -> Any:
        # the IMAGE-mode landmarker of the second pass is only made once a tiny face needs it
        faces.refine_faces(image, [face], options.face_model, below=VIDEO_REFINE_BELOW)
        return read_face(face, image)

    def crop_fn(image: Any, face: Any, size: int) -> Any:
        return (
            aligned_crop(image, face.landmarks, size=size)
            if len(face.landmarks) >= 468
            else _box_crop(image, face, size)
        )

    landmarker = faces.create_landmarker(mode="video", num_faces=options.num_faces, model_path=options.face_model)
    return landmarker, faces.faces_from_result, read, crop_fn


def _jpeg(image: Any) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def _faces_pass(path: Path, options: VideoOptions, segments: list[tuple[float, float]], notes: list[str]):
    """One streaming pass over sampled frames: tracks, AU series with a rule label per frame, and the peak crop
    per (track, segment, frame label), so a window that changes expression has a crop for each part.

    The best frame of each open key is held by reference and cropped once, when its segment closes, so only a
    handful of frames are ever alive.
    """
    from emoreason.perception.faces import detect

    landmarker, faces_from_result, read, crop_fn = _face_backend(options)
    tracker = FaceTracker(max_miss=options.max_miss)
    series: dict[int, AUSeries] = {}
    peaks: dict[tuple[int, int, str], tuple[float, float, bytes]] = {}  # (track, seg, label) -> (score, t, jpeg)
    open_best: dict[tuple[int, int, str], tuple[float, float, Any, Any]] = {}  # -> (score, time, rgb, face)
    report = media.DecodeReport()
    last_ms = -1
    seg_i = 0

    def close(until: float) -> None:
        for key in [k for k in open_best if segments[k[1]][1] <= until]:
            score, t, image, face = open_best.pop(key)
            peaks[key] = (score, t, _jpeg(crop_fn(image, face, size=options.crop_size)))

    try:
        for frame in media.iter_frames(path, options.fps, max_side=options.max_side, report=report):
            h, w = frame.image.shape[:2]
            ms = max(last_ms + 1, int(round(frame.time * 1000)))
            last_ms = ms
            found = faces_from_result(detect(landmarker, frame.image, ms), w, h)
            tracker.update(found, frame.time)
            close(frame.time)
            while seg_i < len(segments) and segments[seg_i][1] <= frame.time:
                seg_i += 1
            active = []  # segments (sorted by start; overlapping cues allowed) that contain this frame
            for i in range(seg_i, len(segments)):
                if segments[i][0] > frame.time:
                    break
                if frame.time < segments[i][1]:
                    active.append(i)
            for face in found:
                if not face.aus:
                    read(frame.image, face)
                aus = face.aus
                tid = int(face.track_id)  # type: ignore[arg-type]
                quality = (tuple(face.quality), face.quality_text, tuple(face.uncertain_aus))
                label = frame_label(aus, options.label_set, quality[2])
                series.setdefault(tid, AUSeries(tid)).add(frame.time, aus, face.box, quality, label)
                score = expressiveness(aus)
                for si in active:
                    best = open_best.get((tid, si, label))
                    if best is None or score > best[0]:
                        open_best[(tid, si, label)] = (score, frame.time, frame.image, face)
        close(float("inf"))
    finally:
        landmarker.close()
    notes += report.notes
    return series, peaks


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
    out.utterances, prosody = _speech(path, info, options, out.notes)
    duration = info.duration or max((u.end for u in out.utterances), default=0.0)
    segments = plan_segments(duration, out.utterances, options.window)
    series, peaks = _faces_pass(path, options, segments, out.notes)
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
        baseline = s.baseline()
        out.tracks.append(
            {"track": tid, "frames": len(s.times), "start": s.times[0], "end": s.times[-1], "baseline": baseline}
        )
        step = 1.0 / options.fps if options.fps else 0.25
        run_of = [0] * len(s.times)  # frame -> index of its run over the whole track
        track_runs = label_runs(s.labels or [""] * len(s.times))
        for r, (_, first, last) in enumerate(track_runs):
            run_of[first : last + 1] = [r] * (last - first + 1)
        for si, (start, end) in enumerate(segments):
            idx = s.frames_between(start, end)
            if not idx:
                continue
            covered.add(si)
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
                ev_id = f"{out.id}#t{tid}s{si}" + (f"p{k}" if len(runs) > 1 else "")
                crop = peaks.get((tid, si, label))
                if crop is None:  # the run's (smoothed) label is no frame's own here: the window's best frame
                    crop = max((v for k, v in peaks.items() if k[:2] == (tid, si)), default=None, key=lambda v: v[0])
                ev = _segment_evidence(s, part, baseline, ev_id, (t0, t1), crop, options, speech_for)
                if crop is not None:
                    out.crops[ev.id] = crop[2]
                out.evidence.append(ev)
    # Segments where no face is visible (none in the whole video, or the speaker is off screen for a while) keep
    # their words: speech-only Evidence, so the transcript is never dropped.
    for si, (start, end) in enumerate(segments):
        if si not in covered:
            transcript, prosody_text = speech_for(start, end)
            if transcript or prosody_text:
                out.evidence.append(
                    Evidence(
                        id=f"{out.id}#s{si}",
                        transcript=transcript,
                        prosody=prosody_text,
                        au_text="No face visible.",
                        start=round(start, 3),
                        end=round(end, 3),
                        label_set=options.label_set,
                        meta={"face": False},
                    )
                )
    return out


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
    from emoreason.reasoning.base import reason_each

    segments: list[SegmentResult] = []
    for i in range(0, len(perc.evidence), batch_size):
        batch = attach_crops(perc.evidence[i : i + batch_size], perc.crops)
        answers = reason_each(reasoner, batch, batch_size)
        failed = next((a for a in answers if isinstance(a, Exception)), None)
        if failed is not None:  # a window the backend fails on even alone fails the video (recorded per video)
            raise failed
        for ev, ans in zip(batch, answers, strict=True):
            segments.append(
                SegmentResult(
                    start=ev.start or 0.0,
                    end=ev.end or 0.0,
                    track=ev.track,
                    aus=ev.aus,
                    transcript=ev.transcript,
                    prosody=ev.prosody,
                    label=ans.label,
                    raw=ans.raw,
                )
            )
            ev.images = []
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


def write_subtitles(result: MediaResult, path: str | Path) -> Path:
    """Emotion subtitles (.srt or .vtt by extension) for one result."""
    from emoreason.perception.subtitles import write_subtitles as _write

    return _write(path, timeline.subtitle_cues(result.segments, [t["track"] for t in result.tracks]))
