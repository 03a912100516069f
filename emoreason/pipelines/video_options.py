"""The settings of one video's perception (the caption CLI's options), in a module of their own: the video pipeline's
parts (``video``, ``video_faces``, ``video_speech``, ``windows``, ``live``) all take them, and none imports another
back to get them.
"""

from __future__ import annotations

from dataclasses import dataclass

from emoreason.pipelines import MAX_FACES


@dataclass
class VideoOptions:
    """Perception settings for one video (the caption CLI's options)."""

    fps: float = 4.0
    sampling: str = "adaptive"  # read every 3rd sampled frame, and the ones between where the reading changes; "fixed"
    window: float | None = None  # fixed windows of this many seconds; None: speech-aligned utterances
    whisper: str | None = None  # name or path; None: DEFAULT_WHISPER if it is cached, else speech is skipped
    language: str | None = None
    transcript: str | None = None
    no_speech: bool = False
    num_faces: int = MAX_FACES
    face_model: str | None = None
    expression_model: str | None = None  # perception.expression.model_for: None = the shipped model, "none" = rules
    max_side: int = 640
    max_miss: float = 1.0
    crop_size: int = 224
    label_set: str = "compound"
    audio_chunk: float = 120.0  # seconds of audio decoded at a time (whisper + prosody); bounds memory
