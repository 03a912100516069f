"""DPO smoke test: a review's pairs (images included) train a few steps on the tiny VLM on CPU; the loss and the
preference metrics are logged, the LoRA weights change and the base weights do not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from train_helpers import FAST, WeightSnapshots

from emoreason.errors import EmoreasonError
from emoreason.train.config import parse_config

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "tiny-vlm" / "dpo_cpu.yaml"


@pytest.fixture(scope="module")
def pairs(toy_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every toy row corrected to another label: one pair per row, in the train and test splits."""
    from emoreason.review.export import export_review
    from emoreason.review.store import ReviewStore

    data = tmp_path_factory.mktemp("dpo-data") / "toy"
    shutil.copytree(toy_data, data)
    store = ReviewStore(data, label_set="basic")
    for entry in store.rows.entries:
        store.decide("reviewer", entry.id, "correct", label="fear" if entry.label != "fear" else "anger")
    out = tmp_path_factory.mktemp("dpo-review")
    export_review(data, out, label_set="basic")
    return out / "pairs"


@pytest.fixture(scope="module")
def dpo_run(tiny_vlm: Path, pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from emoreason.train.dpo import run_dpo

    out = tmp_path_factory.mktemp("runs") / "dpo"
    args = ["--config", str(RECIPE), "--model_name_or_path", str(tiny_vlm), "--dataset_path", str(pairs)]
    args += ["--output_dir", str(out), "--max_steps", "3"] + FAST
    snaps = WeightSnapshots()
    run_dpo(parse_config("dpo", args), callbacks=[snaps.callback])  # type: ignore[arg-type]
    return {"out": out, "snaps": snaps}


def test_dpo_logs_the_loss_and_preference_metrics(dpo_run: dict[str, Any]) -> None:
    history = json.loads((dpo_run["out"] / "train_results.json").read_text())["log_history"]
    logged = {k for h in history for k in h}
    assert {"loss", "rewards/accuracies", "rewards/margins"} <= logged
    info = json.loads((dpo_run["out"] / "emoreason_train.json").read_text())
    assert info["stage"] == "dpo" and info["global_step"] == 3 and info["beta"] == 0.1


def test_dpo_changes_lora_weights_not_base(dpo_run: dict[str, Any]) -> None:
    (base_before, lora_before), (base_after, lora_after) = dpo_run["snaps"].before, dpo_run["snaps"].after
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)
    assert any(not torch.equal(lora_before[k], lora_after[k]) for k in lora_before if ".default." in k)
    assert (dpo_run["out"] / "adapter_model.safetensors").is_file()


def test_dpo_on_rows_not_pairs_says_what_to_do(tiny_vlm: Path, toy_data: Path, tmp_path: Path) -> None:
    from emoreason.train.dpo import run_dpo

    args = ["--config", str(RECIPE), "--model_name_or_path", str(tiny_vlm), "--dataset_path", str(toy_data)]
    with pytest.raises(EmoreasonError, match="review export"):
        run_dpo(parse_config("dpo", args + ["--output_dir", str(tmp_path)] + FAST))  # type: ignore[arg-type]
