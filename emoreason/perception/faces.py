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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
REFINE_SIZE = 256  # the landmarker reads every face on a crop of this size, eye line level
REFINE_MARGIN = 0.35  # margin around the landmarks' extent in that crop (share of the face size)
# refine_faces's default: faces at least this share of the image's long side keep their whole-image reading (1.0:
# none does; the video pipeline passes its own cut). A face read on the whole image and one read on its crop differ:
# on the benchmark set 29 of 49 group faces stayed within 1.0 of their solo reading on every AU with a 0.35 cut,
# against 39 of 49 reading every face on its crop.
REFINE_BELOW = 1.0
DETECTOR_MEMBER = "face_detector.tflite"  # the landmarker bundle's own face detector (BlazeFace short range)
# A detector box's width x this is the side of the landmarks' extent in the eye-aligned frame (median 1.05 on 81
# real faces from registry packages, 1.08 on 179 FER2013 PublicTest thumbnails; p10-p90 0.87-1.16): the crop the
# landmarker reads a found face on is framed as the second pass frames a face from its first-pass landmarks.
SEED_SIDE = 1.06
REFRAME_SHIFT = 0.05  # a seed's square is re-framed on the face's landmarks when its centre is off by more than
REFRAME_SCALE = 1.1  # this share of the side, or its side is off by more than this factor (read_seed)
PAD = 0.25  # when nothing is found: retry on a copy with a grey border of this share of the side on each edge...
PAD_MIN_SIDE = 256  # ...upscaled so the face part is at least this many pixels (tight crops, 48x48 thumbnails)
_CACHE: dict[tuple[str, int, float], Any] = {}
_DETECTORS: dict[tuple[str, float], Any] = {}
_SLOTS: dict[tuple[str, float, int], tuple[Any, Any]] = {}  # search_models: (path, confidence, slot) -> its pair
_RESOLVED: dict[tuple[str, str], str] = {}  # (model path as given, $EMOREASON_FACE_MODEL) -> the bundle's path
_CACHE_LOCK = threading.Lock()
# one per landmarker (a MediaPipe graph runs one image at a time), gone with it: a server makes one per video
_DETECT_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()


_QUIET_LOCK = threading.Lock()
_QUIET: dict[str, Any] = {"depth": 0, "saved": None}  # fd 2 is process-wide: one redirect, however many threads


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Silence MediaPipe's C++ chatter on fd 2 (glog/TFLite lines), unless DEBUG logging is on. Threads share one
    redirect (the first in saves fd 2, the last out restores it), so two overlapping sections cannot leave stderr
    pointing at /dev/null."""
    if logging.getLogger("emoreason").isEnabledFor(logging.DEBUG):
        yield
        return
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            try:
                saved = os.dup(2)
            except OSError:
                saved = None
            if saved is not None:
                with open(os.devnull, "wb") as devnull:
                    os.dup2(devnull.fileno(), 2)
            _QUIET["saved"] = saved
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0 and _QUIET["saved"] is not None:
                os.dup2(_QUIET["saved"], 2)
                os.close(_QUIET["saved"])
                _QUIET["saved"] = None


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


def _model_path(model_path: str | os.PathLike[str] | None) -> str:
    """The landmarker bundle these settings name, resolved once: the search checks several places on disk
    (~0.6 ms), so the path as given (plus the environment variable the search reads) maps straight to it after the
    first call."""
    from emoreason.perception.model_file import ENV_MODEL

    given = (str(model_path or ""), os.environ.get(ENV_MODEL, ""))
    with _CACHE_LOCK:
        if given in _RESOLVED:
            return _RESOLVED[given]
    path = str(resolve_face_landmarker(model_path))
    with _CACHE_LOCK:
        _RESOLVED[given] = path
    return path


def get_landmarker(
    num_faces: int = DEFAULT_NUM_FACES,
    model_path: str | os.PathLike[str] | None = None,
    min_detection_confidence: float = MIN_DETECTION_CONFIDENCE,
) -> Any:
    """The process-wide IMAGE-mode landmarker for these settings (created once, closed at exit)."""
    key = (_model_path(model_path), num_faces, min_detection_confidence)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = create_landmarker("image", num_faces, key[0], min_detection_confidence)
        return _CACHE[key]


def create_face_detector(
    model_path: str | os.PathLike[str] | None = None, min_detection_confidence: float = MIN_DETECTION_CONFIDENCE
) -> Any:
    """A new MediaPipe FaceDetector (IMAGE mode) on the face detector inside the landmarker bundle: the model the
    landmarker itself finds faces with, ~1 ms on a 640x480 photo against ~6.5 ms for the whole landmarker. Caller
    closes it."""
    import zipfile

    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    path = resolve_face_landmarker(model_path)
    try:
        with zipfile.ZipFile(path) as bundle:
            model = bundle.read(DETECTOR_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as err:
        raise EmoreasonError(
            f"{path} is not a MediaPipe face landmarker bundle with {DETECTOR_MEMBER} inside ({err}); give the "
            "face_landmarker.task file"
        ) from err
    options = vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_buffer=model),
        running_mode=vision.RunningMode.IMAGE,
        min_detection_confidence=min_detection_confidence,
    )
    try:
        with quiet_native_logs():
            return vision.FaceDetector.create_from_options(options)
    except (RuntimeError, ValueError, OSError) as err:
        raise EmoreasonError(f"MediaPipe could not load the face detector in {path}: {err}") from err


def get_face_detector(
    model_path: str | os.PathLike[str] | None = None, min_detection_confidence: float = MIN_DETECTION_CONFIDENCE
) -> Any:
    """The process-wide face detector of this landmarker bundle (created once, closed at exit)."""
    key = (_model_path(model_path), min_detection_confidence)
    with _CACHE_LOCK:
        if key not in _DETECTORS:
            _DETECTORS[key] = create_face_detector(key[0], min_detection_confidence)
        return _DETECTORS[key]


def search_models(model_path: str | os.PathLike[str] | None = None, slot: int = 0) -> tuple[Any, Any]:
    """The (face detector, IMAGE-mode landmarker) pair :func:`detect_faces` searches with (``models``): slot 0 is
    the process-wide pair it uses by default, each further slot a process-wide pair of its own (created once,
    ~25 ms, closed at exit), so several threads can search photos at once (each graph reads one image at a
    time)."""
    if slot == 0:
        return get_face_detector(model_path), get_landmarker(2, model_path)
    key = (_model_path(model_path), MIN_DETECTION_CONFIDENCE, slot)
    with _CACHE_LOCK:
        if key not in _SLOTS:
            _SLOTS[key] = (create_face_detector(key[0]), create_landmarker("image", 2, key[0]))
        return _SLOTS[key]


def close_landmarkers() -> None:
    """Close cached landmarkers and detectors before interpreter shutdown (MediaPipe's __del__ fails noisily
    after it)."""
    with _CACHE_LOCK, quiet_native_logs():  # the detector says "DestroyAccelerator" on stderr as it closes
        for graph in [*_CACHE.values(), *_DETECTORS.values(), *(g for pair in _SLOTS.values() for g in pair)]:
            try:
                graph.close()
            except Exception:  # noqa: BLE001 - shutting down anyway; make __del__ a no-op
                graph._handle = None
        _CACHE.clear()
        _DETECTORS.clear()
        _SLOTS.clear()
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
    """The lock of one MediaPipe graph: calls on the same graph are serialised, two graphs run side by side (the
    read-ahead thread's detector and landmarker, the video pipeline's stages), on two cores."""
    with _CACHE_LOCK:
        return _DETECT_LOCKS.setdefault(landmarker, threading.Lock())


def detect(landmarker: Any, rgb: np.ndarray, timestamp_ms: int | None = None) -> Any:
    """Run a landmarker on one HxWx3 uint8 array (IMAGE mode, or VIDEO mode with ``timestamp_ms``)."""
    import mediapipe as mp

    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
    # the face detector warns on stderr, once a process, when LiteRT copies its (unaligned) input tensor: at
    # random, in the middle of a user's output. Its ~1 ms calls run with MediaPipe's native chatter silenced.
    quiet = quiet_native_logs() if type(landmarker).__name__ == "FaceDetector" else contextlib.nullcontext()
    try:
        with _detect_lock(landmarker), quiet:
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


@dataclass(frozen=True)
class Seed:
    """A face the detector found, before the landmarker reads it: its box and eye centres in original pixels."""

    box: tuple[float, float, float, float]  # x, y, w, h
    eyes: tuple[tuple[float, float], tuple[float, float]]  # the subject's right eye (image left), then left eye
    score: float


def seeds_from_result(
    result: Any,
    width: int,
    height: int,
    scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    bounds: tuple[float, float] | None = None,
) -> list[Seed]:
    """MediaPipe FaceDetectorResult -> Seeds in original pixels (arguments as :func:`faces_from_result`)."""
    seeds: list[Seed] = []
    full_w, full_h = bounds or (width * scale, height * scale)
    ox, oy = offset
    for found in result.detections:
        bb = found.bounding_box
        x0, y0 = (bb.origin_x + ox) * scale, (bb.origin_y + oy) * scale
        x1, y1 = x0 + bb.width * scale, y0 + bb.height * scale
        if min(x1, full_w) <= max(0.0, x0) or min(y1, full_h) <= max(0.0, y0) or len(found.keypoints) < 2:
            continue
        right, left = ((((k.x * width) + ox) * scale, ((k.y * height) + oy) * scale) for k in found.keypoints[:2])
        score = float(found.categories[0].score) if found.categories else 0.0
        seeds.append(Seed((x0, y0, x1 - x0, y1 - y0), (right, left), score))
    return seeds


def _read_square(
    rgb: np.ndarray,
    center: np.ndarray,
    side: float,
    cos: float,
    sin: float,
    landmarker: Any,
    bounds: tuple[float, float] | None,
) -> Face | None:
    """The landmarker on one face square (``REFINE_SIZE`` pixels, eye line level), its face mapped back to the
    original pixels; None when it finds no face near the crop's centre. Roll is the crop's own plus the angle the
    square was levelled by."""
    from emoreason.perception.crops import warp_square

    crop, (a, b, c, d, e, f) = warp_square(rgb, center, side, cos, sin, REFINE_SIZE)
    hit = _nearest_centre(faces_from_result(detect(landmarker, crop), REFINE_SIZE, REFINE_SIZE), REFINE_SIZE)
    if hit is None:
        return None
    u, v = hit.landmarks[:, 0], hit.landmarks[:, 1]
    pts = np.empty_like(hit.landmarks)
    pts[:, 0] = a * u + b * v + c
    pts[:, 1] = d * u + e * v + f
    pts[:, 2] = hit.landmarks[:, 2] * math.hypot(a, d)
    full_w, full_h = bounds if bounds else (float("inf"), float("inf"))
    x0, y0 = max(0.0, float(pts[:, 0].min())), max(0.0, float(pts[:, 1].min()))
    x1, y1 = min(full_w, float(pts[:, 0].max())), min(full_h, float(pts[:, 1].max()))
    if hit.head_pose is not None:  # image y points down: a square turned by +theta is a clockwise roll
        roll = (hit.head_pose.roll - math.degrees(math.atan2(sin, cos)) + 180.0) % 360.0 - 180.0
        hit.head_pose = HeadPose(yaw=hit.head_pose.yaw, pitch=hit.head_pose.pitch, roll=round(roll, 2))
    hit.landmarks = pts
    hit.box = (round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1))
    return hit


def refine_face(image: Any, face: Face, landmarker: Any, bounds: tuple[float, float] | None = None) -> Face:
    """The second pass: the landmarker again on the face's aligned, upscaled crop (``REFINE_SIZE`` square).

    Landmarks, blendshapes and head pose come from the crop pass, mapped back to the original pixels. A face the
    crop pass cannot find keeps its first reading and gets the ``low_confidence`` quality flag.
    """
    from emoreason.perception.crops import _square
    from emoreason.perception.images import as_array

    if face.landmarks is None or len(face.landmarks) < 468:
        return face
    rgb = image if isinstance(image, np.ndarray) else as_array(image)
    center, side, cos, sin = _square(face.landmarks, REFINE_MARGIN)
    hit = _read_square(rgb, center, side, cos, sin, landmarker, bounds)
    if hit is None:
        face.quality = sorted(set(face.quality) | {"low_confidence"})
        return face
    face.landmarks, face.blendshapes, face.head_pose, face.box = hit.landmarks, hit.blendshapes, hit.head_pose, hit.box
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


def _seed_square(seed: Seed) -> tuple[np.ndarray, float, float, float]:
    """The square a seed is first read on: centred on the detector's box, levelled by its eyes, as wide as the
    second pass frames a face (``SEED_SIDE`` x the box width, ``REFINE_MARGIN`` around it)."""
    x, y, w, h = seed.box
    (rx, ry), (lx, ly) = seed.eyes
    theta = math.atan2(ly - ry, lx - rx)
    side = max(SEED_SIDE * w * (1.0 + 2.0 * REFINE_MARGIN), 1.0)
    return np.array([x + w / 2, y + h / 2]), side, math.cos(theta), math.sin(theta)


def _framed(center: np.ndarray, side: float, face: Face) -> bool:
    """Whether a square framed the face as its own landmarks would (centre within ``REFRAME_SHIFT`` x the side,
    side within ``REFRAME_SCALE``): then reading it again on that framing would not change the reading much."""
    from emoreason.perception.crops import _square

    own_center, own_side, _, _ = _square(face.landmarks, REFINE_MARGIN)
    shift = float(np.hypot(*(own_center - center))) / side
    return shift <= REFRAME_SHIFT and 1 / REFRAME_SCALE <= own_side / side <= REFRAME_SCALE


def read_seed(rgb: np.ndarray, seed: Seed, landmarker: Any, bounds: tuple[float, float] | None = None) -> Face | None:
    """One found face read by the landmarker on its own aligned square (:func:`_seed_square`), mapped back to the
    original pixels; None when the landmarker finds no face there. The detector's box is coarse on small or weak
    faces (up to 1.7x the face's width), so a square that the reading shows was framed off is read once more, on
    the square the face's landmarks give (:func:`refine_face`): every face ends up read on the framing the second
    pass has always used, most of them with one landmarker run."""
    center, side, cos, sin = _seed_square(seed)
    face = _read_square(rgb, center, side, cos, sin, landmarker, bounds)
    if face is not None and not _framed(center, side, face):
        refine_face(rgb, face, landmarker, bounds)
    return face


def detect_faces(
    image: Any,
    num_faces: int = DEFAULT_NUM_FACES,
    model_path: str | os.PathLike[str] | None = None,
    max_side: int = DETECT_MAX_SIDE,
    landmarker: Any = None,
    tiles: bool | None = None,
    refine: bool = True,
    models: tuple[Any, Any] | None = None,
) -> list[Face]:
    """All faces in a PIL image or RGB array, boxes and landmarks in the image's own pixels, left to right.

    MediaPipe's detector is a short-range model: it misses faces smaller than ~10% of the image's long side.
    So unless a large face (>= ``TILE_SKIP_FRACTION`` of the long side, a portrait) was found on the whole image,
    half-overlapping tiles are searched too (``tiles=None``; force with True/False) and duplicates merged; with
    nothing found at all, a padded, upscaled copy (:func:`_padded_retry`). With ``refine`` (the default) the
    faces are found by the landmarker bundle's face detector (:func:`get_face_detector`) and each is read by the
    landmarker on its own aligned crop (:func:`read_seed`), so a face in a group photo reads as it does alone;
    ``refine=False`` is the landmarker's own reading of the whole image and its tiles (``landmarker``, default
    the process-wide one), with no crops. ``models`` is the (face detector, landmarker) pair the default search
    uses (:func:`search_models`; default its slot 0, the process-wide pair).
    """
    if not refine:
        landmarker = landmarker or get_landmarker(num_faces, model_path)
        return _search(image, num_faces, max_side, tiles, lambda rgb: detect(landmarker, rgb))
    from emoreason.perception.images import as_array

    rgb = as_array(image)
    small, scale = detection_copy(rgb, max_side)
    height, width = small.shape[:2]
    bounds = (width * scale, height * scale)
    detector, reader = models or search_models(model_path)

    def read(seeds: list[Seed], kept: list[Face]) -> list[Face]:
        """The seeds' faces, less the seeds that lie inside a face already read (a tile's copy of it)."""
        out: list[Face] = []
        for seed in seeds:
            cx, cy = seed.box[0] + seed.box[2] / 2, seed.box[1] + seed.box[3] / 2
            if any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in (f.box for f in kept + out)):
                continue
            face = read_seed(rgb, seed, reader, bounds)
            if face is not None and all(_overlap(face.box, f.box) < 0.5 for f in kept + out):
                out.append(face)
        return out

    faces = read(seeds_from_result(detect(detector, small), width, height, scale), [])
    if tiles is None:
        tiles = not any(f.box[2] >= TILE_SKIP_FRACTION * max(bounds) for f in faces)
    if tiles and len(faces) < num_faces:
        faces += read(_tile_finds(small, scale, bounds, lambda part: detect(detector, part), seeds_from_result), faces)
    if not faces:
        faces = read(_padded_retry(lambda part: detect(detector, part), seeds_from_result, small, scale, bounds), [])
    faces = sorted(faces, key=lambda f: -f.box[2] * f.box[3])[:num_faces]
    return sorted(faces, key=lambda f: (f.box[0], f.box[1]))


def _tile_finds(
    small: np.ndarray,
    scale: float,
    bounds: tuple[float, float],
    run: Callable[[np.ndarray], Any],
    convert: Callable[..., list[Any]],
) -> list[Any]:
    """What ``run`` (a landmarker or a detector) finds on each half-overlapping tile of the detection copy,
    converted to original pixels (``convert``: :func:`faces_from_result` or :func:`seeds_from_result`), the most
    central in its tile first: a face cut by a tile's edge is read better on the tile it sits in the middle of."""
    height, width = small.shape[:2]
    candidates: list[tuple[float, Any]] = []
    for x, y, side in tile_grid(width, height):
        tile = small[y : y + side, x : x + side]
        for found in convert(run(tile), side, side, scale, (x, y), bounds):
            cx, cy = found.box[0] + found.box[2] / 2, found.box[1] + found.box[3] / 2
            candidates.append((max(abs(cx / scale - x - side / 2), abs(cy / scale - y - side / 2)) / side, found))
    return [found for _, found in sorted(candidates, key=lambda c: c[0])]


def _search(
    image: Any, num_faces: int, max_side: int, tiles: bool | None, run: Callable[[np.ndarray], Any]
) -> list[Face]:
    """The landmarker's own reading of one image (``run``): the whole detection copy, then half-overlapping tiles
    where no large face was found, duplicates merged (the whole image's and the most central tile's reading of
    each face win), then (nothing found at all) a padded, upscaled copy."""
    small, scale = detection_copy(image, max_side)
    height, width = small.shape[:2]
    bounds = (width * scale, height * scale)
    found = faces_from_result(run(small), width, height, scale)
    if tiles is None:
        tiles = not any(f.box[2] >= TILE_SKIP_FRACTION * max(bounds) for f in found)
    if not tiles or len(found) >= num_faces:
        return found or _padded_retry(run, faces_from_result, small, scale, bounds)
    kept: list[Face] = []
    for face in found + _tile_finds(small, scale, bounds, run, faces_from_result):
        if all(_overlap(face.box, other.box) < 0.5 for other in kept):
            kept.append(face)
    kept = sorted(kept, key=lambda f: -f.box[2] * f.box[3])[:num_faces]
    kept.sort(key=lambda f: (f.box[0], f.box[1]))
    return kept or _padded_retry(run, faces_from_result, small, scale, bounds)


def _padded_retry(
    run: Callable[[np.ndarray], Any],
    convert: Callable[..., list[Any]],
    small: np.ndarray,
    scale: float,
    bounds: tuple[float, float],
) -> list[Any]:
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
    return convert(run(padded), pw, ph, scale / up, (-border, -border), bounds)
