"""`emoreason train sft|grpo|dpo`, `emoreason synth`, `emoreason export`.

Training flags pass straight through to TRL's parser: ``--config recipes/<model>/<stage>.yaml`` plus any
``--flag value`` with TRL's names (``--output_dir``, ``--max_steps``, ``--learning_rate``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from emoreason.cli import common

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
app = typer.Typer(help="Train LoRA adapters (sft, then grpo or dpo) and the face expression model (face-model).",
                  no_args_is_help=True, **common.TYPER_SETTINGS)


def _run_stage(stage: str, args: list[str]) -> None:
    """Parse the passthrough flags for one stage and run it; a bad flag is a usage error (exit 2)."""
    from emoreason.train.config import ConfigError, flags_help

    if "--flags" in args:
        typer.echo(flags_help(stage))
        return
    if stage == "sft":
        from emoreason.train.sft import main
    elif stage == "dpo":
        from emoreason.train.dpo import main
    else:
        from emoreason.train.grpo import main
    try:
        out = main(args)
    except ConfigError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if os.environ.get("RANK", "0") == "0":  # under DDP every rank returns; one line is enough
        typer.echo(f"adapter saved to {out}")


@app.command("sft", context_settings=PASSTHROUGH)
def sft(ctx: typer.Context) -> None:
    """LoRA SFT on a `build-data` dataset: --config RECIPE.yaml --dataset_path DIR [--output_dir DIR] [--flag v ...].

    Flags use TRL's names; `--flags` lists them all.
    """
    _run_stage("sft", ctx.args)


@app.command("grpo", context_settings=PASSTHROUGH)
def grpo(ctx: typer.Context) -> None:
    """GRPO from an SFT adapter: --config RECIPE.yaml --dataset_path DIR --adapter_path SFT_DIR [--flag v ...].

    Flags use TRL's names; `--flags` lists them all.
    """
    _run_stage("grpo", ctx.args)


@app.command("dpo", context_settings=PASSTHROUGH)
def dpo(ctx: typer.Context) -> None:
    """DPO on reviewed preference pairs: --config RECIPE.yaml --dataset_path REVIEW_OUT/pairs [--adapter_path SFT_DIR].

    The pairs come from `emoreason review export`. Flags use TRL's names; `--flags` lists them all.
    """
    _run_stage("dpo", ctx.args)


@app.command("face-model")
def face_model(
    data: Path = typer.Option(..., "--data", help="Corpus: FER2013's fer2013.csv (or its folder), or class folders "
                              "<split>/<label>/*.jpg (Training/PublicTest/PrivateTest, train/val/test) or <label>/."),
    out: Path = typer.Option(Path("face-model"), "--out", help="Folder for expression.safetensors and its card."),
    source: str = typer.Option("auto", "--source", help="auto (CSV or class folders), or a build-data source name "
                               "(rafdb, affectnet, manifest, ...)."),
    epochs: int = typer.Option(60, "--epochs", min=1),
    batch_size: int = typer.Option(128, "--batch-size", min=2),
    lr: float = typer.Option(2e-3, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when there is one), cpu, cuda."),
    eval_every: int = typer.Option(5, "--eval-every", min=1, help="Evaluate on the selection split every N epochs."),
    max_per_split: int | None = typer.Option(None, "--max-per-split", help="Use N items per split (quick runs)."),
    fit_fusion: bool = typer.Option(True, "--fit-fusion/--no-fit-fusion", help="Fit the AU fusion on the "
                                    "selection split's images through the pipeline, and report the report split."),
) -> None:
    """Train the face expression CNN (the readings' second channel) on CPU or GPU: fit on train, choose on the
    selection split (FER2013 PublicTest), report the report split (PrivateTest) once. See docs/face_model.md."""
    from emoreason.train.face_model import FaceModelConfig, train_face_model

    config = FaceModelConfig(
        data=str(data), out=str(out), source=source, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
        device=device, eval_every=eval_every, max_per_split=max_per_split, fit_fusion=fit_fusion,
    )
    weights = train_face_model(config, progress=lambda line: typer.echo(line, err=True))
    typer.echo(f"expression model saved to {weights} (card: {weights.with_name('expression.card.json')})")
    typer.echo(f"use it with: emoreason analyze PHOTO --expression-model {weights}")


def synth(ctx: typer.Context) -> None:
    """Synthesis loop: generate K candidates per sample, keep those passing reward thresholds, write a new SFT
    dataset per round. Flags: --model_name_or_path --adapter_path --dataset_path --output_dir --num_candidates
    --num_rounds --reward_funcs ... --reward_thresholds ... [--retrain_config SFT_RECIPE.yaml] (or --config FILE)."""
    from emoreason.train.config import ConfigError
    from emoreason.train.synth import main

    try:
        stats = main(ctx.args)
    except ConfigError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    for round_stats in stats:
        typer.echo(
            f"round {round_stats['round']}: kept {round_stats['kept']}/{round_stats['samples']} samples "
            f"({round_stats['acceptance_rate']:.0%}) -> {round_stats['dataset']}"
        )


def export(
    adapter: Path = typer.Argument(..., help="A LoRA adapter folder (from `emoreason train sft|grpo`)."),
    out: Path = typer.Option(..., "--out", help="Folder for the exported model and its model card."),
    merge: bool = typer.Option(True, "--merge/--no-merge", help="Merge the LoRA into the base weights."),
    base: str | None = typer.Option(None, "--base", help="Base model; default: the one the adapter names."),
    eval_dir: Path | None = typer.Option(None, "--eval", help="An `emoreason eval` output folder (metrics.json)."),
    dtype: str | None = typer.Option(
        None, "--dtype", help="dtype of the merged weights: bfloat16, float16 or float32; default: the base's own."
    ),
) -> None:
    """Export an adapter (merged into its base with --merge) with its processor and a model card README.md."""
    from emoreason.train.export import export_model

    path = export_model(adapter, out, merge=merge, base=base, eval_dir=eval_dir, dtype=dtype)
    typer.echo(f"exported to {path} (model card: {path / 'README.md'})")
