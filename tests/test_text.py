"""The one emotion-word scanner: every reader of running text gives the same labels and negations."""

from __future__ import annotations

import pytest

from emoreason.eval.temporal import extract_events
from emoreason.labels import NEGATORS, components, normalize_label
from emoreason.reasoning import rules
from emoreason.reasoning.parser import conclusion_label, parse_output
from emoreason.text import Mention, emotion_mentions, is_negated, join, negation_scopes

# sentence -> the (label, negated) mentions the scanner reads, open vocabulary, in order
SENTENCES: list[tuple[str, list[tuple[str, bool]]]] = [
    ("I'm not unhappy, just happily surprised", [("sadness", True), ("happily surprised", False)]),
    ("I don't think she is really happy", [("happiness", True)]),
    ("She is not angry but sad", [("anger", True), ("sadness", False)]),
    ("She looks surprised rather than afraid", [("surprise", False), ("fear", True)]),
    ("It isnt sad; it is joyful", [("sadness", True), ("happiness", False)]),
    ("She doesn\u2019t look angry", [("anger", True)]),
    ("She is neither happy nor sad", [("happiness", True), ("sadness", True)]),
    ("The content of the talk was fine, I am totally grossed out", [("disgust", False)]),
    ("It went from happiness -> surprise", [("happiness", False), ("surprise", False)]),
    ("She looks happy-surprised", [("happily surprised", False)]),
    ("None of the anger shows, only fear", [("anger", True), ("fear", False)]),
    ("No emotion is named, the face is anxious", [("anxiety", False)]),
    ("Nothing here is sad", [("sadness", True)]),
]


@pytest.mark.parametrize(("sentence", "expected"), SENTENCES)
def test_the_scanner_reads_each_sentence(sentence: str, expected: list[tuple[str, bool]]) -> None:
    assert [(m.label, m.negated) for m in emotion_mentions(sentence)] == expected


@pytest.mark.parametrize(("sentence", "expected"), SENTENCES)
def test_rules_parser_and_temporal_read_the_same_words(sentence: str, expected: list[tuple[str, bool]]) -> None:
    """The rule engine's speech, the parser's Conclusion reading and TEM's emotion events agree with the scanner,
    so a second copy of the word rule or the negator list that answers differently fails here."""
    said = [label for label, negated in expected if not negated]
    basic = {part for label in said for part in components(label) if normalize_label(part, "basic")}
    assert rules._spoken_emotions(sentence) == basic - {"neutral"}
    assert conclusion_label(sentence, "open") == (said[-1] if said else None)
    events = [e for e in extract_events(sentence) if e.kind == "emotion"]
    assert [(e.value, e.polarity < 0) for e in events] == expected


def test_speech_scores_follow_the_scanner() -> None:
    still = rules.score_emotions({})
    assert rules.score_emotions({}, transcript="I'm not unhappy")["sadness"] == still["sadness"]
    assert rules.score_emotions({}, transcript="I don't think I'm happy")["happiness"] == still["happiness"]
    assert rules.score_emotions({}, transcript="I'm so happy")["happiness"] > still["happiness"]


def test_a_negated_is_phrase_is_not_the_conclusion() -> None:
    assert conclusion_label("The face does not show happiness.") is None
    assert conclusion_label("It does not show anger but fear.") == "fear"
    assert conclusion_label("The expression is best described as sadly angry.") == "sadly angry"
    cot = "<think>Key observations: AU4.\nOverall interpretation: x.\nConclusion: not anger, rather fear.</think>"
    assert parse_output(cot + "<answer>fear</answer>").conclusion_label == "fear"


def test_basic_reads_a_compound_as_its_two_parts() -> None:
    assert [m.label for m in emotion_mentions("happily surprised", "basic")] == ["happiness", "surprise"]
    assert emotion_mentions("happily surprised", "compound") == [Mention("happily surprised", 0, 17, False)]


def test_negation_scope_and_position() -> None:
    text = "not sad, but she smiles"
    assert [text[a:b].strip() for a, b in negation_scopes(text)] == ["not sad", "she smiles"]
    assert is_negated(text, text.index("sad")) and not is_negated(text, text.index("smiles"))
    assert is_negated("happiness instead of sadness", 21) and not is_negated("happiness instead of sadness", 0)
    assert {"not", "don't", "dont", "without", "never"} <= NEGATORS


def test_none_is_still_neutral_as_a_whole_answer() -> None:
    assert normalize_label("none") == "neutral" and normalize_label("not happy") is None
    assert emotion_mentions("none") == []


def test_join() -> None:
    assert [join(["a"]), join(["a", "b"]), join(["a", "b", "c"])] == ["a", "a and b", "a, b and c"]
