"""Expression changes inside a window are events: frame-label runs split it, and the caption says when."""

from __future__ import annotations

from emoreason.eval.temporal import extract_events
from emoreason.pipelines.timeline import timeline, track_caption
from emoreason.pipelines.windows import label_runs
from emoreason.schema import SegmentResult


def test_a_change_that_holds_splits_and_a_flicker_does_not() -> None:
    # single_face.mp4 at 4 fps: neutral for 3 frames, then a smile from 0.75 s
    assert label_runs(["neutral"] * 3 + ["happiness"] * 7) == [("neutral", 0, 2), ("happiness", 3, 9)]
    assert label_runs(["happiness"] * 4 + ["anger"] * 2 + ["happiness"] * 4) == [("happiness", 0, 9)]
    # a short other reading inside one long expression (crying, with one second read as neutral) is bridged
    assert label_runs(["sadness"] * 6 + ["neutral"] * 4 + ["sadness"] * 5) == [("sadness", 0, 14)]


def test_caption_is_plain_language_first_with_the_onset_time_and_codes_after() -> None:
    segs = [
        SegmentResult(start=0.0, end=8.0, track=1, label="sadness", aus={"AU1": 3.0, "AU4": 2.0, "AU43": 4.5}),
        SegmentResult(start=8.0, end=19.7, track=1, label="happiness", aus={"AU12": 5.0, "AU25": 4.0, "AU6": 2.0}),
    ]
    cap = track_caption(segs, 1)
    assert cap.startswith("The person cries for about 8 s (sadness): eyes closed, brows raised and drawn together")
    assert "Then, at 8.0 s, they smile broadly for about 12 s (happiness): lip corners up" in cap
    assert cap.index("lip corners up") < cap.index("AU12")  # plain words first, AU codes after
    emotions = [str(e) for e in extract_events(cap) if not str(e).startswith(("AU", "not AU"))]
    assert emotions == [t["label"] for t in timeline(segs, 1)]
    assert "not AU43" in [str(e) for e in extract_events(cap)]  # the eyes open again: an offset


def test_neutral_to_smile_onset_is_an_event() -> None:
    segs = [
        SegmentResult(start=0.0, end=0.77, track=1, label="neutral", aus={}),
        SegmentResult(start=0.77, end=2.4, track=1, label="happiness", aus={"AU12": 4.5, "AU25": 5.0}),
    ]
    cap = track_caption(segs, 1)
    assert cap.startswith("The person looks neutral briefly.") and "Then, at 0.8 s, they smile" in cap


def test_a_face_that_leaves_ends_its_segment() -> None:
    segs = [
        SegmentResult(start=0.0, end=2.0, track=1, label="happiness", aus={"AU12": 4.0}),
        SegmentResult(start=5.0, end=6.0, track=1, label="neutral", aus={}),
    ]
    assert "The face is not visible from 2.0 to 5.0 s." in track_caption(segs, 1)


def test_a_fall_is_said_once_and_never_for_an_au_the_sentence_shows() -> None:
    fading = [
        SegmentResult(start=0.0, end=2.0, track=1, label="happiness", aus={"AU12": 4.0, "AU25": 4.0}),
        SegmentResult(start=2.0, end=4.0, track=1, label="happiness", aus={"AU12": 0.5, "AU25": 0.5}),
        SegmentResult(start=4.0, end=6.0, track=1, label="neutral", aus={}),
    ]
    cap = track_caption(fading, 1)
    assert "; at 2.0 s AU25 falls and AU12 falls." in cap  # the smile fades within its run...
    assert cap.endswith("Then, at 4.0 s, they look neutral for about 2 s.")  # ...and is not said to fall again
    pressed = [
        SegmentResult(start=0.0, end=2.0, track=1, label="neutral", aus={"AU23": 3.0}),
        SegmentResult(start=2.0, end=4.0, track=1, label="happiness", aus={"AU12": 4.0}),
        SegmentResult(start=4.0, end=6.0, track=1, label="happiness", aus={"AU12": 4.5, "AU23": 3.5}),
    ]
    second = track_caption(pressed, 1).split("Then, ")[1]
    assert "AU23" in second and "AU23 falls" not in second  # shown at the run's peak: not also "falls"
