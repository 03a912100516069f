"""Every metric against hand-worked examples with exact values."""

from __future__ import annotations

import pytest

from emoreason.eval import bootstrap as b
from emoreason.eval import metrics as m
from emoreason.eval.metrics import UNPARSED

# Gold: 3 happiness, 2 sadness, 1 anger (anger is never predicted); one output could not be parsed (None).
GOLDS = ["happiness", "happiness", "happiness", "sadness", "sadness", "anger"]
PREDS = ["happiness", "happiness", "sadness", "sadness", None, "happiness"]


def test_multiclass_with_a_class_never_predicted() -> None:
    # correct: items 0, 1, 3 -> 3/6
    assert m.accuracy(PREDS, GOLDS) == 0.5
    # recall: happiness 2/3, sadness 1/2, anger 0/1
    assert m.uar(PREDS, GOLDS) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # F1 = 2TP/(support+predicted): happiness 4/6, sadness 2/4, anger 0/1
    assert m.macro_f1(PREDS, GOLDS) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert m.weighted_f1(PREDS, GOLDS) == pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 1 * 0) / 6)
    per = m.per_class(PREDS, GOLDS)
    assert per["anger"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert per["happiness"]["precision"] == pytest.approx(2 / 3)
    assert per["sadness"]["precision"] == 0.5 and per["sadness"]["recall"] == 0.5


def test_confusion_matrix_rows_are_reference_classes_in_canonical_order() -> None:
    cm = m.confusion_matrix(PREDS, GOLDS)
    assert cm.classes == ["happiness", "sadness", "anger"]
    assert cm.columns == ["happiness", "sadness", "anger", UNPARSED]
    assert cm.matrix == [[2, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0]]


def test_a_predicted_class_outside_the_references_is_only_a_miss() -> None:
    preds, golds = ["fear", "sadness"], ["happiness", "sadness"]
    assert m.confusion_matrix(preds, golds).columns == ["happiness", "sadness", "fear"]
    assert m.accuracy(preds, golds) == 0.5
    assert m.uar(preds, golds) == 0.5
    assert m.macro_f1(preds, golds) == 0.5  # happiness F1 0, sadness F1 1; fear adds no class


def test_unparseable_outputs_count_as_wrong() -> None:
    golds = ["happiness", "sadness"]
    for fn in (m.accuracy, m.uar, m.macro_f1, m.weighted_f1):
        assert fn([None, None], golds) == 0.0
    assert m.accuracy([None, "sadness"], golds) == 0.5


def test_empty_inputs_are_not_applicable() -> None:
    for fn in (m.accuracy, m.uar, m.macro_f1, m.weighted_f1, m.rouge_l, m.bleu):
        assert fn([], []) is None
    assert m.format_rate([]) is None and m.au_f1([], []) is None and m.per_class([], []) == {}
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        m.accuracy(["a", "b"], ["a"])


def test_label_score_single_compound_and_multi_label() -> None:
    assert m.label_score("happiness", "happiness") == 1.0
    assert m.label_score("sadness", "happiness") == 0.0
    assert m.label_score(None, "happiness") == 0.0
    assert m.label_score([], ["happiness"]) == 0.0
    assert m.label_score("happy", "happiness") == 1.0  # strings go through the one normaliser
    assert m.label_score("unhappy", "happiness") == 0.0  # "unhappy" is sadness
    assert m.label_score("happiness", "happily surprised") == pytest.approx(2 / 3)
    assert m.label_score("happily surprised", "happily surprised") == 1.0
    assert m.label_score("fearfully surprised", "happily surprised") == 0.5  # {fear, surprise} vs {happy, surprise}
    assert m.label_score(["sadness", "anger"], "sadly angry") == 1.0
    assert m.label_score(["anxiety", "fear"], ["anxiety"]) == pytest.approx(2 / 3)  # open vocabulary


def test_au_set_f1_including_empty_references() -> None:
    assert m.au_set_f1({6, 12}, {6, 12}) == 1.0
    assert m.au_set_f1({6, 12, 25}, {6, 12}) == pytest.approx(0.8)
    assert m.au_set_f1(["AU14L", "AU6"], [14]) == pytest.approx(2 / 3)  # sides drop: AU14L is AU14
    assert m.au_set_f1([], []) is None  # nothing to cite, nothing cited
    assert m.au_set_f1([4], []) == 0.0  # cited AUs against an empty reference
    assert m.au_set_f1([], [4]) == 0.0


def test_corpus_au_f1_is_the_mean_of_per_au_f1_over_reference_aus() -> None:
    preds = [{6, 12}, {4}, {12}, {9}]
    refs = [{6, 12}, {4, 7}, set(), set()]  # two samples with an empty reference
    # AU4: 2*1/(1+1)=1; AU6: 1; AU7: 2*0/(0+1)=0; AU12: 2*1/(2+1)=2/3; AU9 is never a reference: no term
    assert m.per_au_f1(preds, refs) == pytest.approx({"AU4": 1.0, "AU6": 1.0, "AU7": 0.0, "AU12": 2 / 3})
    assert m.au_f1(preds, refs) == pytest.approx((1 + 1 + 0 + 2 / 3) / 4)
    assert m.au_f1([{6}], [set()]) is None


def test_format_ok_and_format_rate() -> None:
    good = (
        "<think>Key observations: AU12.\nOverall interpretation: smile.\nConclusion: happiness.</think>"
        "<answer>happy</answer>"
    )
    assert m.format_ok(good) and not m.format_ok(good.replace("Overall interpretation:", ""))
    assert m.format_rate([good, "happy", good, None]) == 0.5


def test_rouge_l_and_bleu_exact() -> None:
    # tokens (stemmed): the inner brow rise | the brow rise sharpli -> LCS 3 ("the brow rise"), P=3/4, R=3/4
    assert m.rouge_l(["the inner brows rise"], ["the brows rise sharply"]) == pytest.approx(0.75)
    assert m.rouge_l(["a b", "x"], ["a b", "y"]) == pytest.approx(0.5)  # mean of 1.0 and 0.0
    text = "the inner brows rise and the lip corners fall"
    assert m.bleu([text], [text]) == 1.0
    assert m.bleu(["completely different words here now"], [text]) == 0.0


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    golds = ["happiness"] * 30 + ["sadness"] * 30
    preds = ["happiness"] * 25 + ["sadness"] * 5 + ["sadness"] * 20 + [None] * 10
    first = b.bootstrap_class_cis(preds, golds, n_resamples=200, seed=1)
    assert first == b.bootstrap_class_cis(preds, golds, n_resamples=200, seed=1)
    for name in ("accuracy", "uar", "macro_f1", "weighted_f1"):
        lo, hi = first[name]
        assert lo < getattr(m, name)(preds, golds) < hi
    lo, hi = b.bootstrap_ci(lambda x: sum(x) / len(x), [0.0, 1.0] * 20, n_resamples=200, seed=0)
    assert 0.25 < lo < 0.5 < hi < 0.75
    assert b.bootstrap_au_f1_ci([{6}, {6, 12}], [{6}, {12}], n_resamples=100) is not None
