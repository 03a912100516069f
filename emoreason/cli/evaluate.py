"""`emoreason eval`: score model outputs against references, or run a backend over a dataset split and score it."""

from __future__ import annotations

from pathlib import Path

import typer


def evaluate(
    out: Path = typer.Option(..., "--out", help="Output folder: metrics.json, per_sample.jsonl, report.md, PNG."),
    predictions: Path | None = typer.Option(
        None, "--predictions", help='JSONL of {"id", "output"} rows (raw model text) to score.'
    ),
    references: Path | None = typer.Option(
        None, "--references", help="With --predictions: a build-data dataset folder or a JSONL of dataset rows."
    ),
    dataset: Path | None = typer.Option(
        None, "--dataset", help="A build-data dataset folder: run --backend over --split, then score."
    ),
    split: str | None = typer.Option(None, "--split", help="Dataset split (default: test with --dataset)."),
    backend: str = typer.Option("rules", "--backend", help="With --dataset: rules, hf, openai or vllm."),
    model: str | None = typer.Option(None, "--model", help="hf/vllm: local path or hub id; openai: served name."),
    adapter: str | None = typer.Option(None, "--adapter", help="hf backend: a peft adapter folder."),
    base_url: str | None = typer.Option(None, "--base-url", help="openai backend: server URL, e.g. http://host/v1."),
    batch_size: int = typer.Option(8, "--batch-size", help="Samples per reasoner batch."),
    label_set: str = typer.Option(
        "auto", "--label-set", help="auto (from the references), basic, compound or open: labels offered."
    ),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the 95% CIs (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    events: str = typer.Option("lexicon", "--events", help="TEM event extraction: lexicon, or llm (uses --backend)."),
    limit: int | None = typer.Option(None, "--limit", help="Score only the first N references."),
    ablate: str | None = typer.Option(
        None, "--ablate", help="With --dataset: rerun the backend without each modality (face,speech,prosody or all)."
    ),
) -> None:
    """Score outputs with deterministic metrics (accuracy, UAR, F1, AU-F1, format, consistency, ROUGE-L, TEM, OV).

    Either --predictions P.jsonl --references REF, or --dataset DIR [--split test] --backend ... to run a model first
    (resumable: OUT/predictions.jsonl). --ablate face,speech,prosody adds modality attribution (one more backend run
    per modality, OUT/ablate/). Exit code 1 when some items failed in the backend.
    """
    if (predictions is None) == (dataset is None):
        raise typer.BadParameter("give either --predictions (with --references) or --dataset", param_hint="--dataset")
    if ablate is not None and dataset is None:
        raise typer.BadParameter("--ablate reruns the backend: use it with --dataset", param_hint="--ablate")
    if predictions is not None and references is None:
        raise typer.BadParameter("--predictions needs a dataset folder or JSONL file", param_hint="--references")
    from emoreason.reasoning.base import BACKENDS

    if backend not in BACKENDS:
        valid = ", ".join(BACKENDS)
        raise typer.BadParameter(f"unknown backend {backend!r}; choose one of: {valid}", param_hint="--backend")
    from emoreason.eval.runner import EvalConfig
    from emoreason.eval.runner import evaluate as run_eval

    config = EvalConfig(
        out=out, predictions=predictions, references=references, dataset=dataset, split=split, backend=backend,
        model=model, adapter=adapter, base_url=base_url, batch_size=batch_size, label_set=label_set,
        n_bootstrap=bootstrap, seed=seed, events=events, limit=limit, ablate=ablate,
    )  # fmt: skip
    from emoreason.cli.common import progress_bar, resume_on_interrupt

    seen = {"done": 0}

    def progress(done: int, total: int | None) -> None:
        seen["done"] = done
        update(done, total)

    def saved() -> str:
        if dataset is None:  # scoring a predictions file: nothing to resume, the files are written at the end
            return f"nothing was written to {out} yet"
        done = f"{seen['done']} predictions" if seen["done"] else "the predictions finished so far"
        return f"{done} are kept in {out / 'predictions.jsonl'} (metrics not written yet)"

    with resume_on_interrupt(saved), progress_bar("predicting") as update:
        metrics = run_eval(config, progress=progress)
    cov = metrics["coverage"]
    headline = ", ".join(
        f"{k} {metrics[k]:.3f}" for k in ("accuracy", "uar", "macro_f1", "au_f1", "format_rate", "consistency",
                                          "rouge_l", "tem_f1") if metrics.get(k) is not None
    )  # fmt: skip
    if metrics.get("ov_f"):
        headline += ", ov_f " + "/".join(f"{metrics['ov_f'][lv]:.3f}" for lv in ("base", "synonym", "wheel"))
        headline += " (base/synonym/wheel)"
    typer.echo(f"{metrics['n_samples']} samples: {headline}")
    if metrics.get("modality_attribution"):
        from emoreason.eval.attribution import attribution_table

        typer.echo("modality attribution (answers with one modality removed):")
        typer.echo(attribution_table(metrics["modality_attribution"]).rstrip())
    typer.echo(
        f"coverage: {cov['matched']}/{cov['references']} references have a prediction; "
        f"{cov['unmatched_predictions']} predictions have no reference"
    )
    plots = (("confusion_matrix.png", "confusion_matrix"), ("modality_attribution.png", "modality_attribution"))
    pngs = [name for name, key in plots if metrics.get(key)]
    typer.echo(f"wrote {out}/metrics.json, per_sample.jsonl, report.md" + "".join(f", {p}" for p in pngs))
    if metrics.get("failed_items"):
        typer.secho(f"{metrics['failed_items']} items failed in the backend (see per_sample.jsonl)", err=True)
        raise typer.Exit(1)
