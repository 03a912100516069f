"""`emoreason caption INPUTS... --out captions.jsonl`: resumable batch captioning of videos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from emoreason.cli import common

Opt = typer.Option


def caption(
    inputs: Annotated[
        list[str], typer.Argument(help="Video files, directories, globs, or a manifest (.txt/.csv/.jsonl).")
    ],
    out: Annotated[Path, Opt("--out", "-o", help="Output JSONL (appended; ids already in it are skipped).")] = Path(
        "captions.jsonl"
    ),
    backend: common.Backend = "rules",
    model: common.Model = None,
    adapter: common.Adapter = None,
    base_url: common.BaseUrl = None,
    temperature: common.Temperature = None,
    top_p: common.TopP = None,
    max_new_tokens: common.MaxNewTokens = None,
    label_set: common.LabelSetOpt = "compound",
    srt: Annotated[
        Path | None, Opt("--srt", help="Write emotion subtitles (.srt) per video into this folder.")
    ] = None,
    vtt: Annotated[
        Path | None, Opt("--vtt", help="Write emotion subtitles (.vtt) per video into this folder.")
    ] = None,
    workers: Annotated[int, Opt(help="Perception processes (local) or Ray actors (ray).", min=1)] = 1,
    engine: Annotated[str, Opt(help="local, or ray (Ray Data; pip install 'ray[data]').")] = "local",
    fps: Annotated[float, Opt(help="Frames sampled per second.", min=0.1)] = 4.0,
    sampling: Annotated[
        str,
        Opt(
            help="fixed: the landmarker reads every sampled frame; adaptive: every 3rd, and the frames between "
            "where the reading changes (about a third of the landmarker runs on steady faces)."
        ),
    ] = "adaptive",
    window: Annotated[
        float | None, Opt(help="Fixed segments of this many seconds (default: speech-aligned utterances).", min=0.5)
    ] = None,
    whisper: common.Whisper = None,
    language: common.Language = None,
    transcript: Annotated[Path | None, Opt(help="A .srt/.vtt transcript to use (one video).")] = None,
    no_speech: Annotated[
        bool, Opt("--no-speech", help="Skip whisper and prosody (a --transcript or sidecar file is still used).")
    ] = False,
    face_model: Annotated[Path | None, Opt(help="face_landmarker.task file.")] = None,
    expression_model: common.ExpressionModel = None,
    max_faces: common.MaxFaces = common.MAX_FACES,
    progress: Annotated[bool, Opt("--progress/--no-progress", help="Show a progress bar (on a terminal).")] = True,
    explain_modalities: Annotated[
        bool,
        Opt("--explain-modalities", help="Answer each segment again without each modality; <out>.modalities.jsonl."),
    ] = False,
) -> None:
    """Caption videos: face tracks, AUs over time, speech and prosody -> an emotion timeline and caption per video."""
    from emoreason.errors import EmoreasonError, about
    from emoreason.pipelines.caption import caption_inputs
    from emoreason.pipelines.caption_engines import ENGINES
    from emoreason.pipelines.video_faces import SAMPLINGS
    from emoreason.pipelines.video_options import VideoOptions

    common.check_choice("--engine", engine, ENGINES)
    common.check_choice("--sampling", sampling, SAMPLINGS)
    common.check_choice("--backend", backend, common.BACKEND_NAMES)
    common.check_choice("--label-set", label_set, common.LABEL_SETS)
    if explain_modalities and engine != "local":
        raise EmoreasonError("--explain-modalities runs with --engine local (the attribution is gathered here)")
    if transcript is not None and len(inputs) != 1:
        raise EmoreasonError("--transcript gives one video's transcript; pass exactly one input with it")
    options = VideoOptions(
        fps=fps,
        sampling=sampling,
        window=window,
        whisper=common.check_whisper(whisper),
        language=language,
        no_speech=no_speech,
        num_faces=max_faces,
        transcript=str(transcript) if transcript else None,
        face_model=str(face_model) if face_model else None,
        expression_model=common.check_expression_model(expression_model),
        label_set=label_set,
    )
    sampling = (
        {} if backend == "rules" else {"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens}
    )
    settings: dict[str, Any] = {
        "backend": backend,
        "model": model,
        "adapter": adapter,
        "base_url": base_url,
        **common.reasoner_settings(label_set=label_set, **sampling),
    }
    settings = {k: v for k, v in settings.items() if v is not None}
    # local: build (and validate) the reasoner once here; ray: each actor builds its own from the settings
    reasoner = None
    if engine == "local":
        reasoner = common.reasoner_from_options(backend, model, adapter, base_url, label_set=label_set, **sampling)
    probe = None
    if explain_modalities:
        from emoreason.eval.attribution import ModalityProbe

        reasoner = probe = ModalityProbe(reasoner)
    with common.resume_on_interrupt(lambda: f"finished videos are saved in {out}"):
        summary = caption_inputs(
            inputs,
            out,
            settings,
            options,
            srt_dir=srt,
            vtt_dir=vtt,
            workers=workers,
            engine=engine,
            progress=progress and common.bars_wanted(),
            reasoner=reasoner,
        )
    typer.echo(summary.text())
    if probe:
        _write_attribution(probe, out)
    for path, error in summary.errors[:20]:
        typer.secho(f"  error: {about(path, error)}", fg=typer.colors.RED, err=True)
    if len(summary.errors) > 20:
        typer.secho(f'  ... and {len(summary.errors) - 20} more errors (status "error" in {out})', err=True)
    if summary.failed:
        raise typer.Exit(1)


def _write_attribution(probe: Any, out: Path) -> None:
    """Per segment attribution into <out>.modalities.jsonl (appended), and the aggregate table."""
    from emoreason.eval.attribution import append_jsonl, attribution_table, describe

    path = out.with_name(out.stem + ".modalities.jsonl")
    if not probe.records:  # every video was already in --out (or none had a face segment): nothing new to attribute
        typer.echo(f"modality attribution: no new segments (earlier ones are in {path})")
        return
    records = [{**r, "video": r["id"].split("#")[0], "summary": describe(r, probe.modalities)} for r in probe.records]
    written = append_jsonl(path, records)
    typer.echo(attribution_table(probe.summary()).rstrip())
    typer.echo(f"wrote per-segment modality attribution of {written} segments to {path}")
