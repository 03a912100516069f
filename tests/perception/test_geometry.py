"""Geometry AU measures on landmark sets with known movements, the fusion rule and the quality flags.

The landmark sets are MediaPipe's own canonical face mesh (read from the face_landmarker.task bundle), posed in
image coordinates and then moved the way an AU moves the face.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoreason import facs
from emoreason.perception import geometry as G
from emoreason.perception.readings import read_face
from emoreason.schema import Face, HeadPose


def _image_landmarks(mesh: np.ndarray, yaw_deg: float = 0.0, scale: float = 30.0) -> np.ndarray:
    """Canonical (cm, y up, z towards the camera) -> 478 image landmarks (px, y down, z away), turned by yaw."""
    a = math.radians(yaw_deg)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    pts = mesh @ rot.T * scale
    img = np.stack([pts[:, 0] + 320, -pts[:, 1] + 240, -pts[:, 2]], axis=1)
    return np.vstack([img, np.repeat(img[:1], 10, axis=0)])  # 468 mesh points + 10 iris points


@pytest.fixture(scope="module")
def mesh() -> np.ndarray:
    return G.canonical_geometry()[0].copy()


def aus_of(marks: np.ndarray) -> dict[str, float]:
    """Geometry AUs against the canonical mesh itself as the rest face (the test faces are moved canonical ones)."""
    canon_rest = G.measures(G.canonical_geometry()[0])
    return G.geometry_aus(G.measures(G.to_canonical(marks)), canon_rest)


def _move(mesh: np.ndarray, ids: list[int], dy: float) -> np.ndarray:
    moved = mesh.copy()
    moved[ids, 1] += dy
    return moved


def test_rest_level_is_the_canonical_mesh_moved_to_real_calm_faces(mesh: np.ndarray) -> None:
    canon, rest = G.measures(mesh), G.rest_measures()
    assert rest["eye_openL"] == pytest.approx(canon["eye_openL"] + G.NEUTRAL_OFFSET["eye_open"])
    assert rest["jaw"] == pytest.approx(canon["jaw"] + G.NEUTRAL_OFFSET["jaw"])
    assert max(G.landmark_aus(_image_landmarks(mesh)).values()) < 2.0  # the generic mesh is near a calm face


def test_canonical_mesh_is_read_from_the_bundle(mesh: np.ndarray) -> None:
    _, ids, weights = G.canonical_geometry()
    assert mesh.shape == (468, 3) and len(ids) == len(weights) > 10 and weights.sum() > 0
    iod = np.linalg.norm(mesh[33] - mesh[263])
    assert 5.0 < iod < 12.0  # centimetres: a human face


def test_neutral_mesh_reads_no_au_in_any_pose(mesh: np.ndarray) -> None:
    for yaw in (0.0, 20.0, -35.0):
        aus = aus_of(_image_landmarks(mesh, yaw))
        aus.pop("AU25")  # the canonical mesh's lips are slightly parted (inner-lip gap 0.065 IOD)
        assert max(aus.values()) < facs.PRESENCE_THRESHOLD, (yaw, aus)


def test_pose_is_removed_before_measuring(mesh: np.ndarray) -> None:
    smile = _move(mesh, [61, 291], 0.8)  # lip corners up by 0.8 cm
    front = G.measures(G.to_canonical(_image_landmarks(smile, 0.0)))
    turned = G.measures(G.to_canonical(_image_landmarks(smile, 35.0)))
    for key in ("cornerL", "cornerR", "eye_openL", "brow_innerR"):
        assert front[key] == pytest.approx(turned[key], abs=1e-6)


@pytest.mark.parametrize(
    ("ids", "dy", "au"),
    [
        ([61, 291], 0.9, 12),  # lip corners up: smile
        ([61, 291], -0.6, 15),  # lip corners down
        ([159, 158, 160, 386, 385, 387], 0.35, 5),  # upper lids up: eyes wide
        ([159, 158, 160, 386, 385, 387], -0.5, 43),  # upper lids down to the lower lids: eyes closed
        ([107, 336], 0.9, 1),  # inner brows up
        ([14, 17, 152], -2.2, 26),  # jaw down (lower lip and chin)
    ],
)
def test_each_measure_reads_its_movement(mesh: np.ndarray, ids: list[int], dy: float, au: int) -> None:
    moved = _move(mesh, ids, dy)
    if au == 26:  # the jaw takes the lip corners half the way down with it
        moved = _move(moved, [61, 291], dy / 2)
    aus = facs.bilateral(aus_of(_image_landmarks(moved, 20.0)))
    assert aus.get(au, 0.0) >= 2.0, aus
    others = {n: v for n, v in aus.items() if v >= facs.PRESENCE_THRESHOLD and n not in (au, 25, 20, 7)}
    assert not others, others


def test_a_smile_is_not_read_as_an_upper_lip_raiser_or_lip_stretcher(mesh: np.ndarray) -> None:
    smile = _move(mesh, [61, 291], 0.9)
    smile[[61, 291], 0] *= 1.15  # a smile also widens the mouth
    aus = facs.bilateral(aus_of(_image_landmarks(smile)))
    assert aus[12] >= 2.0 and aus.get(20, 0.0) < 1.0 and aus.get(10, 0.0) < 1.0


def test_fusion_takes_the_weighted_mean_and_flags_disagreement_not_the_larger() -> None:
    fused, uncertain = G.fuse({"AU4L": 4.0, "AU4R": 4.0, "AU17": 2.0}, {"AU4L": 0.0, "AU4R": 0.0})
    assert fused["AU4L"] == pytest.approx(0.15 * 4.0) and uncertain == ["AU4"]  # AU4: geometry weight 0.85
    assert fused["AU17"] == 2.0  # only one source reads it: kept
    agreed, none = G.fuse({"AU12L": 3.0, "AU12R": 3.0}, {"AU12L": 2.0, "AU12R": 2.0})
    assert none == [] and agreed["AU12L"] == pytest.approx(0.7 * 3.0 + 0.3 * 2.0, abs=0.01)
    # the blind spot: eyeWide stays low on wide eyes, the geometry leads (weight 0.6)
    wide, _ = G.fuse({}, {"AU5L": 4.0, "AU5R": 4.0})
    assert wide["AU5L"] == pytest.approx(2.4)


def _face(mesh: np.ndarray, yaw: float = 0.0, scale: float = 30.0, moved: np.ndarray | None = None) -> Face:
    marks = _image_landmarks(mesh if moved is None else moved, yaw, scale)
    x0, y0 = marks[:, :2].min(axis=0)
    x1, y1 = marks[:, :2].max(axis=0)
    return Face(
        box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
        landmarks=marks,
        blendshapes={},
        head_pose=HeadPose(yaw=yaw, pitch=0.0, roll=0.0),
    )


def test_quality_flags_turned_small_eyes_closed_cut_off(mesh: np.ndarray) -> None:
    turned = read_face(_face(mesh, yaw=35.0), bounds=(640.0, 480.0))
    assert turned.quality == ["turned_face"] and "turned about 35°" in turned.quality_text
    small = read_face(_face(mesh, scale=3.0), bounds=(640.0, 480.0))
    assert "small_face" in small.quality and "small" in small.quality_text
    closed = _face(mesh, moved=_move(mesh, [159, 158, 160, 386, 385, 387], -0.5))
    closed.blendshapes = {"eyeBlinkLeft": 0.85, "eyeBlinkRight": 0.85, "eyeSquintLeft": 0.9, "eyeSquintRight": 0.9}
    read_face(closed, bounds=(640.0, 480.0))
    assert "eyes_closed" in closed.quality and "eyes are closed" in closed.quality_text
    assert not {facs.parse_au_key(k)[0] for k in closed.aus} & {5, 6, 7}  # a shut eye shows none of these
    cut = read_face(_face(mesh), bounds=(330.0, 480.0))  # the right half of the face is off the image
    assert "cut_off" in cut.quality
    clean = read_face(_face(mesh), bounds=(640.0, 480.0))
    assert clean.quality == [] and clean.quality_text == ""


def test_smile_lowers_the_brow_reading_but_not_when_crying() -> None:
    from emoreason.perception.readings import _smile_crosstalk

    assert _smile_crosstalk({"AU4L": 2.5, "AU12L": 4.0})["AU4L"] == pytest.approx(0.5)
    crying = {"AU4L": 2.5, "AU12L": 4.0, "AU43L": 4.5}
    assert _smile_crosstalk(crying)["AU4L"] == 2.5


def test_a_shout_keeps_its_lowered_brows() -> None:
    """A dropped jaw (AU27, or AU26 >= 3) is a shout's stretched mouth, not a smile: AU4 is not lowered."""
    from emoreason.perception.readings import _smile_crosstalk

    assert _smile_crosstalk({"AU4L": 5.0, "AU12L": 4.9, "AU27": 3.2, "AU25": 5.0})["AU4L"] == 5.0
    assert _smile_crosstalk({"AU4L": 5.0, "AU12L": 4.9, "AU26": 4.8, "AU25": 5.0})["AU4L"] == 5.0
    laugh = {"AU4L": 2.0, "AU12L": 4.0, "AU26": 1.5, "AU25": 4.0}  # a laugh opens the lips, not the jaw this far
    assert _smile_crosstalk(laugh)["AU4L"] == pytest.approx(0.0)
