"""Streaming media decoding with PyAV: probing, frames sampled at a target rate, and 16 kHz mono audio.

Frames are decoded one at a time and only the sampled ones are converted to RGB arrays, so memory does not grow
with the video's length. Sampling uses each frame's presentation time (variable frame rate is fine). Rotation
metadata (the display matrix, which PyAV exposes as ``VideoFrame.rotation``) is applied to every sampled frame.
Audio is resampled by PyAV's ``AudioResampler`` (libswresample), never by an ffmpeg binary, and is yielded in
chunks so that a 3-hour file never sits in memory as one array.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoreason.errors import EmoreasonError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .flv .wmv .ts .mts .m2ts .3gp .ogv .gif".split()
)
AUDIO_EXTENSIONS = frozenset(".wav .mp3 .m4a .aac .flac .ogg .opus .wma".split())
# Demuxers that open files which are not videos: text (tty/ansi art), single images, subtitles.
_TEXT_FORMATS = frozenset({"tty", "ansi"})
_SUBTITLE_FORMATS = frozenset({"srt", "webvtt", "ass", "microdvd", "subviewer", "subviewer1", "sami", "jacosub"})


@dataclass
class MediaInfo:
    """What a container holds. ``width``/``height`` are display size (after rotation)."""

    path: str
    container: str
    duration: float | None
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float | None = None
    rotation: int = 0
    video_codec: str | None = None
    audio_codec: str | None = None


@dataclass
class Frame:
    """One sampled video frame: RGB uint8 array (display orientation), its time in seconds, and indices."""

    image: np.ndarray
    time: float
    index: int  # position among sampled frames
    decoded_index: int  # position among all decoded frames


class DecodeLimitError(EmoreasonError):
    """Decoding stopped because what the stream holds is over a cap its header was under (frame size, duration)."""


@dataclass
class DecodeReport:
    """Filled in while a stream is decoded: set when decoding stopped early on damaged data."""

    truncated_at: float | None = None
    frames_decoded: int = 0
    notes: list[str] = field(default_factory=list)


def _av_open(av: Any, path: str) -> Any:
    """``av.open`` for reading, with undecodable metadata replaced where the PyAV version takes that option (av 12-18
    do; av 19 dropped the ``metadata_errors`` keyword and decodes metadata leniently itself)."""
    try:
        return av.open(path, metadata_errors="replace")
    except TypeError as err:
        if "metadata_errors" not in str(err):
            raise
        return av.open(path)


def _open(path: str | Path) -> Any:
    """av.open with every failure turned into an EmoreasonError that says what is wrong with the file."""
    import av

    p = Path(path)
    if not p.exists():
        raise EmoreasonError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise EmoreasonError(f"{p}: is a directory, not a media file")
    if p.stat().st_size == 0:
        raise EmoreasonError(f"{p}: the file is empty (zero length); re-export or re-download it")
    try:
        container = _av_open(av, str(p))
    except av.error.InvalidDataError as err:
        if _looks_like_text(p):
            raise EmoreasonError(f"{p}: not a media file (it looks like text)") from err
        if p.suffix.lower() in VIDEO_EXTENSIONS | AUDIO_EXTENSIONS:
            raise EmoreasonError(
                f"{p}: the container can't be read (truncated, corrupt, or an unsupported format); "
                "re-export it as MP4 (H.264/AAC)"
            ) from err
        raise EmoreasonError(f"{p}: not a media file (no audio/video container recognised)") from err
    except av.error.FFmpegError as err:
        raise EmoreasonError(f"{p}: can't open as media: {err.strerror or err}") from err
    fmt = container.format.name
    if fmt in _TEXT_FORMATS:
        container.close()
        raise EmoreasonError(f"{p}: not a media file (it looks like text)")
    if fmt in _SUBTITLE_FORMATS:
        container.close()
        raise EmoreasonError(f"{p}: a subtitle file, not a video; pass it with --transcript")
    if fmt.endswith("_pipe") or fmt == "image2":
        container.close()
        raise EmoreasonError(f"{p}: an image, not a video; use `emoreason analyze` for images")
    return container


def _looks_like_text(path: Path) -> bool:
    """True for a plain-text file (UTF-8, no NUL bytes in its first 2 KB)."""
    with open(path, "rb") as f:
        head = f.read(2048)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a character cut at the 2 KB boundary
            return False
    return b"\0" not in head


def probe(path: str | Path) -> MediaInfo:
    """Open a file and describe its streams. Raises EmoreasonError for anything that is not readable media."""
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = _duration(container, video or audio)
        info = MediaInfo(
            path=str(path),
            container=container.format.name,
            duration=duration,
            has_video=video is not None,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )
        if video is not None:
            info.video_codec = video.codec_context.name
            rate = video.average_rate or video.guessed_rate
            info.fps = float(rate) if rate else None
            info.width, info.height = video.codec_context.width, video.codec_context.height
            info.rotation = _stream_rotation(video) or _first_frame_rotation(container, video)
            if info.rotation % 180:
                info.width, info.height = info.height, info.width
            if info.duration is None:
                info.duration = _demuxed_duration(container, video)
        return info


def _first_frame_rotation(container: Any, stream: Any) -> int:
    """The display-matrix rotation, which FFmpeg attaches to decoded frames (read from the first one)."""
    import av

    try:
        for frame in container.decode(stream):
            return int(frame.rotation or 0) % 360
    except av.error.FFmpegError:
        pass
    return 0


def _duration(container: Any, stream: Any) -> float | None:
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _frame_rate(stream: Any) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 25.0


def _demuxed_duration(container: Any, stream: Any) -> float | None:
    """Duration of a stream whose container declares none (raw H.264, live-recorded WebM): read the packets (no
    decoding) and take the last timestamp, or the packet count over the frame rate when packets carry none."""
    import av

    last, count = None, 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            count += 1
            if packet.pts is not None and packet.time_base is not None:
                end = float(packet.pts * packet.time_base) + (
                    float(packet.duration * packet.time_base) if packet.duration else 1.0 / _frame_rate(stream)
                )
                last = end if last is None else max(last, end)
    except av.error.FFmpegError:
        pass
    if last is not None:
        return last
    return count / _frame_rate(stream) if count else None


def _stream_rotation(stream: Any) -> int:
    """Rotation from the stream's old-style ``rotate`` tag (clockwise), as a counter-clockwise angle."""
    tag = (stream.metadata or {}).get("rotate")
    try:
        return int(-float(tag)) % 360 if tag else 0
    except ValueError:
        return 0


def _rotate(image: np.ndarray, degrees_ccw: int) -> np.ndarray:
    k = round(degrees_ccw / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def _resize_shape(width: int, height: int, max_side: int | None) -> tuple[int, int] | None:
    if not max_side or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2)


def iter_frames(
    path: str | Path,
    fps: float | None = 4.0,
    max_side: int | None = None,
    report: DecodeReport | None = None,
    start: float = 0.0,
    end: float | None = None,
    max_pixels: int | None = None,
    max_seconds: float | None = None,
) -> Iterator[Frame]:
    """Yield frames sampled at ``fps`` (None: every frame), in display orientation, optionally downscaled so the
    longer side is at most ``max_side``. Streaming: one decoded frame at a time.

    Damaged data after the first frame ends the stream quietly and sets ``report.truncated_at``; a video with no
    decodable frame raises EmoreasonError. ``max_pixels`` and ``max_seconds`` hold for what is decoded, whatever
    the header says: FFmpeg's decoder refuses a larger picture before allocating it, and a frame past either cap
    raises :class:`DecodeLimitError`.
    """
    import av

    report = report if report is not None else DecodeReport()
    with _open(path) as container:
        if not container.streams.video:
            raise EmoreasonError(f"{path}: no video stream (audio only?); caption needs a video track")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        size = (stream.codec_context.width, stream.codec_context.height)
        caps = _FrameCaps(str(path), max_pixels, max_seconds, size, _duration(container, stream))
        if max_pixels:
            stream.codec_context.options = {"max_pixels": str(max_pixels)}  # FFmpeg's own per-picture cap
        tag_rotation = _stream_rotation(stream)
        frame_step = 1.0 / _frame_rate(stream)  # for frames without timestamps (raw streams)
        interval = 1.0 / fps if fps else 0.0
        next_time = start
        sampled = 0
        last_time = first_time = -math.inf
        try:
            for frame in container.decode(stream):
                report.frames_decoded += 1
                if frame.time is not None:
                    t = frame.time
                else:
                    t = last_time + frame_step if report.frames_decoded > 1 else 0.0
                if t <= last_time:  # broken/duplicate timestamps: keep order monotone
                    t = last_time + 1e-3
                last_time = t
                first_time = t if report.frames_decoded == 1 else first_time
                caps.check(frame.width, frame.height, t, t - first_time)
                if t + 1e-6 < next_time:
                    continue
                if end is not None and t > end:
                    break
                if interval:
                    next_time = (math.floor((t - start) / interval + 1e-6) + 1) * interval + start
                rotation = frame.rotation or tag_rotation
                size = _resize_shape(frame.width, frame.height, max_side)
                if size:
                    frame = frame.reformat(width=size[0], height=size[1])
                image = _rotate(frame.to_ndarray(format="rgb24"), rotation)
                yield Frame(image=image, time=float(t), index=sampled, decoded_index=report.frames_decoded - 1)
                sampled += 1
        except av.error.FFmpegError as err:
            width, height = stream.codec_context.width, stream.codec_context.height
            caps.check(width, height, max(last_time, 0.0), 0.0)  # the decoder refuses a picture over max_pixels
            if report.frames_decoded == 0:
                raise EmoreasonError(f"{path}: the video stream can't be decoded ({err.strerror or err})") from err
            report.truncated_at = max(last_time, 0.0)
            report.notes.append(f"video decoding stopped at {report.truncated_at:.1f}s (truncated or corrupt file)")
            logger.warning("%s: decoding stopped at %.1fs: %s", path, report.truncated_at, err)
        if report.frames_decoded == 0:
            raise EmoreasonError(f"{path}: the video stream has no frames (zero-length or truncated video)")
        declared = _duration(container, stream)
        if report.truncated_at is None and end is None and declared and last_time < declared - 1.0:
            report.truncated_at = max(last_time, 0.0)
            report.notes.append(
                f"video frames end at {last_time:.1f}s but the container says {declared:.1f}s (truncated file?)"
            )


@dataclass
class _FrameCaps:
    """The caps on what one video stream decodes to, and what its header says (for the message)."""

    path: str
    max_pixels: int | None
    max_seconds: float | None
    header_size: tuple[int, int]
    header_seconds: float | None

    def check(self, width: int, height: int, at: float, decoded_s: float) -> None:
        """DecodeLimitError for a frame over ``max_pixels``, or for ``decoded_s`` of frames past ``max_seconds``."""
        if self.max_pixels and width * height > self.max_pixels:
            header = "{}x{}".format(*self.header_size) if self.header_size[0] else "no size"
            raise DecodeLimitError(
                f"{self.path}: at {at:.1f} s its frames are {width}x{height} ({width * height / 1e6:.3g} MP), over "
                f"the {self.max_pixels / 1e6:.3g} MP cap (its header says {header}); re-encode it smaller"
            )
        if self.max_seconds is not None and decoded_s > self.max_seconds:
            said = f"{self.header_seconds:.1f} s" if self.header_seconds else "no duration"
            raise DecodeLimitError(
                f"{self.path}: its frames go on past {self.max_seconds:.0f} s, the longest clip taken (its header "
                f"says {said}); cut it shorter"
            )


def iter_audio(
    path: str | Path,
    chunk_seconds: float = 300.0,
    sample_rate: int = SAMPLE_RATE,
    report: DecodeReport | None = None,
    max_seconds: float | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(start_seconds, samples)`` chunks of the first audio track as mono float32 at ``sample_rate``.

    Each chunk is ``chunk_seconds`` long (the last may be shorter). Raises EmoreasonError when there is no audio
    track; damaged data ends the stream early and is noted in ``report``. Decoded audio past ``max_seconds``
    raises :class:`DecodeLimitError`, whatever the header says.
    """
    import av

    report = report if report is not None else DecodeReport()
    chunk_len = max(1, int(chunk_seconds * sample_rate))
    with _open(path) as container:
        if not container.streams.audio:
            raise EmoreasonError(f"{path}: no audio track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        pending: list[np.ndarray] = []
        pending_len = 0
        emitted = 0

        def take(n: int) -> np.ndarray:
            nonlocal pending, pending_len
            buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
            out, rest = buf[:n], buf[n:]
            pending, pending_len = ([rest] if rest.size else []), rest.size
            return np.ascontiguousarray(out, dtype=np.float32)

        def frames() -> Iterator[Any]:
            try:
                for frame in container.decode(stream):
                    report.frames_decoded += 1
                    yield from resampler.resample(frame)
            except av.error.FFmpegError as err:
                if report.frames_decoded == 0:
                    raise EmoreasonError(f"{path}: the audio track can't be decoded ({err.strerror or err})") from err
                report.truncated_at = (emitted + pending_len) / sample_rate
                report.notes.append(f"audio decoding stopped at {report.truncated_at:.1f}s (truncated or corrupt)")
            yield from resampler.resample(None)

        for out in frames():
            pending.append(out.to_ndarray().reshape(-1))
            pending_len += pending[-1].size
            if max_seconds is not None and (emitted + pending_len) / sample_rate > max_seconds + 1.0:
                declared = _duration(container, stream)
                said = f"{declared:.1f} s" if declared else "no duration"
                raise DecodeLimitError(
                    f"{path}: its audio goes on past {max_seconds:.0f} s, the longest clip taken (its header says "
                    f"{said}); cut it shorter"
                )
            while pending_len >= chunk_len:
                chunk = take(chunk_len)
                yield emitted / sample_rate, chunk
                emitted += chunk.size
        if pending_len:
            chunk = take(pending_len)
            yield emitted / sample_rate, chunk


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """The whole audio track (or its first ``max_seconds``) as one mono float32 array. For short files only;
    long files go through :func:`iter_audio`."""
    parts, total = [], 0
    limit = int(max_seconds * sample_rate) if max_seconds else None
    for _, chunk in iter_audio(path, chunk_seconds=60.0, sample_rate=sample_rate):
        parts.append(chunk)
        total += chunk.size
        if limit is not None and total >= limit:
            break
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return audio[:limit] if limit is not None else audio
