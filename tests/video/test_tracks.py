"""Face-track association, AU series, baselines; and a real clip where the face disappears for 0.5 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoreason.perception.tracks import BASELINE_CAP, AUSeries, FaceTracker, iou
from emoreason.schema import Face


def face(x: float, y: float = 50.0, w: float = 80.0) -> Face:
    return Face(box=(x, y, w, w))


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0


def test_track_survives_short_miss_and_motion() -> None:
    tr = FaceTracker(max_miss=1.0)
    ids = []
    for i in range(8):  # moving right 20 px per 0.25 s frame
        ids += [f.track_id for f in tr.update([face(100 + 20 * i)], i * 0.25)]
    # 0.75 s with no face while it keeps moving; it comes back with no box overlap with the last one seen
    ids += [f.track_id for f in tr.update([face(100 + 20 * 11)], 11 * 0.25)]
    assert set(ids) == {1}


def test_long_miss_starts_a_new_track() -> None:
    tr = FaceTracker(max_miss=1.0)
    tr.update([face(100)], 0.0)
    assert tr.update([face(100)], 1.5)[0].track_id == 2


def test_two_faces_keep_their_ids_when_detection_order_flips() -> None:
    tr = FaceTracker()
    a, b = tr.update([face(50), face(400)], 0.0)
    assert (a.track_id, b.track_id) == (1, 2)
    b2, a2 = tr.update([face(405), face(55)], 0.25)
    assert (a2.track_id, b2.track_id) == (1, 2)
    only_b = tr.update([face(410)], 0.5)  # one face missed for a frame
    assert only_b[0].track_id == 2
    assert tr.update([face(60), face(412)], 0.75)[0].track_id == 1


def test_baseline_and_relative_aus() -> None:
    s = AUSeries(track=1)
    for i in range(20):  # resting brow lowerer ~0.8, a held smile at 3.0, one AU26 spike
        s.add(i * 0.25, {"AU4": 0.8, "AU12": 3.0, "AU26": 4.0 if i == 10 else 0.0}, (0, 0, 10, 10))
    base = s.baseline()
    assert base == {"AU4": 0.8, "AU12": BASELINE_CAP}  # the held smile is only partly absorbed
    assert s.relative(10, base) == {"AU12": 1.5, "AU26": 4.0}
    assert s.relative(0, base) == {"AU12": 1.5}
    assert s.frames_between(1.0, 2.0) == [4, 5, 6, 7]
    short = AUSeries(track=2)
    short.add(0.0, {"AU4": 2.0}, (0, 0, 1, 1))
    assert short.baseline() == {}  # too few frames to know the resting face


def test_real_clip_one_track_through_a_miss(no_audio_video: Path) -> None:
    """The face is blanked from 1.5 to 2.0 s; MediaPipe loses it, the tracker must not open a new track."""
    from emoreason.perception.aus import blendshapes_to_aus
    from emoreason.perception.faces import create_landmarker, detect, faces_from_result
    from emoreason.perception.media import iter_frames

    landmarker = create_landmarker(mode="video", num_faces=2)
    tracker = FaceTracker(max_miss=1.0)
    seen: dict[float, list[int]] = {}
    aus = []
    try:
        for fr in iter_frames(no_audio_video, fps=4.0):
            result = detect(landmarker, fr.image, int(fr.time * 1000))
            faces = tracker.update(faces_from_result(result, fr.image.shape[1], fr.image.shape[0]), fr.time)
            seen[fr.time] = [f.track_id for f in faces]
            aus += [blendshapes_to_aus(f.blendshapes, f.landmarks) for f in faces]
    finally:
        landmarker.close()
    missed = [t for t, ids in seen.items() if not ids]
    assert missed and all(1.5 <= t < 2.1 for t in missed)
    assert {i for ids in seen.values() for i in ids} == {1}
    jaw = [a.get("AU26", 0.0) + a.get("AU25", 0.0) for a in aus]
    assert max(jaw) - min(jaw) > 1.0  # the mouth opens and closes: AUs change over time
