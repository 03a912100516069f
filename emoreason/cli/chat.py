"""`emoreason chat`: a multi-turn terminal REPL about faces you attach (/image, /video); works when piped."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from emoreason.cli import common


def chat(
    backend: common.Backend = "rules",
    model: common.Model = None,
    adapter: common.Adapter = None,
    base_url: common.BaseUrl = None,
    temperature: common.Temperature = None,
    top_p: common.TopP = None,
    max_new_tokens: common.MaxNewTokens = None,
    label_set: common.LabelSetOpt = "compound",
    face_model: Annotated[Path | None, typer.Option(help="MediaPipe face_landmarker.task file.")] = None,
    max_faces: common.MaxFaces = common.MAX_FACES,
    whisper: common.Whisper = None,
    language: common.Language = None,
) -> None:
    """Chat about faces: /image PATH or /video PATH attaches media, then ask questions. /help lists commands."""
    from emoreason.chat.session import ChatSession, run_repl

    reasoner = common.reasoner_from_options(
        backend, model, adapter, base_url, temperature, top_p, max_new_tokens, label_set
    )
    interactive = sys.stdin.isatty()

    def piece(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    session = ChatSession(
        reasoner,
        label_set=label_set,
        face_model=str(face_model) if face_model else None,
        whisper=common.check_whisper(whisper),
        language=language,
        max_faces=max_faces,
        write=typer.echo,
        write_piece=piece,
    )
    if interactive:
        typer.echo(f"emoreason chat ({backend}). /image PATH attaches a photo; /help lists commands; /quit leaves.")
    run_repl(session, sys.stdin, prompt=(lambda: piece("you> ")) if interactive else None)
