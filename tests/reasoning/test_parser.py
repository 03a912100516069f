"""The one parser: well-formed text, the adversarial cases from issue 3, and hypothesis fuzzing (it never raises)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emoreason.reasoning.parser import ParsedOutput, parse_output

GOOD = (
    "<think>\nKey observations: AU6 cheek raiser (slight), AU 12 (lip corner puller), AU14L dimpler.\n"
    "Overall interpretation: a genuine smile.\nConclusion: happiness.\n</think>\n<answer>happiness</answer>"
)


def _wrap(answer: str) -> str:
    return GOOD.replace("<answer>happiness</answer>", f"<answer>{answer}</answer>")


def test_well_formed_output() -> None:
    p = parse_output(GOOD)
    assert p.format_ok and not p.truncated and not p.multiple_answers
    assert p.label == "happiness" and p.labels == ["happiness"] and p.answer == "happiness"
    assert p.aus == ["AU6", "AU12", "AU14L"]
    assert set(p.sections) == {"key_observations", "overall_interpretation", "conclusion"}
    assert p.conclusion_label == "happiness"


@pytest.mark.parametrize("answer", ["unhappy", "Unhappy.", "not happy", "NOT happy", "never happy", "happy-ish"])
def test_negated_and_substring_labels_are_never_happiness(answer: str) -> None:
    assert parse_output(_wrap(answer)).label != "happiness"


def test_unhappy_is_sadness_and_not_happy_is_no_label() -> None:
    assert parse_output(_wrap("unhappy")).label == "sadness"
    assert parse_output(_wrap("not happy")).label is None


def test_no_tags() -> None:
    p = parse_output("The person looks happy to me.")
    assert p.label is None and p.answer is None and not p.format_ok and not p.truncated


def test_two_answers() -> None:
    p = parse_output(GOOD + "\n<answer>anger</answer>")
    assert p.multiple_answers and not p.format_ok and p.label == "happiness"  # the first answer counts


def test_cut_off_mid_think() -> None:
    p = parse_output("<think>\nKey observations: AU4 brow lowerer (marked) and AU7 lid tigh")
    assert p.truncated and not p.format_ok and p.label is None and p.aus == ["AU4", "AU7"]


def test_cut_off_mid_answer() -> None:
    p = parse_output(GOOD.replace("happiness</answer>", "happ"))
    assert p.truncated and not p.format_ok and p.label is None


def test_label_outside_the_set() -> None:
    assert parse_output(_wrap("hungry")).label is None
    basic = parse_output(_wrap("happily surprised"), "basic")
    assert basic.label is None and not basic.labels
    assert parse_output(_wrap("happily surprised")).label == "happily surprised"
    opened = parse_output(_wrap("anxious, sad"), "open")
    assert opened.labels == ["anxiety", "sadness"]


def test_missing_section_is_not_format_ok() -> None:
    p = parse_output(GOOD.replace("Overall interpretation: a genuine smile.\n", ""))
    assert not p.format_ok and p.label == "happiness"


def test_none_and_empty() -> None:
    for text in (None, "", "   "):
        p = parse_output(text)
        assert isinstance(p, ParsedOutput) and p.label is None and not p.format_ok


_FRAGMENTS = st.sampled_from(
    ["<think>", "</think>", "<answer>", "</answer>", "Key observations:", "Conclusion:", "Overall interpretation:",
     "AU", "AU12L", "AUs 6 and 12", "happy", "not", "unhappy", "sadly angry", ",", "\n", " ", "<", ">", "/", "**"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_FRAGMENTS, st.text(max_size=12)), max_size=30), st.sampled_from(["basic", "compound", "open"])
)
def test_fuzz_never_raises(pieces: list[str], label_set: str) -> None:
    p = parse_output("".join(pieces), label_set)  # type: ignore[arg-type]
    assert isinstance(p, ParsedOutput)
    assert p.label is None or p.label in p.labels or p.labels == []
    if p.format_ok:
        assert not p.truncated and not p.multiple_answers and p.answer


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_arbitrary_unicode(text: str) -> None:
    assert isinstance(parse_output(text), ParsedOutput)
