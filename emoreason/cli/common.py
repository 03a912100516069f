"""Shared typer options for choosing a reasoner backend, reused by analyze, chat, caption, build-data and eval.

Use them as parameter annotations, then hand the values to :func:`reasoner_from_options`::

    def chat(backend: common.Backend = "rules", model: common.Model = None, ...) -> None:
        reasoner = common.reasoner_from_options(backend, model, adapter, base_url, temperature=temperature, ...)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from emoreason.errors import EmoreasonError
from emoreason.labels import LABEL_SETS
from emoreason.pipelines import MAX_FACES  # noqa: F401  (common.MAX_FACES: the --max-faces default)

# Every Typer of the command: plain click help (no rich panels). Rich's boxed columns cut option names and help
# text with an ellipsis at 80 columns ("--explain-modali…", "http://localhost…") and read "[data]" in help text
# as markup; click's layout wraps the text under each option and prints it as written.
TYPER_SETTINGS: dict[str, Any] = {"rich_markup_mode": None, "pretty_exceptions_enable": False}

BACKEND_NAMES: tuple[str, ...] = ("rules", "hf", "openai", "vllm")

Backend = Annotated[str, typer.Option("--backend", help="Reasoner backend: rules, hf, openai or vllm.")]
Model = Annotated[
    str | None, typer.Option("--model", help="Model: local path or hub id (hf, vllm), or the served name (openai).")
]
Adapter = Annotated[str | None, typer.Option("--adapter", help="peft LoRA adapter folder (hf backend).")]
BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible server URL (openai backend), e.g. http://localhost:8000/v1."),
]
Temperature = Annotated[
    float | None, typer.Option("--temperature", min=0.0, help="Sampling temperature (0 = greedy; model backends).")
]
TopP = Annotated[
    float | None, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling top-p (model backends).")
]
MaxNewTokens = Annotated[
    int | None, typer.Option("--max-new-tokens", min=1, help="Most tokens generated per answer (model backends).")
]
LabelSetOpt = Annotated[
    str, typer.Option("--label-set", help="Labels to choose from: basic, compound or open (open vocabulary).")
]
Whisper = Annotated[
    str | None,
    typer.Option(
        "--whisper",
        help="Whisper model for the speech in videos: a name from your whisper cache (tiny, base, ...) or a "
        "checkpoint path. Default: base if it is cached, else speech is skipped (and said so).",
    ),
]
Language = Annotated[str | None, typer.Option("--language", help="Spoken language code (e.g. en); default: detected.")]


def check_whisper(value: str | None) -> str | None:
    """An explicit --whisper must be there before any work starts: a name not in the cache or a missing file is a
    usage error (exit 2, one line with the fix). Returns the value to pass on."""
    if value:
        from emoreason.perception.speech import resolve_whisper

        try:
            resolve_whisper(value)
        except EmoreasonError as err:
            typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
    return value


MaxFaces = Annotated[
    int,
    typer.Option(
        "--max-faces", min=1, help="Most faces read per photo or tracked per video frame (more are said, not dropped)."
    ),
]


ExpressionModel = Annotated[
    str | None,
    typer.Option(
        "--expression-model",
        help="Face expression model (.safetensors from `emoreason train face-model`); default: the one that ships "
        "in the package. 'none' reads with the AU rules alone.",
    ),
]


def check_expression_model(value: str | None) -> str | None:
    """Load the expression model an option names once, up front, so a missing, truncated or wrong file is a usage
    error (exit 2) naming the file, not a per-image error. Returns the value to pass on."""
    import os

    from emoreason.perception.expression import ENV_MODEL, model_for

    try:
        model_for(value)
    except EmoreasonError as err:
        typer.secho(f"error: {err} (or pass --expression-model none to read with the AU rules alone)",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if value is not None:
        os.environ[ENV_MODEL] = str(value)  # worker processes (caption, serve, build-data) read the same model
    return value


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    """Raise a typer usage error (exit code 2) unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(choices)}", param_hint=option)
    return value


def reasoner_settings(
    temperature: float | None = None,
    top_p: float | None = None,
    max_new_tokens: int | None = None,
    label_set: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The keyword settings a backend is built with; options left as None are dropped (the backend's default)."""
    settings = {
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
        "label_set": label_set,
        **extra,
    }
    return {k: v for k, v in settings.items() if v is not None}


def reasoner_from_options(
    backend: str = "rules",
    model: str | None = None,
    adapter: str | None = None,
    base_url: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_new_tokens: int | None = None,
    label_set: str | None = "compound",
    **extra: Any,
) -> Any:
    """Validate the shared options and build the reasoner (:func:`emoreason.reasoning.base.build_reasoner`).

    Bad choices raise ``typer.BadParameter`` (exit 2); a backend that can't load raises EmoreasonError.
    The rules backend takes no sampling settings, so they are only passed to model backends.
    """
    from emoreason.reasoning.base import build_reasoner

    check_choice("--backend", backend, BACKEND_NAMES)
    if label_set is not None:
        check_choice("--label-set", label_set, LABEL_SETS)
    if backend == "rules":
        if model or adapter or base_url:
            raise EmoreasonError("--backend rules takes no --model/--adapter/--base-url; use --backend hf or openai")
        return build_reasoner("rules", **reasoner_settings(label_set=label_set))
    if adapter and backend != "hf":
        raise EmoreasonError(f"--adapter works with --backend hf only (not {backend}); merge it first for {backend}")
    settings = reasoner_settings(temperature, top_p, max_new_tokens, label_set, **extra)
    return build_reasoner(backend, model=model, adapter=adapter, base_url=base_url, **settings)


INTERRUPTED = 130  # the shell's code for a run stopped by Ctrl-C (128 + SIGINT)


@contextmanager
def resume_on_interrupt(saved: Callable[[], str]) -> Iterator[None]:
    """On Ctrl-C inside the block: one line saying what was kept (``saved()``) and how to resume, exit code 130.

    Typer alone turns Ctrl-C into a silent exit 130, so without this a user can't tell whether anything was kept.
    """
    try:
        yield
    except KeyboardInterrupt:
        typer.secho(f"interrupted: {saved()}; run the same command again to resume", err=True)
        raise typer.Exit(INTERRUPTED) from None


def bars_wanted() -> bool:
    """Progress bars are drawn only when stderr is a terminal (every command's bar): one drawn into a log file or a
    pipe is noise, and rich ends it with a blank line before any error that follows."""
    from rich.console import Console

    return Console(stderr=True).is_terminal


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A transient bar on stderr; yields ``update(done, total)`` (``total`` None: not known yet). Off where
    :func:`bars_wanted` says so."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, console=Console(stderr=True), disable=not bars_wanted()) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
