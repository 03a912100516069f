"""`emoreason review status|export DIR`: where a review of a dataset stands, and what it makes (the reviewed
dataset, TRL preference pairs and their card). Reviewing itself happens in `emoreason serve --review DIR` (/review),
and in chat and on the API for the analyses people correct there."""

from __future__ import annotations

from pathlib import Path

import typer

from emoreason.cli import common

app = typer.Typer(
    help="Review datasets: see progress, export the reviewed dataset and preference pairs.",
    no_args_is_help=True,
    **common.TYPER_SETTINGS,
)


@app.command("status")
def status(
    folder: Path = typer.Argument(..., help="A dataset folder (build-data --out, synth round_N/data) or a feedback "
                                  "folder."),
) -> None:
    """Rows reviewed per reviewer and outcome (accepted, corrected, rejected, disputed), and agreement (kappa)."""
    from emoreason.review.export import review_summary

    summary = review_summary(folder)
    lines = summary.lines()
    for line in lines[:1] + lines[3:]:  # not the outputs' lines: status writes nothing
        typer.echo(line)
    for reviewer, n in sorted(summary.reviewers.items()):
        typer.echo(f"  {reviewer}: {n} rows decided")


@app.command("export")
def export(
    folder: Path = typer.Argument(..., help="The reviewed folder (build-data --out, synth round_N/data, feedback)."),
    out: Path = typer.Option(..., "--out", help="Where reviewed/, pairs/ and review.json go."),
    label_set: common.LabelSetOpt = "compound",
) -> None:
    """Write the reviewed dataset (accepted and corrected rows, for `train sft`) and the preference pairs (for
    `train dpo`), each loadable with datasets.load_dataset, with a card counting outcomes and reviewer agreement."""
    from emoreason.review.export import export_review

    common.check_choice("--label-set", label_set, common.LABEL_SETS)
    for line in export_review(folder, out, label_set).lines():
        typer.echo(line)
