"""Consistency evaluators on literal outputs, and the GRPO rewards calling them (one implementation)."""

from __future__ import annotations

import pytest

from emoreason.eval import consistency as c

GOOD = (
    "<think>\nKey observations: AU6 cheek raiser (marked) and AU12 lip corner puller (severe). "
    'Speech: "I am so glad you came."\nOverall interpretation: a Duchenne smile.\n'
    "Conclusion: The expression is best described as happiness.\n</think>\n<answer>happiness</answer>"
)


def test_reasoning_label_consistency() -> None:
    assert c.reasoning_label_consistency(GOOD) is True
    assert c.reasoning_label_consistency(GOOD.replace("<answer>happiness", "<answer>anger")) is False
    no_conclusion = GOOD.replace("Conclusion: The expression is best described as happiness.\n", "")
    assert c.reasoning_label_consistency(no_conclusion) is False  # an answer the CoT never concludes
    assert c.reasoning_label_consistency("no tags at all") is None  # no answer label: nothing to check
    compound = GOOD.replace("as happiness", "as happily surprised").replace(">happiness<", ">happily surprised<")
    assert c.reasoning_label_consistency(compound) is True


def test_evidence_support_uses_the_rule_engine_scores() -> None:
    assert c.evidence_support(["AU6", "AU12"], "happiness") == 1.0
    assert c.evidence_support(["AU6", "AU12"], "sadness") == 0.0
    # AUs 1, 2, 26 (each read at 3.0 -> activation 1): surprise coverage 3/4.25 = 0.7059 (the best),
    # fear coverage (1 + 0.5 + 0.5)/5.75 = 0.3478; fear's signature (AU20, or AU4 with the raised brows) is not
    # shown, so it scores min(0.2 * 0.3478, 0.06) = 0.06 -> support 0.06 / 0.7059
    assert c.evidence_support(["AU1", "AU2", "AU26"], "fear") == pytest.approx(0.06 / 0.7059, abs=1e-4)
    assert c.evidence_support([], "neutral") == 1.0 and c.evidence_support([], "anger") == 0.0
    assert c.evidence_support(["AU6"], "anxiety") is None  # no prototype for an open-vocabulary label
    assert c.implied_label(["AU1", "AU2", "AU26"]) == "surprise"


def test_evidence_consistency_and_contradiction() -> None:
    assert c.evidence_consistency(GOOD) == 1.0
    sad = GOOD.replace("<answer>happiness", "<answer>sadness")
    assert c.evidence_consistency(sad) == 0.0
    assert c.evidence_contradiction(sad) is True  # a cited smile (valence +) against sadness (valence -)
    assert c.evidence_contradiction(GOOD) is False
    assert c.evidence_contradiction("<think>no AUs</think><answer>anger</answer>") is False  # neutral is not opposite
    assert c.evidence_consistency("garbage") is None and c.evidence_contradiction("garbage") is None


def test_transcript_grounding_counts_quotes_and_hallucinations() -> None:
    g = c.transcript_grounding(GOOD, "Oh! I am SO glad you came, really.")
    assert (g.quotes, g.rate, g.hallucination_rate) == (["I am so glad you came."], 1.0, 0.0)
    made_up = GOOD.replace("Speech:", 'They said \u201cgo away\u201d and later "I am so ... came". Speech:')
    g = c.transcript_grounding(made_up, "I am so glad you came")
    assert g.grounded == ["I am so ... came", "I am so glad you came."]
    assert g.hallucinated == ["go away"] and g.rate == pytest.approx(2 / 3)
    labels_only = '<think>Conclusion: "happiness" fits; AU name "lip corner puller".</think><answer>happy</answer>'
    assert c.transcript_grounding(labels_only, "").quotes == []  # labels and AU names are not speech
    said = '<think>Speech: "I love this" and "so happy"; cites "AU12 lip corner puller".</think><answer>x</answer>'
    assert c.transcript_grounding(said, "I don't know").hallucinated == ["I love this", "so happy"]
    assert c.transcript_grounding(GOOD, "").hallucinated == ["I am so glad you came."]  # nothing was said
    assert c.transcript_grounding("<think>Key observations: AU12.</think>", "hi").rate is None


def test_rewards_call_these_functions() -> None:
    from emoreason.eval.metrics import label_score
    from emoreason.train.rewards import REWARDS

    outputs = [GOOD, GOOD.replace("<answer>happiness", "<answer>unhappy"), "garbage", GOOD.replace("AU6", "AU4")]
    cols = {"label": ["happiness"] * 4, "labels": [None] * 4, "aus": [{"AU6": 3.0, "AU12": 4.0}] * 4}
    assert REWARDS["consistency"](outputs, **cols) == [c.consistency_score(o) for o in outputs]
    from emoreason.reasoning.parser import parse_output

    expected = [label_score(parse_output(o).label or parse_output(o).labels or None, "happiness") for o in outputs]
    assert REWARDS["accuracy"](outputs, **cols) == expected


def test_rewards_use_the_eval_module_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    from emoreason.eval import metrics
    from emoreason.train.rewards import REWARDS

    calls: list[str] = []
    for name in ("label_score", "au_set_f1", "format_ok"):
        real = getattr(metrics, name)
        monkeypatch.setattr(metrics, name, lambda *a, _real=real, _n=name: calls.append(_n) or _real(*a))
    for name in ("format", "accuracy", "au_f1"):
        REWARDS[name]([GOOD], label=["happiness"], labels=[None], aus=[{"AU6": 3.0}])
    assert calls == ["format_ok", "label_score", "au_set_f1"]


def test_au_spam_is_not_support() -> None:
    """Citing every AU in the table must not look like evidence for any answer (before, support was 0.84-1.0)."""
    from emoreason.facs import AU_TABLE

    spam = GOOD.replace("AU6 cheek raiser (marked) and AU12 lip corner puller (severe)", " ".join(
        f"AU{n}" for n in AU_TABLE))  # fmt: skip
    for label in ("happiness", "fear", "anger", "sadness", "happily surprised"):
        assert c.evidence_support([f"AU{n}" for n in AU_TABLE], label) < 0.35
    assert c.evidence_consistency(spam) < 0.2 < c.evidence_consistency(GOOD) == 1.0
    # an honest CoT that also cites an AU outside the prototype keeps most of its support
    assert c.evidence_support(["AU6", "AU12", "AU43"], "happiness") == pytest.approx(2 / 3, abs=1e-4)


def test_rewards_and_eval_read_the_gold_labels_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """One gold-label rule (eval.metrics.gold_labels) for eval's per-sample scores and the GRPO rewards."""
    from emoreason.eval import metrics, scoring
    from emoreason.train import rewards

    assert rewards.gold_labels is metrics.gold_labels
    seen: list[list[str]] = []
    real = metrics.gold_labels
    monkeypatch.setattr(metrics, "gold_labels", lambda *a: seen.append(real(*a)) or real(*a))
    ref = {"id": "r", "label": None, "labels": ["joy", "", "relief"], "aus": {}, "transcript": "", "meta": {}}
    sample = scoring.score_sample(ref, {"id": "r", "output": "<answer>joy</answer>"}, "open")
    assert seen == [["joy", "relief"]] and sample["gold_labels"] == ["joy", "relief"]
