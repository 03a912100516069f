"""Faces with MediaPipe Tasks FaceLandmarker: all faces, 478 landmarks, 52 blendshapes, head pose.

``create_landmarker`` builds a detector in IMAGE or VIDEO mode (the video pipeline makes its own VIDEO-mode one);
``get_landmarker`` keeps one IMAGE-mode detector per process; ``faces_from_result`` turns a MediaPipe result into
:class:`~emoreason.schema.Face` objects in original-image pixels; ``detect_faces`` does both for one image,
on a downscaled copy when the image is huge.

Head pose comes from the facial transformation matrix (canonical face -> camera space; x right, y up, z towards
the camera), as intrinsic Tait-Bryan angles in degrees: **yaw** > 0 when the face turns towards the image's right,
**pitch** > 0 when the face tilts up, **roll** > 0 when the head tilts counter-clockwise in the image.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from emoreason.errors import EmoreasonError
from emoreason.perception.images import DETECT_MAX_SIDE, detection_copy
from emoreason.perception.model_file import resolve_face_landmarker
from emoreason.schema import Face, HeadPose

logger = logging.getLogger(__name__)

DEFAULT_NUM_FACES = 10
MIN_DETECTION_CONFIDENCE = 0.5
TILE_SKIP_FRACTION = 0.15  # a face this wide (share of the long side) makes the image a portrait: no tiling
TILE_MIN_SIDE = 192
REFINE_SIZE = 256  # the second pass sees every face at this size, eye line level
REFINE_MARGIN = 0.35  # margin around the landmarks' extent in the second-pass crop (share of the face size)
# Faces at least this share of the image's long side would skip the second pass (1.0: none does). Stills read
# every face twice: skipping large faces saves a landmarker run, but then a face reads differently in a group photo
# (second pass) and alone (first pass only): on the benchmark set, 29 of 49 group faces stayed within 1.0 of their
# solo reading on every AU with a 0.35 cut, against 39 of 49 reading every face twice.
REFINE_BELOW = 1.0
PAD = 0.25  # when nothing is found: retry on a copy with a grey border of this share of the side on each edge...
PAD_MIN_SIDE = 256  # ...upscaled so the face part is at least this many pixels (tight crops, 48x48 thumbnails)
_CACHE: dict[tuple[str, int, float], Any] = {}
_RESOLVED: dict[tuple[str, str, int, float], tuple[str, int, float]] = {}  # settings as given -> _CACHE key
_CACHE_LOCK = threading.Lock()
# one per landmarker (a MediaPipe graph runs one image at a time), gone with it: a server makes one per video
_DETECT_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence MediaPipe's C++ start-up chatter on fd 2 (glog/TFLite lines), unless DEBUG logging is on."""
    if logging.getLogger("emoreason").isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def create_landmarker(
    mode: Literal["image", "video"] = "image",
    num_faces: int = DEFAULT_NUM_FACES,
    model_path: str | os.PathLike[str] | None = None,
    min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
    allow_download: bool = False,
) -> Any:
    """A new MediaPipe FaceLandmarker with blendshapes and transformation matrices on. Caller closes it."""
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    if mode not in ("image", "video"):
        raise EmoreasonError(f"landmarker mode must be 'image' or 'video', not {mode!r}")
    path = resolve_face_landmarker(model_path, allow_download=allow_download)
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(path)),
        running_mode=vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO,
        num_faces=num_faces,
        min_face_detection_confidence=min_detection_confidence,
        min_face_presence_confidence=min_detection_confidence,
        min_tracking_confidence=min_detection_confidence,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )
    try:
        with quiet_native_logs():
            return vision.FaceLandmarker.create_from_options(options)
    except (RuntimeError, ValueError, OSError) as err:
        raise EmoreasonError(f"MediaPipe could not load the face model {path}: {err}") from err


def get_landmarker(
    num_faces: int = DEFAULT_NUM_FACES,
    model_path: str | os.PathLike[str] | None = None,
    min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
) -> Any:
    """The process-wide IMAGE-mode landmarker for these settings (created once, closed at exit).

    Resolving the model file checks several places on disk (~0.6 ms), so the settings as given (plus the
    environment variable the search reads) map straight to the landmarker after the first call.
    """
    from emoreason.perception.model_file import ENV_MODEL

    given = (str(model_path or ""), os.environ.get(ENV_MODEL, ""), num_faces, min_detection_confidence)
    with _CACHE_LOCK:
        if given in _RESOLVED:
            return _CACHE[_RESOLVED[given]]
    path = str(resolve_face_landmarker(model_path))
    key = (path, num_faces, min_detection_confidence)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = create_landmarker("image", num_faces, path, min_detection_confidence)
        _RESOLVED[given] = key
        return _CACHE[key]


def close_landmarkers() -> None:
    """Close cached detectors before interpreter shutdown (MediaPipe's __del__ fails noisily after it)."""
    with _CACHE_LOCK:
        for landmarker in _CACHE.values():
            try:
                landmarker.close()
            except Exception:  # noqa: BLE001 - shutting down anyway; make __del__ a no-op
                landmarker._handle = None
        _CACHE.clear()
        _RESOLVED.clear()


# MediaPipe runs its calls on a concurrent.futures executor, which threading shuts down *before* atexit handlers
# run; closing must come first, so register with threading's own exit hooks where they exist.
_register = getattr(threading, "_register_atexit", None)
if _register is not None:
    _register(close_landmarkers)
else:  # pragma: no cover
    atexit.register(close_landmarkers)


def head_pose(matrix: np.ndarray) -> HeadPose:
    """Yaw, pitch, roll in degrees from a 4x4 facial transformation matrix (conventions: module docstring)."""
    r = np.asarray(matrix, dtype=np.float64)[:3, :3]
    scale = np.linalg.norm(r[:, 0]) or 1.0
    r = r / scale
    pitch = math.degrees(math.atan2(-r[2, 1], r[2, 2]))
    yaw = -math.degrees(math.asin(max(-1.0, min(1.0, r[2, 0]))))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return HeadPose(yaw=round(yaw, 2), pitch=round(pitch, 2), roll=round(roll, 2))


def faces_from_result(
    result: Any,
    width: int,
    height: int,
    scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    bounds: tuple[float, float] | None = None,
) -> list[Face]:
    """MediaPipe FaceLandmarkerResult -> Faces in original pixels.

    ``width``/``height`` are the size of the image MediaPipe saw, ``offset`` its top-left corner inside the
    detection image (for tiles), ``scale`` maps detection pixels to original ones, and ``bounds`` is the original
    image size (default: ``width * scale, height * scale``). Boxes are the landmarks' extent, clipped to bounds.
    """
    faces: list[Face] = []
    full_w, full_h = bounds or (width * scale, height * scale)
    ox, oy = offset
    for i, marks in enumerate(result.face_landmarks):
        pts = np.array([(p.x, p.y, p.z) for p in marks], dtype=np.float64)
        pts[:, 0] = (pts[:, 0] * width + ox) * scale
        pts[:, 1] = (pts[:, 1] * height + oy) * scale
        pts[:, 2] *= width * scale
        x0, y0 = max(0.0, float(pts[:, 0].min())), max(0.0, float(pts[:, 1].min()))
        x1, y1 = min(full_w, float(pts[:, 0].max())), min(full_h, float(pts[:, 1].max()))
        if x1 <= x0 or y1 <= y0:
            continue
        blendshapes: dict[str, float] = {}
        if i < len(result.face_blendshapes or []):
            blendshapes = {c.category_name: round(float(c.score), 4) for c in result.face_blendshapes[i]}
        pose = None
        if i < len(result.facial_transformation_matrixes or []):
            pose = head_pose(result.facial_transformation_matrixes[i])
        # model_construct: the values come straight from MediaPipe; validating 478 tuples per face costs ~1 ms.
        faces.append(
            Face.model_construct(
                box=(round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1)),
                landmarks=pts,
                blendshapes=blendshapes,
                head_pose=pose,
                aus={},
                quality=[],
                quality_text="",
                uncertain_aus=[],
                track_id=None,
                frame_index=None,
                timestamp=None,
                crop=None,
            )
        )
    faces.sort(key=lambda f: (f.box[0], f.box[1]))  # left to right: a stable order for output and tests
    return faces


def _detect_lock(landmarker: Any) -> threading.Lock:
    """The lock of one landmarker: calls on the same graph are serialised, two landmarkers run side by side (the
    first pass of the next photo and the second pass of this one, on two cores)."""
    with _CACHE_LOCK:
        return _DETECT_LOCKS.setdefault(landmarker, threading.Lock())


def detect(landmarker: Any, rgb: np.ndarray, timestamp_ms: int | None = None) -> Any:
    """Run a landmarker on one HxWx3 uint8 array (IMAGE mode, or VIDEO mode with ``timestamp_ms``)."""
    import mediapipe as mp

    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
    try:
        with _detect_lock(landmarker):
            if timestamp_ms is None:
                return landmarker.detect(image)
            return landmarker.detect_for_video(image, int(timestamp_ms))
    except (RuntimeError, ValueError) as err:
        raise EmoreasonError(f"face detection failed on a {rgb.shape[1]}x{rgb.shape[0]} image: {err}") from err


def tile_grid(width: int, height: int) -> list[tuple[int, int, int]]:
    """Square, half-overlapping tiles ``(x, y, side)`` of side ~half the long side (at least 192 px)."""
    long_side, short_side = max(width, height), min(width, height)
    side = max(min(short_side, long_side // 2), min(short_side, TILE_MIN_SIDE))
    if side >= long_side:
        return []
    stride = max(1, side // 2)

    def starts(extent: int) -> list[int]:
        points = list(range(0, max(1, extent - side + 1), stride))
        if points[-1] + side < extent:
            points.append(extent - side)
        return points

    return [(x, y, side) for y in starts(height) for x in starts(width)]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over the smaller box: 1.0 when one box lies inside the other."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3]) or 1.0
    return ix * iy / smaller


def _nearest_centre(faces: list[Face], size: int) -> Face | None:
    """The face whose box centre is nearest the crop centre, if that centre lies in the middle half."""
    best, best_d = None, float("inf")
    for face in faces:
        cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
        d = max(abs(cx - size / 2), abs(cy - size / 2))
        if d < best_d:
            best, best_d = face, d
    return best if best is not None and best_d <= size / 4 else None


def refine_face(image: Any, face: Face, landmarker: Any, bounds: tuple[float, float] | None = None) -> Face:
    """The second pass: the landmarker again on the face's aligned, upscaled crop (``REFINE_SIZE`` square).

    Landmarks, blendshapes, yaw and pitch come from the crop pass, mapped back to the original pixels (roll stays
    the whole-image one: the crop is levelled). A face the crop pass cannot find keeps its first reading and gets
    the ``low_confidence`` quality flag.
    """
    from emoreason.perception.crops import aligned_crop_array
    from emoreason.perception.images import as_array

    if face.landmarks is None or len(face.landmarks) < 468:
        return face
    rgb = image if isinstance(image, np.ndarray) else as_array(image)
    crop, (a, b, c, d, e, f) = aligned_crop_array(rgb, face.landmarks, REFINE_SIZE, REFINE_MARGIN)
    found = faces_from_result(detect(landmarker, crop), REFINE_SIZE, REFINE_SIZE)
    hit = _nearest_centre(found, REFINE_SIZE)
    if hit is None:
        face.quality = sorted(set(face.quality) | {"low_confidence"})
        return face
    u, v = hit.landmarks[:, 0], hit.landmarks[:, 1]
    pts = np.empty_like(hit.landmarks)
    pts[:, 0] = a * u + b * v + c
    pts[:, 1] = d * u + e * v + f
    pts[:, 2] = hit.landmarks[:, 2] * math.hypot(a, d)
    full_w, full_h = bounds if bounds else (float("inf"), float("inf"))
    x0, y0 = max(0.0, float(pts[:, 0].min())), max(0.0, float(pts[:, 1].min()))
    x1, y1 = min(full_w, float(pts[:, 0].max())), min(full_h, float(pts[:, 1].max()))
    pose = face.head_pose
    if hit.head_pose is not None:
        pose = HeadPose(yaw=hit.head_pose.yaw, pitch=hit.head_pose.pitch, roll=pose.roll if pose else 0.0)
    face.landmarks = pts
    face.blendshapes = hit.blendshapes
    face.head_pose = pose
    face.box = (round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1))
    return face


def refine_faces(
    image: Any,
    faces: list[Face],
    model_path: str | os.PathLike[str] | None = None,
    landmarker: Any = None,
    below: float = REFINE_BELOW,
) -> list[Face]:
    """:func:`refine_face` on every face narrower than ``below`` x the image's long side (the default 1.0: every
    face), with a process-wide IMAGE-mode landmarker unless one is given."""
    if not faces:
        return faces
    h, w = (image.height, image.width) if hasattr(image, "height") else np.asarray(image).shape[:2]
    small = [f for f in faces if max(f.box[2], f.box[3]) <= below * max(w, h)]
    if small:
        from emoreason.perception.images import as_array

        landmarker = landmarker or get_landmarker(2, model_path)
        rgb = as_array(image)
        for face in small:
            refine_face(rgb, face, landmarker, (float(w), float(h)))
    return faces


def detect_faces(
    image: Any,
    num_faces: int = DEFAULT_NUM_FACES,
    model_path: str | os.PathLike[str] | None = None,
    max_side: int = DETECT_MAX_SIDE,
    landmarker: Any = None,
    tiles: bool | None = None,
    refine: bool = True,
) -> list[Face]:
    """All faces in a PIL image or RGB array, boxes and landmarks in the image's own pixels.

    MediaPipe's detector is a short-range model: it misses faces smaller than ~10% of the image's long side.
    So unless a large face (>= ``TILE_SKIP_FRACTION`` of the long side, a portrait) was found on the whole image,
    half-overlapping tiles are searched too (``tiles=None``; force with True/False) and duplicates merged.
    With ``refine`` (the default) every face is then read again on its own aligned crop (:func:`refine_face`),
    so a face in a group photo reads as it does alone.
    """
    faces = _find_faces(image, num_faces, model_path, max_side, landmarker, tiles)
    return refine_faces(image, faces, model_path) if refine else faces


def _find_faces(
    image: Any,
    num_faces: int,
    model_path: str | os.PathLike[str] | None,
    max_side: int,
    landmarker: Any,
    tiles: bool | None,
) -> list[Face]:
    """The first pass: whole image, then tiles where no large face was found, then (nothing found at all) a
    padded, upscaled copy."""
    small, scale = detection_copy(image, max_side)
    landmarker = landmarker or get_landmarker(num_faces, model_path)
    height, width = small.shape[:2]
    bounds = (width * scale, height * scale)
    faces = faces_from_result(detect(landmarker, small), width, height, scale)
    if tiles is None:
        tiles = not any(f.box[2] >= TILE_SKIP_FRACTION * max(bounds) for f in faces)
    if not tiles or len(faces) >= num_faces:
        return faces or _padded_retry(landmarker, small, scale, bounds)
    candidates: list[tuple[float, Face]] = [(0.0, f) for f in faces]
    for x, y, side in tile_grid(width, height):
        tile = small[y : y + side, x : x + side]
        for face in faces_from_result(detect(landmarker, tile), side, side, scale, (x, y), bounds):
            cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
            centrality = max(abs(cx / scale - x - side / 2), abs(cy / scale - y - side / 2)) / side
            candidates.append((centrality, face))
    kept: list[Face] = []
    for _, face in sorted(candidates, key=lambda c: c[0]):
        if all(_overlap(face.box, other.box) < 0.5 for other in kept):
            kept.append(face)
    kept = sorted(kept, key=lambda f: -f.box[2] * f.box[3])[:num_faces]
    return sorted(kept, key=lambda f: (f.box[0], f.box[1])) or _padded_retry(landmarker, small, scale, bounds)


def _padded_retry(landmarker: Any, small: np.ndarray, scale: float, bounds: tuple[float, float]) -> list[Face]:
    """The faces of an image where the whole-image pass found none, read on a padded, upscaled copy.

    MediaPipe's detector wants some context around a face: a tight crop (a face filling the image, a 48x48
    thumbnail) usually gives nothing. So the image is upscaled until it is at least ``PAD_MIN_SIDE`` pixels and
    ``PAD`` x its long side of mid-grey is added on every edge; landmarks and boxes are mapped back to the
    original pixels (and clipped to them: such a face is usually flagged ``cut_off`` by the reading).
    """
    from PIL import Image, ImageOps

    height, width = small.shape[:2]
    up = max(1.0, PAD_MIN_SIDE / max(width, height))
    big = Image.fromarray(small)
    if up > 1.0:
        big = big.resize((round(width * up), round(height * up)), Image.Resampling.BICUBIC)
    border = round(max(big.size) * PAD)
    padded = np.asarray(ImageOps.expand(big, border=border, fill=(128, 128, 128)))
    ph, pw = padded.shape[:2]
    return faces_from_result(detect(landmarker, padded), pw, ph, scale / up, (-border, -border), bounds)
