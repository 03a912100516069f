"""Every recipe validates against the config dataclasses; flags override recipes; bad input is a clear error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from emoreason.errors import EmoreasonError
from emoreason.train.config import LANGUAGE_TARGETS, STAGES, VISION_TARGETS, parse_config

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
MODEL_RECIPES = sorted(p for p in RECIPES.glob("*/*.yaml") if p.parent.name != "accelerate")


def test_the_recipes_the_issue_asks_for_exist() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in MODEL_RECIPES}
    for want in [
        "qwen2.5-vl-3b-instruct/sft_lora",
        "qwen2.5-vl-3b-instruct/grpo_lora",
        "qwen2.5-vl-7b-instruct/sft_qlora",
        "qwen2.5-vl-7b-instruct/grpo_lora",
        "qwen3-vl-4b-instruct/sft_lora",
        "qwen3-vl-4b-instruct/grpo_lora",
        "smolvlm2-2.2b-instruct/sft_lora",
        "smolvlm2-2.2b-instruct/grpo_lora",
    ]:
        assert want in names


@pytest.mark.parametrize("recipe", MODEL_RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_validates(recipe: Path) -> None:
    stage = recipe.stem.split("_")[0]
    first = recipe.read_text().splitlines()[0]
    assert first.startswith("# Launch")
    assert f"emoreason train {stage} --config recipes/{recipe.parent.name}/{recipe.name}" in recipe.read_text()
    config = parse_config(stage, ["--config", str(recipe)])
    assert isinstance(config, STAGES[stage])
    assert config.model_name_or_path and config.model_name_or_path.count("/") == 1
    raw = yaml.safe_load(recipe.read_text())
    for key, value in raw.items():  # every key landed on the dataclass with its value
        got = getattr(config, key)
        if key == "report_to":  # transformers normalises "none" to []
            assert got in ([], "none", ["none"])
            continue
        assert (got.value if hasattr(got, "value") else got) == value, key


@pytest.mark.parametrize("name", ["ddp", "zero2", "zero3"])
def test_accelerate_configs(name: str) -> None:
    raw = yaml.safe_load((RECIPES / "accelerate" / f"{name}.yaml").read_text())
    assert raw["distributed_type"] == ("MULTI_GPU" if name == "ddp" else "DEEPSPEED")
    if name != "ddp":
        assert raw["deepspeed_config"]["zero_stage"] == int(name[-1])


def test_flags_override_the_recipe() -> None:
    recipe = RECIPES / "qwen2.5-vl-3b-instruct" / "sft_lora.yaml"
    config = parse_config(
        "sft",
        ["--config", str(recipe), "--max_steps", "7", "--learning_rate", "1e-3", "--dataset_path", "d"]
        + ["--adapter_path", "a", "--output_dir", "o", "--lora_vision", "true"],
    )
    assert (config.max_steps, config.learning_rate, config.dataset_path, config.adapter_path) == (7, 1e-3, "d", "a")
    assert config.output_dir == "o" and config.lora_r == 16 and config.lora_vision


def test_default_lora_targets_are_language_model_projections() -> None:
    lm = re.compile(LANGUAGE_TARGETS)
    assert lm.fullmatch("model.language_model.layers.0.self_attn.q_proj")
    assert lm.fullmatch("model.text_model.layers.3.mlp.down_proj")  # SmolVLM / Idefics3
    assert not lm.fullmatch("model.visual.blocks.0.mlp.gate_proj")  # Qwen vision MLP has the same names
    assert not lm.fullmatch("model.vision_model.encoder.layers.0.self_attn.q_proj")
    vision = re.compile(VISION_TARGETS)
    assert vision.fullmatch("model.visual.blocks.0.attn.qkv")
    assert vision.fullmatch("model.vision_model.encoder.layers.0.mlp.fc1")
    assert not vision.fullmatch("model.visual.merger.mlp.0")
    assert vision.fullmatch("model.visual.blocks.1.mlp.linear_fc2")  # Qwen3-VL's vision MLP
    assert not vision.fullmatch("model.visual.merger.linear_fc1")  # ...but not its patch mergers
    assert not vision.fullmatch("model.visual.deepstack_merger_list.0.linear_fc1")


def test_modules_to_save_reach_the_lora_config() -> None:
    config = parse_config("sft", ["--lora_modules_to_save", "lm_head"])
    assert config.lora_config().modules_to_save == ["lm_head"]
    assert parse_config("sft", []).lora_config().modules_to_save is None


@pytest.mark.parametrize(
    ("stage", "args", "message"),
    [
        ("grpo", ["--reward_funcs", "format", "vibes"], "choose from: format, accuracy"),
        ("grpo", ["--reward_funcs", "format", "accuracy", "--reward_weights", "1.0"], "one weight per reward"),
        ("sft", ["--no_such_flag", "1"], "not used"),
        ("sft", ["--learning_rate", "fast"], "invalid float"),
        ("sft", ["--config", "/nope.yaml"], "recipe not found"),
        ("kto", [], "unknown training stage"),
    ],
)
def test_bad_configs_are_clear_errors(stage: str, args: list[str], message: str) -> None:
    with pytest.raises(EmoreasonError, match=message):
        parse_config(stage, args)


def test_cpu_default_precision_is_fp32() -> None:
    import torch

    config = parse_config("sft", [])
    assert config.bf16 == (torch.cuda.is_available() and torch.cuda.is_bf16_supported())
