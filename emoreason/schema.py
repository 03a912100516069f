"""pydantic models shared by every part: perception output, the Evidence a reasoner sees, and results.

JSON field names here are the public output contract of ``analyze --json``, ``caption`` and the HTTP API.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class HeadPose(BaseModel):
    """Head rotation in degrees, from the face transformation matrix (camera looking at the face)."""

    yaw: float
    pitch: float
    roll: float


class AUActivation(BaseModel):
    """One Action Unit with its 0..5 intensity; ``side`` is "L"/"R" for a one-sided reading, else None."""

    au: int
    intensity: float = Field(ge=0.0, le=5.0)
    side: str | None = None
    source: str = "blendshapes"  # blendshapes | openface | dataset | external


class Face(BaseModel):
    """One detected face in one image or video frame."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    box: tuple[float, float, float, float]  # x, y, w, h in original-image pixels
    # 478 (x, y, z) in pixels: an (N, 3) float array from the detector (no per-point Python objects), or a list
    landmarks: Any = Field(default_factory=list, repr=False)
    blendshapes: dict[str, float] = Field(default_factory=dict, repr=False)  # the 52 ARKit-style scores, 0..1
    head_pose: HeadPose | None = None
    aus: dict[str, float] = Field(default_factory=dict)  # {"AU12": 3.1, "AU14L": 2.0}
    # quality flags (perception.readings.FLAGS): small_face, turned_face, eyes_closed, cut_off, low_confidence
    quality: list[str] = Field(default_factory=list)
    quality_text: str = ""  # one hedging sentence per flag, for the prompt and the CoT
    uncertain_aus: list[str] = Field(default_factory=list)  # AUs where the geometry and the blendshapes disagree
    # the face model's class probabilities (perception.expression), {} when it was not run
    expression: dict[str, float] = Field(default_factory=dict)
    track_id: int | None = None
    frame_index: int | None = None
    timestamp: float | None = None  # seconds, for video frames
    crop: Any = Field(default=None, exclude=True, repr=False)  # aligned PIL.Image crop


class Utterance(BaseModel):
    """One stretch of speech with its time span in seconds; ``words`` carries word timestamps when known."""

    text: str
    start: float
    end: float
    words: list[dict[str, Any]] = Field(default_factory=list, repr=False)  # {"word", "start", "end"}
    language: str | None = None


class ProsodyCues(BaseModel):
    """Prosody over one segment. Any field is None when it can't be measured (silence, no audio)."""

    pitch_mean_hz: float | None = None
    pitch_range_semitones: float | None = None
    energy_db: float | None = None
    speaking_rate_wps: float | None = None
    pause_ratio: float | None = None
    text: str = ""  # short rendering for the prompt, e.g. "high, widely varying pitch; loud; fast speech"


class Evidence(BaseModel):
    """Everything a reasoner sees for one face track in one time window (or one face in one image)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str
    images: list[Any] = Field(default_factory=list, repr=False)  # PIL images (face crops), most important first
    aus: dict[str, float] = Field(default_factory=dict)
    au_text: str = ""  # from facs.au_text, plus change-over-time text for video
    au_changes: str = ""  # video: how the AUs moved over the window (facs.au_change_text), for the rule engine
    transcript: str = ""
    prosody: str = ""  # ProsodyCues.text
    quality: list[str] = Field(default_factory=list)  # the face's quality flags (Face.quality)
    quality_text: str = ""  # hedging text for the flags, e.g. "the face is turned about 35°, ..."
    uncertain_aus: list[str] = Field(default_factory=list)
    expression: dict[str, float] = Field(default_factory=dict)  # the face model's probabilities (Face.expression)
    fusion: dict[str, Any] = Field(default_factory=dict)  # the model card's fusion block (reasoning.fusion)
    track: int | None = None
    start: float | None = None
    end: float | None = None
    label_set: str = "compound"  # basic | compound | open
    meta: dict[str, Any] = Field(default_factory=dict)


class Reasoning(BaseModel):
    """A reasoner's answer for one Evidence: raw text plus what the one parser read from it."""

    raw: str
    label: str | None = None
    labels: list[str] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)  # per-label scores where the backend has them
    aus_cited: list[str] = Field(default_factory=list)
    format_ok: bool = False
    truncated: bool = False
    backend: str = ""
    # the CoT's three sections (parser keys); for in-process use, not written out (the raw text has them)
    sections: dict[str, str] = Field(default_factory=dict, exclude=True)


class FaceResult(BaseModel):
    """One face in ``analyze --json`` output."""

    box: tuple[float, float, float, float]
    aus: dict[str, float]
    label: str | None
    scores: dict[str, float] = Field(default_factory=dict)
    head_pose: HeadPose | None = None
    quality: list[str] = Field(default_factory=list)
    quality_text: str = ""  # the flags in words, as the CoT's "Reading quality:" sentence has them
    uncertain_aus: list[str] = Field(default_factory=list)
    expression: dict[str, float] = Field(default_factory=dict)  # the face model's own probabilities
    raw: str = ""
    format_ok: bool = False
    sections: dict[str, str] = Field(default_factory=dict, exclude=True)  # the reasoning's, not written out


class ImageResult(BaseModel):
    """One input path in ``analyze --json``: status is ok, no_face or error."""

    path: str
    status: str
    error: str | None = None
    faces: list[FaceResult] = Field(default_factory=list)


class SegmentResult(BaseModel):
    """One (track, time window) of a video."""

    start: float
    end: float
    track: int | None
    aus: dict[str, float] = Field(default_factory=dict)
    uncertain_aus: list[str] = Field(default_factory=list)  # Evidence.uncertain_aus: the caption says them as such
    transcript: str = ""
    prosody: str = ""
    label: str | None = None
    raw: str = ""


class MediaResult(BaseModel):
    """One video (or audio) file in ``caption`` output: one JSON line."""

    id: str
    path: str
    status: str  # ok | no_face | error
    error: str | None = None
    duration: float | None = None
    tracks: list[dict[str, Any]] = Field(default_factory=list)  # {"track", "frames", "dominant", "timeline"}
    segments: list[SegmentResult] = Field(default_factory=list)
    caption: str = ""
    notes: list[str] = Field(default_factory=list)
