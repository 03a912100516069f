"""Writing an evaluation's outputs: metrics.json, per_sample.jsonl, report.md and confusion_matrix.png (atomic)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from emoreason.eval.scoring import HEADLINE

_DESCRIPTIONS = {
    "accuracy": "share of correct labels (WAR)",
    "uar": "mean per-class recall over the reference classes",
    "macro_f1": "mean per-class F1 over the reference classes",
    "weighted_f1": "support-weighted per-class F1",
    "label_f1": "set F1 over label components (compound / multi-label)",
    "au_f1": "per-AU F1 of AUs cited in <think>, mean over reference AUs",
    "format_rate": "share of outputs with <think> (3 sections) + <answer>",
    "consistency": "mean of Conclusion = answer and cited-AU support",
    "rouge_l": "ROUGE-L F of the CoT against the reference CoT",
    "bleu": "corpus BLEU-4 of the CoT / 100",
    "tem_f1": "temporal event matching (LCS) F1 against the caption",
}


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _ci(ci: list[float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"


def render_markdown(metrics: dict[str, Any], has_png: bool) -> str:
    """report.md: headline metrics with bootstrap CIs, coverage, consistency, per class / AU / group tables."""
    boot = metrics.get("bootstrap", {})
    lines = ["# emoreason evaluation", ""]
    lines += [
        f"{metrics['n_samples']} reference samples, label set `{metrics.get('label_set')}`. 95% CIs: percentile "
        f"bootstrap, {boot.get('resamples')} resamples, seed {boot.get('seed')}.",
        "",
        "| metric | value | 95% CI | what it measures |",
        "|---|---|---|---|",
    ]
    for key in HEADLINE:
        lines.append(f"| {key} | {_fmt(metrics.get(key))} | {_ci(metrics['ci'].get(key))} | {_DESCRIPTIONS[key]} |")
    cov = metrics["coverage"]
    lines += ["", "## Coverage", ""]
    lines += [
        f"- references: {cov['references']}, predictions: {cov['predictions']}, matched: {cov['matched']}",
        f"- references with no prediction (scored as empty output): {cov['missing_predictions']}"
        + (f" (e.g. {', '.join(cov['missing_ids'][:5])})" if cov["missing_ids"] else ""),
        f"- predictions with no reference (not scored): {cov['unmatched_predictions']}"
        + (f" (e.g. {', '.join(cov['unmatched_ids'][:5])})" if cov["unmatched_ids"] else ""),
        f"- repeated prediction ids (last kept): {cov['duplicate_predictions']}",
        f"- unparseable answers: {metrics['counts']['unparsed']}; backend errors: {metrics['counts']['errors']}",
    ]
    details = metrics["consistency_details"]
    lines += ["", "## Reasoning consistency", ""]
    lines += [
        f"- Conclusion names the answer's label: {_fmt(details['reasoning_label'])}",
        f"- cited AUs support the answer (score ratio x share explained): {_fmt(details['evidence_support'])}",
        f"- contradictions (cited AUs imply the opposite valence): {_fmt(details['contradiction_rate'])}",
        f"- quoted speech found in the transcript: {_fmt(details['transcript_grounding'])} of {details['quotes']} "
        f"quotes (hallucination rate {_fmt(details['hallucination_rate'])})"
        if details["quotes"]
        else "- quoted speech found in the transcript: n/a (no output quotes any speech)",
    ]
    if metrics.get("per_class"):
        lines += ["", "## Per class", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for name, row in metrics["per_class"].items():
            lines.append(
                f"| {name} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {_fmt(row['f1'])} | {row['support']} |"
            )
    if has_png:
        lines += ["", "![confusion matrix](confusion_matrix.png)"]
    if metrics.get("per_au"):
        lines += ["", "## Per AU (F1)", "", "| AU | F1 |", "|---|---|"]
        lines += [f"| {au} | {_fmt(f1)} |" for au, f1 in metrics["per_au"].items()]
    if metrics.get("per_group"):
        lines += ["", "## Per demographic group", ""]
        for attribute, groups in metrics["per_group"].items():
            lines += [f"**{attribute}**", "", "| group | n | accuracy | uar | macro_f1 | au_f1 | format_rate |"]
            lines += ["|---|---|---|---|---|---|---|"]
            for value, row in groups.items():
                cells = " | ".join(_fmt(row[k]) for k in ("accuracy", "uar", "macro_f1", "au_f1", "format_rate"))
                lines.append(f"| {value} | {row['n']} | {cells} |")
            lines.append("")
    else:
        lines += ["", "No demographic groups (gender, race, age) in the references' meta: no per-group breakdown."]
    return "\n".join(lines).rstrip() + "\n"


def plot_confusion(confusion: dict[str, Any], path: Path, title: str = "Confusion matrix") -> None:
    """Row-normalised confusion matrix with counts in the cells, written as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(confusion["matrix"], dtype=float)
    rows, cols = confusion["classes"], confusion["columns"]
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = (max(5.5, 1.8 + 0.75 * len(cols)), max(4.5, 1.6 + 0.6 * len(rows)))
    fig, ax = plt.subplots(figsize=size, dpi=120)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), labels=cols, rotation=40, ha="right")
    ax.set_yticks(range(len(rows)), labels=rows)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(title)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if counts[i, j]:
                color = "white" if share[i, j] > 0.6 else "black"
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", color=color, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the reference class")
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def write_outputs(out: Path, metrics: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    """Write every output file into ``out`` (each atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    public = [{k: v for k, v in s.items() if not k.startswith("_")} for s in samples]
    _atomic_write(out / "per_sample.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in public))
    _atomic_write(out / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    has_png = bool(metrics.get("confusion_matrix"))
    if has_png:
        acc = metrics.get("accuracy")
        title = f"Confusion matrix (n={sum(map(sum, metrics['confusion_matrix']['matrix']))}, acc={_fmt(acc)})"
        plot_confusion(metrics["confusion_matrix"], out / "confusion_matrix.png", title)
    _atomic_write(out / "report.md", render_markdown(metrics, has_png))
