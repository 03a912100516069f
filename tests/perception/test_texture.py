"""AU9 from the nasal bridge's texture (perception/texture.py) and how read_face merges it."""

from __future__ import annotations

import numpy as np
from skimage import data

from emoreason.perception.faces import detect_faces
from emoreason.perception.readings import read_face
from emoreason.perception.texture import RATIO_START, bridge_ratio, nose_wrinkle


def _astronaut_with_creases() -> tuple[np.ndarray, np.ndarray, object]:
    rgb = np.ascontiguousarray(data.astronaut())
    face = detect_faces(rgb)[0]
    creased = rgb.copy()
    marks = face.landmarks
    top, bottom = marks[168, 1], marks[195, 1]
    half = 0.3 * abs(marks[362, 0] - marks[133, 0])
    mid = int((marks[133, 0] + marks[362, 0]) / 2)
    span = slice(int(mid - half), int(mid + half))
    for y in np.arange(top, bottom, 3.0):  # horizontal folds across the bridge, 3 px apart
        creased[int(y), span] = (creased[int(y), span] * 0.55).astype(np.uint8)
    return rgb, creased, face


def test_a_relaxed_nose_reads_no_wrinkle_and_creases_across_the_bridge_do() -> None:
    rgb, creased, face = _astronaut_with_creases()
    relaxed = bridge_ratio(rgb, face.landmarks)
    assert relaxed is not None and relaxed < RATIO_START and nose_wrinkle(rgb, face.landmarks) == 0.0
    assert bridge_ratio(creased, face.landmarks) > RATIO_START and nose_wrinkle(creased, face.landmarks) >= 1.5


def test_the_patch_outside_the_image_or_too_few_landmarks_reads_nothing() -> None:
    rgb, _, face = _astronaut_with_creases()
    assert bridge_ratio(rgb, face.landmarks[:100]) is None
    shifted = face.landmarks.copy()
    shifted[:, 0] += 10_000
    assert bridge_ratio(rgb, shifted) is None and nose_wrinkle(rgb, shifted) == 0.0


def test_read_face_takes_a_texture_only_au9_as_uncertain() -> None:
    _, creased, face = _astronaut_with_creases()
    face = read_face(face, creased)
    assert face.aus.get("AU9L", 0) >= 1.5 and face.aus["AU9L"] == face.aus["AU9R"]
    assert {"AU9L", "AU9R"} <= set(face.uncertain_aus)  # the blendshapes saw none: one cue, not confirmed
    plain = read_face(detect_faces(creased)[0])  # no image: no texture reading
    assert plain.aus.get("AU9L", 0) < 1.5
