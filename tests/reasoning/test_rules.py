"""The FACS rule engine: prototype scoring, neutral, contempt asymmetry, Exp-CoT text that the one parser reads."""

from __future__ import annotations

import pytest

from emoreason.labels import BASIC_LABELS, CANONICAL_LABELS
from emoreason.reasoning.base import get_reasoner
from emoreason.reasoning.parser import parse_output
from emoreason.reasoning.rules import RuleReasoner, explain, score_emotions
from emoreason.schema import Evidence

PROTOTYPICAL = {
    "happiness": {"AU6": 2.5, "AU12": 3.2, "AU25": 1.2},
    "sadness": {"AU1": 2.0, "AU4": 1.5, "AU15": 2.5, "AU17": 1.0},
    "surprise": {"AU1": 3.0, "AU2": 3.0, "AU5": 2.0, "AU26": 3.0, "AU25": 2.0},
    "fear": {"AU1": 3.0, "AU2": 2.0, "AU4": 2.5, "AU5": 3.0, "AU20": 2.5, "AU26": 2.0},
    "disgust": {"AU9": 3.0, "AU10": 2.5, "AU17": 1.0},
    "anger": {"AU4": 3.0, "AU7": 2.5, "AU23": 2.5, "AU5": 1.5},
    "contempt": {"AU14L": 2.5, "AU14R": 0.2, "AU12L": 1.2, "AU12R": 0.3},
    "neutral": {"AU4": 0.4, "AU12": 0.3},
    "happily surprised": {"AU1": 2.5, "AU2": 2.5, "AU12": 3.0, "AU25": 2.5},
}


@pytest.mark.parametrize("label", list(PROTOTYPICAL))
def test_prototype_scoring_picks_the_posed_label(label: str) -> None:
    scores = score_emotions(PROTOTYPICAL[label])
    assert max(scores, key=scores.get) == label
    assert set(scores) == set(CANONICAL_LABELS)
    assert all(0.0 <= s <= 1.0 for s in scores.values())


def test_no_active_au_is_neutral_with_full_score() -> None:
    assert score_emotions({})["neutral"] == 1.0
    assert explain({}).label == "neutral"


def test_basic_label_set_never_returns_a_compound() -> None:
    scores = score_emotions(PROTOTYPICAL["happily surprised"], label_set="basic")
    assert set(scores) == set(BASIC_LABELS)


def test_symmetric_dimpler_is_not_contempt_but_one_sided_is() -> None:
    symmetric = {"AU14L": 2.5, "AU14R": 2.5, "AU6": 2.0, "AU12": 3.0}
    assert max(score_emotions(symmetric), key=score_emotions(symmetric).get) == "happiness"
    one_sided = {"AU14L": 3.0, "AU14R": 0.0}
    s = score_emotions(one_sided)
    assert max(s, key=s.get) == "contempt"


def test_negated_emotion_word_in_speech_adds_nothing() -> None:
    face = {"AU6": 2.0, "AU12": 3.0}  # a clear face: the words only nudge
    base = score_emotions(face)
    said = score_emotions(face, transcript="I'm so happy today")
    negated = score_emotions(face, transcript="I am not happy at all")
    assert said["happiness"] == pytest.approx(base["happiness"] + 0.1)
    assert negated == base


@pytest.mark.parametrize("label", list(PROTOTYPICAL))
def test_explanation_parses_back_to_its_label_with_exact_citations(label: str) -> None:
    result = explain(PROTOTYPICAL[label], transcript="Well, I did not expect that.", prosody="high pitch; loud")
    parsed = parse_output(result.text)
    assert parsed.format_ok and not parsed.truncated and not parsed.multiple_answers
    assert parsed.label == result.label == label
    assert parsed.conclusion_label == label
    assert parsed.aus == result.cited  # only observed AUs are cited by number
    assert '"Well, I did not expect that."' in parsed.sections["key_observations"]


def test_gold_label_cot_concludes_the_gold_label_and_says_when_face_disagrees() -> None:
    result = explain(PROTOTYPICAL["happiness"], label="sadness")
    parsed = parse_output(result.text)
    assert parsed.label == "sadness" and parsed.conclusion_label == "sadness"
    assert "leans towards happiness" in parsed.sections["overall_interpretation"]


def test_explain_is_deterministic() -> None:
    assert explain(PROTOTYPICAL["fear"]).text == explain(PROTOTYPICAL["fear"]).text


def test_rule_reasoner_via_registry_is_batched_and_fills_scores() -> None:
    reasoner = get_reasoner("rules")
    assert isinstance(reasoner, RuleReasoner)
    evidence = [Evidence(id=str(i), aus=aus) for i, aus in enumerate(PROTOTYPICAL.values())]
    results = reasoner.reason(evidence)
    assert [r.label for r in results] == list(PROTOTYPICAL)
    assert all(r.format_ok and r.scores and r.backend == "rules" for r in results)


def test_interpretation_reads_as_english() -> None:
    """Articles agree ("an inner brow raiser"), sentences start upper-case, and a label that scores lower than the
    face's lean is never called the better fit."""
    from emoreason.reasoning.rules import explain

    text = explain({"AU2": 3.0, "AU5": 3.0, "AU26": 3.0}).text
    assert "An inner brow raiser would strengthen this reading but is not visible" in text
    assert "AU2 (outer brow raiser), AU5 (upper lid raiser) and AU26 (jaw drop) match" in text
    assert " a inner" not in text and ". a " not in text
    given = explain({"AU4": 3.0, "AU7": 3.0}, label="surprise").text
    assert "fits less well" not in given and "The face alone leans towards anger" in given


def test_video_changes_of_active_aus_are_cited() -> None:
    """A video window's AU changes appear in Key observations, but only for AUs active at the peak."""
    from emoreason.reasoning.parser import parse_output
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.schema import Evidence

    changes = "AU12 lip corner puller rises from 0.4 to 3.1; AU5 upper lid raiser falls from 3.0 to 0.0"
    ev = Evidence(id="v#t1s0", aus={"AU12": 3.1, "AU6": 2.0}, au_changes=changes)
    raw = RuleReasoner().reason([ev])[0].raw
    assert "Over time: AU12 lip corner puller rises from 0.4 to 3.1." in raw
    assert "AU5" not in raw and "AU5" not in parse_output(raw).aus


def test_speech_only_window_is_not_read_as_a_relaxed_face() -> None:
    """A video window with no face visible (speech only) says so; only emotion words in the speech name a label."""
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.schema import Evidence

    quiet, glad = (
        Evidence(id=f"v#s{i}", transcript=t, au_text="No face visible.", meta={"face": False})
        for i, t in enumerate(["Pass me the salt.", "I am so happy for you!"])
    )
    first, second = RuleReasoner().reason([quiet, glad])
    assert "No face is visible" in first.raw and "the face is relaxed" not in first.raw
    assert first.label == "neutral" and "nothing shows an emotion" in first.raw
    assert second.label == "happiness" and "the words alone name happiness" in second.raw and second.format_ok


def test_the_structured_reasoning_is_what_the_parser_reads_from_its_text() -> None:
    """The rules backend builds its Reasoning from its decisions, not by parsing its own text: the two must agree
    (label, labels, cited AUs, sections, format), over faces, words, changes and quality hedges."""
    import random

    from emoreason.reasoning.base import to_reasoning

    rng = random.Random(0)
    numbers = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43]
    for _ in range(150):
        aus: dict[str, float] = {}
        for n in rng.sample(numbers, rng.randint(0, 6)):
            if rng.random() < 0.3:
                aus[f"AU{n}L"], aus[f"AU{n}R"] = round(rng.uniform(0, 5), 1), round(rng.uniform(0, 5), 1)
            else:
                aus[f"AU{n}"] = round(rng.uniform(0, 5), 1)
        ev = Evidence(
            id="face",
            aus=aus,
            label_set=rng.choice(["basic", "compound"]),
            transcript=rng.choice(["", "I feel so sad today", "this is not funny"]),
            au_changes=rng.choice(["", "at 1.0 s AU12 rises and AU4 falls"]),
            uncertain_aus=list(aus)[:1] if rng.random() < 0.5 else [],
            quality=["turned_face"] if rng.random() < 0.3 else [],
        )
        direct = RuleReasoner().reason([ev])[0]
        parsed = to_reasoning(direct.raw, "rules", ev.label_set, scores=direct.scores)
        assert direct.model_dump() == parsed.model_dump()
        assert direct.sections == parsed.sections and set(direct.sections) == {
            "key_observations", "overall_interpretation", "conclusion"}  # fmt: skip
