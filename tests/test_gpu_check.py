"""benchmarks/gpu_check.py: the one-line exit without CUDA, the step runner (a failure, a crash or a hang in one step
does not stop the others), the greedy comparison, and the CPU-side setup; the whole check where a GPU is present."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check() -> Any:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_without_cuda_it_exits_at_once_with_one_line(tmp_path: Path) -> None:
    if _has_cuda():
        pytest.skip("this checks the no-GPU exit")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a CUDA GPU" in lines[0], proc.stderr
    assert not any(tmp_path.iterdir())  # nothing was built or run


def _job(name: str, code: str, timeout: float = 60) -> tuple[str, list[str], float]:
    return name, [sys.executable, "-c", f"import json, os, sys, time\n{code}"], timeout


WRITE = "open(os.environ['EMOREASON_GPU_CHECK_RESULT'], 'w').write(json.dumps({})); "


def test_runner_runs_every_step_and_prints_the_table(
    gpu_check: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = [
        _job("good", WRITE.format("{'ok': True, 'detail': 'fine'}")),
        _job("wrong", WRITE.format("{'ok': False, 'detail': 'LoRA did not change'}") + "sys.exit(1)"),
        _job("crash", "print('CUDA error: an illegal memory access'); sys.exit(134)"),
        _job("hang", "time.sleep(60)", timeout=2),
        _job("after", WRITE.format("{'ok': True, 'detail': 'still ran'}")),
    ]
    results = gpu_check.run_steps(jobs, tmp_path, budget=120)
    assert [r.name for r in results] == ["good", "wrong", "crash", "hang", "after"]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert results[1].detail == "LoRA did not change"
    assert "exited 134" in results[2].detail and "illegal memory access" in results[2].detail
    assert results[3].detail == "timed out after 2s" and results[3].seconds < 30
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5 and printed[0].startswith("good") and "PASS" in printed[0] and "FAIL" in printed[3]
    rows = gpu_check.table(results).splitlines()
    assert len(rows) == 2 + 5 and rows[0].startswith("| step | result | time (s) | peak GPU memory")
    assert "| hang | FAIL |" in rows[5]
    assert _has_cuda() or "n/a" in rows[2]  # no GPU: no memory reading


def test_a_step_past_the_budget_is_not_run(gpu_check: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    jobs = [_job("slow", "time.sleep(1.5)", timeout=60), _job("late", f"open({str(marker)!r}, 'w')", timeout=60)]
    results = gpu_check.run_steps(jobs, tmp_path, budget=1)
    assert results[0].detail == "timed out after 1s"
    assert results[1].detail == "not run: the 1s budget is spent" and not marker.exists()


def test_child_turns_failures_into_results(gpu_check: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "result.json"
    monkeypatch.setenv(gpu_check.RESULT_ENV, str(out))

    def wrong(work: Any) -> str:
        gpu_check._expect(False, "no LoRA weight changed")
        return ""

    def broken(work: Any) -> str:
        raise RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")

    monkeypatch.setitem(gpu_check.STEPS, "hf", (wrong, 1))
    assert gpu_check.child_main("hf", tmp_path) == 1
    assert json.loads(out.read_text()) == {"ok": False, "detail": "no LoRA weight changed"}
    monkeypatch.setitem(gpu_check.STEPS, "hf", (broken, 1))
    assert gpu_check.child_main("hf", tmp_path) == 1
    assert json.loads(out.read_text())["detail"] == "RuntimeError: Tried to allocate 2 GiB"
    monkeypatch.setitem(gpu_check.STEPS, "hf", (lambda work: "4 replies", 1))
    assert gpu_check.child_main("hf", tmp_path) == 0
    assert json.loads(out.read_text()) == {"ok": True, "detail": "4 replies"}


def test_greedy_comparison_explains_only_bf16_ties(gpu_check: Any) -> None:
    gaps = {1: (7, 0.03), 2: (2, 1.5), 3: None}
    report = gpu_check.compare_greedy(["a", "b", "c", "d"], ["a", "b2", "c2", "d2"], lambda i, a, b: gaps[i])
    assert (report["equal"], report["explained"], report["unexplained"]) == (1, 1, 2)
    assert report["summary"] == "1/4 equal, 1 part on bf16 ties, 2 differ"
    assert "token 7 on a bf16 tie" in report["lines"][0] and "logit gap 1.500 at token 2" in report["lines"][1]
    assert gpu_check.compare_greedy(["x"], ["x"], lambda *a: None)["summary"] == "1/1 equal"


def test_setup_on_cpu_makes_an_adapter_that_changes_the_hf_backend(gpu_check: Any, tmp_path: Path) -> None:
    """The tiny model, the random LoRA and the toy data are built on the CPU; the hf backend's strict adapter check
    accepts the adapter, it changes greedy replies, and the logit-gap probe reads the model at the split."""
    from datasets import load_from_disk

    from emoreason.reasoning.base import build_reasoner
    from emoreason.reasoning.prompts import build_messages

    work = gpu_check.prepare(tmp_path / "work")
    assert json.loads((work.model / "config.json").read_text())["dtype"] == "bfloat16"
    assert set(load_from_disk(str(work.data))) == {"train", "test"}
    evs = gpu_check.evidences(2)
    kwargs = {"model": str(work.model), "max_new_tokens": 8, "device": "cpu", "dtype": "float32"}
    plain = [r.raw for r in build_reasoner("hf", **kwargs).reason(evs)]
    hf = build_reasoner("hf", adapter=str(work.adapter), **kwargs)
    adapted = [r.raw for r in hf.reason(evs)]
    assert plain != adapted
    split, gap = gpu_check.logit_gap(
        hf, build_messages(evs[0]), list(evs[0].images), adapted[0], adapted[0][:3] + "qq" + adapted[0][3:]
    )
    assert split >= 0 and math.isfinite(gap)


def test_training_steps_flags_parse_with_this_trl(gpu_check: Any, tmp_path: Path) -> None:
    """The QLoRA, GRPO-with-vLLM and ZeRO-2 steps pass flags that this TRL knows (bf16 off: this is a CPU)."""
    from emoreason.train.config import parse_config

    work, cpu = gpu_check.Work(tmp_path), ["--bf16", "false"]
    sft = parse_config("sft", gpu_check.qlora_args(work, tmp_path / "q") + cpu)
    assert sft.load_in_4bit and sft.dtype == "bfloat16" and sft.max_steps == 3
    grpo = parse_config("grpo", gpu_check.grpo_args(work, tmp_path / "g") + cpu)
    assert grpo.use_vllm and grpo.vllm_mode == "colocate" and grpo.vllm_max_model_length == 4096
    assert grpo.adapter_path == str(work.adapter) and grpo.num_generations == 4
    cmd = gpu_check.zero2_command(work, tmp_path / "z", 29999)
    assert Path(cmd[cmd.index("--config_file") + 1]).is_file() and cmd[cmd.index("--num_processes") + 1] == "1"
    i = cmd.index("sft") + 1
    assert parse_config("sft", cmd[i:] + cpu).max_steps == 3


def test_serve_step_gets_a_chat_completion_from_a_real_server(gpu_check: Any, tmp_path: Path) -> None:
    """The serve step's HTTP side (start, /health, one chat completion with a face photo, shutdown), on the rules
    backend; on a GPU the same code runs `--backend vllm`."""
    detail = gpu_check.serve_chat_completion(gpu_check.Work(tmp_path), ["--backend", "rules"])
    assert "one chat completion (1 face(s) read)" in detail, detail


@pytest.mark.gpu
def test_gpu_check_passes_every_step(tmp_path: Path) -> None:
    """The whole check on a CUDA machine with the gpu and deepspeed extras installed."""
    pytest.importorskip("vllm", reason="needs the gpu extra: pip install -e '.[gpu,deepspeed]'")
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--workdir", str(tmp_path / "work"), "--json", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert all(step["ok"] for step in json.loads(out.read_text()))
