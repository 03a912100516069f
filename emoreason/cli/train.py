"""`emoreason train sft|grpo`, `emoreason synth`, `emoreason export` (being written; owned by the training workstream)."""

import typer

from emoreason.errors import EmoreasonError

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
app = typer.Typer(help="Train LoRA adapters: sft, then grpo.", no_args_is_help=True)


def synth() -> None:
    """Not available yet."""
    raise EmoreasonError("this command is not built yet")


def export() -> None:
    """Not available yet."""
    raise EmoreasonError("this command is not built yet")
