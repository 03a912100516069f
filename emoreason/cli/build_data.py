"""`emoreason build-data SOURCE --root DIR --out DIR`: an explanation dataset from a corpus in its official layout."""

from __future__ import annotations

from pathlib import Path

import typer

from emoreason.cli import common


def build_data(
    source: str = typer.Argument(
        ...,
        help="rafdb, rafdb-compound, fer2013, ferplus, affectnet, ckplus, disfa, bp4d, dfew, mafw, emer or manifest",
    ),
    root: Path = typer.Option(..., "--root", help="The corpus's top folder (manifest: the CSV/JSONL file)."),
    out: Path = typer.Option(..., "--out", help="Output folder: DatasetDict + README.md card (resumes if present)."),
    cot: str = typer.Option("rules", "--cot", help="rules (the FACS Exp-CoT engine) or teacher (a model)."),
    backend: str | None = typer.Option(None, "--backend", help="Teacher backend: hf or openai."),
    model: str | None = typer.Option(None, "--model", help="Teacher model: local path, hub id or served name."),
    base_url: str | None = typer.Option(None, "--base-url", help="openai backend: server URL, e.g. http://host/v1."),
    adapter: str | None = typer.Option(None, "--adapter", help="hf backend: a peft adapter folder."),
    limit: int | None = typer.Option(None, "--limit", help="Build at most N items (in the corpus's order)."),
    workers: int = typer.Option(1, "--workers", help="Threads for loading media and AUs."),
    openface: Path | None = typer.Option(None, "--openface", help="Folder of OpenFace CSVs named after images."),
    au_source: str = typer.Option("auto", "--au-source", help="auto, dataset, openface, blendshapes or none."),
    retries: int = typer.Option(2, "--retries", help="Teacher: extra attempts with feedback per rejected row."),
    au_f1_threshold: float = typer.Option(0.5, "--au-f1-threshold", help="Teacher/rules: minimum AU-F1 to keep."),
    frames_per_clip: int = typer.Option(4, "--frames-per-clip", help="Video corpora: frames per clip."),
    frame_stride: int = typer.Option(50, "--frame-stride", help="DISFA/BP4D: use every N-th coded frame."),
    fold: int = typer.Option(1, "--fold", help="DFEW/MAFW: which official fold (1..5) gives train/test."),
    batch_size: int = typer.Option(8, "--batch-size", help="Rows per batch (teacher generation batch)."),
    min_support: float | None = typer.Option(
        None,
        "--min-support",
        help="Leave out rows whose AUs support their label less than this (0..1; default: "
        "keep every row and mark it in meta.evidence).",
    ),  # fmt: skip
    keep_ambiguous: bool = typer.Option(
        False,
        "--keep-ambiguous",
        help="Keep rows whose photo has two equally plausible faces (marked ambiguous_face).",
    ),
    expression_model: str | None = typer.Option(
        None, "--expression-model", help="Face expression model (.safetensors); default: the shipped one; 'none': "
        "the AU rules alone.",
    ),
) -> None:
    """Build an explanation dataset (rows with AUs, label and a CoT target) from a corpus; resumes if interrupted.

    Photos with no face are skipped and counted. Missing, empty or corrupt media and labels outside the map are
    counted, reported and skipped; the build saves the rest, then exits with code 1. `emoreason data inspect OUT`
    prints the dataset's report.
    """
    from emoreason.data_builders.build import BuildConfig, build

    config = BuildConfig(
        source=source, root=root, out=out, cot=cot, backend=backend, model=model, base_url=base_url,
        adapter=adapter, limit=limit, workers=workers, openface=openface, au_source=au_source, retries=retries,
        au_f1_threshold=au_f1_threshold, frames_per_clip=frames_per_clip, frame_stride=frame_stride, fold=fold,
        batch_size=batch_size, min_support=min_support, keep_ambiguous=keep_ambiguous,
        expression_model=common.check_expression_model(expression_model),
    )  # fmt: skip
    from emoreason.cli.common import progress_bar, resume_on_interrupt

    seen = {"done": 0, "total": None}

    def progress(done: int, total: int | None) -> None:
        seen.update(done=done, total=total)
        update(done, total)

    def saved() -> str:
        of = f" of {seen['total']}" if seen["total"] is not None else ""
        done = f"{seen['done']}{of} items" if seen["done"] else "the items finished so far"
        return f"{done} are kept in {out / '.work'} (the dataset is saved when the build finishes)"

    with resume_on_interrupt(saved), progress_bar(f"building {source}") as update:
        summary = build(config, progress=progress)
    for line in summary.lines():
        typer.echo(line)
    if not summary.rows or summary.failed:
        raise typer.Exit(1)
