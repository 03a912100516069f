"""emoreason.testing.vlm: tiny random VLMs built offline load through the Auto classes, generate and train."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from emoreason.errors import EmoreasonError
from emoreason.testing.vlm import REASONING_TOKENS, build_tiny_vlm, main


def _load(path: Path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoModelForImageTextToText.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path)


def _generate(model, processor, n_images: int = 2) -> list[str]:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "You are emoreason."}]},
        {"role": "user", "content": [{"type": "image"}] * n_images + [{"type": "text", "text": "What emotion?"}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    images = [[Image.new("RGB", (60 + 10 * i, 50), (i * 40, 90, 160)) for i in range(n_images)]] * 2
    batch = processor(text=[text, text], images=images, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > batch["input_ids"].shape[1]
    return processor.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def test_qwen2_5_vl_loads_and_generates(tiny_vlm: Path) -> None:
    model, processor = _load(tiny_vlm)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessor"
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert len(_generate(model, processor)) == 2
    assert processor.tokenizer.padding_side == "left"


def test_tokenizer_is_compact_and_keeps_reasoning_tags(tiny_vlm: Path) -> None:
    _, processor = _load(tiny_vlm)
    tok = processor.tokenizer
    for token in REASONING_TOKENS + ("<|im_start|>", "<|image_pad|>", "<|vision_start|>"):
        assert len(tok.encode(token, add_special_tokens=False)) == 1, token
    text = "<think>Key observations: AU12 lip corner puller (marked)</think><answer>happiness</answer>"
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) <= 20
    assert tok.decode(ids, skip_special_tokens=True) == text  # tags are not special: they survive decoding


def test_chat_template_is_the_architectures_own(tiny_vlm: Path) -> None:
    from emoreason.testing.vlm import trl_chat_template

    _, processor = _load(tiny_vlm)
    assert processor.chat_template == trl_chat_template("qwen2_5_vl")  # TRL recognises it (training templates)
    rendered = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
         {"role": "assistant", "content": [{"type": "text", "text": "<answer>neutral</answer>"}]}],
        tokenize=False,
    )  # fmt: skip
    assert "<|im_start|>assistant\n<answer>neutral</answer><|im_end|>" in rendered


def test_lora_trains_on_the_tiny_model(tiny_vlm: Path) -> None:
    from peft import LoraConfig, get_peft_model

    model, processor = _load(tiny_vlm)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What emotion?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<answer>happiness</answer>"}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False)
    batch = processor(text=[text], images=[[Image.new("RGB", (56, 56))]], return_tensors="pt")
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_" in n and p.requires_grad]
    assert torch.isfinite(loss) and grads and any(g is not None and g.abs().sum() > 0 for g in grads)


def test_qwen3_vl(tmp_path: Path) -> None:
    model, processor = _load(build_tiny_vlm(tmp_path / "q3", arch="qwen3_vl"))
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert len(_generate(model, processor, n_images=1)) == 2


def test_smolvlm(tiny_smolvlm: Path) -> None:
    model, processor = _load(tiny_smolvlm)
    assert type(model).__name__ == "SmolVLMForConditionalGeneration"
    assert type(processor).__name__ == "SmolVLMProcessor"
    assert len(_generate(model, processor)) == 2


def test_command_line_and_unknown_arch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main([str(tmp_path / "cli"), "--arch", "qwen2_5_vl"])
    assert capsys.readouterr().out.strip() == str(tmp_path / "cli")
    assert (tmp_path / "cli" / "config.json").exists() and (tmp_path / "cli" / "model.safetensors").exists()
    with pytest.raises(EmoreasonError, match="unknown tiny VLM arch 'llava'.*qwen2_5_vl"):
        build_tiny_vlm(tmp_path / "x", arch="llava")
