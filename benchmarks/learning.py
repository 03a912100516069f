"""Learning demonstration on a synthetic, learnable task with a tiny VLM on CPU (a few minutes on 2 cores).

The label (one of --labels) is recoverable from the image colour and from the AU text. Prints parsed-label accuracy
and the mean accuracy reward on a held-out split at three points: before training, after LoRA SFT, and after GRPO
from that adapter. Run:

    .venv/bin/python benchmarks/learning.py [--labels happiness sadness] [--sft-steps 300] [--grpo-steps 30]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _tiny_vlm(path: Path) -> Path:
    from emoreason.testing.vlm import build_tiny_vlm

    return Path(build_tiny_vlm(path, arch="qwen2_5_vl"))


def evaluate(model_dir: Path, adapter: Path | None, data: Path, max_new_tokens: int) -> dict[str, float]:
    """Greedy generation over the test split, scored with the one parser and the accuracy reward."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl.data_utils import prepare_multimodal_messages

    from emoreason.reasoning.parser import parse_output
    from emoreason.train.data import grpo_view, load_rows
    from emoreason.train.rewards import REWARDS

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    view = grpo_view(load_rows(str(data), "test"))
    texts: list[str] = []
    processor.tokenizer.padding_side = "left"
    for start in range(0, len(view), 8):
        batch = view.select(range(start, min(start + 8, len(view))))
        prompts = [
            processor.apply_chat_template(
                prepare_multimodal_messages(r["prompt"], images=r["images"]), add_generation_prompt=True
            )
            for r in batch
        ]
        inputs = processor(text=prompts, images=[r["images"] for r in batch], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        texts += processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    gold = view["label"]
    accuracy = sum(parse_output(t).label == g for t, g in zip(texts, gold, strict=True)) / len(gold)
    rewards = REWARDS["accuracy"](texts, label=gold, labels=view["labels"], aus=view["aus"])
    fmt = REWARDS["format"](texts, label=gold, labels=view["labels"], aus=view["aus"])
    return {
        "accuracy": accuracy,
        "mean_accuracy_reward": sum(r or 0.0 for r in rewards) / len(rewards),
        "format_rate": sum(fmt) / len(fmt),  # type: ignore[arg-type]
        "example": texts[0],  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", nargs="+", default=["happiness", "sadness", "anger", "surprise"])
    parser.add_argument("--n-train", type=int, default=32)
    parser.add_argument("--n-test", type=int, default=16)
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--grpo-steps", type=int, default=30)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from emoreason.testing.toy_emotions import save_toy_dataset
    from emoreason.train.config import parse_config
    from emoreason.train.grpo import run_grpo
    from emoreason.train.sft import run_sft

    work = args.workdir or Path(tempfile.mkdtemp(prefix="emoreason-learning-"))
    model = _tiny_vlm(work / "vlm")
    data = save_toy_dataset(work / "data", args.n_train, args.n_test, args.labels, seed=0, cot="short")
    quiet = ["--report_to", "none", "--save_strategy", "no", "--dtype", "float32", "--disable_tqdm", "true"]
    common = ["--model_name_or_path", str(model), "--dataset_path", str(data), "--eval_strategy", "no", *quiet]
    results: dict[str, dict[str, Any]] = {}

    t0 = time.time()
    results["before training"] = evaluate(model, None, data, args.max_new_tokens)
    sft_out = work / "sft"
    sft_args = ["--output_dir", str(sft_out), "--max_steps", str(args.sft_steps), "--learning_rate", "3e-3"]
    sft_args += ["--per_device_train_batch_size", "4", "--lora_r", "16", "--lora_alpha", "32", "--lora_dropout", "0"]
    sft_args += ["--warmup_steps", "0.05", "--lr_scheduler_type", "cosine", "--logging_steps", "25"]
    run_sft(parse_config("sft", common + sft_args))  # type: ignore[arg-type]
    t_sft = time.time()
    results["after SFT"] = evaluate(model, sft_out, data, args.max_new_tokens)
    grpo_out = work / "grpo"
    grpo_args = ["--output_dir", str(grpo_out), "--adapter_path", str(sft_out), "--max_steps", str(args.grpo_steps)]
    grpo_args += ["--per_device_train_batch_size", "8", "--num_generations", "4", "--learning_rate", "2e-4"]
    grpo_args += ["--max_completion_length", str(args.max_new_tokens), "--reward_funcs", "accuracy", "format"]
    grpo_args += ["--reward_weights", "1.0", "0.5", "--beta", "0.0", "--loss_type", "dapo", "--logging_steps", "5"]
    run_grpo(parse_config("grpo", common + grpo_args))  # type: ignore[arg-type]
    t_grpo = time.time()
    results["after GRPO"] = evaluate(model, grpo_out, data, args.max_new_tokens)

    chance = 1 / len(args.labels)
    print(f"\nlearning demo: {len(args.labels)} labels ({', '.join(args.labels)}), chance = {chance:.2f}")
    print(f"train {args.n_train} / test {args.n_test} rows; SFT {args.sft_steps} steps; GRPO {args.grpo_steps} steps")
    print(f"{'stage':<16} {'accuracy':>9} {'mean acc. reward':>17} {'format rate':>12}")
    for stage, r in results.items():
        print(f"{stage:<16} {r['accuracy']:>9.3f} {r['mean_accuracy_reward']:>17.3f} {r['format_rate']:>12.3f}")
    print(f"time: SFT+eval {t_sft - t0:.0f}s, GRPO {t_grpo - t_sft:.0f}s, total {time.time() - t0:.0f}s")
    print(f"example after GRPO: {results['after GRPO']['example']!r}")


if __name__ == "__main__":
    main()
