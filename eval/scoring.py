"""Per-sample scoring and aggregation for ``emoreason eval``: one record per reference row, then metrics.json.

Which rows count where:

- class metrics (accuracy, UAR, macro/weighted F1, confusion, per-class): rows with a gold class, i.e. a ``label``,
  or exactly one item in ``labels``; the predicted class is the answer's canonical label (else its first
  open-vocabulary label), None when unreadable.
- ``label_f1`` (set F1, :func:`metrics.label_score`): rows with any gold label(s).
- ``au_f1``: rows whose ``aus`` has any entry (rows with no AU coding are left out).
- ``format_rate`` and ``consistency``: every row.
- ``rouge_l`` / ``bleu``: rows with a reference ``cot``, comparing the ``<think>`` texts.
- ``tem_f1``: rows with a ``caption``; the predicted caption is the prediction's ``caption`` field if it has one,
  else its output with the tags removed.
- ``ov_precision`` / ``ov_recall`` / ``ov_f`` (per level: base, synonym, wheel; :mod:`emoreason.eval.ov`): rows with
  any gold label, comparing the ``<answer>`` text's emotion words with the reference's words as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from emoreason.eval import consistency as cons
from emoreason.eval import metrics as m
from emoreason.eval import ov
from emoreason.eval.bootstrap import bootstrap_au_f1_ci, bootstrap_ci, bootstrap_class_cis
from emoreason.eval.temporal import Event, tem
from emoreason.facs import present
from emoreason.reasoning.parser import ParsedOutput, parse_output

DEMOGRAPHIC_KEYS = ("gender", "sex", "race", "ethnicity", "age", "age_group")
HEADLINE = ("accuracy", "uar", "macro_f1", "weighted_f1", "label_f1", "au_f1", "format_rate", "consistency",
            "rouge_l", "bleu", "tem_f1")  # fmt: skip
_TAG = re.compile(r"</?(?:think|answer)>", re.I)
EventExtractor = Callable[[list[str]], list[list[Event]]]


def _think(text: str) -> str:
    parsed = parse_output(text)
    return parsed.think if parsed.think is not None else _TAG.sub(" ", text or "").strip()


def _group_value(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        low = int(value) // 10 * 10
        return f"{low}-{low + 9}"
    return str(value)


def predicted_label(parsed: ParsedOutput) -> str | None:
    """The class an answer predicts: its canonical label, else its first open-vocabulary label, else None."""
    return parsed.label or (parsed.labels[0] if parsed.labels else None)


def score_sample(ref: dict[str, Any], pred: dict[str, Any] | None, label_set: str) -> dict[str, Any]:
    """Everything measured on one reference row and its prediction (None: no prediction, scored as empty)."""
    output = str(pred.get("output") or "") if pred else ""
    parsed = parse_output(output, label_set)  # type: ignore[arg-type]
    gold_labels = m.gold_labels(ref["label"], ref["labels"])
    gold = ref["label"] or (gold_labels[0] if len(gold_labels) == 1 else None)
    predicted = predicted_label(parsed)
    answer: str | list[str] | None = parsed.label if parsed.label is not None else (parsed.labels or None)
    has_aus = bool(ref["aus"])
    reference_aus = sorted(present(ref["aus"])) if has_aus else []
    grounding = cons.transcript_grounding(parsed if parsed.think is not None else output, ref.get("transcript") or "")
    sample: dict[str, Any] = {
        "id": ref["id"],
        "missing_prediction": pred is None,
        "error": (pred or {}).get("error"),
        "gold": gold,
        "gold_labels": gold_labels,
        "pred": predicted,
        "pred_labels": parsed.labels,
        "correct": (predicted == gold) if gold else None,
        "label_score": m.label_score(answer, gold_labels if len(gold_labels) > 1 else gold_labels[0])
        if gold_labels
        else None,
        "format_ok": parsed.format_ok,
        "truncated": parsed.truncated,
        "aus_cited": parsed.aus,
        "au_coded": has_aus,
        "aus_reference": [f"AU{n}" for n in reference_aus],
        "au_f1": m.au_set_f1(parsed.au_numbers, reference_aus) if has_aus else None,
        "reasoning_label_consistent": cons.reasoning_label_consistency(parsed),
        "evidence_support": cons.evidence_consistency(parsed),
        "contradiction": cons.evidence_contradiction(parsed),
        "consistency": cons.consistency_score(parsed),
        "quotes": len(grounding.quotes),
        "quotes_grounded": len(grounding.grounded),
        "hallucinated_quotes": grounding.hallucinated,
        "groups": {k: g for k in DEMOGRAPHIC_KEYS if (g := _group_value(ref["meta"].get(k))) is not None},
        "ov": ov.sample_scores(parsed.answer, ref.get("ov_words") or gold_labels) if gold_labels else None,
    }
    if ref.get("cot"):
        sample["_cot"] = (_think(output), _think(str(ref["cot"])))
        sample["rouge_l"] = m.rouge_l([sample["_cot"][0]], [sample["_cot"][1]])
    if ref.get("caption"):
        caption = (pred or {}).get("caption") or _TAG.sub(" ", output).strip()
        sample["_caption"] = (caption, str(ref["caption"]))
    return sample


def score_samples(
    references: list[dict[str, Any]],
    predictions: dict[str, dict[str, Any]],
    label_set: str,
    extractor: EventExtractor | None = None,
) -> list[dict[str, Any]]:
    """Score every reference row; TEM events come from ``extractor`` (batched, e.g. an LLM) or the lexicon."""
    samples = [score_sample(ref, predictions.get(ref["id"]), label_set) for ref in references]
    with_caption = [s for s in samples if "_caption" in s]
    if with_caption:
        texts = [t for s in with_caption for t in s["_caption"]]
        events = extractor(texts) if extractor else [None] * len(texts)
        for i, s in enumerate(with_caption):
            pred_events, ref_events = events[2 * i], events[2 * i + 1]
            result = tem(pred_events if pred_events is not None else s["_caption"][0],
                         ref_events if ref_events is not None else s["_caption"][1])  # fmt: skip
            s["tem"] = {"f1": result.f1, "precision": result.precision, "recall": result.recall, "lcs": result.lcs}
            s["tem_f1"] = result.f1
    return samples


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _mean_ci(values: Sequence[float | None], n: int, seed: int) -> tuple[float, float] | None:
    import numpy as np

    kept = np.asarray([float(v) for v in values if v is not None])
    if not len(kept) or n <= 0:
        return None
    return bootstrap_ci(lambda x: float(np.mean(x)), kept, n_resamples=n, seed=seed)


def class_block(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Class metrics of the samples that have a gold class, plus AU-F1 and format rate (per group, too)."""
    labelled = [s for s in samples if s["gold"] is not None]
    preds, golds = [s["pred"] for s in labelled], [s["gold"] for s in labelled]
    with_aus = [s for s in samples if s["au_coded"]]
    return {
        "n": len(samples),
        "accuracy": m.accuracy(preds, golds),
        "uar": m.uar(preds, golds),
        "macro_f1": m.macro_f1(preds, golds),
        "weighted_f1": m.weighted_f1(preds, golds),
        "au_f1": m.au_f1([s["aus_cited"] for s in with_aus], [s["aus_reference"] for s in with_aus]),
        "format_rate": _mean([float(s["format_ok"]) for s in samples]),
    }


def _natural(value: str) -> tuple[Any, ...]:
    """Sort key that puts "4-19" before "20-39" and "70+" last (numbers compared as numbers)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", value) if part)


def _per_group(samples: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for key in DEMOGRAPHIC_KEYS:
        values = sorted({s["groups"][key] for s in samples if key in s["groups"]}, key=_natural)
        if values:
            out[key] = {v: class_block([s for s in samples if s["groups"].get(key) == v]) for v in values}
    return out


def aggregate(
    samples: list[dict[str, Any]],
    references: list[dict[str, Any]],
    predictions: dict[str, dict[str, Any]],
    duplicates: int = 0,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """metrics.json: headline metrics (None where not applicable), CIs, coverage, details and breakdowns."""
    ref_ids = {r["id"] for r in references}
    missing = [r["id"] for r in references if r["id"] not in predictions]
    unmatched = [i for i in predictions if i not in ref_ids]
    labelled = [s for s in samples if s["gold"] is not None]
    preds, golds = [s["pred"] for s in labelled], [s["gold"] for s in labelled]
    with_aus = [s for s in samples if s["au_coded"]]
    cots = [s["_cot"] for s in samples if "_cot" in s]
    quotes = sum(s["quotes"] for s in samples)
    grounded = sum(s["quotes_grounded"] for s in samples)
    metrics: dict[str, Any] = {
        **{k: v for k, v in class_block(samples).items() if k != "n"},
        "label_f1": _mean([s["label_score"] for s in samples]),
        "consistency": _mean([s["consistency"] for s in samples]),
        "rouge_l": _mean([s.get("rouge_l") for s in samples]),
        "bleu": m.bleu([c[0] for c in cots], [c[1] for c in cots]) if cots else None,
        "tem_f1": _mean([s.get("tem_f1") for s in samples]),
    }
    metrics = {k: metrics[k] for k in HEADLINE}
    ov_scores = ov.ov_from_samples([s["ov"] for s in samples])
    for key in ("precision", "recall", "f"):
        metrics[f"ov_{key}"] = getattr(ov_scores, key) if ov_scores else None
    metrics["ov"] = ov_scores.to_dict() if ov_scores else None
    metrics["n_samples"] = len(samples)
    metrics["sources"] = sorted({str(r["meta"]["source"]) for r in references if r["meta"].get("source")})
    metrics["coverage"] = {
        "references": len(references),
        "predictions": len(predictions),
        "matched": len(references) - len(missing),
        "missing_predictions": len(missing),
        "unmatched_predictions": len(unmatched),
        "duplicate_predictions": duplicates,
        "rate": (len(references) - len(missing)) / len(references) if references else None,
        "missing_ids": missing[:20],
        "unmatched_ids": unmatched[:20],
    }
    metrics["counts"] = {
        "labelled": len(labelled),
        "with_aus": len(with_aus),
        "with_cot": len(cots),
        "with_caption": sum("tem_f1" in s for s in samples),
        "unparsed": sum(s["pred"] is None for s in samples),
        "errors": sum(bool(s["error"]) for s in samples),
    }
    metrics["consistency_details"] = {
        "reasoning_label": _mean([s["reasoning_label_consistent"] for s in samples]),
        "evidence_support": _mean([s["evidence_support"] for s in samples]),
        "contradiction_rate": _mean([s["contradiction"] for s in samples]),
        "transcript_grounding": grounded / quotes if quotes else None,
        "hallucination_rate": (quotes - grounded) / quotes if quotes else None,
        "quotes": quotes,
    }
    tems = [s["tem"] for s in samples if "tem" in s]
    metrics["tem"] = {k: _mean([t[k] for t in tems]) for k in ("precision", "recall", "f1")} if tems else None
    metrics["per_class"] = m.per_class(preds, golds)
    metrics["per_au"] = m.per_au_f1([s["aus_cited"] for s in with_aus], [s["aus_reference"] for s in with_aus])
    metrics["confusion_matrix"] = m.confusion_matrix(preds, golds).to_dict() if labelled else None
    metrics["per_group"] = _per_group(samples)

    ci: dict[str, Any] = {key: None for key in HEADLINE}
    if n_bootstrap:
        ci.update(bootstrap_class_cis(preds, golds, n_bootstrap, seed=seed))
    if with_aus and n_bootstrap:
        cited, reference = [s["aus_cited"] for s in with_aus], [s["aus_reference"] for s in with_aus]
        ci["au_f1"] = bootstrap_au_f1_ci(cited, reference, n_bootstrap, seed=seed)
    for key, values in (
        ("format_rate", [float(s["format_ok"]) for s in samples]),
        ("label_f1", [s["label_score"] for s in samples]),
        ("consistency", [s["consistency"] for s in samples]),
        ("rouge_l", [s.get("rouge_l") for s in samples]),
        ("tem_f1", [s.get("tem_f1") for s in samples]),
    ):
        ci[key] = _mean_ci(values, n_bootstrap, seed)
    metrics["ci"] = {k: (list(v) if v else None) for k, v in ci.items()}
    metrics["bootstrap"] = {"resamples": n_bootstrap, "confidence": 0.95, "seed": seed}
    return metrics
