"""The data-synthesis loop (rejection sampling): sample K candidates per row with the current model, keep those that
pass the reward thresholds, write them as a new SFT dataset (row format), and repeat, optionally retraining.

Layout of ``output_dir``::

    round_0/candidates.jsonl   every scored candidate, appended as it is made (a rerun skips finished rows)
    round_0/data/              DatasetDict({"train": kept rows}) in the build-data row format, for `train sft`
    round_0/stats.json         samples, candidates, kept, acceptance rate, mean reward per reward and per label
    round_0/adapter/           the retrained adapter, when --retrain_config is given
    stats.json                 every round's statistics
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import JsonlLog, atomic_dir, atomic_write_json, check_settings
from emoreason.labels import LABEL_SETS

logger = logging.getLogger(__name__)


@dataclass
class SynthConfig:
    """Settings of ``emoreason synth`` (flags or a YAML through --config, like the training stages)."""

    model_name_or_path: str | None = field(default=None, metadata={"help": "Base VLM (local folder or hub id)."})
    adapter_path: str | None = field(default=None, metadata={"help": "LoRA adapter of the current model."})
    dataset_path: str | None = field(default=None, metadata={"help": "A build-data DatasetDict (load_from_disk)."})
    dataset_split: str = field(default="train", metadata={"help": "Split to synthesise from."})
    output_dir: str = field(default="synth", metadata={"help": "Where rounds are written."})
    num_candidates: int = field(default=4, metadata={"help": "K: candidates sampled per row."})
    num_rounds: int = field(default=1, metadata={"help": "N: rounds."})
    keep_per_sample: int = field(default=1, metadata={"help": "Keep at most this many passing candidates per row."})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["format", "accuracy", "consistency"], metadata={"help": "Rewards to score with."}
    )
    reward_thresholds: list[float] = field(
        default_factory=lambda: [1.0, 1.0, 0.5],
        metadata={"help": "A candidate is kept when every reward is >= its threshold (one per reward)."},
    )
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling."})
    max_new_tokens: int = field(default=512, metadata={"help": "Tokens per candidate."})
    batch_size: int = field(default=8, metadata={"help": "Rows per generation batch (each row makes K candidates)."})
    max_samples: int | None = field(default=None, metadata={"help": "Use only the first N rows."})
    label_set: str = field(default="compound", metadata={"choices": list(LABEL_SETS)})
    retrain_config: str | None = field(
        default=None, metadata={"help": "An SFT recipe: retrain on each round's data before the next round."}
    )
    retrain_args: list[str] = field(
        default_factory=list, metadata={"help": "Extra SFT flags for retraining, e.g. --max_steps 50."}
    )

    def __post_init__(self) -> None:
        from emoreason.train.config import ConfigError
        from emoreason.train.rewards import REWARDS

        unknown = [n for n in self.reward_funcs if n not in REWARDS]
        if unknown:
            raise ConfigError(f"unknown reward(s) {', '.join(unknown)}; choose from: {', '.join(REWARDS)}")
        if len(self.reward_thresholds) != len(self.reward_funcs):
            raise ConfigError("give one --reward_thresholds value per --reward_funcs name")
        if self.num_candidates < 1 or self.num_rounds < 1:
            raise ConfigError("--num_candidates and --num_rounds must be at least 1")


def _passes(scores: dict[str, float | None], config: SynthConfig) -> bool:
    return all(
        scores[name] is not None and scores[name] >= threshold  # type: ignore[operator]
        for name, threshold in zip(config.reward_funcs, config.reward_thresholds, strict=True)
    )


Generate = Callable[[list[list[dict[str, Any]]], list[list[Any]]], list[str]]


def hf_generator(config: SynthConfig, adapter: str | None) -> Generate:
    """Sampling with the hf backend (the model + adapter of the current round)."""
    from emoreason.reasoning.hf import HFReasoner

    reasoner = HFReasoner(
        config.model_name_or_path,
        adapter=adapter,
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size * config.num_candidates,
        label_set=config.label_set,
    )
    return lambda messages, images: reasoner.generate_texts(messages, images, do_sample=True)


def _candidate_settings(config: SynthConfig, adapter: str | None) -> dict[str, Any]:
    """The settings that change a round's candidates or their scores (not the thresholds: they only refilter)."""
    keys = ("model_name_or_path", "dataset_split", "num_candidates", "temperature", "top_p", "max_new_tokens",
            "label_set", "reward_funcs")  # fmt: skip
    dataset = str(Path(config.dataset_path).resolve()) if config.dataset_path else None
    return {**{k: getattr(config, k) for k in keys}, "dataset_path": dataset, "adapter": adapter}


def _generate_round(
    config: SynthConfig, rows: Any, generate: Callable[[], Generate], work: Path, adapter: str | None = None
) -> None:
    """Sample and score candidates for every row not yet in ``work`` (an io.JsonlLog, one JSON line per row)."""
    from emoreason.data_builders.rows import row_evidence
    from emoreason.reasoning.prompts import build_messages
    from emoreason.train.rewards import build_rewards, score_all

    rewards = build_rewards(config.reward_funcs, label_set=config.label_set)
    sidecar = work.with_name(work.name + ".settings.json")
    restart = f"use another --output_dir, or delete {work} and {sidecar.name} to sample this round again"
    check_settings(sidecar, _candidate_settings(config, adapter), work, restart)
    log = JsonlLog(work)  # a line cut by an interrupted write is dropped (that row is redone)
    todo = [i for i, row_id in enumerate(rows["id"]) if row_id not in log]
    if not todo:
        return
    sample = generate()  # loads the model only when there is work left
    k = config.num_candidates
    with log:
        for start in range(0, len(todo), config.batch_size):
            batch = [rows[i] for i in todo[start : start + config.batch_size]]
            # the same Evidence (hence the same prompt) the SFT and GRPO views render for this row
            evidence = [row_evidence(row, config.label_set, load_images=True) for row in batch]
            messages = [build_messages(ev) for ev in evidence for _ in range(k)]
            images = [ev.images for ev in evidence for _ in range(k)]
            texts = sample(messages, images)
            columns = {name: [row.get(name) for row in batch for _ in range(k)] for name in ("label", "labels", "aus")}
            scores = score_all(rewards, texts, **columns)
            for j, row in enumerate(batch):
                candidates = [
                    {"text": texts[j * k + c], "scores": {n: scores[n][j * k + c] for n in scores}} for c in range(k)
                ]
                log.append({"id": str(row["id"]), "label": row.get("label"), "candidates": candidates})


def _round_stats(config: SynthConfig, work: Path, round_index: int) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Statistics of one round and the kept candidate texts per row id (best total reward first)."""
    kept: dict[str, list[str]] = {}
    n_candidates = 0
    sums: dict[str, list[float]] = {name: [] for name in config.reward_funcs}
    per_label: dict[str, list[int]] = {}
    records = {r["id"]: r for r in JsonlLog(work).records()}  # a repeated id counts once (its last record)
    for record in records.values():
        passing = []
        for cand in record["candidates"]:
            n_candidates += 1
            for name, value in cand["scores"].items():
                if value is not None:
                    sums[name].append(value)
            if _passes(cand["scores"], config):
                passing.append(cand)
        passing.sort(key=lambda c: -sum(v for v in c["scores"].values() if v is not None))
        if passing:
            kept[record["id"]] = [c["text"] for c in passing[: config.keep_per_sample]]
        stats = per_label.setdefault(str(record.get("label")), [0, 0])
        stats[0] += 1
        stats[1] += bool(passing)
    samples = sum(v[0] for v in per_label.values())
    stats = {
        "round": round_index,
        "samples": samples,
        "candidates": n_candidates,
        "kept": len(kept),
        "kept_texts": sum(len(v) for v in kept.values()),
        "acceptance_rate": len(kept) / samples if samples else 0.0,
        "mean_reward": {n: (sum(v) / len(v) if v else None) for n, v in sums.items()},
        "acceptance_per_label": {label: v[1] / v[0] for label, v in sorted(per_label.items())},
    }
    return stats, kept


def _write_dataset(rows: Any, kept: dict[str, list[str]], round_index: int, out: Path) -> Path:
    """Kept candidates as build-data rows (``cot`` = the candidate), saved atomically by the one row writer."""
    from datasets import DatasetDict

    from emoreason.data_builders.card import TAGS
    from emoreason.data_builders.work import card_header, quiet_progress, rows_dataset

    new_rows = []
    for row in rows:
        for n, text in enumerate(kept.get(str(row["id"]), [])):
            meta = dict(row.get("meta") or {})
            meta.update({"synth_round": round_index, "synth_candidate": n})
            new_rows.append({**row, "id": f"{row['id']}#r{round_index}c{n}", "cot": text, "meta": meta})
    if not new_rows:
        raise EmoreasonError(
            f"round {round_index}: no candidate passed the reward thresholds; lower --reward_thresholds, "
            "raise --num_candidates, or start from a better adapter"
        )
    with atomic_dir(out) as tmp, quiet_progress():
        DatasetDict({"train": rows_dataset(new_rows, getattr(rows, "features", None))}).save_to_disk(str(tmp))
        (tmp / "README.md").write_text(card_header(tmp, [*TAGS, "synth"]) + f"\n# Synthesis round {round_index}\n\n"
                                       "Rows whose CoT candidates passed the reward thresholds (emoreason synth).\n")
    return out


def _retrain(config: SynthConfig, data: Path, adapter: str | None, out: Path) -> str:
    from emoreason.train.config import parse_config
    from emoreason.train.sft import run_sft

    args = ["--config", str(config.retrain_config), "--model_name_or_path", str(config.model_name_or_path)]
    args += ["--dataset_path", str(data), "--output_dir", str(out), "--eval_strategy", "no", *config.retrain_args]
    if adapter:
        args += ["--adapter_path", adapter]
    return str(run_sft(parse_config("sft", args)))  # type: ignore[arg-type]


def run_synth(
    config: SynthConfig, generator: Callable[[SynthConfig, str | None], Generate] = hf_generator
) -> list[dict[str, Any]]:
    """Run every round (resuming finished work); returns the per-round statistics also written to stats.json.

    ``generator(config, adapter)`` makes the sampler for a round; the default is the hf backend.
    """
    from emoreason.train.data import load_rows

    if not config.model_name_or_path or not config.dataset_path:
        raise EmoreasonError("synth needs --model_name_or_path and --dataset_path")
    rows = load_rows(config.dataset_path, config.dataset_split)
    if config.max_samples:
        rows = rows.select(range(min(config.max_samples, len(rows))))
    out = Path(config.output_dir)
    adapter = config.adapter_path
    all_stats = []
    for r in range(config.num_rounds):
        round_dir = out / f"round_{r}"
        round_dir.mkdir(parents=True, exist_ok=True)
        work = round_dir / "candidates.jsonl"
        _generate_round(config, rows, lambda a=adapter: generator(config, a), work, adapter)
        stats, kept = _round_stats(config, work, r)
        stats["adapter"] = adapter
        if not kept:  # the statistics say why (mean rewards, acceptance per label): keep them
            atomic_write_json(round_dir / "stats.json", {**stats, "dataset": None}, default=str)
        stats["dataset"] = str(_write_dataset(rows, kept, r, round_dir / "data"))
        if config.retrain_config and r + 1 < config.num_rounds:
            retrained = round_dir / "adapter"
            finished = (retrained / "adapter_config.json").is_file() and (round_dir / "stats.json").is_file()
            adapter = str(retrained) if finished else _retrain(config, round_dir / "data", adapter, retrained)
            stats["retrained_adapter"] = adapter
        atomic_write_json(round_dir / "stats.json", stats, default=str)
        all_stats.append(stats)
        logger.info("round %d: kept %d/%d rows", r, stats["kept"], stats["samples"])
    atomic_write_json(out / "stats.json", {"rounds": all_stats}, default=str)
    return all_stats


def main(args: Sequence[str]) -> list[dict[str, Any]]:
    """``emoreason synth [--config FILE] --model_name_or_path M --dataset_path D [--flag value ...]``."""
    from emoreason.train.config import ConfigError, _Parser

    parser = _Parser(dataclass_types=[SynthConfig], prog="emoreason synth")
    try:
        (config,) = parser.parse_args_and_config(list(args))
    except EmoreasonError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"bad synth config: {err}") from err
    return run_synth(config)
