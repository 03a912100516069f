"""Tiny, randomly initialised VLMs built offline, for tests, benchmarks and training smoke runs.

``build_tiny_vlm(path, arch)`` writes a directory that ``AutoModelForImageTextToText.from_pretrained`` and
``AutoProcessor.from_pretrained`` load like a real checkpoint: the architecture's real model, image processor and
processor classes with tiny dimensions, a byte-level BPE tokenizer trained on the spot (on emoreason's own prompts,
FACS vocabulary and rule-engine CoTs, so its text tokenises compactly) with the architecture's special tokens, and
the architecture's original chat template (TRL recognises it and swaps in its ``{% generation %}`` training
variant for assistant-only loss). ``<think>``, ``</think>``, ``<answer>`` and ``</answer>`` are single, non-special
tokens, so they survive ``skip_special_tokens=True`` decoding.

Command line: ``python -m emoreason.testing.vlm DIR [--arch qwen2_5_vl|qwen3_vl|smolvlm]``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.labels import LABEL_SETS

log = logging.getLogger(__name__)

REASONING_TOKENS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>")
QWEN_SPECIALS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
SMOLVLM_SPECIALS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<end_of_utterance>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    "<video>",
    *(f"<row_{r}_col_{c}>" for r in range(1, 3) for c in range(1, 3)),
)
VOCAB_SIZE = 2048
IMAGE_SIDE = 56  # Qwen-style processors resize every image to this many pixels square (a 2x2 merged grid)
# Wider than the usual 0.02, so a random tiny model's output depends on its input (tests can tell inputs apart).
INIT_RANGE = 0.1


def corpus() -> list[str]:
    """Text the tokenizer is trained on: prompts, FACS and label vocabulary, rule-engine CoTs, chat words."""
    from emoreason import facs
    from emoreason.labels import CANONICAL_LABELS, EXTENDED_LABELS, SYNONYMS
    from emoreason.reasoning import prompts
    from emoreason.reasoning.rules import explain
    from emoreason.schema import Evidence

    lines = [prompts.system_prompt(), prompts.chat_system_prompt()]
    lines += [f"AU{n} {au.name} ({au.description}; {au.muscle}, {au.region})" for n, au in facs.AU_TABLE.items()]
    lines += [" ".join(CANONICAL_LABELS), " ".join(EXTENDED_LABELS), " ".join(SYNONYMS)]
    examples: list[tuple[str, dict[str, float]]] = [("neutral", {})]
    examples += [
        (label, {f"AU{n}": 1.0 + 2.5 * w for n, w in proto.items()}) for label, proto in facs.PROTOTYPES.items()
    ]
    for i, (label, aus) in enumerate(examples):
        transcript = ["I can't believe it!", "", "Please leave me alone.", "That is wonderful news."][i % 4]
        prosody = ["high, widely varying pitch; loud; fast speech", "", "low pitch; quiet; slow speech"][i % 3]
        for label_set in LABEL_SETS:
            evidence = Evidence(id=str(i), aus=aus, transcript=transcript, prosody=prosody, label_set=label_set)
            lines.append(prompts.render_user(evidence))
        lines.append(prompts.teacher_text(evidence, label, aus, "Your previous answer was rejected: wrong label."))
        lines.append(explain(aus, transcript=transcript, prosody=prosody).text)
        lines.append(explain(aus, label=label, transcript=transcript, prosody=prosody).text)
    lines += [
        "What emotion does this face show? Why do you think so? Is the smile genuine? How confident are you?",
        "The person looks happy because the cheeks are raised. I am not sure; the evidence is weak and ambiguous.",
    ]
    return lines


def _train_tokenizer(specials: tuple[str, ...], eos: str, pad: str, bos: str | None = None) -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token=None))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(corpus(), trainer)
    raw.add_tokens([AddedToken(t, special=False, normalized=False) for t in REASONING_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token=eos, pad_token=pad, bos_token=bos, unk_token=None, padding_side="left"
    )


def trl_chat_template(name: str) -> str:
    """The architecture's original chat template, as TRL ships it (read from file: importing trl's
    ``chat_template_utils`` costs seconds)."""
    from importlib import resources

    return resources.files("trl").joinpath("chat_templates", f"{name}.jinja").read_text(encoding="utf-8")


def _ids(tokenizer: Any, tokens: tuple[str, ...]) -> dict[str, int]:
    return {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}


def _qwen_text_config(tokenizer: Any, ids: dict[str, int], mrope: list[int], **extra: Any) -> dict[str, Any]:
    # head_dim = 64 / 4 = 16; the mrope sections (t, h, w) must sum to head_dim / 2.
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "initializer_range": INIT_RANGE,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        **extra,
    }


def _qwen_tokens(tokenizer: Any) -> dict[str, Any]:
    ids = _ids(tokenizer, QWEN_SPECIALS)
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def _build_qwen2_5_vl() -> tuple[Any, Any]:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = _train_tokenizer(QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>")
    ids = _ids(tokenizer, QWEN_SPECIALS)
    config = Qwen2_5_VLConfig(
        text_config=_qwen_text_config(tokenizer, ids, [2, 2, 4]),
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        },
        **_qwen_tokens(tokenizer),
    )
    pixels = {"min_pixels": IMAGE_SIDE * IMAGE_SIDE, "max_pixels": IMAGE_SIDE * IMAGE_SIDE}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        video_processor=Qwen2VLVideoProcessor(**pixels),
        tokenizer=tokenizer,
        chat_template=trl_chat_template("qwen2_5_vl"),
    )
    return Qwen2_5_VLForConditionalGeneration(config), processor


def _build_qwen3_vl() -> tuple[Any, Any]:
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tokenizer = _train_tokenizer(QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>")
    ids = _ids(tokenizer, QWEN_SPECIALS)
    config = Qwen3VLConfig(
        text_config=_qwen_text_config(
            tokenizer,
            ids,
            [2, 3, 3],
            head_dim=16,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
                "mrope_interleaved": True,
            },
        ),  # fmt: skip
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [1],
        },
        **_qwen_tokens(tokenizer),
    )
    side = 64  # patch 16 x merge 2: a 2x2 merged grid
    pixels = {"size": {"shortest_edge": side * side, "longest_edge": side * side}, "patch_size": 16}
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        video_processor=Qwen3VLVideoProcessor(**pixels),
        tokenizer=tokenizer,
        chat_template=trl_chat_template("qwen3_vl"),
    )
    return Qwen3VLForConditionalGeneration(config), processor


def _build_smolvlm() -> tuple[Any, Any]:
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    tokenizer = _train_tokenizer(SMOLVLM_SPECIALS, eos="<end_of_utterance>", pad="<|endoftext|>", bos="<|im_start|>")
    ids = _ids(tokenizer, SMOLVLM_SPECIALS)
    image_size, patch_size, scale_factor = 32, 8, 2
    image_seq_len = (image_size // patch_size) ** 2 // scale_factor**2
    config = SmolVLMConfig(
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "initializer_range": INIT_RANGE,
            "bos_token_id": ids["<|im_start|>"],
            "eos_token_id": ids["<end_of_utterance>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": image_size,
            "patch_size": patch_size,
        },
        scale_factor=scale_factor,
        image_token_id=ids["<image>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    size = {"longest_edge": image_size}
    image_processor = SmolVLMImageProcessor(size=size, max_image_size=size, do_image_splitting=False)
    processor = SmolVLMProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(size=size, max_image_size=size),
        image_seq_len=image_seq_len,
        chat_template=trl_chat_template("smolvlm"),
    )
    return SmolVLMForConditionalGeneration(config), processor


ARCHS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "qwen2_5_vl": _build_qwen2_5_vl,
    "qwen3_vl": _build_qwen3_vl,
    "smolvlm": _build_smolvlm,
}


def build_tiny_vlm(path: str | Path, arch: str = "qwen2_5_vl", seed: int = 0) -> Path:
    """Build and save a tiny random VLM of ``arch`` (see ``ARCHS``) into ``path``; returns the path."""
    import torch

    if arch not in ARCHS:
        raise EmoreasonError(f"unknown tiny VLM arch {arch!r}; choose one of: {', '.join(ARCHS)}")
    path = Path(path)
    torch.manual_seed(seed)
    model, processor = ARCHS[arch]()
    tokenizer = processor.tokenizer
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id or tokenizer.pad_token_id
    path.mkdir(parents=True, exist_ok=True)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Writing model shards" for a 1 MB model is noise in test and CLI output
    try:
        model.save_pretrained(path)
        processor.save_pretrained(path)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    log.info("built a tiny %s VLM (%d parameters) in %s", arch, sum(p.numel() for p in model.parameters()), path)
    return path


def main(argv: list[str] | None = None) -> None:
    """``python -m emoreason.testing.vlm DIR [--arch ARCH]``."""
    parser = argparse.ArgumentParser(prog="python -m emoreason.testing.vlm", description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="output directory")
    parser.add_argument("--arch", default="qwen2_5_vl", choices=sorted(ARCHS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_vlm(args.path, args.arch, args.seed))  # noqa: T201 - the command's output


if __name__ == "__main__":
    main()
