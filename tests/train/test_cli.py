"""The training commands as a user runs them: `emoreason train sft|grpo`, `emoreason export`, DDP over gloo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from train_helpers import FAST
from typer.testing import CliRunner

from emoreason.cli import app

runner = CliRunner()


def test_train_sft_then_grpo_then_export(tiny_vlm: Path, toy_data: Path, tmp_path: Path) -> None:
    common = ["--model_name_or_path", str(tiny_vlm), "--dataset_path", str(toy_data), *FAST]
    sft = runner.invoke(app, ["train", "sft", *common, "--output_dir", str(tmp_path / "sft"), "--max_steps", "2"])
    assert sft.exit_code == 0, sft.output
    assert f"adapter saved to {tmp_path / 'sft'}" in sft.output
    grpo_args = ["--output_dir", str(tmp_path / "grpo"), "--adapter_path", str(tmp_path / "sft"), "--max_steps", "1"]
    grpo_args += ["--per_device_train_batch_size", "2", "--num_generations", "2", "--max_completion_length", "8"]
    grpo = runner.invoke(app, ["train", "grpo", *common, *grpo_args])
    assert grpo.exit_code == 0, grpo.output
    export = runner.invoke(app, ["export", str(tmp_path / "grpo"), "--merge", "--out", str(tmp_path / "model")])
    assert export.exit_code == 0, export.output
    card = (tmp_path / "model" / "README.md").read_text()
    assert "**SFT** on" in card and "**GRPO** on" in card  # both stages, via the adapter chain


def test_usage_errors_exit_2_with_one_line(tiny_vlm: Path) -> None:
    result = runner.invoke(app, ["train", "sft", "--model_name_or_path", str(tiny_vlm), "--bogus", "1"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = runner.invoke(app, ["train", "grpo", "--reward_funcs", "vibes"])
    assert result.exit_code == 2 and "choose from: format" in result.output
    result = runner.invoke(app, ["train", "sft", "--flags"])
    assert result.exit_code == 0 and "--dataset_path" in result.output and "--adapter_path" in result.output


def test_missing_dataset_is_a_one_line_error(tiny_vlm: Path, tmp_path: Path) -> None:
    emoreason = Path(sys.executable).parent / "emoreason"
    proc = subprocess.run(
        [
            str(emoreason),
            "train",
            "sft",
            "--model_name_or_path",
            str(tiny_vlm),
            "--dataset_path",
            str(tmp_path / "no"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error: dataset not found")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_ddp_over_gloo_with_two_cpu_processes(tiny_vlm: Path, toy_data: Path, tmp_path: Path) -> None:
    """`accelerate launch --multi_gpu --num_processes 2 -m emoreason train sft ... --use_cpu true` trains with DDP over
    gloo on a CPU-only machine. (accelerate 1.15's `--cpu --num_processes 2` starts ONE process unless mpirun is set
    up; `--multi_gpu` starts the ranks through torchrun, and `--use_cpu true` makes them CPU/gloo ranks.)"""
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    assert accelerate
    target = ["-m", "emoreason"]
    out = tmp_path / "ddp"
    cmd = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--main_process_port",
        "29517",
        *target,
        "train",
        "sft",
        "--model_name_or_path",
        str(tiny_vlm),
        "--dataset_path",
        str(toy_data),
        "--output_dir",
        str(out),
        "--max_steps",
        "3",
        "--per_device_train_batch_size",
        "2",
        "--eval_strategy",
        "no",
        "--use_cpu",
        "true",
        *FAST,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results: dict[str, Any] = json.loads((out / "train_results.json").read_text())
    info = json.loads((out / "emoreason_train.json").read_text())
    assert info["global_step"] == 3 and (out / "adapter_model.safetensors").is_file()
    assert info["world_size"] == 2 and info["distributed_backend"] == "gloo"  # two DDP ranks over gloo
    assert proc.stdout.count("adapter saved to") == 1
    assert results["metrics"]["epoch"] == 1.5  # 3 steps x 2 ranks x batch 2 = 12 of the 8 samples
