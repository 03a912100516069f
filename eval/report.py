"""Writing an evaluation's outputs: metrics.json, per_sample.jsonl, report.md, confusion_matrix.png and, with
``--ablate``, modality_attribution.png (all atomic). report.md puts the headline numbers next to published ones
(:data:`PUBLISHED`) when the references come from a dataset those systems reported on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emoreason.eval.scoring import HEADLINE
from emoreason.io import atomic_path, atomic_write_text

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


# Published results users compare with, per build-data source. "ours" is the metrics.json key the number is set
# against; "protocol" says where the published setting differs from an emoreason eval of a build-data split.
_R1_OMNI = ("R1-Omni (Zhao, Wei & Bo 2025, arXiv:2503.05379, Table 1)",
            "video + audio clips, HumanOmni-0.5B trained with RLVR on the MAFW and DFEW training sets "
            "(in-distribution test); emoreason scores the rows of the built split (frames/crops, AUs, transcript) "
            "with the backend in metrics.json")  # fmt: skip
_FACIAL_R1 = ("Facial-R1 (Wu et al. 2025, arXiv:2511.10254, AAAI 2026)",
              "a VLM fine-tuned (SFT + RL with emotion and AU rewards) on FEA-20K; its test split and AU list follow "
              "the paper")  # fmt: skip
_AU_PROTOCOL = (". AU-F1 there is per-AU occurrence F1 over the dataset's standard AU set (usually subject-exclusive "
                "3-fold); emoreason's au_f1 is the F1 of the AUs cited in <think> against the reference AUs at or "
                "above facs.PRESENCE_THRESHOLD, averaged over the AUs present in these references")  # fmt: skip
PUBLISHED: dict[str, list[dict[str, Any]]] = {
    "dfew": [
        {"metric": "WAR", "ours": "accuracy", "value": 0.6583, "system": _R1_OMNI[0], "protocol": _R1_OMNI[1]},
        {"metric": "UAR", "ours": "uar", "value": 0.5627, "system": _R1_OMNI[0], "protocol": _R1_OMNI[1]},
    ],
    "mafw": [
        {"metric": "WAR", "ours": "accuracy", "value": 0.5768, "system": _R1_OMNI[0], "protocol": _R1_OMNI[1]},
        {"metric": "UAR", "ours": "uar", "value": 0.4004, "system": _R1_OMNI[0], "protocol": _R1_OMNI[1]},
    ],
    "fer2013": [
        {"metric": "accuracy", "ours": "accuracy", "value": 0.698, "system": _FACIAL_R1[0], "protocol": _FACIAL_R1[1]},
    ],
    "disfa": [
        {"metric": "AU-F1", "ours": "au_f1", "value": 0.731, "system": _FACIAL_R1[0],
         "protocol": _FACIAL_R1[1] + _AU_PROTOCOL},
    ],
    "bp4d": [
        {"metric": "AU-F1", "ours": "au_f1", "value": 0.674, "system": _FACIAL_R1[0],
         "protocol": _FACIAL_R1[1] + _AU_PROTOCOL},
    ],
}  # fmt: skip


def benchmark_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The published rows for the references' source (one build-data source only), each with our number.

    >>> [(r["metric"], r["value"], r["ours_value"]) for r in benchmark_rows({"sources": ["dfew"], "accuracy": 0.5,
    ...                                                                      "uar": None})]
    [('WAR', 0.6583, 0.5), ('UAR', 0.5627, None)]
    >>> benchmark_rows({"sources": ["dfew", "mafw"]})
    []
    """
    sources = metrics.get("sources") or []
    if len(sources) != 1:
        return []
    return [{**row, "ours_value": metrics.get(row["ours"])} for row in PUBLISHED.get(sources[0], [])]


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
    lines += _ov_lines(metrics)
    lines += _attribution_lines(metrics)
    lines += _benchmark_lines(metrics)
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


def _ov_lines(metrics: dict[str, Any]) -> list[str]:
    ov = metrics.get("ov")
    lines = ["", "## Open-vocabulary emotion sets (emotion-wheel scores)", ""]
    if not ov:
        return lines + ["n/a: no reference has an emotion label."]
    lines += [
        f"{ov['n']} samples. Per sample precision |P & R|/|P| and recall |P & R|/|R| of the answer's emotion words "
        "against the reference words, after mapping both to a level; averaged over samples, F from the averages; the "
        "wheel level is the mean over Plutchik's wheel and the Geneva Emotion Wheel 3.0 (eval/emotion_wheels.json).",
        "",
        "| level | ov_precision | ov_recall | ov_f |",
        "|---|---|---|---|",
    ]
    for level in ("base", "synonym", "wheel"):
        cells = " | ".join(_fmt(ov[key][level]) for key in ("precision", "recall", "f"))
        lines.append(f"| {level} | {cells} |")
    for name, row in ov["per_wheel"].items():
        lines.append(f"| wheel: {name} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {_fmt(row['f'])} |")
    unknown = ov.get("unknown") or {}
    shown = ", ".join(f"{w} ({c})" for w, c in list(unknown.items())[:15])
    lines += ["", f"- words not in the lexicon (matched only as themselves): {shown or 'none'}"
              + (f", ... {len(unknown) - 15} more" if len(unknown) > 15 else ""),
              f"- negated items dropped (\"not happy\"): {ov.get('negated', 0)}"]  # fmt: skip
    unplaced = {w: g for w, g in (ov.get("unplaced") or {}).items() if g}
    if unplaced:
        lines.append("- groups a wheel has no sector for (matched as themselves): "
                     + "; ".join(f"{w}: {', '.join(g)}" for w, g in unplaced.items()))  # fmt: skip
    return lines


def _attribution_lines(metrics: dict[str, Any]) -> list[str]:
    summary = metrics.get("modality_attribution")
    if not summary:
        return []
    from emoreason.eval.attribution import attribution_table

    lines = [
        "",
        "## Modality attribution (--ablate)",
        "",
        "The backend answered every sample again with one modality removed (only samples that have it).",
        "",
    ]
    lines += attribution_table(summary).rstrip().split("\n")
    return lines + ["", "![modality attribution](modality_attribution.png)"]


def _benchmark_lines(metrics: dict[str, Any]) -> list[str]:
    rows = benchmark_rows(metrics)
    if not rows:
        return []
    lines = ["", "## Compared with published results", "",
             f"References from `{metrics['sources'][0]}`. Published numbers come from a different protocol (last "
             "column); read them as context, not as a like-for-like comparison.", "",
             "| metric | this run | published | system (source) | protocol difference |",
             "|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        lines.append(f"| {row['metric']} | {_fmt(row['ours_value'])} | {row['value']:.3f} | {row['system']} | "
                     f"{row['protocol']} |")  # fmt: skip
    return lines


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
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def write_outputs(out: Path, metrics: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    """Write every output file into ``out`` (each atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    public = [{k: v for k, v in s.items() if not k.startswith("_")} for s in samples]
    atomic_write_text(out / "per_sample.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in public))
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    has_png = bool(metrics.get("confusion_matrix"))
    if has_png:
        acc = metrics.get("accuracy")
        title = f"Confusion matrix (n={sum(map(sum, metrics['confusion_matrix']['matrix']))}, acc={_fmt(acc)})"
        plot_confusion(metrics["confusion_matrix"], out / "confusion_matrix.png", title)
    if metrics.get("modality_attribution"):
        from emoreason.eval.attribution import plot_attribution

        plot_attribution(metrics["modality_attribution"], out / "modality_attribution.png")
    atomic_write_text(out / "report.md", render_markdown(metrics, has_png))
