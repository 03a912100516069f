"""MediaPipe FaceLandmarker on real photos: faces, landmarks, blendshapes, head pose, boxes, crops."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from emoreason.perception.crops import aligned_crop, eye_angle
from emoreason.perception.faces import create_landmarker, detect, detect_faces, faces_from_result, get_landmarker
from emoreason.perception.images import load_image


def test_astronaut_has_one_face_with_everything(face_photo: Path) -> None:
    faces = detect_faces(load_image(face_photo))
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert 150 < x < 210 and 50 < y < 100 and 70 < w < 120 and 80 < h < 140  # her face, not the suit
    assert len(face.landmarks) == 478
    assert len(face.blendshapes) == 52 and 0.0 <= min(face.blendshapes.values())
    assert face.blendshapes["mouthSmileLeft"] > 0.5  # she is smiling
    assert face.head_pose is not None and abs(face.head_pose.yaw) < 10 and abs(face.head_pose.roll) < 10


def test_no_face(no_face_photo: Path) -> None:
    assert detect_faces(load_image(no_face_photo)) == []


def test_several_faces_are_all_reported(two_faces: Path) -> None:
    faces = detect_faces(load_image(two_faces))
    assert len(faces) == 2
    assert faces[0].box[0] < 512 <= faces[1].box[0]  # left to right


def test_head_pose_signs_follow_the_docstring(face_photo: Path) -> None:
    from PIL import Image, ImageOps

    img = load_image(face_photo)
    base = detect_faces(img)[0].head_pose
    mirrored = detect_faces(ImageOps.mirror(img))[0].head_pose
    assert mirrored.yaw == pytest.approx(-base.yaw, abs=3) and mirrored.roll == pytest.approx(-base.roll, abs=2)
    tilted = detect_faces(img.rotate(20, resample=Image.Resampling.BICUBIC, expand=True))[0].head_pose
    assert tilted.roll - base.roll == pytest.approx(20, abs=5)  # counter-clockwise in the image is positive


def test_huge_image_is_detected_downscaled_but_boxed_in_original_pixels(face_photo: Path, tmp_path: Path) -> None:
    from PIL import Image

    head = load_image(face_photo).crop((80, 0, 380, 300))  # her head and shoulders, 300 x 300
    reference = detect_faces(head)[0].box
    canvas = Image.new("RGB", (12000, 9000), (90, 90, 90))
    factor, offset = 25, (1500, 600)
    canvas.paste(head.resize((300 * factor, 300 * factor), Image.Resampling.BILINEAR), offset)
    path = tmp_path / "huge.jpg"
    canvas.save(path, quality=85)
    del canvas
    img = load_image(path)
    assert img.size == (12000, 9000)
    faces = detect_faces(img)
    assert len(faces) == 1
    expected = [offset[0] + reference[0] * factor, offset[1] + reference[1] * factor, reference[2] * factor]
    x, y, w, _ = faces[0].box
    assert x == pytest.approx(expected[0], abs=100) and y == pytest.approx(expected[1], abs=100)
    assert w == pytest.approx(expected[2], rel=0.1)
    assert max(p[0] for p in faces[0].landmarks) > 3000  # landmarks are in original pixels too


def test_small_faces_in_group_photos_are_found_by_tiles(two_faces: Path) -> None:
    img = load_image(two_faces)
    assert len(detect_faces(img, tiles=False)) == 0  # each face is ~9% of the width: too small for one pass
    assert len(detect_faces(img)) == 2


def test_video_mode_landmarker_and_faces_from_result(face_photo: Path) -> None:
    arr = np.asarray(load_image(face_photo))
    landmarker = create_landmarker("video", num_faces=2)
    try:
        faces = [faces_from_result(detect(landmarker, arr, t * 40), 512, 512) for t in range(3)]
    finally:
        landmarker.close()
    assert [len(f) for f in faces] == [1, 1, 1]
    assert faces[2][0].box == pytest.approx(faces[0][0].box, abs=8)


def test_detector_is_cached_per_process() -> None:
    assert get_landmarker() is get_landmarker()


def test_aligned_crop_levels_the_eyes(face_photo: Path) -> None:
    from PIL import Image

    img = load_image(face_photo).rotate(25, resample=Image.Resampling.BICUBIC, expand=True)
    face = detect_faces(img)[0]
    assert abs(math.degrees(eye_angle(face.landmarks))) > 15
    crop = aligned_crop(img, face.landmarks, size=224)
    assert crop.size == (224, 224) and crop.mode == "RGB"
    again = detect_faces(crop)
    assert len(again) == 1 and abs(math.degrees(eye_angle(again[0].landmarks))) < 4
    x, y, w, h = again[0].box
    assert w > 224 * 0.5 and 0 <= x and x + w <= 224  # the face fills the crop, with a margin


def test_second_pass_reads_each_face_of_a_group_photo_as_it_reads_alone(two_faces: Path) -> None:
    """Every face is read again on its own aligned crop: boxes stay in the photo's pixels, the landmarks land on
    the first pass's, and each face's AUs are within 1.0 of the same face cropped and read alone."""
    import numpy as np

    from emoreason import facs
    from emoreason.perception.readings import read_face

    img = load_image(two_faces)
    first = detect_faces(img, refine=False)
    second = detect_faces(img)
    assert len(first) == len(second) == 2
    for a, b in zip(first, second, strict=True):
        assert abs(a.box[0] - b.box[0]) < 0.1 * a.box[2] and abs(a.box[1] - b.box[1]) < 0.1 * a.box[3]
        shift = np.linalg.norm(np.asarray(a.landmarks)[:, :2] - np.asarray(b.landmarks)[:, :2], axis=1).mean()
        assert shift < 0.05 * a.box[2]
    for face in second:
        read_face(face, img)
        x, y, w, h = face.box
        alone = img.crop((int(x - w), int(y - h), int(x + 2 * w), int(y + 2 * h)))
        (solo,) = [read_face(f, alone) for f in detect_faces(alone)][:1]
        group, single = facs.bilateral(face.aus), facs.bilateral(solo.aus)
        worst = max(abs(group.get(n, 0.0) - single.get(n, 0.0)) for n in set(group) | set(single))
        assert worst <= 1.0, (group, single)
        assert group[12] >= 3.0  # she smiles in both


def _count_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record which MediaPipe graph each ``faces.detect`` call runs (FaceDetector or FaceLandmarker)."""
    import emoreason.perception.faces as faces_mod

    runs: list[str] = []
    real = faces_mod.detect

    def counting(graph, rgb, timestamp_ms=None):  # noqa: ANN001, ANN202
        runs.append(type(graph).__name__)
        return real(graph, rgb, timestamp_ms)

    monkeypatch.setattr(faces_mod, "detect", counting)
    return runs


def test_a_portrait_costs_one_detector_and_one_landmarker_run(
    face_photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The face detector finds the face, the landmarker reads it once on its aligned crop: the reading the
    second pass used to give after a whole-image landmarker run, for one landmarker run."""
    from emoreason.perception.faces import refine_faces

    img = load_image(face_photo)
    old = refine_faces(img, detect_faces(img, refine=False))[0]  # whole-image pass, then the crop: two runs
    runs = _count_runs(monkeypatch)
    (face,) = detect_faces(img)
    assert runs == ["FaceDetector", "FaceLandmarker"]
    shift = np.linalg.norm(np.asarray(face.landmarks)[:, :2] - np.asarray(old.landmarks)[:, :2], axis=1).mean()
    assert shift < 0.02 * face.box[2]
    assert max(abs(face.blendshapes[k] - old.blendshapes[k]) for k in old.blendshapes) < 0.15


def test_a_seed_the_detector_framed_off_is_read_again_on_its_landmarks(
    face_photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A detector box 1.6x too wide (as on small, weak faces) is read once, then again on the square its landmarks
    give, so it reads as a well-framed face does."""
    from emoreason.perception.faces import Seed, get_face_detector, get_landmarker, read_seed, seeds_from_result

    rgb = np.asarray(load_image(face_photo).convert("RGB"))
    (seed,) = seeds_from_result(detect(get_face_detector(), rgb), rgb.shape[1], rgb.shape[0])
    x, y, w, h = seed.box
    wide = Seed((x - 0.3 * w, y - 0.3 * h, 1.6 * w, 1.6 * h), seed.eyes, seed.score)
    good = read_seed(rgb, seed, get_landmarker(2))
    runs = _count_runs(monkeypatch)
    again = read_seed(rgb, wide, get_landmarker(2))
    assert runs == ["FaceLandmarker", "FaceLandmarker"]
    shift = np.linalg.norm(np.asarray(again.landmarks)[:, :2] - np.asarray(good.landmarks)[:, :2], axis=1).mean()
    assert shift < 0.02 * good.box[2]


def test_a_landmarker_bundle_without_its_face_detector_is_a_clear_error(tmp_path: Path) -> None:
    import zipfile

    from emoreason.errors import EmoreasonError
    from emoreason.perception.faces import create_face_detector

    fake = tmp_path / "face_landmarker.task"
    with zipfile.ZipFile(fake, "w") as bundle:  # a zip, as the bundle check wants, with only the landmark model
        bundle.writestr("face_landmarks_detector.tflite", b"\0" * 16)
    with pytest.raises(EmoreasonError, match="face_detector.tflite inside"):
        create_face_detector(fake)


def test_second_pass_that_cannot_find_the_face_keeps_the_first_reading(face_photo: Path) -> None:
    import numpy as np

    from emoreason.perception.faces import get_landmarker, refine_face

    img = load_image(face_photo)
    (face,) = detect_faces(img, refine=False)
    before = np.asarray(face.landmarks).copy()
    blank = np.zeros((img.height, img.width, 3), np.uint8)  # the crop shows no face
    refine_face(blank, face, get_landmarker(2))
    assert face.quality == ["low_confidence"] and np.array_equal(np.asarray(face.landmarks), before)


def test_a_tight_thumbnail_is_read_on_a_padded_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 48x48 grey crop with chin and brow cut off: the whole-image pass finds nothing, the padded retry finds the
    face, with its landmarks and box in the thumbnail's own pixels and the flags that say how far to trust it."""
    from PIL import Image
    from skimage import data

    import emoreason.perception.faces as faces_mod
    from emoreason.pipelines.image import ImageOptions, perceive_image

    crop = Image.fromarray(data.astronaut()).crop((187, 86, 263, 162)).resize((48, 48)).convert("L").convert("RGB")
    found = perceive_image("thumb", image=crop)
    assert len(found) == 1
    face = found[0]
    x, y, w, h = face.box
    assert 0 <= x and 0 <= y and x + w <= 48.01 and y + h <= 48.01 and w * h > 0.5 * 48 * 48
    assert {"small_face", "cut_off"} <= set(face.quality)
    assert max(face.aus.get("AU12L", 0), face.aus.get("AU12R", 0)) >= 2  # she smiles
    from emoreason.facs import parse_au_key

    brows = [k for k in face.aus if parse_au_key(k)[0] in (1, 2, 4)]  # the crop cuts her forehead
    assert brows and set(brows) <= set(face.uncertain_aus) and "low_confidence" in face.quality
    inside = (face.landmarks[:, 0] > -48) & (face.landmarks[:, 0] < 96)  # mapped back, not in padded pixels
    assert inside.all()
    monkeypatch.setattr(faces_mod, "_padded_retry", lambda *args: [])
    # without the retry the landmarker finds nothing: with the AU rules alone there is no face ...
    assert perceive_image("thumb", ImageOptions(expression_model="none"), image=crop) == []
    # ... and with the face model the thumbnail is still one face, read without landmarks (no AUs)
    (alone,) = perceive_image("thumb", image=crop)
    assert alone.quality == ["no_landmarks"] and alone.aus == {} and alone.box == (0.0, 0.0, 48.0, 48.0)
    assert abs(sum(alone.expression.values()) - 1.0) < 1e-3


def test_overlapping_quiet_sections_in_two_threads_give_stderr_back() -> None:
    """The face detector's calls silence fd 2 from the read-ahead thread while other threads may do the same:
    one redirect for all of them, so stderr is the real one again when the last section ends."""
    import os
    import threading

    from emoreason.perception.faces import quiet_native_logs

    before = os.fstat(2)
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        with quiet_native_logs():
            started.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    started.wait(5)
    with quiet_native_logs():  # enters while the other section is open, leaves first
        assert os.fstat(2).st_ino != before.st_ino
    assert os.fstat(2).st_ino != before.st_ino  # the other thread is still quiet
    release.set()
    worker.join(5)
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
