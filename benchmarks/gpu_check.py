"""One GPU check: every GPU path of emoreason, on a tiny VLM built on the spot (nothing is downloaded).

Steps: ``hf`` (bf16 on CUDA, batched, with a LoRA adapter), ``vllm`` (offline engine: one batched ``LLM.chat`` with
images and a per-request LoRA, greedy text compared with the hf backend's), ``qlora`` (4-bit bitsandbytes SFT),
``grpo_vllm`` (GRPO with ``--use_vllm`` in colocate mode), ``zero2`` (``accelerate launch`` with
``recipes/accelerate/zero2.yaml`` on one process) and ``serve`` (``emoreason serve --backend vllm`` answering one chat
question over HTTP). Run from the repository root, after ``pip install -e '.[dev,gpu,deepspeed]'``::

    python benchmarks/gpu_check.py                   # every step, about 5 minutes on one H100/H200
    python benchmarks/gpu_check.py --steps hf vllm   # some of them

Each step runs in its own process, so a crash, a hang or a CUDA error in one cannot stop the others and the GPU is
empty between steps. Each prints one line (pass/fail, seconds, peak GPU memory over the idle baseline, sampled
device-wide with NVML so vLLM's engine process counts) and a table repeats them at the end. The whole run stays
inside ``--budget`` seconds (default 470: a step that would start past it is reported as not run). Exit code: 0 when
every step passed, 1 when any failed, 2 when there is no CUDA GPU (one line, at once).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT_ENV = "EMOREASON_GPU_CHECK_RESULT"  # where a step process writes its JSON result
NEAR_TIE = 0.125  # logits closer than this are a bf16 tie: greedy picks may differ between kernels
MAX_NEW_TOKENS = 24
QUESTIONS = 4  # evidences per batched generation


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float = 0.0
    peak_mib: float | None = None  # device-wide, over the baseline before the step
    detail: str = ""

    def line(self) -> str:
        mem = "n/a" if self.peak_mib is None else f"{self.peak_mib:,.0f} MiB"
        return f"{self.name:<10} {'PASS' if self.ok else 'FAIL':<4} {self.seconds:6.1f}s {mem:>11}  {self.detail}"


@dataclass
class Work:
    """The files every step uses, made once on the CPU before the first step."""

    root: Path
    model: Path = field(init=False)  # tiny Qwen2.5-VL, bf16 weights
    adapter: Path = field(init=False)  # a LoRA with random (non-zero) B matrices, so it changes the output
    data: Path = field(init=False)  # toy build-data DatasetDict, two images per row

    def __post_init__(self) -> None:
        self.model, self.adapter, self.data = self.root / "vlm", self.root / "adapter", self.root / "toy"


# -- setup (CPU) -------------------------------------------------------------------------------------------------
def prepare(root: Path) -> Work:
    """Build the tiny VLM (saved in bf16, like a real checkpoint), a random LoRA adapter and a toy dataset."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from emoreason.testing.toy_emotions import save_toy_dataset
    from emoreason.testing.vlm import build_tiny_vlm
    from emoreason.train.config import LANGUAGE_TARGETS

    work = Work(root)
    if (work.model / "config.json").is_file() and (work.adapter / "adapter_config.json").is_file():
        return work
    build_tiny_vlm(work.model, arch="qwen2_5_vl")
    model = AutoModelForImageTextToText.from_pretrained(work.model, dtype=torch.bfloat16)
    model.save_pretrained(work.model)
    lora = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules=LANGUAGE_TARGETS, task_type="CAUSAL_LM")
    )
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.2)
    lora.save_pretrained(work.adapter)
    save_toy_dataset(work.data, n_train=8, n_test=4, images_per_row=2, cot="short")
    return work


def evidences(n: int = QUESTIONS) -> list[Any]:
    """``n`` Evidences with one distinct face-sized image each and different AUs."""
    from PIL import Image

    from emoreason.schema import Evidence

    aus = [{"AU6": 2.5, "AU12": 3.5}, {"AU1": 3.0, "AU4": 2.0, "AU15": 2.5}, {"AU4": 3.5, "AU7": 2.0}, {"AU26": 4.0}]
    return [
        Evidence(
            id=f"e{i}",
            images=[Image.new("RGB", (64, 64), (40 + 50 * i, 200 - 40 * i, 30 * i))],
            aus=aus[i % len(aus)],
            label_set="basic",
        )
        for i in range(n)
    ]


# -- steps (each runs in its own process, on the GPU) ------------------------------------------------------------
def step_hf(work: Work) -> str:
    """hf backend: bf16 on CUDA, one batch of QUESTIONS, with the LoRA adapter (which must change the output)."""
    import torch

    from emoreason.reasoning.base import build_reasoner

    plain = build_reasoner("hf", model=str(work.model), max_new_tokens=MAX_NEW_TOKENS, batch_size=QUESTIONS)
    base_texts = [r.raw for r in plain.reason(evidences())]
    del plain
    hf = build_reasoner(
        "hf", model=str(work.model), adapter=str(work.adapter), max_new_tokens=MAX_NEW_TOKENS, batch_size=QUESTIONS
    )
    param = next(hf.model.parameters())
    _expect(param.device.type == "cuda", f"the hf backend loaded on {param.device}, not CUDA")
    _expect(param.dtype == torch.bfloat16, f"the hf backend loaded in {param.dtype}, not bfloat16")
    _expect(type(hf.model).__name__ == "PeftModel", "the adapter was not applied")
    results = hf.reason(evidences())
    texts = [r.raw for r in results]
    _expect(len(results) == QUESTIONS and all(texts), f"expected {QUESTIONS} non-empty replies, got {texts}")
    changed = sum(a != b for a, b in zip(texts, base_texts, strict=True))
    _expect(changed > 0, "the LoRA adapter did not change any reply")
    return f"{len(texts)} replies in one bf16 batch; the LoRA changed {changed}/{len(texts)}"


def step_vllm(work: Work) -> str:
    """vllm backend: one batched LLM.chat with images and a per-request LoRA; greedy text vs the hf backend's."""
    from emoreason.reasoning.base import build_reasoner
    from emoreason.reasoning.prompts import build_messages

    evs = evidences()
    engine = build_reasoner(
        "vllm",
        model=str(work.model),
        adapter=str(work.adapter),
        max_new_tokens=MAX_NEW_TOKENS,
        gpu_memory_utilization=0.3,
        max_model_len=4096,
    )
    results = engine.reason(evs)
    texts = [r.raw for r in results]
    _expect(len(texts) == QUESTIONS and all(texts), f"expected {QUESTIONS} non-empty replies, got {texts}")
    lora, engine.lora = engine.lora, None
    without = [r.raw for r in engine.reason(evs)]
    engine.lora = lora
    _expect(without != texts, "the per-request LoRA did not change any reply")

    hf = build_reasoner(
        "hf", model=str(work.model), adapter=str(work.adapter), max_new_tokens=MAX_NEW_TOKENS, batch_size=QUESTIONS
    )
    hf_texts = [r.raw for r in hf.reason(evs)]
    messages = [build_messages(ev) for ev in evs]  # what reason_with_texts sends
    report = compare_greedy(hf_texts, texts, lambda i, a, b: logit_gap(hf, messages[i], list(evs[i].images), a, b))
    _expect(report["unexplained"] == 0, f"greedy text differs from hf's beyond bf16 ties: {report['lines']}")
    return f"{QUESTIONS} replies in one LLM.chat, LoRA per request; vs hf greedy: {report['summary']}"


def step_qlora(work: Work) -> str:
    """QLoRA SFT: the base in 4-bit (bitsandbytes), a few steps; loss logged, LoRA changed, base frozen."""
    from emoreason.train.config import parse_config
    from emoreason.train.sft import run_sft

    out = work.root / "qlora"
    snaps = Snapshots()
    run_sft(parse_config("sft", qlora_args(work, out)), callbacks=[snaps.callback()])  # type: ignore[arg-type]
    quantised = snaps.count_4bit
    _expect(quantised > 0, "no bitsandbytes Linear4bit layer in the trained model")
    losses = _logged(out, "loss")
    _expect(bool(losses), "no training loss was logged")
    changed = snaps.check_lora_trained()
    return f"{quantised} Linear4bit layers; loss {losses[0]:.3f} -> {losses[-1]:.3f}; {changed} LoRA tensors changed"


def step_grpo_vllm(work: Work) -> str:
    """GRPO with --use_vllm in colocate mode, a few steps from the adapter: rewards logged, non-zero gradient."""
    from emoreason.train.config import parse_config
    from emoreason.train.grpo import run_grpo

    out = work.root / "grpo"
    snaps = Snapshots()
    run_grpo(parse_config("grpo", grpo_args(work, out)), callbacks=[snaps.callback()])  # type: ignore[arg-type]
    history = _history(out)
    rewards = sorted({k.split("/")[1] for h in history for k in h if k.startswith("rewards/") and k.endswith("/mean")})
    _expect(bool(rewards), "no reward was logged")
    grads = [float(h["grad_norm"]) for h in history if "grad_norm" in h]
    _expect(any(g > 0 for g in grads), f"every logged gradient norm is zero: {grads}")
    changed = snaps.check_lora_trained()
    return f"rewards logged: {', '.join(rewards)}; grad_norm {max(grads):.3g}; {changed} LoRA tensors changed"


def step_zero2(work: Work) -> str:
    """`accelerate launch --config_file recipes/accelerate/zero2.yaml --num_processes 1 -m emoreason train sft`."""
    import importlib.util

    _expect(importlib.util.find_spec("deepspeed") is not None, "needs DeepSpeed: pip install -e '.[deepspeed]'")
    out = work.root / "zero2"
    proc = subprocess.run(zero2_command(work, out, free_port()), capture_output=True, text=True, timeout=300, cwd=ROOT)
    _expect(proc.returncode == 0, f"accelerate launch exited {proc.returncode}: {last_line(proc.stderr)}")
    info = json.loads((out / "emoreason_train.json").read_text())
    losses = _logged(out, "loss")
    _expect(bool(losses), "no training loss was logged")
    _expect(info["global_step"] == 3, f"trained {info['global_step']} steps, not 3")
    nonzero = _nonzero_lora_b(out)
    _expect(nonzero > 0, "every saved lora_B is still zero: the LoRA did not train")
    backend = info.get("distributed_backend", "none")
    return f"ZeRO-2 on 1 process ({backend}); loss {losses[0]:.3f} -> {losses[-1]:.3f}; {nonzero} lora_B non-zero"


def step_serve(work: Work) -> str:
    """`emoreason serve --backend vllm` on loopback answers one OpenAI chat completion (a face photo, a question)."""
    backend = ["--backend", "vllm", "--model", str(work.model), "--max-new-tokens", str(MAX_NEW_TOKENS)]
    return serve_chat_completion(work, backend)


def serve_chat_completion(work: Work, backend: list[str]) -> str:
    """Start `emoreason serve` with ``backend`` options on a free loopback port, send one chat completion, stop it."""
    port = free_port()
    cmd = [sys.executable, "-m", "emoreason", "serve", "--port", str(port), *backend]
    log = (work.root / "serve.log").open("w")
    # In this step's process group: if the step is killed at its timeout, the server and its engine go with it.
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        while _http(f"{base}/health") is None:
            exited = f"the server exited {server.returncode}: {last_line(_read(work, 'serve.log'))}"
            _expect(server.poll() is None, exited)
            _expect(time.monotonic() - t0 < 240, "the server did not answer /health within 240 s")
            time.sleep(1)
        started = time.monotonic() - t0
        content: list[dict[str, Any]] = [{"type": "text", "text": "What does this face show, and why?"}]
        photo = face_photo_url()
        if photo:
            content.insert(0, {"type": "image_url", "image_url": {"url": photo}})
        body = {"model": "emoreason", "messages": [{"role": "user", "content": content}]}
        reply = _http(f"{base}/v1/chat/completions", body)
        text = ((reply or {}).get("choices") or [{}])[0].get("message", {}).get("content")
        _expect(bool(text), f"POST /v1/chat/completions answered {str(reply)[:200]}")
        faces = len((reply.get("emoreason") or {}).get("faces") or [])  # type: ignore[union-attr]
        return f"up in {started:.0f}s; one chat completion ({faces} face(s) read), {len(text)} chars: {text[:30]!r}"
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown, which also stops the vLLM engine
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def face_photo_url() -> str | None:
    """A real face photo (scikit-image's astronaut, from the dev extra) as a data URL; None without scikit-image."""
    try:
        from skimage import data
    except ImportError:
        return None
    from emoreason.reasoning.images import data_url

    return data_url(data.astronaut())


# name -> (step, timeout in seconds)
STEPS: dict[str, tuple[Callable[[Work], str], int]] = {
    "hf": (step_hf, 90),
    "vllm": (step_vllm, 180),
    "qlora": (step_qlora, 120),
    "grpo_vllm": (step_grpo_vllm, 240),
    "zero2": (step_zero2, 180),
    "serve": (step_serve, 240),
}


# -- helpers the steps share ---------------------------------------------------------------------------------------
class CheckFailed(Exception):
    """A step ran but its result was wrong."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _train_args(work: Work, out: Path) -> list[str]:
    args = ["--model_name_or_path", str(work.model), "--dataset_path", str(work.data), "--output_dir", str(out)]
    args += ["--per_device_train_batch_size", "2", "--learning_rate", "5e-3", "--eval_strategy", "no", "--lora_r", "8"]
    args += ["--dtype", "bfloat16", "--bf16", "true", "--report_to", "none", "--save_strategy", "no"]
    return args + ["--logging_steps", "1", "--seed", "0", "--disable_tqdm", "true"]


def qlora_args(work: Work, out: Path) -> list[str]:
    return _train_args(work, out) + ["--load_in_4bit", "true", "--max_steps", "3", "--gradient_checkpointing", "true"]


def grpo_args(work: Work, out: Path) -> list[str]:
    args = _train_args(work, out) + ["--adapter_path", str(work.adapter), "--max_steps", "2"]
    args += ["--use_vllm", "true", "--vllm_mode", "colocate", "--vllm_gpu_memory_utilization", "0.25"]
    args += ["--vllm_max_model_length", "4096", "--per_device_train_batch_size", "4", "--num_generations", "4"]
    # Rewards that tell a random model's completions apart (tests/train/test_grpo.py), so the advantage is non-zero.
    args += ["--max_completion_length", str(MAX_NEW_TOKENS), "--length_max_words", "8", "--repetition_ngram", "1"]
    return args + ["--loss_type", "dapo", "--learning_rate", "5e-2", "--log_completions", "false"]


def zero2_command(work: Work, out: Path, port: int) -> list[str]:
    accelerate = Path(sys.executable).parent / "accelerate"
    cmd = [str(accelerate), "launch", "--config_file", str(ROOT / "recipes/accelerate/zero2.yaml")]
    cmd += ["--num_processes", "1", "--main_process_port", str(port), "-m", "emoreason", "train", "sft"]
    return cmd + _train_args(work, out) + ["--max_steps", "3"]


def _history(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "train_results.json").read_text())["log_history"]


def _logged(out: Path, key: str) -> list[float]:
    return [float(h[key]) for h in _history(out) if key in h]


def _nonzero_lora_b(out: Path) -> int:
    from safetensors.torch import load_file

    tensors = load_file(str(out / "adapter_model.safetensors"))
    return sum(bool(t.abs().sum() > 0) for k, t in tensors.items() if "lora_B" in k)


class Snapshots:
    """Base and LoRA weights at the start and end of training (as the SFT/GRPO smoke tests take them)."""

    def __init__(self) -> None:
        self.before: tuple[dict, dict] | None = None
        self.after: tuple[dict, dict] | None = None
        self.count_4bit = 0

    def callback(self) -> Any:
        from transformers import TrainerCallback

        outer = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
                from emoreason.train.model import trainable_state

                outer.before = trainable_state(model)
                outer.count_4bit = sum(type(m).__name__ == "Linear4bit" for m in model.modules())

            def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
                from emoreason.train.model import trainable_state

                outer.after = trainable_state(model)

        return _Callback()

    def check_lora_trained(self) -> int:
        """How many LoRA tensors changed; fails when none did or when any base weight moved."""
        import torch

        _expect(self.before is not None and self.after is not None, "training did not start or did not end")
        (base0, lora0), (base1, lora1) = self.before, self.after  # type: ignore[misc]
        moved = [k for k in base0 if not torch.equal(base0[k], base1[k])]
        _expect(not moved, f"{len(moved)} base weights changed (the base must stay frozen), e.g. {moved[:2]}")
        changed = sum(not torch.equal(lora0[k], lora1[k]) for k in lora0)
        _expect(changed > 0, "no LoRA weight changed")
        return changed


def compare_greedy(
    reference: list[str], other: list[str], gap: Callable[[int, str, str], tuple[int, float] | None]
) -> dict[str, Any]:
    """Compare two backends' greedy texts. A difference is explained when, at the first token where they part, the
    reference model scores the two choices within NEAR_TIE (a bf16 tie that two kernels may break either way).

    ``gap(i, ref_text, other_text)`` gives (token index, logit of ref's token minus other's) or None when it can't.
    """
    lines, equal, explained = [], 0, 0
    for i, (a, b) in enumerate(zip(reference, other, strict=True)):
        if a == b:
            equal += 1
            continue
        found = gap(i, a, b)
        if found is not None and abs(found[1]) <= NEAR_TIE:
            explained += 1
            lines.append(f"#{i} parts at token {found[0]} on a bf16 tie (logit gap {found[1]:.3f})")
        else:
            detail = "no token-level split found" if found is None else f"logit gap {found[1]:.3f} at token {found[0]}"
            lines.append(f"#{i} differs: {a[:60]!r} vs {b[:60]!r} ({detail})")
    unexplained = len(reference) - equal - explained
    summary = f"{equal}/{len(reference)} equal" + (f", {explained} part on bf16 ties" if explained else "")
    if unexplained:
        summary += f", {unexplained} differ"
    return {"equal": equal, "explained": explained, "unexplained": unexplained, "summary": summary, "lines": lines}


def logit_gap(hf: Any, messages: list[dict], images: list[Any], ref: str, other: str) -> tuple[int, float] | None:
    """At the first token where ``ref`` and ``other`` part, the hf model's logit of ref's token minus other's."""
    import torch

    tok = hf.processor.tokenizer
    a, b = tok(ref, add_special_tokens=False).input_ids, tok(other, add_special_tokens=False).input_ids
    split = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if split is None:
        return None
    inputs = hf._inputs([messages], [images])
    ids = inputs["input_ids"]
    prefix = torch.tensor([a[:split]], dtype=ids.dtype, device=ids.device)
    for key, value in list(inputs.items()):  # per-token tensors grow with the prefix (mm_token_type_ids: 0 = text)
        if key != "input_ids" and torch.is_tensor(value) and value.shape == ids.shape:
            inputs[key] = torch.cat([value, torch.full_like(prefix, 1 if key == "attention_mask" else 0)], dim=1)
    inputs["input_ids"] = torch.cat([ids, prefix], dim=1)
    with torch.inference_mode():
        logits = hf.model(**inputs).logits[0, -1].float()
    return split, float(logits[a[split]] - logits[b[split]])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http(url: str, body: dict | None = None) -> dict | None:
    """GET (body None) or POST JSON; the decoded JSON reply, or None when nothing answers yet."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return json.loads(reply.read() or b"{}")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _read(work: Work, name: str) -> str:
    path = work.root / name
    return path.read_text(errors="replace") if path.is_file() else ""


def last_line(text: str) -> str:
    """The last non-empty line of a process's output (its error, usually), cut to 200 characters."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"


# -- running steps ----------------------------------------------------------------------------------------------
class MemorySampler:
    """Peak device-wide GPU memory in use while a step runs, over the reading before it (NVML, else nvidia-smi)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self.read = interval, _memory_reader()
        self.base = self.peak = self.read() if self.read else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            used = self.read() if self.read else None
            if used is not None and (self.peak is None or used > self.peak):
                self.peak = used

    def __enter__(self) -> MemorySampler:
        if self.read:
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def peak_mib(self) -> float | None:
        return None if self.peak is None or self.base is None else max(self.peak - self.base, 0.0)


def _memory_reader() -> Callable[[], float | None] | None:
    """A function that reads the GPU memory in use (MiB) on device 0, or None when nothing can read it."""
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
    except Exception:  # noqa: BLE001 - no NVML binding or no driver: try nvidia-smi
        pass

    def smi() -> float | None:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                capture_output=True, text=True, timeout=5,
            )  # fmt: skip
            return float(out.stdout.strip().splitlines()[0])
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            return None

    return smi if smi() is not None else None


def run_step(name: str, cmd: list[str], timeout: float, result_file: Path) -> StepResult:
    """Run one step's process (it writes a JSON result to ``result_file``); never raises."""
    result_file.unlink(missing_ok=True)
    env = {**os.environ, RESULT_ENV: str(result_file)}
    t0 = time.monotonic()
    with MemorySampler() as memory, tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            proc.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        _kill_group(proc)  # whatever the step left running (an engine process, a server)
        output.seek(0)
        text = output.read()
    seconds = time.monotonic() - t0
    if timed_out:
        return StepResult(name, False, seconds, memory.peak_mib(), f"timed out after {timeout:.0f}s")
    if result_file.is_file():
        data = json.loads(result_file.read_text())
        return StepResult(name, bool(data["ok"]), seconds, memory.peak_mib(), str(data["detail"]))
    detail = f"the step process exited {proc.returncode} without a result: {last_line(text)}"
    return StepResult(name, False, seconds, memory.peak_mib(), detail)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_steps(jobs: list[tuple[str, list[str], float]], workdir: Path, budget: float) -> list[StepResult]:
    """Run each (name, command, timeout) in turn, printing its line; steps past ``budget`` seconds are not run."""
    results, t0 = [], time.monotonic()
    for name, cmd, timeout in jobs:
        left = budget - (time.monotonic() - t0)
        if left <= 0:
            result = StepResult(name, False, detail=f"not run: the {budget:.0f}s budget is spent")
        else:
            result = run_step(name, cmd, min(timeout, left), workdir / f"{name}.result.json")
        print(result.line(), flush=True)
        results.append(result)
    return results


def table(results: list[StepResult]) -> str:
    """The results as a Markdown table."""
    rows = ["| step | result | time (s) | peak GPU memory (MiB) | detail |", "|---|---|---|---|---|"]
    for r in results:
        mem = "n/a" if r.peak_mib is None else f"{r.peak_mib:,.0f}"
        rows.append(f"| {r.name} | {'pass' if r.ok else 'FAIL'} | {r.seconds:.1f} | {mem} | {r.detail} |")
    return "\n".join(rows)


def child_main(name: str, workdir: Path) -> int:
    """Run one step in this process and write its JSON result where the parent asked (``RESULT_ENV``)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    try:
        detail, ok = STEPS[name][0](Work(workdir)), True
    except CheckFailed as err:
        detail, ok = str(err), False
    except Exception as err:  # noqa: BLE001 - any failure is this step's result, not the whole check's
        traceback.print_exc()
        detail, ok = f"{type(err).__name__}: {last_line(str(err)) if str(err) else ''}", False
    Path(os.environ[RESULT_ENV]).write_text(json.dumps({"ok": ok, "detail": detail}))
    return 0 if ok else 1


def cuda_problem() -> str | None:
    """Why this machine can't run the check (one line), or None when it has a CUDA GPU."""
    try:
        import torch
    except ImportError:
        return "gpu_check needs PyTorch with CUDA: pip install -e '.[dev,gpu,deepspeed]' on a machine with a GPU"
    if not torch.cuda.is_available():
        return (
            "gpu_check needs a CUDA GPU, and torch.cuda.is_available() is False here; run it on a machine with "
            "an NVIDIA GPU (nothing was run)"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS), help="steps to run")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the tiny model and outputs here")
    parser.add_argument("--budget", type=float, default=470.0, help="seconds for all steps together")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--child", choices=list(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.workdir)
    problem = cuda_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="emoreason-gpu-check-"))).resolve()
    t0 = time.monotonic()
    prepare(workdir)
    print(f"tiny VLM, adapter and toy data in {workdir} ({time.monotonic() - t0:.1f}s on the CPU)", flush=True)
    jobs = [
        (name, [sys.executable, str(Path(__file__).resolve()), "--child", name, "--workdir", str(workdir)], timeout)
        for name, (_, timeout) in STEPS.items()
        if name in args.steps
    ]
    results = run_steps(jobs, workdir, args.budget)
    print(f"\n{table(results)}\n\n{sum(r.ok for r in results)}/{len(results)} steps passed in "
          f"{time.monotonic() - t0:.0f}s")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
