"""`emoreason analyze PATH...`: faces, Action Units, reasoning and a label for each face in each photo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from emoreason.cli import common

Opt = typer.Option


def analyze(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Image files (jpg, png, tiff, webp, ...) or folders of them.", show_default=False),
    ],
    as_json: Annotated[bool, Opt("--json", help="One JSON object per input path per line.")] = False,
    backend: common.Backend = "rules",
    model: common.Model = None,
    adapter: common.Adapter = None,
    base_url: common.BaseUrl = None,
    temperature: common.Temperature = None,
    top_p: common.TopP = None,
    max_new_tokens: common.MaxNewTokens = None,
    label_set: common.LabelSetOpt = "compound",
    au_source: Annotated[str, Opt(help="Where AUs come from: blendshapes (built in) or openface.")] = "blendshapes",
    openface_csv: Annotated[
        Path | None, Opt(help="OpenFace 2.0 CSV, or a folder of <image stem>.csv files (--au-source openface).")
    ] = None,
    crops: Annotated[Path | None, Opt("--crops", help="Save aligned face crops (PNG) into this folder.")] = None,
    face_model: Annotated[Path | None, Opt(help="MediaPipe face_landmarker.task file.")] = None,
    expression_model: common.ExpressionModel = None,
    max_faces: common.MaxFaces = common.MAX_FACES,
    explain_modalities: Annotated[
        bool, Opt("--explain-modalities", help="Answer again without each modality present and say which decided it.")
    ] = False,
) -> None:
    """Analyze face photos: each face's Action Units, head pose, reasoning and emotion label."""
    from emoreason.errors import EmoreasonError
    from emoreason.perception.images import IMAGE_SUFFIXES
    from emoreason.perception.model_file import resolve_face_landmarker
    from emoreason.pipelines.image import AU_SOURCES, ImageOptions, analyze_paths, result_record
    from emoreason.pipelines.inputs import files_in

    if au_source not in AU_SOURCES:
        _usage(f"--au-source must be one of: {', '.join(AU_SOURCES)}")
    if au_source == "openface" and openface_csv is None:
        _usage("--au-source openface needs --openface-csv FILE (or a folder of <image stem>.csv files)")
    if openface_csv is not None and not openface_csv.exists():
        _usage(f"--openface-csv {openface_csv}: no such file or folder")
    images: list[Path] = []
    for path in paths:  # a folder is read like caption reads one: its images, recursively, in name order
        images += (files_in(path, IMAGE_SUFFIXES) if path.is_dir() else []) or [path]  # none: an error record
    try:
        face_model_path = resolve_face_landmarker(face_model)
        reasoner = common.reasoner_from_options(
            backend, model, adapter, base_url, temperature, top_p, max_new_tokens, label_set
        )
    except typer.BadParameter as err:  # a bad --backend or --label-set: one line, like every usage error here
        _usage(err.format_message())
    except EmoreasonError as err:
        _usage(str(err))
    options = ImageOptions(
        au_source=au_source,  # type: ignore[arg-type]
        openface_csv=openface_csv,
        crops_dir=crops,
        face_model=face_model_path,
        expression_model=common.check_expression_model(expression_model),
        num_faces=max_faces,
        label_set=label_set,
    )
    probe = None
    if explain_modalities:
        from emoreason.eval.attribution import ModalityProbe, attribution_table, describe, face_records

        reasoner = probe = ModalityProbe(reasoner)
    failed = 0
    for result in analyze_paths(images, reasoner, options):
        failed += result.status == "error"
        attributions = probe.take(len(result.faces)) if probe else []
        if as_json:
            record = result_record(result)
            extras = face_records(attributions, probe.modalities) if probe else []
            for face, extra in zip(record["faces"], extras, strict=False):
                face["modality_attribution"] = extra
            typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            render(result)
            for i, attribution in enumerate(attributions, start=1):
                typer.echo(f"  face {i} modalities: {describe(attribution, probe.modalities)}")  # type: ignore[union-attr]
    if probe and not as_json:
        typer.echo(attribution_table(probe.summary()).rstrip())
    if failed:
        raise typer.Exit(1)


def _usage(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def render(result: Any) -> None:
    """A readable summary of one image: per face the label, top AUs, head pose and the reasoning."""
    from rich.console import Console
    from rich.markup import escape

    from emoreason import facs
    from emoreason.errors import about
    from emoreason.reasoning.parser import parse_output

    console = Console(highlight=False, soft_wrap=True)
    name = escape(result.path)
    if result.status == "error":
        errors = Console(stderr=True, highlight=False, soft_wrap=True)
        errors.print(f"[red]error:[/] {escape(about(result.path, result.error or 'failed'))}")
        return
    if result.status == "no_face":
        console.print(f"[bold]{name}[/]: no face found")
        return
    count = len(result.faces)
    console.print(f"[bold]{name}[/]: {count} face{'s' if count != 1 else ''}")
    for i, face in enumerate(result.faces, start=1):
        x, y, w, h = (round(v) for v in face.box)
        ranked = sorted(face.scores.items(), key=lambda kv: -kv[1])[:3]
        runner = ", ".join(f"{label} {score:.2f}" for label, score in ranked)
        console.print(f"  [bold]face {i}[/] at x={x} y={y} {w}x{h}px -> [bold green]{face.label or 'no label'}[/]")
        if runner:
            console.print(f"    probabilities: {runner}")
        if face.expression:
            model_top = sorted(face.expression.items(), key=lambda kv: -kv[1])[:3]
            console.print(f"    face model: {', '.join(f'{label} {p:.2f}' for label, p in model_top)}")
        top = facs.active_aus(face.aus)[:6]
        doubtful = facs.uncertain_numbers(face.uncertain_aus)
        au_line = "; ".join(
            facs.au_phrase(key, value, facs.parse_au_key(key)[0] in doubtful) for key, value in top
        ) or "none above the presence threshold"
        console.print(f"    AUs: {escape(au_line)}")
        if face.quality:
            said = f" ({escape(face.quality_text)})" if face.quality_text else ""
            console.print(f"    [yellow]quality: {', '.join(face.quality)}{said}[/]")
        if face.head_pose is not None:
            pose = face.head_pose
            console.print(f"    head pose: yaw {pose.yaw:+.0f}°, pitch {pose.pitch:+.0f}°, roll {pose.roll:+.0f}°")
        sections = face.sections or parse_output(face.raw).sections  # a result read back from JSON has none
        for key, title in (("overall_interpretation", "reasoning"), ("conclusion", "conclusion")):
            if sections.get(key):
                console.print(f"    {title}: {escape(sections[key])}")
        if not sections and face.raw:
            console.print(f"    raw: {escape(face.raw.strip())}")
