"""Training fixtures: a tiny VLM, a toy learnable dataset, and one SFT run shared by the SFT/GRPO/export tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from train_helpers import FAST, WeightSnapshots


def build_vlm(path: Path) -> Path:
    from emoreason.testing.vlm import build_tiny_vlm

    return Path(build_tiny_vlm(path, arch="qwen2_5_vl"))


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vlm(tmp_path_factory.mktemp("vlm") / "qwen2_5_vl")


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emoreason.testing.toy_emotions import save_toy_dataset

    return save_toy_dataset(tmp_path_factory.mktemp("data") / "toy", n_train=8, n_test=4, images_per_row=2)


@pytest.fixture(scope="session")
def sft_run(tiny_vlm: Path, toy_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One LoRA SFT run through the library entry point, with weight snapshots."""
    from emoreason.train.config import parse_config
    from emoreason.train.sft import run_sft

    out = tmp_path_factory.mktemp("runs") / "sft"
    config = parse_config(
        "sft",
        ["--model_name_or_path", str(tiny_vlm), "--dataset_path", str(toy_data), "--output_dir", str(out)]
        + ["--max_steps", "8", "--per_device_train_batch_size", "2", "--learning_rate", "5e-3"]
        + ["--eval_strategy", "steps", "--eval_steps", "4", "--lora_r", "8"]
        + FAST,
    )
    snaps = WeightSnapshots()
    path = run_sft(config, callbacks=[snaps.callback])
    return {"out": path, "snaps": snaps, "config": config}
