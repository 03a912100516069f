"""Deterministic metrics: label scores, class metrics, AU-F1, format rate, CoT overlap (CIs: ``bootstrap``).

Every metric is a small pure function with its formula in the docstring. The GRPO rewards
(``emoreason.train.rewards``) call the per-sample forms here (:func:`label_score`, :func:`au_set_f1`,
:func:`format_ok`), so what is trained is what is measured.

Conventions for the class metrics (``accuracy``, ``uar``, ``macro_f1``, ``weighted_f1``, ``confusion_matrix``):
``preds`` and ``golds`` are parallel lists; a gold is a label string, a prediction is a label string or None (the
output could not be parsed). An unparseable prediction is simply wrong. The classes are the classes that occur
in the references; predicting a class that never occurs in the references costs recall of the true class but adds
no class to the averages. Empty inputs give None ("not applicable").
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from emoreason.facs import parse_au_key
from emoreason.labels import CANONICAL_LABELS, EXTENDED_LABELS, components, normalize_label
from emoreason.reasoning.parser import ParsedOutput, parse_output

UNPARSED = "<unparsed>"  # the confusion-matrix column for predictions with no readable label
_ORDER = {label: i for i, label in enumerate(CANONICAL_LABELS + EXTENDED_LABELS)}


# ---------------------------------------------------------------------------------------------- per-sample forms
def _canon(label: str) -> str:
    if label in _ORDER:
        return label
    return normalize_label(label, "open") or label.strip().lower()


def _label_parts(labels: str | Sequence[str] | None) -> set[str]:
    if labels is None:
        return set()
    items = [labels] if isinstance(labels, str) else list(labels)
    return {part for item in items if item for part in components(_canon(str(item)))}


def label_score(pred: str | Sequence[str] | None, gold: str | Sequence[str]) -> float:
    """Label agreement of one answer with its gold, in [0, 1].

    Both sides become the set of their basic components (a compound label is its two basic labels, a list is the
    union of its items' components; strings go through ``labels.normalize_label``). Then
    ``score = 2 |P & G| / (|P| + |G|)`` (set F1), 0 when ``pred`` is None or empty. For one basic label on each
    side this is exact match, 1 or 0; a compound gold "happily surprised" against "happiness" scores
    2*1/(1+2) = 2/3.

    >>> label_score("happiness", "happiness"), label_score(None, "anger"), label_score("happiness", "sadness")
    (1.0, 0.0, 0.0)
    >>> round(label_score("happiness", "happily surprised"), 4)
    0.6667
    """
    p, g = _label_parts(pred), _label_parts(gold)
    if not p or not g:
        return 0.0
    return 2 * len(p & g) / (len(p) + len(g))


def _au_numbers(aus: Iterable[Any]) -> set[int]:
    return {parse_au_key(a)[0] if not isinstance(a, int) else a for a in aus}


def au_set_f1(pred: Iterable[int | str], ref: Iterable[int | str]) -> float | None:
    """F1 of one sample's cited AUs against its reference AUs, over AU numbers (sides dropped: AU14L is AU14).

    ``F1 = 2 |P & R| / (|P| + |R|)``; None when both sets are empty (nothing to cite, nothing cited: no signal);
    0.0 when exactly one is empty. The GRPO AU reward is ``2*F1 - 1``, taken as 0 when the reference is empty and
    -1 when the reference has AUs and none are cited.

    >>> round(au_set_f1({6, 12, 25}, ["AU6", "AU12"]), 4), au_set_f1([], []), au_set_f1([4], [])
    (0.8, None, 0.0)
    """
    p, r = _au_numbers(pred), _au_numbers(ref)
    if not p and not r:
        return None
    return 2 * len(p & r) / (len(p) + len(r))


def gold_labels(label: Any, labels: Any) -> list[str]:
    """A row's gold labels, as every scorer reads them (eval's per-sample scoring and the GRPO rewards): its
    ``labels`` list (open vocabulary, multi-label), else its one ``label``; empty items are dropped.

    >>> gold_labels("happiness", []), gold_labels(None, ["joy", "", "relief"]), gold_labels(None, None)
    (['happiness'], ['joy', 'relief'], [])
    """
    listed = [str(x) for x in (labels or []) if x]
    return listed or ([str(label)] if label else [])


def format_ok(text: str | ParsedOutput | None) -> bool:
    """True when the text is exactly ``<think>…</think><answer>…</answer>`` with all three CoT sections.

    Delegates to the one parser (``parse_output(text).format_ok``); an already parsed output is read as it is (the
    GRPO rewards share one parse per batch).

    >>> format_ok("<think>Key observations: AU12.\\nOverall interpretation: a smile.\\nConclusion: happiness."
    ...           "</think><answer>happiness</answer>"), format_ok("happiness")
    (True, False)
    """
    if isinstance(text, ParsedOutput):
        return text.format_ok
    return parse_output(text).format_ok


def format_rate(texts: Sequence[str | None]) -> float | None:
    """Share of outputs with the exact format: ``sum(format_ok(t)) / n``; None for no outputs.

    >>> format_rate(["<think>Key observations: x\\nOverall interpretation: y\\nConclusion: sad</think>"
    ...              "<answer>sadness</answer>", "sad", ""])
    0.3333333333333333
    """
    if not texts:
        return None
    return sum(format_ok(t) for t in texts) / len(texts)


def mean_label_score(
    preds: Sequence[str | Sequence[str] | None], golds: Sequence[str | Sequence[str]]
) -> float | None:
    """Set-F1 label agreement averaged over samples: ``mean_i label_score(pred_i, gold_i)``; None when empty.

    >>> mean_label_score(["happiness", ["sadness", "anger"]], ["happily surprised", "sadly angry"])
    0.8333333333333333
    """
    if not golds:
        return None
    return sum(label_score(p, g) for p, g in zip(preds, golds, strict=True)) / len(golds)


# ---------------------------------------------------------------------------------------------- class metrics
@dataclass
class Confusion:
    """Counts ``matrix[i][j]``: samples of gold class ``classes[i]`` predicted as ``columns[j]``.

    ``columns`` starts with ``classes`` (same order), then predicted labels that no reference has, then
    :data:`UNPARSED` when some prediction had no label.
    """

    classes: list[str]
    columns: list[str]
    matrix: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {"classes": self.classes, "columns": self.columns, "matrix": self.matrix}


def _sort_labels(labels: Iterable[str]) -> list[str]:
    return sorted(set(labels), key=lambda x: (_ORDER.get(x, len(_ORDER)), x))


def _encode(preds: Sequence[str | None], golds: Sequence[str]) -> tuple[list[int], list[int], list[str], list[str]]:
    if len(preds) != len(golds):
        raise ValueError(f"{len(preds)} predictions but {len(golds)} references")
    classes = _sort_labels(golds)
    extra = _sort_labels(p for p in preds if p is not None and p not in classes)
    columns = classes + extra + ([UNPARSED] if any(p is None for p in preds) else [])
    index = {c: i for i, c in enumerate(columns)}
    return [index[p if p is not None else UNPARSED] for p in preds], [index[g] for g in golds], classes, columns


def confusion_matrix(preds: Sequence[str | None], golds: Sequence[str]) -> Confusion:
    """The confusion matrix: rows are the reference classes, columns the reference classes then anything else.

    >>> confusion_matrix(["happiness", None, "anger"], ["happiness", "sadness", "sadness"]).matrix
    [[1, 0, 0, 0], [0, 0, 1, 1]]
    """
    p_idx, g_idx, classes, columns = _encode(preds, golds)
    matrix = [[0] * len(columns) for _ in classes]
    for p, g in zip(p_idx, g_idx, strict=True):
        matrix[g][p] += 1
    return Confusion(classes, columns, matrix)


def _class_counts(matrix: Any) -> tuple[list[float], list[float], list[float]]:
    """(true positives, support, predicted count) per reference class, from a confusion matrix (lists or numpy)."""
    k = len(matrix)
    tp = [float(matrix[i][i]) for i in range(k)]
    support = [float(sum(matrix[i])) for i in range(k)]
    predicted = [float(sum(matrix[r][i] for r in range(k))) for i in range(k)]
    return tp, support, predicted


def _f1s(tp: list[float], support: list[float], predicted: list[float]) -> list[float]:
    return [2 * t / (s + p) if s + p else 0.0 for t, s, p in zip(tp, support, predicted, strict=True)]


def _accuracy_cm(matrix: Any) -> float:
    tp, support, _ = _class_counts(matrix)
    return sum(tp) / sum(support)


def _uar_cm(matrix: Any) -> float:
    tp, support, _ = _class_counts(matrix)
    return sum(t / s for t, s in zip(tp, support, strict=True) if s) / sum(1 for s in support if s)


def _macro_f1_cm(matrix: Any) -> float:
    tp, support, predicted = _class_counts(matrix)
    f1 = [f for f, s in zip(_f1s(tp, support, predicted), support, strict=True) if s]
    return sum(f1) / len(f1)


def _weighted_f1_cm(matrix: Any) -> float:
    tp, support, predicted = _class_counts(matrix)
    return sum(f * s for f, s in zip(_f1s(tp, support, predicted), support, strict=True)) / sum(support)


CLASS_METRICS: dict[str, Callable[[Any], float]] = {
    "accuracy": _accuracy_cm,
    "uar": _uar_cm,
    "macro_f1": _macro_f1_cm,
    "weighted_f1": _weighted_f1_cm,
}


def accuracy(preds: Sequence[str | None], golds: Sequence[str]) -> float | None:
    """Accuracy, a.k.a. WAR (weighted average recall): ``#(pred_i == gold_i) / n``. None when empty.

    >>> accuracy(["happiness", None, "anger", "sadness"], ["happiness", "sadness", "sadness", "sadness"])
    0.5
    """
    return _accuracy_cm(confusion_matrix(preds, golds).matrix) if golds else None


def uar(preds: Sequence[str | None], golds: Sequence[str]) -> float | None:
    """Unweighted average recall: ``mean_c TP_c / support_c`` over the classes c in the references.

    >>> uar(["happiness", None, "anger", "sadness"], ["happiness", "sadness", "sadness", "sadness"])
    0.6666666666666666
    """
    return _uar_cm(confusion_matrix(preds, golds).matrix) if golds else None


def macro_f1(preds: Sequence[str | None], golds: Sequence[str]) -> float | None:
    """Macro F1: ``mean_c 2 TP_c / (support_c + predicted_c)`` over the reference classes c.

    ``predicted_c`` counts every prediction of c; predictions of other labels are only misses.

    >>> macro_f1(["happiness", None, "anger", "sadness"], ["happiness", "sadness", "sadness", "sadness"])
    0.75
    """
    return _macro_f1_cm(confusion_matrix(preds, golds).matrix) if golds else None


def weighted_f1(preds: Sequence[str | None], golds: Sequence[str]) -> float | None:
    """Support-weighted F1: ``sum_c support_c * F1_c / n`` over the reference classes c.

    >>> weighted_f1(["happiness", None, "anger", "sadness"], ["happiness", "sadness", "sadness", "sadness"])
    0.625
    """
    return _weighted_f1_cm(confusion_matrix(preds, golds).matrix) if golds else None


def per_class(preds: Sequence[str | None], golds: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per reference class: precision ``TP/predicted`` (0 when never predicted), recall ``TP/support``, F1, support.

    >>> per_class(["happiness", "happiness"], ["happiness", "sadness"])["sadness"]
    {'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'support': 1}
    """
    if not golds:
        return {}
    cm = confusion_matrix(preds, golds)
    tp, support, predicted = _class_counts(cm.matrix)
    f1 = _f1s(tp, support, predicted)
    out: dict[str, dict[str, float]] = {}
    for i, c in enumerate(cm.classes):
        precision = tp[i] / predicted[i] if predicted[i] else 0.0
        out[c] = {"precision": precision, "recall": tp[i] / support[i], "f1": f1[i], "support": int(support[i])}
    return out


# ---------------------------------------------------------------------------------------------- AU-F1
def au_f1(preds: Sequence[Iterable[int | str]], refs: Sequence[Iterable[int | str]]) -> float | None:
    """Corpus AU-F1: per-AU F1 over the samples, then the mean over the AUs present in the references.

    For each AU a present in at least one reference set: ``TP_a = #{i: a in P_i and a in R_i}``,
    ``F1_a = 2 TP_a / (#{i: a in P_i} + #{i: a in R_i})``; ``au_f1 = mean_a F1_a``. AUs only ever predicted add
    no term (they are false positives of no reference AU). None when no reference has an AU.
    Predictions are the AUs cited in ``<think>``; references are the AUs at or above ``facs.PRESENCE_THRESHOLD``.

    AU4: 2*1/(1+1) = 1, AU6: 1, AU7: 2*0/(0+1) = 0, AU12: 2*1/(1+2) = 2/3; mean = 2/3.

    >>> au_f1([{6, 12}, {4}, set()], [{6, 12}, {4, 7}, {12}])
    0.6666666666666666
    """
    f1s = per_au_f1(preds, refs)
    return sum(f1s.values()) / len(f1s) if f1s else None


def _au_matrices(
    preds: Sequence[Iterable[int | str]], refs: Sequence[Iterable[int | str]]
) -> tuple[list[int], Any, Any]:
    """(AU numbers in the references, boolean cited matrix P[n, a], boolean reference matrix R[n, a])."""
    import numpy as np

    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    p_sets, r_sets = [_au_numbers(p) for p in preds], [_au_numbers(r) for r in refs]
    aus = sorted(set().union(*r_sets)) if r_sets else []
    p_mat = np.array([[a in p for a in aus] for p in p_sets], dtype=bool).reshape(len(p_sets), len(aus))
    r_mat = np.array([[a in r for a in aus] for r in r_sets], dtype=bool).reshape(len(r_sets), len(aus))
    return aus, p_mat, r_mat


def _au_f1s(p_mat: Any, r_mat: Any) -> Any:
    """Per-AU ``2 TP / (#pred + #ref)`` for the AU columns with at least one reference (numpy)."""
    tp, n_pred, n_ref = (p_mat & r_mat).sum(0), p_mat.sum(0), r_mat.sum(0)
    keep = n_ref > 0
    return 2 * tp[keep] / (n_pred[keep] + n_ref[keep])


def per_au_f1(preds: Sequence[Iterable[int | str]], refs: Sequence[Iterable[int | str]]) -> dict[str, float]:
    """``{"AU<n>": F1_n}`` for every AU present in the references (see :func:`au_f1`).

    >>> per_au_f1([{6, 12}], [{6}])
    {'AU6': 1.0}
    """
    aus, p_mat, r_mat = _au_matrices(preds, refs)
    return {f"AU{a}": float(f) for a, f in zip(aus, _au_f1s(p_mat, r_mat), strict=True)}


# ---------------------------------------------------------------------------------------------- CoT overlap
@functools.lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    """rouge-score's ROUGE-L scorer with its own tokenisation and Porter stemming, stems memoised (same result)."""
    from nltk.stem import porter
    from rouge_score import rouge_scorer, tokenize, tokenizers

    class _CachedStemmer:
        def __init__(self) -> None:
            self.stem = functools.lru_cache(maxsize=200_000)(porter.PorterStemmer().stem)

    class _Tokenizer(tokenizers.Tokenizer):
        stemmer = _CachedStemmer()

        def tokenize(self, text: str) -> list[str]:
            return tokenize.tokenize(text, self.stemmer)

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokenizer())


def rouge_l(preds: Sequence[str], refs: Sequence[str]) -> float | None:
    """Mean ROUGE-L F-measure (rouge-score, Porter stemming) of each CoT against its reference CoT; None when empty.

    ``R_lcs = LCS/|ref|``, ``P_lcs = LCS/|pred|`` in tokens, ``F = 2 P R / (P + R)``.

    >>> round(rouge_l(["the brows are lowered"], ["the brows lowered sharply"]), 4)
    0.75
    """
    if not refs:
        return None
    scorer = _rouge_scorer()
    scores = [scorer.score(r or "", p or "")["rougeL"].fmeasure for p, r in zip(preds, refs, strict=True)]
    return sum(scores) / len(scores)


def bleu(preds: Sequence[str], refs: Sequence[str]) -> float | None:
    """Corpus BLEU-4 (sacrebleu defaults: 13a tokenisation, brevity penalty), divided by 100 to lie in [0, 1].

    ``BLEU = BP * exp(mean_n log p_n)`` for n = 1..4. None when empty.

    >>> bleu(["the inner brows rise and the lip corners fall"], ["the inner brows rise and the lip corners fall"])
    1.0
    """
    if not refs:
        return None
    import sacrebleu

    return round(sacrebleu.corpus_bleu([p or "" for p in preds], [[r or "" for r in refs]]).score / 100, 10)


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Cohen's kappa between two raters' categories of the same items: ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the share of items they agree on, ``p_e = sum_c p1_c * p2_c`` the agreement chance gives from each
    rater's own category shares. 1 when both use one and the same category throughout (``p_e = 1``); None when empty.

    >>> cohen_kappa(["happiness", "anger", "anger", "rejected"], ["happiness", "anger", "sadness", "rejected"])
    0.6666666666666666
    """
    if len(first) != len(second):
        raise ValueError(f"cohen_kappa: {len(first)} and {len(second)} ratings; rate the same items")
    if not first:
        return None
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    categories = set(first) | set(second)
    expected = sum((list(first).count(c) / n) * (list(second).count(c) / n) for c in categories)
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1 - expected)
