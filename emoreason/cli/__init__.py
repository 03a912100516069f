"""The `emoreason` command. Each subcommand lives in its own small module and calls one library function.

Command modules import nothing heavy at module level, so `emoreason --help` stays fast.
"""

from __future__ import annotations

import sys

import typer

from emoreason.cli import analyze, build_data, caption, chat, common, data, evaluate, review, serve, train
from emoreason.errors import EmoreasonError

app = typer.Typer(
    name="emoreason",
    help="Explainable emotion reasoning: faces, Action Units, speech and prosody in; reasoning and a label out.",
    no_args_is_help=True,
    add_completion=False,
    **common.TYPER_SETTINGS,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"emoreason {version('emoreason')}")
        except PackageNotFoundError:  # a source tree that was never installed
            typer.echo("emoreason (not installed: pip install -e .)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the installed version and exit."
    ),
) -> None:
    """Explainable emotion reasoning: faces, Action Units, speech and prosody in; reasoning and a label out."""


app.command("analyze")(analyze.analyze)
app.command("chat")(chat.chat)
app.command("caption")(caption.caption)
app.command("build-data")(build_data.build_data)
app.add_typer(data.app, name="data")
app.command("eval")(evaluate.evaluate)
app.add_typer(train.app, name="train")
app.command("synth", context_settings=train.PASSTHROUGH)(train.synth)
app.command("export")(train.export)
app.command("serve")(serve.serve)
app.add_typer(review.app, name="review")


def main() -> None:
    """Console-script entry point: user errors print one line and exit 1, never a traceback."""
    try:
        app()
    except EmoreasonError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted; finished work is saved, run the same command again to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
