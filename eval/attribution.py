"""Modality attribution: which modality decided an answer. The backend runs once more per removed modality.

For each modality m (face, speech, prosody; ``emoreason.modalities``) and each sample that has m, the same backend
answers the Evidence without m. Per sample: whether the answer changed (its label, or its list of open-vocabulary
labels) and, with a gold label, whether it is still correct. In aggregate, per modality:

    changed_rate      = #(answer changed) / #(samples with m)
    accuracy_without  = accuracy over every labelled sample, where samples without m keep their full answer
    delta_accuracy    = accuracy_without - accuracy (negative: the modality helped)

Used by ``emoreason eval --ablate`` (:func:`ablation_block`, over a dataset split, with accuracy) and by
``analyze``/``caption --explain-modalities`` (:class:`ModalityProbe`, a reasoner wrapper, no gold labels).
Outputs: :func:`attribution_table` (markdown) and :func:`plot_attribution` (PNG bar plot).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoreason.io import atomic_path
from emoreason.modalities import MODALITIES, present_modalities, without_modality
from emoreason.schema import Evidence

logger = logging.getLogger(__name__)
EXAMPLES = 10  # changed answers listed per modality in report.md


def answer_key(label: str | None, labels: Sequence[str] | None) -> tuple[str | None, tuple[str, ...]]:
    """What "the answer changed" compares: the canonical label and the open-vocabulary label list."""
    return label, tuple(labels or ())


def summarize(records: Sequence[dict[str, Any]], modalities: Sequence[str]) -> dict[str, Any]:
    """Aggregate per-sample attribution records into the per-modality table.

    A record is ``{"present": [...], "correct": bool | None, "without": {m: {"changed": bool,
    "correct": bool | None}}}`` (``without[m]`` only for the modalities the sample has).

    >>> face_off, speech_off = {"changed": True, "correct": False}, {"changed": False, "correct": True}
    >>> recs = [{"present": ["face", "speech"], "correct": True, "without": {"face": face_off, "speech": speech_off}},
    ...         {"present": ["face"], "correct": False, "without": {"face": {"changed": False, "correct": False}}}]
    >>> s = summarize(recs, ["face", "speech"])["per_modality"]
    >>> s["face"]["changed_rate"], s["face"]["accuracy_without"], s["speech"]["n_present"], s["speech"]["changed_rate"]
    (0.5, 0.0, 1, 0.0)
    """
    labelled = [r for r in records if r.get("correct") is not None]
    accuracy = sum(bool(r["correct"]) for r in labelled) / len(labelled) if labelled else None
    per: dict[str, dict[str, Any]] = {}
    for m in modalities:
        having = [r for r in records if m in r["without"]]
        changed = sum(bool(r["without"][m].get("changed")) for r in having)
        errors = sum(bool(r["without"][m].get("error")) for r in having)
        without = None
        if labelled:
            kept = [(r["without"][m]["correct"] if m in r["without"] else r["correct"]) for r in labelled]
            without = sum(bool(c) for c in kept) / len(kept)
        per[m] = {
            "n_present": len(having),
            "changed": changed,
            "changed_rate": changed / len(having) if having else None,
            "accuracy_without": without,
            "delta_accuracy": (without - accuracy) if without is not None and accuracy is not None else None,
            "errors": errors,
        }
    return {"modalities": list(modalities), "n": len(records), "n_labelled": len(labelled), "accuracy": accuracy,
            "per_modality": per}  # fmt: skip


# ---------------------------------------------------------------------------------------------- eval --ablate
def ablation_block(
    samples: list[dict[str, Any]],
    present: dict[str, list[str]],
    ablated: dict[str, dict[str, dict[str, Any]]],
    label_set: str,
) -> dict[str, Any]:
    """Attach ``sample["ablation"]`` to every scored sample and return ``metrics["modality_attribution"]``.

    ``present``: sample id -> its modalities; ``ablated``: modality -> {id: prediction row of the run without it}
    (only ids that have the modality).
    """
    from emoreason.eval.scoring import predicted_label
    from emoreason.reasoning.parser import parse_output

    records = []
    for s in samples:
        full = answer_key(s["pred"], s["pred_labels"])
        record: dict[str, Any] = {"present": present.get(s["id"], []), "correct": s["correct"], "without": {}}
        for m, rows in ablated.items():
            if s["id"] not in rows:
                continue
            row = rows[s["id"]]
            parsed = parse_output(str(row.get("output") or ""), label_set)  # type: ignore[arg-type]
            pred = predicted_label(parsed)
            record["without"][m] = {
                "pred": pred,
                "pred_labels": parsed.labels,
                "changed": answer_key(pred, parsed.labels) != full,
                "correct": (pred == s["gold"]) if s["gold"] else None,
                **({"error": row["error"]} if row.get("error") else {}),
            }
        s["ablation"] = {"present": record["present"], "without": record["without"]}
        records.append(record)
    summary = summarize(records, list(ablated))
    summary["changed_examples"] = {
        m: [{"id": s["id"], "gold": s["gold"], "full": s["pred"], "without": s["ablation"]["without"][m]["pred"]}
            for s in samples if s["ablation"]["without"].get(m, {}).get("changed")][:EXAMPLES]
        for m in ablated
    }  # fmt: skip
    return summary


# ---------------------------------------------------------------------------------------------- analyze / caption
class ModalityProbe:
    """A reasoner wrapper: answers with the wrapped backend, then asks it again once per removed modality.

    ``reason`` returns the full-evidence answers unchanged, so analyze and caption work as before; the attribution
    of every Evidence is appended to ``records`` in call order (:meth:`take` hands them out in that order).
    """

    def __init__(self, reasoner: Any, modalities: Sequence[str] = MODALITIES) -> None:
        self.reasoner = reasoner
        self.modalities = list(modalities)
        self.records: list[dict[str, Any]] = []
        self._taken = 0

    def __getattr__(self, name: str) -> Any:  # name, needs_images, label_set, generate_texts, ...
        return getattr(self.reasoner, name)

    def reason(self, evidence: list[Evidence]) -> list[Any]:
        answers = self.reasoner.reason(evidence)
        without: list[dict[str, Any]] = [{} for _ in evidence]
        for m in self.modalities:
            idx = [i for i, ev in enumerate(evidence) if m in present_modalities(ev)]
            if not idx:
                continue
            try:
                again = self.reasoner.reason([without_modality(evidence[i], m) for i in idx])
                for i, ans in zip(idx, again, strict=True):
                    changed = answer_key(ans.label, ans.labels) != answer_key(answers[i].label, answers[i].labels)
                    without[i][m] = {"label": ans.label, "labels": ans.labels, "changed": changed, "correct": None}
            except Exception as err:  # noqa: BLE001 - the full answer stands; the attribution records the failure
                logger.warning("the run without %s failed: %s", m, err)
                for i in idx:
                    without[i][m] = {"label": None, "labels": [], "changed": None, "correct": None, "error": str(err)}
        for ev, ans, w in zip(evidence, answers, without, strict=True):
            self.records.append({"id": ev.id, "start": ev.start, "end": ev.end, "track": ev.track,
                                 "present": present_modalities(ev), "label": ans.label, "labels": ans.labels,
                                 "correct": None, "without": w})  # fmt: skip
        return answers

    def take(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` records not yet handed out (the faces of one analyzed image, in order)."""
        out = self.records[self._taken : self._taken + n]
        self._taken += len(out)
        return out

    def summary(self) -> dict[str, Any]:
        return summarize(self.records, self.modalities)


def describe(record: dict[str, Any], modalities: Sequence[str] = MODALITIES) -> str:
    """One line per Evidence, e.g. "without face -> neutral; without speech: same answer; prosody: absent"."""
    parts = []
    for m in modalities:
        w = record["without"].get(m)
        if w is None:
            parts.append(f"{m}: absent")
        elif w.get("error"):
            parts.append(f"without {m}: run failed")
        elif w["changed"]:
            parts.append(f"without {m} -> {w['label'] or ', '.join(w['labels']) or 'no label'}")
        else:
            parts.append(f"without {m}: same answer")
    return "; ".join(parts)


def face_records(records: list[dict[str, Any]], modalities: Sequence[str]) -> list[dict[str, Any]]:
    """What ``analyze --json`` adds to each face: its modalities, the answer without each, and a summary line."""
    return [{"present": r["present"], "without": r["without"], "summary": describe(r, modalities)} for r in records]


def append_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> int:
    """Append the records whose ``id`` is not in ``path`` yet (``caption --explain-modalities`` writes
    ``<out>.modalities.jsonl``); a rerun or a resume adds no second copy. Returns how many were written."""
    from emoreason.io import JsonlLog

    log = JsonlLog(path)
    fresh = [r for r in records if str(r["id"]) not in log.done]
    try:
        log.extend(fresh)
    finally:
        log.close()
    return len(fresh)


# ---------------------------------------------------------------------------------------------- outputs
def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def attribution_table(summary: dict[str, Any]) -> str:
    """A markdown table: per removed modality, samples with it, share of answers that change, accuracy without it."""
    lines = [
        f"Full evidence: {summary['n']} samples"
        + (f", accuracy {_fmt(summary['accuracy'])}" if summary["accuracy"] is not None else "")
        + ".",
        "",
        "| removed | samples with it | answers changed | share changed | accuracy without | change in accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for m, row in summary["per_modality"].items():
        cells = [str(row["n_present"]), str(row["changed"]), _fmt(row["changed_rate"]),
                 _fmt(row["accuracy_without"]), _fmt(row["delta_accuracy"], signed=True)]  # fmt: skip
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    for m, examples in (summary.get("changed_examples") or {}).items():
        if examples:
            items = "; ".join(f"{e['id']} ({e['gold'] or 'no gold'}): {e['full']} -> {e['without']}" for e in examples)
            lines += ["", f"Changed without {m} (first {len(examples)}): {items}"]
    if any(row["errors"] for row in summary["per_modality"].values()):
        lines += ["", "Some runs without a modality failed: " + ", ".join(
            f"{m} {row['errors']}" for m, row in summary["per_modality"].items() if row["errors"])]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_attribution(summary: dict[str, Any], path: Path) -> None:
    """Bar plot (PNG, matplotlib Agg): share of answers changed, and accuracy without each modality next to the
    full-evidence accuracy when there are gold labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["per_modality"])
    rows = [summary["per_modality"][m] for m in names]
    with_accuracy = summary["accuracy"] is not None
    fig, axes = plt.subplots(1, 2 if with_accuracy else 1, figsize=(9 if with_accuracy else 5, 3.6), dpi=120)
    axes = list(axes) if with_accuracy else [axes]
    changed = [r["changed_rate"] or 0.0 for r in rows]
    bars = axes[0].bar(names, changed, color="#4c72b0")
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("share of answers that change")
    axes[0].set_title("Answer changes when removed")
    for bar, r in zip(bars, rows, strict=True):
        axes[0].text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.02, f"n={r['n_present']}",
                     ha="center", fontsize=8)  # fmt: skip
    if with_accuracy:
        acc = [r["accuracy_without"] or 0.0 for r in rows]
        axes[1].bar(names, acc, color="#dd8452")
        axes[1].axhline(summary["accuracy"], color="black", linestyle="--", linewidth=1,
                        label=f"all modalities ({summary['accuracy']:.3f})")  # fmt: skip
        axes[1].set_ylim(0, 1.15)  # headroom for the legend above the bars
        axes[1].set_ylabel("accuracy")
        axes[1].set_title("Accuracy without the modality")
        axes[1].legend(loc="upper right", fontsize=8)
    for ax in axes:
        ax.set_xlabel("removed modality")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
