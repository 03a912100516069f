"""`emoreason data inspect DIR`: the report of a built explanation dataset, and its least-supported rows."""

from __future__ import annotations

from pathlib import Path

import typer

from emoreason.cli import common

app = typer.Typer(
    help="Look at datasets made by `emoreason build-data`.", no_args_is_help=True, **common.TYPER_SETTINGS
)


@app.command("inspect")
def inspect(
    folder: Path = typer.Argument(..., help="A build-data --out folder."),
    n: int = typer.Option(10, "--n", "-n", help="How many least-supported rows to list."),
) -> None:
    """Print rows kept and skipped per split and label, evidence support, faces, quality flags, and the N
    least-supported rows with their ids and images, so you can look at them."""
    from emoreason.data_builders.report import read_report, report_lines

    report = read_report(folder)
    typer.echo(f"{folder}: {report.get('source')} (--min-support {report.get('min_support')}, "
               f"--keep-ambiguous {report.get('keep_ambiguous')})")  # fmt: skip
    for line in report_lines(report, n):
        typer.echo(line)
