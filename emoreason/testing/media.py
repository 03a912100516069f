"""Generated media for tests, benchmarks and dataset replicas: real face video, no-face video, speech, bad files.

Everything is made with PyAV from scikit-image's bundled photographs: the astronaut (Eileen Collins, a real face)
moves across the frame while her mouth opens and closes and her brows lift, so AUs change over time. Speech comes
from espeak-ng when it is installed, else from a voiced "syllable" track (harmonic tones with a known pitch,
separated by pauses) that exercises the same plumbing.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SR = 16000
# Face landmarks of skimage's astronaut (512x512), measured once with MediaPipe: mouth centre ~(223, 146),
# lip corners x 202..244, brows y ~88, face box x 181..270, y 72..177.
_MOUTH = (223.0, 146.0)
_BROW_Y = 88.0
_FACE_CROP = (20, 300, 95, 375)  # rows y0:y1, cols x0:x1 around the face


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None or shutil.which("espeak") is not None


@lru_cache(maxsize=16)
def _face_variant(level: int, levels: int, size: int) -> np.ndarray:
    """The astronaut crop with expression ``level/levels``: mouth opened (AU25/26) and brows lifted (AU1/2)."""
    from PIL import Image
    from scipy.ndimage import map_coordinates
    from skimage import data

    img = data.astronaut().astype(np.float32)
    e = level / max(1, levels - 1)
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32)
    cx, cy = _MOUTH
    # Lower lip and jaw move down (source sampled from above), tapering off around the mouth.
    horiz = np.exp(-(((xx - cx) / 34.0) ** 2))
    below = np.clip((yy - (cy - 2)) / 6.0, 0, 1) * np.exp(-((np.clip(yy - (cy + 30), 0, None) / 22.0) ** 2))
    dy = 14.0 * e * horiz * below
    # Brows move up (source sampled from below).
    brow = np.exp(-(((yy - _BROW_Y) / 14.0) ** 2)) * np.exp(-(((xx - cx) / 55.0) ** 2))
    dy -= 9.0 * e * brow
    warped = np.stack([map_coordinates(img[..., c], [yy - dy, xx], order=1, mode="nearest") for c in range(3)], -1)
    y0, y1, x0, x1 = _FACE_CROP
    crop = Image.fromarray(warped[y0:y1, x0:x1].clip(0, 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
    return np.asarray(crop)


def _background(width: int, height: int, kind: str = "gradient") -> np.ndarray:
    if kind == "coffee":
        from PIL import Image
        from skimage import data

        return np.asarray(Image.fromarray(data.coffee()).resize((width + 160, height), Image.BILINEAR))
    gx = np.linspace(60, 140, width, dtype=np.float32)[None, :, None]
    gy = np.linspace(0, 40, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(gx + gy + np.array([10, 20, 30], np.float32), (height, width, 3)).astype(np.uint8)


def face_frame(t: float, width: int = 640, height: int = 360, levels: int = 6, hide: bool = False) -> np.ndarray:
    """One frame at time ``t``: the face drifts sideways and its expression cycles every 4 s (0 -> open -> 0)."""
    canvas = _background(width, height).copy()
    if hide:
        return canvas
    size = int(min(height * 0.8, width * 0.45)) // 2 * 2
    phase = (t % 4.0) / 4.0
    e = max(0.0, math.sin(math.pi * min(1.0, max(0.0, (phase - 0.25) / 0.5))))  # rest 0-1 s, peak at 2 s
    face = _face_variant(round(e * (levels - 1)), levels, size)
    x = int((width - size) / 2 + (width - size) * 0.3 * math.sin(2 * math.pi * t / 7.0))
    y = (height - size) // 2
    canvas[y : y + size, x : x + size] = face
    return canvas


def no_face_frame(t: float, width: int = 640, height: int = 360) -> np.ndarray:
    bg = _coffee_cache(width, height)
    x = int(80 + 80 * math.sin(t))
    return np.ascontiguousarray(bg[:, x : x + width])


@lru_cache(maxsize=2)
def _coffee_cache(width: int, height: int) -> np.ndarray:
    return _background(width, height, "coffee")


# ------------------------------------------------------------------------------------------------ audio tracks
def tone_speech(seconds: float, f0: float = 180.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A voiced-syllable track: harmonic tones near ``f0`` with a slight glide, 0.2 s syllables, 0.5 s pauses."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), np.float32)
    t = 0.3
    while t < seconds - 0.3:
        n_syll = int(rng.integers(3, 7))
        for _ in range(n_syll):
            dur = 0.18 + 0.06 * rng.random()
            n = int(dur * sr)
            i0 = int(t * sr)
            if i0 + n > out.size:
                break
            tt = np.arange(n) / sr
            f = f0 * (1 + 0.08 * rng.standard_normal()) * (1 + 0.05 * tt / dur)
            phase = 2 * np.pi * np.cumsum(np.full(n, f)) / sr
            wave = sum(np.sin(k * phase) / k for k in range(1, 5))
            env = np.sin(np.pi * np.arange(n) / n) ** 0.5
            out[i0 : i0 + n] += 0.25 * wave * env
            t += dur + 0.05
        t += 0.5
    return out


def espeak_speech(text: str, sr: int = SR, voice: str = "en", speed: int = 160) -> np.ndarray:
    """Speech for ``text`` from espeak-ng, as 16 kHz mono float32. Raises RuntimeError when espeak is missing."""
    from emoreason.perception.media import load_audio

    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True, capture_output=True)
        return load_audio(wav, sample_rate=sr)


def speech_track(seconds: float, text: str | None = None, sr: int = SR) -> np.ndarray:
    """espeak-ng speech of ``text`` placed at 0.3 s (padded/cut to ``seconds``) when available, else tone speech."""
    if text and have_espeak():
        speech = espeak_speech(text, sr)
        out = np.zeros(int(seconds * sr), np.float32)
        i0 = int(0.3 * sr)
        n = min(speech.size, out.size - i0)
        out[i0 : i0 + n] = speech[:n]
        return out
    return tone_speech(seconds, sr=sr)


# ------------------------------------------------------------------------------------------------ writers
def write_video(
    path: str | Path,
    frame_fn: Callable[[float], np.ndarray] | None,
    seconds: float,
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    sr: int = SR,
    codec: str = "libx264",
    rotation: int = 0,
    frame_times: list[float] | None = None,
) -> Path:
    """Encode ``frame_fn(t)`` frames (and an optional mono float32 ``audio`` track) with PyAV.

    ``frame_times`` gives explicit (variable-rate) timestamps; ``rotation`` writes a display matrix (degrees CCW).
    ``frame_fn=None`` writes an audio-only file.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = frame_times if frame_times is not None else [i / fps for i in range(int(round(seconds * fps)))]
    with av.open(str(path), "w") as out:
        vstream = astream = None
        if frame_fn is not None:
            first = frame_fn(times[0] if times else 0.0)
            vstream = out.add_stream(codec, rate=int(fps))
            vstream.height, vstream.width = first.shape[:2]
            vstream.pix_fmt = "yuv420p"
            if codec == "libx264":
                vstream.options = {"preset": "ultrafast", "crf": "23"}
            if frame_times is not None:
                vstream.time_base = __import__("fractions").Fraction(1, 1000)
            if rotation:
                vstream.set_display_rotation(rotation)
        if audio is not None:
            acodec = "pcm_s16le" if path.suffix.lower() in (".wav", ".avi", ".mkv") else "aac"
            astream = out.add_stream(acodec, rate=sr, layout="mono")
        audio_pos = 0
        frame_size = 1024

        def push_audio(until: float) -> None:
            nonlocal audio_pos
            if astream is None or audio is None:
                return
            stop = audio.size if math.isinf(until) else min(audio.size, int(until * sr))
            while audio_pos < stop:
                n = min(frame_size, audio.size - audio_pos)
                chunk = np.zeros((1, frame_size), np.float32)
                chunk[0, :n] = audio[audio_pos : audio_pos + n]
                fmt = "fltp" if astream.codec_context.name == "aac" else "s16"
                data = chunk if fmt == "fltp" else (chunk.clip(-1, 1) * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
                frame.sample_rate, frame.pts = sr, audio_pos
                for packet in astream.encode(frame):
                    out.mux(packet)
                audio_pos += frame_size

        if vstream is not None:
            for i, t in enumerate(times):
                frame = av.VideoFrame.from_ndarray(frame_fn(t), format="rgb24")  # type: ignore[misc]
                if frame_times is not None:
                    frame.pts = int(round(t * 1000))
                    frame.time_base = vstream.time_base
                for packet in vstream.encode(frame):
                    out.mux(packet)
                if i % int(max(1, fps)) == 0:
                    push_audio(t + 1.0)
            for packet in vstream.encode():
                out.mux(packet)
        push_audio(math.inf)
        if astream is not None:
            for packet in astream.encode():
                out.mux(packet)
    return path


def make_face_video(
    path: str | Path,
    seconds: float = 6.0,
    fps: float = 25.0,
    width: int = 640,
    height: int = 360,
    audio: str | None = "tone",
    text: str | None = None,
    hide: tuple[float, float] | None = None,
    **kwargs: object,
) -> Path:
    """The astronaut's face moving and changing expression; ``audio`` is "tone", "speech" or None; ``hide`` blanks
    the face over a time span (a short miss for the tracker)."""

    def frame_fn(t: float) -> np.ndarray:
        return face_frame(t, width, height, hide=bool(hide and hide[0] <= t < hide[1]))

    track = None
    if audio == "tone":
        track = tone_speech(seconds)
    elif audio == "speech":
        track = speech_track(seconds, text or "I can't believe it. This is the best day of my life!")
    return write_video(path, frame_fn, seconds, fps, audio=track, **kwargs)  # type: ignore[arg-type]


def make_no_face_video(path: str | Path, seconds: float = 3.0, fps: float = 25.0, audio: str | None = "tone") -> Path:
    track = tone_speech(seconds) if audio == "tone" else speech_track(seconds, "nobody is here") if audio else None
    return write_video(path, no_face_frame, seconds, fps, audio=track)


def make_audio_only(path: str | Path, seconds: float = 3.0) -> Path:
    return write_video(path, None, seconds, audio=tone_speech(seconds))


def make_truncated(src: str | Path, path: str | Path, keep: float = 0.5) -> Path:
    """A copy of ``src`` cut to its first ``keep`` fraction of bytes (an interrupted download)."""
    data = Path(src).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return Path(path)


def make_growing_frames(
    path: str | Path, small: tuple[int, int] = (64, 64), large: tuple[int, int] = (320, 240), fps: int = 10
) -> Path:
    """An MPEG-TS H.264 clip whose header says ``small`` (its first second) while the next second's frames are
    ``large`` (a new SPS midway): a header that lies about the frame size."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *small, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        second = av.CodecContext.create("libx264", "w")
        second.width, second.height, second.pix_fmt = *large, "yuv420p"
        second.time_base, second.framerate = Fraction(1, fps), Fraction(fps)
        second.options = {"preset": "ultrafast"}
        for n, (encoder, (width, height)) in enumerate([(stream, small)] * fps + [(second, large)] * fps):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 120, np.uint8), format="rgb24")
            frame.pts = n
            for packet in encoder.encode(frame):
                packet.stream = stream
                out.mux(packet)
            if n in (fps - 1, 2 * fps - 1):
                for packet in encoder.encode(None):
                    packet.stream = stream
                    out.mux(packet)
    return Path(path)


def make_short_header(src: str | Path, path: str | Path, scale: float = 0.25) -> Path:
    """A copy of the MP4 ``src`` whose movie and track headers (mvhd, mdhd) say ``scale`` of its real duration,
    while every frame and sample is still there: a header that lies about the length."""
    import struct

    data = bytearray(Path(src).read_bytes())
    for box in (b"mvhd", b"mdhd"):
        at = data.find(box)
        while at >= 0:
            if data[at + 4] == 0:  # version 0: flags, creation, modification, timescale, then a 32-bit duration
                field = at + 4 + 4 + 12
                (duration,) = struct.unpack(">I", data[field : field + 4])
                data[field : field + 4] = struct.pack(">I", int(duration * scale))
            at = data.find(box, at + 4)
    Path(path).write_bytes(bytes(data))
    return Path(path)


def make_not_media(path: str | Path) -> Path:
    Path(path).write_text("this is a text file, not a video\n" * 50)
    return Path(path)


def make_zero_length(path: str | Path) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def crash_on_marker(item: object, options: object) -> object:
    """A caption worker job that kills its process (as a native crash would) for a file named ``*crash*``, and
    otherwise does the normal perception; for testing how the batch survives a dead worker."""
    import os

    from emoreason.pipelines.caption_engines import perceive_job

    if "crash" in Path(item.path).name:  # type: ignore[attr-defined]
        os._exit(3)
    return perceive_job(item, options)  # type: ignore[arg-type]
