"""Which face of an image a dataset row is about, and how the built-in estimator reads it.

The rule (documented in the README and the dataset card):

1. **No face**: the image gives no reading (a row with no face in any of its images is skipped as ``no face``).
   A small near-square image (a thumbnail crop: ``perception.expression.looks_like_face_crop``), or an aligned
   crop, where the landmarker finds nothing is still a face: it is read by the face model alone and flagged
   ``no_landmarks`` (no AUs); a photo with no face at all stays ``no face``.
2. **Aligned crops** (RAF-DB ``aligned``, FER2013/FERPlus, AffectNet images: the corpus's own face crops):
   the whole image is the face. Perception reads tight crops itself (when the whole image gives nothing it
   retries on a padded, upscaled copy: ``emoreason.perception.faces._padded_retry``). With several detections
   the one covering the image centre best is used; never ambiguous.
3. **The corpus's own face box** (``meta.face_box``, x y w h in image pixels): the detected face overlapping it
   most (intersection over union at least ``BOX_MATCH``).
4. Otherwise **the largest face near the centre**: each face scores ``plausibility = area share * (1 - d)**2``,
   ``d`` = distance of the box centre from the image centre over the half-diagonal; the highest wins. When the
   runner-up scores at least ``AMBIGUOUS`` times the winner, two faces are equally plausible and the row is
   marked ``ambiguous_face`` (left out of the dataset unless ``--keep-ambiguous``).

Detection and AUs come from the public perception API (``pipelines.image.perceive_image`` with a pre-loaded image), so
the faces carry whatever quality flags perception sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

BOX_MATCH = 0.3
AMBIGUOUS = 0.8


@dataclass
class FaceChoice:
    """The face chosen in one image (None: no face) and why."""

    face: Any  # emoreason.schema.Face | None
    count: int  # faces detected
    rule: str  # only face | aligned crop | corpus box | largest near centre | no face
    ambiguous: bool = False
    box: list[float] = field(default_factory=list)


def _iou(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def plausibility(box: tuple[float, ...] | list[float], width: int, height: int) -> float:
    """``area share * (1 - d)**2`` (see the module docstring).

    >>> round(plausibility((40, 40, 20, 20), 100, 100), 3), round(plausibility((0, 0, 20, 20), 100, 100), 3)
    (0.04, 0.002)
    """
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    half_diagonal = math.hypot(width / 2, height / 2) or 1.0
    d = min(1.0, math.hypot(cx - width / 2, cy - height / 2) / half_diagonal)
    return box[2] * box[3] / max(1, width * height) * (1.0 - d) ** 2


def choose(faces: list[Any], width: int, height: int, corpus_box: list[float] | None = None,
           aligned: bool = False) -> FaceChoice:  # fmt: skip
    """Apply the rule to detected faces (anything with ``.box`` = x, y, w, h)."""
    if not faces:
        return FaceChoice(None, 0, "no face")
    if len(faces) == 1:
        return FaceChoice(faces[0], 1, "aligned crop" if aligned else "only face", box=list(faces[0].box))
    if aligned:
        whole = (0.0, 0.0, float(width), float(height))
        best = max(faces, key=lambda f: (_iou(f.box, whole), f.box[2] * f.box[3]))
        return FaceChoice(best, len(faces), "aligned crop", box=list(best.box))
    if corpus_box and len(corpus_box) == 4 and all(v is not None for v in corpus_box):
        best = max(faces, key=lambda f: _iou(f.box, corpus_box))
        if _iou(best.box, corpus_box) >= BOX_MATCH:
            return FaceChoice(best, len(faces), "corpus box", box=list(best.box))
    ranked = sorted(faces, key=lambda f: -plausibility(f.box, width, height))
    first, second = (plausibility(f.box, width, height) for f in ranked[:2])
    return FaceChoice(ranked[0], len(faces), "largest near centre", ambiguous=second >= AMBIGUOUS * first,
                      box=list(ranked[0].box))  # fmt: skip


def read_face(path: str, corpus_box: list[float] | None = None, aligned: bool = False) -> FaceChoice:
    """Detect the faces of one image file (AUs from the built-in estimator) and choose the row's face.

    Raises EmoreasonError for an unreadable file (the caller counts it as a corrupt image).
    """
    from emoreason.perception.images import load_image
    from emoreason.pipelines.image import perceive_image

    image = load_image(path)
    faces = perceive_image(path, image=image)
    if not faces and aligned:  # the corpus's own crop: a face even where the landmarker finds none
        faces = _crop_without_landmarks(image)
    return choose(faces, image.width, image.height, corpus_box, aligned)


def _crop_without_landmarks(image: Any) -> list[Any]:
    """The face of an aligned crop the landmarker missed, read by the face model alone (flag ``no_landmarks``, no
    AUs); [] when the expression model is off (``--expression-model none``: then nothing can read it)."""
    from emoreason.perception import expression
    from emoreason.perception.images import as_array

    model = expression.model_for(None)
    pixels = as_array(image)
    if model is None or not expression.has_texture(pixels):
        return []
    face = expression.crop_face(pixels)
    expression.read_expressions(model, pixels, [face])
    return [face]
