"""Temporal event matching: extraction rules, LCS scores with exact values, LLM extraction with fallback."""

from __future__ import annotations

import json

import pytest

from emoreason.eval.temporal import (
    Event,
    extract_events,
    lcs_length,
    llm_extract_events,
    parse_event_reply,
    tem,
    tem_f1,
)


def events(text: str) -> list[str]:
    return [str(e) for e in extract_events(text)]


def test_identical_captions_score_one() -> None:
    caption = "She frowns at first, then smiles broadly and looks happy. Later AU4 returns."
    assert tem(caption, caption).f1 == 1.0
    assert tem(caption, caption).lcs == len(extract_events(caption)) == 4


def test_order_matters_reversed_scores_lower() -> None:
    forward = "She smiles, then frowns, then looks sad."
    backward = "She looks sad, then frowns, then smiles."
    assert events(forward) == ["AU12", "AU4", "sadness"]
    score = tem(backward, forward)
    assert score.lcs == 1 and score.precision == score.recall == pytest.approx(1 / 3)
    assert score.f1 == pytest.approx(1 / 3)
    assert score.f1 < tem(forward, forward).f1


def test_hand_worked_partial_match() -> None:
    s = tem("She frowns, then smiles.", "She frowns. Then she smiles and looks happy.")
    assert (s.lcs, s.n_pred, s.n_ref) == (2, 2, 3)
    assert s.precision == 1.0 and s.recall == pytest.approx(2 / 3) and s.f1 == pytest.approx(0.8)


def test_negation_is_honoured() -> None:
    assert events("She does not smile.") == ["not AU12"]  # no happiness event, and no positive AU12
    assert "happiness" not in events("He never smiles and isn't happy.")
    assert events("He never smiles and isn't happy.") == ["not AU12", "not happiness"]
    assert tem_f1("She is not happy.", "She is happy.") == 0.0  # same emotion, opposite polarity
    assert tem_f1("She is not happy.", "She isn't happy.") == 1.0
    assert events("He is not happy but sad.") == ["not happiness", "sadness"]  # "but" ends the negation
    assert events("She is neither happy nor sad.") == ["not happiness", "not sadness"]
    assert events("Her smile fades.") == ["not AU12"]  # an offset verb
    assert events("Her smile does not fade.") == ["AU12"]  # negated offset: still smiling


def test_empty_prediction_or_reference() -> None:
    pred_empty = tem("", "She smiles.")
    assert (pred_empty.precision, pred_empty.recall, pred_empty.f1) == (1.0, 0.0, 0.0)
    ref_empty = tem("She smiles.", None)
    assert (ref_empty.precision, ref_empty.recall, ref_empty.f1) == (0.0, 1.0, 0.0)
    assert tem("", "").f1 == 1.0
    assert tem("The weather was nice.", "A car passed.").f1 == 1.0  # no events on either side
    assert tem([], [Event("AU12")]).f1 == 0.0


def test_lexicon_covers_au_numbers_names_words_and_labels() -> None:
    assert events("AUs 6 and 12 rise, then AU4 appears") == ["AU6", "AU12", "AU4"]
    assert events("AU12 lip corner puller (marked); AU14L dimpler") == ["AU12", "AU14"]  # one event per mention
    assert events("Her cheek raiser activates and the jaw drops") == ["AU6", "AU26"]
    assert events("She raises her eyebrows, then grins.") == ["AU1", "AU2", "AU12"]
    assert events("She is smiling") == ["AU12"]  # a smile is an action, not an emotion claim
    assert events("happily surprised at first, then calm and anxious") == ["happily surprised", "calm", "anxiety"]
    assert events("No action units above the presence threshold (a relaxed, neutral face).") == ["neutral"]
    assert events("She is happy. She is very happy.") == ["happiness"]  # consecutive repeats merge
    assert events("The content of the speech is calm") == ["calm"]  # "content" is not read as happiness


def test_lcs_length() -> None:
    assert lcs_length("ABCBDAB", "BDCABA") == 4
    assert lcs_length([], [1]) == 0
    assert lcs_length([1, 2, 3], [1, 2, 3]) == 3


class CannedGenerator:
    """A backend stand-in with the ``generate_texts`` interface of the hf/openai backends: canned replies."""

    def __init__(self, replies: list[str]):
        self.replies = replies
        self.prompts: list[str] = []

    def generate_texts(self, messages: list[list[dict]], images: list[list]) -> list[str]:
        assert len(messages) == len(images)
        self.prompts += [m[0]["content"][0]["text"] for m in messages]
        out, self.replies = self.replies[: len(messages)], self.replies[len(messages) :]
        return out


def test_llm_extraction_parses_leniently_and_falls_back_to_the_lexicon() -> None:
    replies = [
        'Here you go:\n[{"event": "Happy"}, {"event": "AU 4", "negated": true}, {"event": "pizza"}]',
        "I cannot answer that.",  # unreadable: lexicon fallback
        "[{'emotion': 'sad', 'polarity': 'negative'}, \"AU12\"]",  # single quotes, a bare string item
    ]
    gen = CannedGenerator(replies)
    texts = ["whatever the model reads", "She smiles, then frowns.", "third"]
    out = llm_extract_events(texts, gen, batch_size=2)
    expected = [["happiness", "not AU4"], ["AU12", "AU4"], ["not sadness", "AU12"]]
    assert [[str(e) for e in evs] for evs in out] == expected
    assert "Caption: She smiles, then frowns." in gen.prompts[1]
    assert parse_event_reply(json.dumps([])) == []  # a valid empty list means no events, not a fallback
    assert parse_event_reply("no list") is None
