"""LoRA targets and the assistant-only loss mask on every tiny VLM architecture the recipes cover
(Qwen2.5-VL, Qwen3-VL, SmolVLM), through the same code paths `emoreason train sft` uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from train_helpers import FAST

from emoreason.train.config import parse_config

ARCHS = ["qwen2_5_vl", "qwen3_vl", "smolvlm"]
LM_PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
VISION_SCOPES = ("visual", "vision_model", "vision_tower")


@pytest.fixture(scope="module", params=ARCHS)
def arch_vlm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emoreason.testing.vlm import build_tiny_vlm

    return Path(build_tiny_vlm(tmp_path_factory.mktemp("arch") / request.param, arch=request.param))


def _config(vlm: Path, data: Path, *extra: str) -> Any:
    args = ["--model_name_or_path", str(vlm), "--dataset_path", str(data), "--output_dir", str(vlm.parent / "o")]
    return parse_config("sft", args + ["--eval_strategy", "no", *FAST, *extra])


def _adapted(vlm: Path, data: Path, *extra: str) -> set[str]:
    from emoreason.train.model import add_lora, load_base_model

    model = add_lora(load_base_model(_config(vlm, data, *extra)), _config(vlm, data, *extra))
    return {name.split(".lora_A")[0] for name, _ in model.named_parameters() if ".lora_A" in name}


def _linears(vlm: Path, vision: bool) -> set[str]:
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(vlm)
    return {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and any(s in name.split(".") for s in VISION_SCOPES) == vision
    }


def test_default_targets_are_every_lm_projection_and_nothing_in_the_vision_tower(arch_vlm: Path, toy_data: Path):
    adapted = {n.removeprefix("base_model.model.") for n in _adapted(arch_vlm, toy_data)}
    lm = {n for n in _linears(arch_vlm, vision=False) if n.rsplit(".", 1)[-1] in LM_PROJECTIONS}
    assert lm and adapted == lm


def test_lora_vision_adds_the_vision_towers_attention_and_mlp(arch_vlm: Path, toy_data: Path) -> None:
    adapted = {n.removeprefix("base_model.model.") for n in _adapted(arch_vlm, toy_data, "--lora_vision", "true")}
    vision = {n for n in _linears(arch_vlm, vision=True) if ".layers." in n or ".blocks." in n}
    assert vision and vision <= adapted  # every vision block's attention and MLP (Qwen3-VL: mlp.linear_fc1/2)
    assert not any("merger" in n or "connector" in n for n in adapted)  # the projector into the LM stays frozen


def test_the_trainers_collator_labels_only_the_assistant_reply(arch_vlm: Path, toy_data: Path) -> None:
    """Labels from the collator SFTTrainer builds: the CoT and the end-of-turn token, never the prompt or images."""
    from emoreason.train.model import add_lora, load_base_model, load_processor
    from emoreason.train.sft import _build_trainer, _setup_data

    config = _config(arch_vlm, toy_data)
    processor = load_processor(str(arch_vlm))
    train, _ = _setup_data(config, processor)
    trainer = _build_trainer(config, add_lora(load_base_model(config), config), processor, train, None, None)
    rows = [dict(train[0]), dict(train[1])]
    batch = trainer.data_collator(rows)
    tokenizer = processor.tokenizer
    image_token = getattr(processor, "image_token", None)
    for i, row in enumerate(rows):
        ids, labels = batch["input_ids"][i], batch["labels"][i]
        learnt = tokenizer.decode(ids[labels != -100])
        cot = row["messages"][-1]["content"][0]["text"]
        assert learnt.strip().startswith(cot.strip()[:40]) and cot.strip()[-25:] in learnt
        stop = learnt.split(cot.strip()[-25:], 1)[1]
        assert stop.strip(), "the end-of-turn token must be learnt, or the model never stops"
        assert "Facial Action Units (FACS" not in learnt and "Transcript of what the person says" not in learnt
        assert "Facial Action Units (FACS" in tokenizer.decode(ids)  # ...which the input does carry
        if image_token:
            assert image_token not in learnt
            assert (ids == tokenizer.convert_tokens_to_ids(image_token)).sum() > 0  # the images are in the input
