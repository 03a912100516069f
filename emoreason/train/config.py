"""Training configs: TRL's SFTConfig / GRPOConfig / DPOConfig plus the fields every stage shares, parsed by TrlParser.

A recipe is ``recipes/<model>/<stage>.yaml``; flags override it, with TRL's own names::

    emoreason train sft --config recipes/qwen2.5-vl-3b-instruct/sft_lora.yaml --dataset_path data/rafdb --max_steps 50
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trl import DPOConfig, GRPOConfig, SFTConfig, TrlParser

from emoreason.errors import EmoreasonError
from emoreason.labels import LABEL_SETS

logger = logging.getLogger(__name__)

# The language model's attention and MLP projections (Qwen2/2.5/3-VL, SmolVLM/Idefics3, Llama-style decoders),
# excluding any module under a vision tower. peft full-matches a string target against each module name.
_LM_PROJECTIONS = "q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj"
_VISION_SCOPE = r"(?:visual|vision_model|vision_tower|vision_encoder)"
LANGUAGE_TARGETS = rf"^(?!.*\b{_VISION_SCOPE}\b).*\.(?:{_LM_PROJECTIONS})$"
# Vision-tower attention and MLP layers: Qwen2.5-VL (attn.qkv, attn.proj, gate/up/down_proj), Qwen3-VL (attn.qkv,
# attn.proj, mlp.linear_fc1/2), SigLIP (q/k/v/out_proj, fc1, fc2). The patch merger / connector is left alone.
_VISION_LAYERS = rf"qkv|proj|q_proj|k_proj|v_proj|out_proj|fc1|fc2|linear_fc1|linear_fc2|{_LM_PROJECTIONS}"
VISION_TARGETS = rf"^.*\b{_VISION_SCOPE}\b.*\.(?:blocks|layers)\.\d+\..*\.(?:{_VISION_LAYERS})$"


class ConfigError(EmoreasonError):
    """A bad recipe key, flag or value: a usage error (the CLI exits 2)."""


class _Parser(TrlParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{message} (list every flag with --flags)")


REWARD_NAMES_DEFAULT = ["format", "accuracy", "au_f1", "consistency", "length", "repetition"]


def _cuda_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


@dataclass
class EmoTrainMixin:
    """Fields both stages use: the model, the dataset built by ``emoreason build-data``, the LoRA adapter."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Base VLM: a local directory or a hub id (passed to from_pretrained unchanged)."},
    )
    model_revision: str = field(default="main", metadata={"help": "Hub revision of the base model."})
    dtype: str = field(
        default="auto",
        metadata={"help": "Weights dtype.", "choices": ["auto", "bfloat16", "float16", "float32"]},
    )
    attn_implementation: str | None = field(
        default=None, metadata={"help": "Attention implementation, e.g. sdpa or flash_attention_2."}
    )
    dataset_path: str | None = field(
        default=None, metadata={"help": "A DatasetDict saved by `emoreason build-data` (datasets.load_from_disk)."}
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_test_split: str | None = field(
        default="test", metadata={"help": "Split to evaluate on, when it exists and eval_strategy is not 'no'."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training rows."})
    max_images: int | None = field(
        default=None, metadata={"help": "Keep at most this many images per sample (the first, most important ones)."}
    )
    label_set: str = field(
        default="compound",
        metadata={"help": "Label vocabulary for prompts and rewards.", "choices": list(LABEL_SETS)},
    )
    adapter_path: str | None = field(
        default=None, metadata={"help": "Start from this LoRA adapter (e.g. the SFT output) instead of a new one."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "Module names (suffixes) to adapt; one value is a regex peft full-matches. "
            "Default: the language model's attention and MLP projections."
        },
    )
    lora_vision: bool = field(default=False, metadata={"help": "Also adapt the vision tower's attention and MLP."})
    lora_modules_to_save: list[str] | None = field(
        default=None,
        metadata={
            "help": "Modules trained in full and saved with the adapter (peft modules_to_save), e.g. lm_head: "
            "needed when the base's output head cannot express the new task (tiny or new-token models)."
        },
    )
    load_in_4bit: bool = field(
        default=False, metadata={"help": "QLoRA: load the base in 4-bit (needs CUDA + bitsandbytes)."}
    )
    bnb_4bit_quant_type: str = field(default="nf4", metadata={"choices": ["nf4", "fp4"]})

    def _emo_post_init(self) -> None:
        if getattr(self, "bf16", None) is None and not getattr(self, "fp16", False):
            self.bf16 = _cuda_bf16()  # TRL's default is bf16=True, which transformers rejects on a CPU-only machine
        # TRL still defaults the deprecated gradient_checkpointing* names; hand them to the new ones quietly.
        for old, new in (
            ("gradient_checkpointing", "activation_checkpointing"),
            ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"),
        ):
            if getattr(self, new, None) is None and getattr(self, old, None) is not None:
                setattr(self, new, getattr(self, old))
        for name in ("lora_target_modules", "lora_modules_to_save"):
            if isinstance(getattr(self, name), str):
                setattr(self, name, [getattr(self, name)])

    def target_modules(self) -> str | list[str]:
        """What peft's LoraConfig gets as ``target_modules``."""
        if self.lora_target_modules:
            mods = list(self.lora_target_modules)
            return mods[0] if len(mods) == 1 and not mods[0].isidentifier() else mods
        if self.lora_vision:
            return f"(?:{LANGUAGE_TARGETS})|(?:{VISION_TARGETS})"
        return LANGUAGE_TARGETS

    def lora_config(self) -> Any:
        """A fresh peft LoraConfig from these fields."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.target_modules(),
            modules_to_save=list(self.lora_modules_to_save) if self.lora_modules_to_save else None,
            task_type="CAUSAL_LM",
        )


@dataclass
class EmoSFTConfig(EmoTrainMixin, SFTConfig):
    """SFT stage: TRL's SFTConfig plus the shared fields. Loss on the assistant turn only by default."""

    assistant_only_loss: bool = field(default=True, metadata={"help": "Compute the loss on assistant turns only."})
    max_length: int | None = field(
        default=None,
        metadata={"help": "Samples longer than this (tokens, images included) are dropped, never truncated."},
    )

    def __post_init__(self) -> None:
        self._emo_post_init()
        super().__post_init__()


@dataclass
class EmoGRPOConfig(EmoTrainMixin, GRPOConfig):
    """GRPO stage: TRL's GRPOConfig plus the shared fields, the reward names and the prompt-length limit."""

    reward_funcs: list[str] = field(
        default_factory=lambda: list(REWARD_NAMES_DEFAULT),
        metadata={"help": f"Rewards from emoreason.train.rewards.REWARDS: {', '.join(REWARD_NAMES_DEFAULT)}."},
    )
    max_prompt_length: int | None = field(
        default=2048,
        metadata={"help": "Prompts longer than this (tokens, image tokens included) are dropped, never truncated."},
    )
    num_completions_to_print: int | None = field(
        default=2,
        metadata={"help": "With log_completions: completions printed per logging step (TRL prints all: thousands of "
                  "lines, each with its whole prompt); None prints all."},
    )
    length_max_words: int = field(default=200, metadata={"help": "length reward: words allowed before a penalty."})
    repetition_ngram: int = field(default=4, metadata={"help": "repetition reward: n-gram size."})

    def __post_init__(self) -> None:
        self._emo_post_init()
        super().__post_init__()
        from emoreason.train.rewards import REWARDS

        unknown = [name for name in self.reward_funcs if name not in REWARDS]
        if unknown:
            raise ConfigError(f"unknown reward(s) {', '.join(unknown)}; choose from: {', '.join(REWARDS)}")
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_funcs):
            raise ConfigError(
                f"reward_weights has {len(self.reward_weights)} values but reward_funcs names "
                f"{len(self.reward_funcs)} rewards; give one weight per reward"
            )


@dataclass
class EmoDPOConfig(EmoTrainMixin, DPOConfig):
    """DPO stage: TRL's DPOConfig plus the shared fields, on the preference pairs `emoreason review export` writes."""

    max_length: int | None = field(
        default=None,
        metadata={"help": "Pairs longer than this (tokens of the prompt, images included, and the longer answer) are "
                  "dropped, never truncated (truncating would cut image tokens or the answer)."},
    )

    def __post_init__(self) -> None:
        self._emo_post_init()
        super().__post_init__()


STAGES: dict[str, type] = {"sft": EmoSFTConfig, "grpo": EmoGRPOConfig, "dpo": EmoDPOConfig}


def parse_config(stage: str, args: Sequence[str]) -> EmoSFTConfig | EmoGRPOConfig | EmoDPOConfig:
    """Parse ``--config recipe.yaml --flag value ...`` for one stage. Bad keys or values raise EmoreasonError."""
    if stage not in STAGES:
        raise ConfigError(f"unknown training stage {stage!r}; choose one of: {', '.join(STAGES)}")
    args = list(args)
    if "--config" in args:
        i = args.index("--config")
        if i + 1 >= len(args):
            raise ConfigError(
                "--config needs a path to a recipe YAML, e.g. recipes/qwen2.5-vl-3b-instruct/sft_lora.yaml"
            )
        if not Path(args[i + 1]).is_file():
            raise ConfigError(f"recipe not found: {args[i + 1]} (see the recipes/ folder)")
    parser = _Parser(dataclass_types=[STAGES[stage]], prog=f"emoreason train {stage}")
    try:
        (config,) = parser.parse_args_and_config(args)
    except EmoreasonError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"bad {stage} config: {err}") from err
    return config


def flags_help(stage: str) -> str:
    """Every flag a stage accepts (TRL's and emoreason's), as argparse prints them."""
    return _Parser(dataclass_types=[STAGES[stage]], prog=f"emoreason train {stage}").format_help()


def require_inputs(config: EmoTrainMixin) -> None:
    """The two settings no recipe can default: a base model and a dataset."""
    if not config.model_name_or_path:
        raise EmoreasonError("no base model: give --model_name_or_path (a local directory or a hub id)")
    if not config.dataset_path:
        raise EmoreasonError("no dataset: give --dataset_path, a folder written by `emoreason build-data`")
    if not Path(config.dataset_path).exists():
        raise EmoreasonError(f"dataset not found: {config.dataset_path} (build one with `emoreason build-data`)")
    if config.adapter_path and not (Path(config.adapter_path) / "adapter_config.json").is_file():
        raise EmoreasonError(
            f"--adapter_path {config.adapter_path} has no adapter_config.json (is it a LoRA adapter?)"
        )
