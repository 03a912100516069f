"""`emoreason caption INPUTS... --out captions.jsonl`: resumable batch captioning of videos; `emoreason caption --live
SOURCE`: a camera or stream, captioned as it happens (:mod:`emoreason.pipelines.live`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from emoreason.cli import common

Opt = typer.Option


def caption(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Video files, directories, globs, or a manifest (.txt/.csv/.jsonl)."),
    ] = None,
    out: Annotated[
        Path | None,
        Opt(
            "--out",
            "-o",
            help="Output JSONL (appended; ids already in it are skipped) [default: captions.jsonl]. With --live: a "
            "folder for live.jsonl (every reading and segment as it happens), live.srt, live.vtt and caption.jsonl.",
        ),
    ] = None,
    live: Annotated[
        str | None,
        Opt(
            "--live",
            help="Caption a live source as it happens: a camera (/dev/video0), a stream (rtsp://, http://, udp://) "
            "or - (a container stream on stdin, e.g. ffmpeg ... -f mpegts -). Ctrl-C stops and closes the last "
            "segment.",
        ),
    ] = None,
    json_lines: Annotated[
        bool, Opt("--json", help="With --live: print each event as one JSON object per line.")
    ] = False,
    speech_chunk: Annotated[
        float, Opt(help="With --live: seconds of audio transcribed at a time, on a worker.", min=1.0)
    ] = 5.0,
    reconnect: Annotated[
        int, Opt(help="With --live: retries for a stream that stalls or drops (backoff 1, 2, 4 s...).", min=0)
    ] = 0,
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
    fps: Annotated[
        float | None, Opt(help="Frames sampled per second [default: 4; --live: 5, the newest frame].", min=0.1)
    ] = None,
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

    if live is not None:
        if inputs:
            raise EmoreasonError("--live captions one live source; pass no input files with it")
        _live(live, out, json_lines, speech_chunk, reconnect, backend=backend, model=model, adapter=adapter,
              base_url=base_url, label_set=label_set, fps=fps or 5.0, window=window, whisper=whisper,
              language=language, no_speech=no_speech, face_model=face_model, expression_model=expression_model,
              max_faces=max_faces)  # fmt: skip
        return
    if not inputs:
        raise EmoreasonError("no input videos; pass files, directories, globs or a manifest (or --live SOURCE)")
    out = out or Path("captions.jsonl")
    fps = fps or 4.0
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


def _live(
    source: str, out: Path | None, json_lines: bool, speech_chunk: float, reconnect: int, **opts: Any
) -> None:
    """`caption --live`: build the options and the reasoner, print each event as it happens, stop on Ctrl-C."""
    import json
    import signal

    from emoreason.pipelines.live import caption_live
    from emoreason.pipelines.video_options import VideoOptions

    common.check_choice("--backend", opts["backend"], common.BACKEND_NAMES)
    common.check_choice("--label-set", opts["label_set"], common.LABEL_SETS)
    options = VideoOptions(
        fps=opts["fps"],
        sampling="fixed",
        window=opts["window"],
        whisper=common.check_whisper(opts["whisper"]),
        language=opts["language"],
        no_speech=opts["no_speech"],
        num_faces=opts["max_faces"],
        face_model=str(opts["face_model"]) if opts["face_model"] else None,
        expression_model=common.check_expression_model(opts["expression_model"]),
        label_set=opts["label_set"],
        audio_chunk=speech_chunk,
    )
    reasoner = common.reasoner_from_options(
        opts["backend"], opts["model"], opts["adapter"], opts["base_url"], label_set=opts["label_set"]
    )

    def emit(event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False) if json_lines else event_line(event)
        if line:
            typer.echo(line)

    def started(live: Any) -> None:
        def first_interrupt(_signum: int, _frame: Any) -> None:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once
            typer.echo("stopping: closing the last segment (Ctrl-C again to quit now)", err=True)
            live.stop()

        signal.signal(signal.SIGINT, first_interrupt)

    def say(text: str) -> None:
        typer.secho(text, fg=typer.colors.YELLOW, err=True)

    result = caption_live(source, reasoner, options, emit, out=out, speech_chunk=speech_chunk, reconnect=reconnect,
                          say=say, started=started)  # fmt: skip
    for note in result.notes:
        say(f"note: {note}")
    if out is not None:
        typer.echo(f"live caption ({len(result.segments)} segments, {result.duration or 0:.1f} s) -> {out}", err=True)


def event_line(event: dict[str, Any]) -> str:
    """One live event as a line for people (``--json`` prints the event itself)."""
    kind = event["type"]
    if kind == "reading":
        aus = ", ".join(f"{k} {v:.1f}" for k, v in event["aus"].items()) or "no AUs active"
        p = event["probabilities"].get(event["label"])
        return (f"{event['time']:7.2f} s  face {event['track']}  {event['label']:<12}"
                f"{f' {p:.2f}' if p is not None else ''}  {aus}  ({event['latency'] * 1000:.0f} ms)")  # fmt: skip
    if kind == "segment":
        who = f"face {event['track']}" if event["track"] is not None else "no face"
        words = f'  "{event["transcript"]}"' if event["transcript"] else ""
        return f"== {event['start']:.1f}-{event['end']:.1f} s  {who}: {event['label']}{words}"
    if kind == "speech":
        return f"   words at {event['start']:.1f}-{event['end']:.1f} s: \"{event['transcript']}\""
    if kind == "end":
        lat = f", latency p50 {event['latency_p50']} s, p95 {event['latency_p95']} s" if event["frames"] else ""
        return f"== end: {event['frames']} frames read, {event['readings']} readings, {event['dropped']} dropped{lat}"
    return ""


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
