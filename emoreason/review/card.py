"""The card of a review's outputs (``README.md`` of ``reviewed/`` and ``pairs/``): what was accepted, corrected,
rejected and disputed, by whom, and how much the reviewers agreed (Cohen's kappa, ``eval.metrics.cohen_kappa``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render_card(source: Path, summary: Any) -> str:
    """The card's markdown (the YAML header naming the data files is added by the export)."""
    c = summary.counts
    reviewed = sum(c.values())
    lines = [
        f"# Reviewed: {source.name}",
        "",
        f"People reviewed rows of `{source}` with emoreason (`emoreason serve --review`, the chat's and the API's "
        "corrections); `emoreason review export` wrote this.",
        "",
        "## What the review decided",
        "",
        "| outcome | rows |",
        "|---|---:|",
        *(f"| {status} | {c[status]} |" for status in ("accepted", "corrected", "rejected", "disputed")),
        f"| **reviewed** | **{reviewed}** |",
        f"| not reviewed | {summary.rows - reviewed} |",
        "",
        "Each row counts once: a reviewer's latest decision on it replaces their earlier ones, and rows are "
        "`disputed` when reviewers disagree (a different label, or one rejects what another keeps); disputed and "
        "rejected rows are in neither output.",
        "",
        f"- `reviewed/`: {summary.reviewed_rows} accepted and corrected rows in the build-data row format "
        "(`emoreason train sft --dataset_path reviewed`); `meta.review` holds who decided, when, and for corrected "
        "rows the original label and CoT.",
        f"- `pairs/`: {summary.pairs} preference pairs (`prompt`, `chosen` = the corrected CoT, `rejected` = the "
        "row's own, `images` embedded), TRL's format (`emoreason train dpo --dataset_path pairs`).",
        "",
        "## Reviewers and agreement",
        "",
        "| reviewer | rows decided |",
        "|---|---:|",
        *(f"| {r} | {n} |" for r, n in sorted(summary.reviewers.items())),
        "",
    ]
    if summary.kappas:
        lines += ["| reviewers | rows both decided | Cohen's kappa |", "|---|---:|---:|"]
        for k in summary.kappas:
            kappa = "n/a" if k["kappa"] is None else f"{k['kappa']:.3f}"
            lines.append(f"| {k['reviewers'][0]} / {k['reviewers'][1]} | {k['rows']} | {kappa} |")
        lines += ["", "Kappa compares what each reviewer says a row is: its label after their decision, or "
                  "`rejected`.", ""]
    else:
        lines += ["No two reviewers decided the same rows, so there is no agreement to report.", ""]
    if summary.media_gone:
        lines += [f"Left out: {len(summary.media_gone)} reviewed rows whose images are gone: "
                  + ", ".join(f"`{r}`" for r in summary.media_gone[:20]) + ".", ""]
    lines += ["Images and labels keep the terms of the source dataset (see its card).", ""]
    return "\n".join(lines)
