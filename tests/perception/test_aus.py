"""Blendshape -> AU estimator: calibration curve, sides kept apart (unilateral AU14), cross-talk corrections."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoreason import facs
from emoreason.perception.aus import blendshapes_to_aus, calibrate, present_aus
from emoreason.perception.faces import detect_faces
from emoreason.perception.images import load_image
from emoreason.reasoning.rules import score_emotions

NEUTRAL = {"eyeSquintLeft": 0.5, "eyeSquintRight": 0.5, "mouthPressLeft": 0.3, "mouthPressRight": 0.3}


def test_calibration_curve_is_clamped_and_linear() -> None:
    assert calibrate(0.05, 0.1, 0.8) == 0.0
    assert calibrate(0.45, 0.1, 0.8) == pytest.approx(2.5)
    assert calibrate(0.95, 0.1, 0.8) == 5.0
    values = [calibrate(s / 20, 0.1, 0.8) for s in range(21)]
    assert values == sorted(values)


def test_relaxed_face_has_no_present_au() -> None:
    assert present_aus(blendshapes_to_aus(NEUTRAL)) == {}
    assert blendshapes_to_aus({}) == {}


def test_sides_are_kept_apart_so_unilateral_dimpler_reads_as_contempt() -> None:
    aus = blendshapes_to_aus({**NEUTRAL, "mouthDimpleLeft": 0.4, "mouthSmileLeft": 0.2})
    assert aus["AU14L"] >= 3.0 and aus["AU14R"] == 0.0
    scores = score_emotions(aus)
    assert max(scores, key=scores.get) == "contempt"
    symmetric = blendshapes_to_aus({**NEUTRAL, "mouthDimpleLeft": 0.4, "mouthDimpleRight": 0.4})
    assert symmetric["AU14L"] == symmetric["AU14R"]
    assert score_emotions(symmetric)["contempt"] < scores["contempt"]


def test_keys_are_facs_keys() -> None:
    aus = blendshapes_to_aus({"browInnerUp": 0.6, "jawOpen": 0.5, "browDownLeft": 0.5, "browDownRight": 0.4})
    for key in aus:
        number, side = facs.parse_au_key(key)
        assert facs.au_key(number, side) == key and number in facs.AU_TABLE
    assert aus["AU1"] > 3 and aus["AU26"] > 3 and aus["AU4L"] > aus["AU4R"]


def test_smile_crosstalk_does_not_become_disgust() -> None:
    smile = {**NEUTRAL, "mouthSmileLeft": 0.85, "mouthSmileRight": 0.85, "mouthUpperUpLeft": 0.7}
    smile.update(mouthUpperUpRight=0.7, eyeSquintLeft=0.75, eyeSquintRight=0.75)
    aus = blendshapes_to_aus(smile)
    assert "AU10L" not in present_aus(aus)
    assert aus["AU6L"] >= 2 and aus.get("AU7L", 0) < 1  # squinting with a smile is the cheek raiser
    sneer = blendshapes_to_aus({**NEUTRAL, "mouthUpperUpLeft": 0.7, "mouthUpperUpRight": 0.7})
    assert sneer["AU10L"] >= 4
    glare = blendshapes_to_aus({**NEUTRAL, "eyeSquintLeft": 0.8, "eyeSquintRight": 0.8})
    assert glare["AU7L"] >= 3 and glare.get("AU6L", 0) == 0


def test_lip_roll_is_lip_tightener_then_lip_suck() -> None:
    mild = blendshapes_to_aus({"mouthRollLower": 0.35})
    strong = blendshapes_to_aus({"mouthRollLower": 0.8})
    assert mild["AU23"] >= 2 and "AU28" not in mild
    assert strong["AU28"] == 5.0


def test_real_smile_reads_as_happiness_aus(face_photo: Path) -> None:
    face = detect_faces(load_image(face_photo))[0]
    aus = blendshapes_to_aus(face.blendshapes, face.landmarks)
    assert aus["AU12L"] >= 4 and aus["AU12R"] >= 4  # a broad smile
    assert aus["AU25"] >= 1  # her lips are parted (teeth show)
    assert present_aus(aus).keys() <= {"AU12L", "AU12R", "AU25", "AU6L", "AU6R"}


def test_mirrored_photo_swaps_sides(face_photo: Path) -> None:
    from PIL import ImageOps

    img = load_image(face_photo)
    face = detect_faces(img)[0]
    mirror = detect_faces(ImageOps.mirror(img))[0]
    # abs 0.1: each image's second pass reads its own crop afresh
    assert face.blendshapes["mouthSmileLeft"] == pytest.approx(mirror.blendshapes["mouthSmileRight"], abs=0.1)
    assert face.blendshapes["mouthSmileRight"] == pytest.approx(mirror.blendshapes["mouthSmileLeft"], abs=0.1)


def test_docstring_examples() -> None:
    import doctest

    from emoreason.perception import aus as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
