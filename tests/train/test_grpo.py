"""GRPO smoke test: starts from the SFT adapter, logs every reward's mean, changes the LoRA weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from train_helpers import FAST, WeightSnapshots

from emoreason.errors import EmoreasonError
from emoreason.train.config import parse_config


@pytest.fixture(scope="module")
def grpo_run(sft_run: dict[str, Any], tiny_vlm: Path, toy_data: Path, tmp_path_factory: pytest.TempPathFactory):
    from emoreason.train.grpo import run_grpo

    out = tmp_path_factory.mktemp("runs") / "grpo"
    args = ["--model_name_or_path", str(tiny_vlm), "--dataset_path", str(toy_data), "--output_dir", str(out)]
    args += ["--adapter_path", str(sft_run["out"]), "--max_steps", "2", "--per_device_train_batch_size", "4"]
    # The barely trained tiny model samples near-random text, which scores 0 on format/accuracy/consistency. Two
    # penalties still tell its completions apart, so GRPO's advantage is non-zero: word-level repetition (ngram 1:
    # the share of repeated words differs from sample to sample) and a length budget that 24 tokens straddle.
    args += ["--num_generations", "4", "--max_completion_length", "24", "--length_max_words", "8"]
    args += ["--repetition_ngram", "1"]
    args += ["--learning_rate", "5e-2", "--eval_strategy", "no", "--loss_type", "dapo"] + FAST
    snaps = WeightSnapshots()
    run_grpo(parse_config("grpo", args), callbacks=[snaps.callback])
    return {"out": out, "snaps": snaps, "sft": sft_run}


def test_grpo_starts_from_the_sft_adapter(grpo_run: dict[str, Any]) -> None:
    sft_lora = grpo_run["sft"]["snaps"].after[1]
    start_lora = grpo_run["snaps"].before[1]
    assert set(start_lora) == set(sft_lora)
    assert all(torch.allclose(start_lora[k], sft_lora[k]) for k in sft_lora)
    info = json.loads((grpo_run["out"] / "emoreason_train.json").read_text())
    assert info["stage"] == "grpo" and Path(info["adapter_path"]) == Path(grpo_run["sft"]["out"]).resolve()
    assert info["lora_r"] == grpo_run["sft"]["config"].lora_r == 8  # the SFT adapter's rank, not GRPO's lora_r flag


def test_grpo_logs_each_reward_mean(grpo_run: dict[str, Any]) -> None:
    history = json.loads((grpo_run["out"] / "train_results.json").read_text())["log_history"]
    logged = {k for h in history for k in h}
    for name in ("format", "accuracy", "au_f1", "consistency", "length", "repetition"):
        assert f"rewards/{name}/mean" in logged
    # a learning signal reached the policy: some group of generations had rewards that differ
    assert any(float(h["frac_reward_zero_std"]) < 1 for h in history if "frac_reward_zero_std" in h)


def test_grpo_changes_lora_weights_not_base(grpo_run: dict[str, Any]) -> None:
    (base_before, lora_before), (base_after, lora_after) = grpo_run["snaps"].before, grpo_run["snaps"].after
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)
    assert any(not torch.equal(lora_before[k], lora_after[k]) for k in lora_before)
    assert (grpo_run["out"] / "adapter_model.safetensors").is_file()


def test_grpo_drops_long_prompts_instead_of_truncating(tiny_vlm: Path, toy_data: Path) -> None:
    from emoreason.train.data import drop_long, grpo_view, load_rows, prompt_length
    from emoreason.train.model import load_processor

    processor = load_processor(str(tiny_vlm))
    view = grpo_view(load_rows(str(toy_data), "train"))
    lengths = [prompt_length(processor, r["prompt"], r["images"]) for r in view]
    limit = sorted(lengths)[len(lengths) // 2]
    kept = drop_long(view, processor, "prompt", limit)
    assert len(kept) == sum(n <= limit for n in lengths) and 0 < len(kept) < len(view)
    with pytest.raises(EmoreasonError, match="longer than"):
        drop_long(view, processor, "prompt", 5)


def test_grpo_vllm_and_qlora_need_cuda(tiny_vlm: Path, toy_data: Path, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this checks the CPU-only error path")
    from emoreason.train.grpo import run_grpo
    from emoreason.train.model import load_base_model

    args = ["--model_name_or_path", str(tiny_vlm), "--dataset_path", str(toy_data), "--output_dir", str(tmp_path)]
    with pytest.raises(EmoreasonError, match="CUDA"):
        run_grpo(parse_config("grpo", args + ["--use_vllm", "true"] + FAST))
    with pytest.raises(EmoreasonError, match="CUDA"):
        load_base_model(parse_config("sft", args + ["--load_in_4bit", "true"] + FAST))
