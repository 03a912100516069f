"""The ``hf`` backend on tiny random VLMs: loading, device/dtype, batched left-padded generation, several images per
sample, the ``</answer>`` stop, sampling settings, streaming, and one-line errors for every bad model/adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from emoreason.errors import EmoreasonError
from emoreason.reasoning.hf import HFReasoner
from emoreason.reasoning.loading import pick_device, pick_dtype
from emoreason.reasoning.prompts import build_messages
from emoreason.schema import Evidence


@pytest.fixture(scope="module")
def hf(tiny_vlm: Path) -> HFReasoner:
    return HFReasoner(str(tiny_vlm), max_new_tokens=8, batch_size=4)


def _crop(i: int) -> Image.Image:
    return Image.new("RGB", (48 + 9 * i, 60), (37 * i % 255, 110, 200 - 15 * i))


def _evidence(n: int, images: int = 1) -> list[Evidence]:
    transcripts = ["", "I can't believe it!", "Please leave me alone, I am so tired of all of this."]
    return [
        Evidence(id=str(i), images=[_crop(i + k) for k in range(images)], aus={"AU12": 1.0 + i} if i % 2 else {},
                 transcript=transcripts[i % 3])
        for i in range(n)
    ]  # fmt: skip


class Script:
    """A logits processor that makes row r emit ``rows[r]`` token by token, then ``filler`` forever."""

    def __init__(self, rows: list[list[int]], filler: int):
        self.rows, self.filler, self.start = rows, filler, None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.start = input_ids.shape[1] if self.start is None else self.start
        step = input_ids.shape[1] - self.start
        forced = torch.full_like(scores, float("-inf"))
        for r, row in enumerate(self.rows):
            forced[r, row[step] if step < len(row) else self.filler] = 0.0
        return forced


def _spy_generate(monkeypatch: pytest.MonkeyPatch, reasoner: HFReasoner) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    real = reasoner.model.generate

    def generate(**kwargs: Any) -> torch.Tensor:
        out = real(**kwargs)
        calls.append({**kwargs, "out_shape": tuple(out.shape)})
        return out

    monkeypatch.setattr(reasoner.model, "generate", generate)
    return calls


# -- loading ---------------------------------------------------------------------------------------------------
def test_loads_through_the_auto_classes(hf: HFReasoner) -> None:
    assert type(hf.model).__name__ == "Qwen2_5_VLForConditionalGeneration" and not hf.model.training
    assert type(hf.processor).__name__ == "Qwen2_5_VLProcessor"
    assert hf.processor.tokenizer.padding_side == "left" and hf.processor.tokenizer.pad_token is not None
    assert hf.device == "cpu" and hf.model.dtype == torch.float32


def test_device_and_dtype_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == "cpu" and pick_dtype("cpu") == torch.float32
    with pytest.raises(EmoreasonError, match="CUDA is not available.*--device cpu"):
        pick_device("cuda:0")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == "mps" and pick_dtype("mps") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == "cuda" and pick_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert pick_dtype("cuda") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert pick_dtype("cuda") == torch.float16
    assert pick_dtype("cpu", "bfloat16") == torch.bfloat16 and pick_dtype("cpu", torch.float16) == torch.float16
    with pytest.raises(EmoreasonError, match="unknown dtype 'fp8'.*bfloat16"):
        pick_dtype("cpu", "fp8")


def test_hub_id_is_passed_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    asked: list[str] = []

    def from_pretrained(name: str, *args: Any, **kwargs: Any) -> None:
        asked.append(name)
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files.\nCheck your connection.")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", from_pretrained)
    with pytest.raises(
        EmoreasonError, match=r"download it first \(`hf download Qwen/Qwen2.5-VL-3B-Instruct`\)"
    ) as err:
        HFReasoner("Qwen/Qwen2.5-VL-3B-Instruct")
    assert asked == ["Qwen/Qwen2.5-VL-3B-Instruct"] and "\n" not in str(err.value)


# -- generation ------------------------------------------------------------------------------------------------
def test_batched_generation_is_left_padded_and_matches_one_by_one(
    hf: HFReasoner, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = _evidence(5)
    inputs = hf._inputs([build_messages(ev) for ev in evidence[:3]], [ev.images for ev in evidence[:3]])
    mask = inputs["attention_mask"]
    assert mask[:, -1].all() and not mask[:, 0].all()  # padding on the left: every row ends with its prompt
    calls = _spy_generate(monkeypatch, hf)
    batched = hf.reason(evidence)
    assert [c["input_ids"].shape[0] for c in calls] == [4, 1]  # batch_size 4
    one_by_one = [hf.reason([ev])[0] for ev in evidence]
    assert [r.raw for r in batched] == [r.raw for r in one_by_one]
    assert all(r.backend == "hf" and r.label is None and not r.format_ok for r in batched)  # random weights


def test_several_images_per_sample(hf: HFReasoner, monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = _evidence(2, images=2) + _evidence(1, images=1) + _evidence(1, images=3)
    calls = _spy_generate(monkeypatch, hf)
    results = hf.reason(evidence)
    assert len(results) == 4
    # samples are grouped by image count; each group's image grid has one row per image
    assert sorted((c["input_ids"].shape[0], c["image_grid_thw"].shape[0]) for c in calls) == [(1, 1), (1, 3), (2, 4)]
    alone = hf.reason(evidence[:1])[0]
    assert alone.raw == results[0].raw
    with pytest.raises(EmoreasonError, match="2 image parts but 1 images"):
        hf.generate_texts([build_messages(evidence[0])], [evidence[0].images[:1]])


def test_stops_at_answer(hf: HFReasoner, monkeypatch: pytest.MonkeyPatch) -> None:
    tok = hf.processor.tokenizer
    answer = tok.encode("<answer>happiness</answer>", add_special_tokens=False)
    filler = tok.encode(" AU12", add_special_tokens=False)[0]
    evidence = _evidence(2)
    messages, images = [build_messages(ev) for ev in evidence], [ev.images for ev in evidence]
    calls = _spy_generate(monkeypatch, hf)
    texts = hf.generate_texts(messages, images, max_new_tokens=30, logits_processor=[Script([answer, answer], filler)])
    assert texts == ["<answer>happiness</answer>"] * 2
    prompt = calls[0]["input_ids"].shape[1]
    assert calls[0]["out_shape"][1] - prompt == len(answer)  # stopped there, not at max_new_tokens
    texts = hf.generate_texts(messages, images, max_new_tokens=12, logits_processor=[Script([answer, []], filler)])
    assert texts[0] == "<answer>happiness</answer>" and "</answer>" not in texts[1]
    assert calls[1]["out_shape"][1] - prompt == 12  # the other row ran to max_new_tokens


def test_streaming_stops_at_answer(hf: HFReasoner) -> None:
    tok = hf.processor.tokenizer
    script = tok.encode(
        "<think>\nAU12 lip corner puller</think>\n<answer>happiness</answer>", add_special_tokens=False
    )
    ev = _evidence(1)[0]
    pieces = list(
        hf.stream_chat(
            build_messages(ev), ev.images, max_new_tokens=40, logits_processor=[Script([script], script[0])]
        )
    )
    assert len(pieces) > 1 and "".join(pieces) == "<think>\nAU12 lip corner puller</think>\n<answer>happiness</answer>"


def test_sampling_settings_and_max_new_tokens(hf: HFReasoner, monkeypatch: pytest.MonkeyPatch) -> None:
    ev = _evidence(1)[0]
    messages, images = [build_messages(ev)], [ev.images]
    calls = _spy_generate(monkeypatch, hf)
    greedy = [hf.generate_texts(messages, images)[0] for _ in range(2)]
    assert greedy[0] == greedy[1] and calls[0]["do_sample"] is False and calls[0]["max_new_tokens"] == 8
    assert calls[0]["stop_strings"] == ["</answer>"]
    sampled = set()
    for seed in range(4):
        torch.manual_seed(seed)
        sampled.add(hf.generate_texts(messages, images, temperature=1.5, top_p=0.95, max_new_tokens=3)[0])
    assert calls[-1]["do_sample"] is True and calls[-1]["temperature"] == 1.5 and calls[-1]["top_p"] == 0.95
    assert len(sampled) > 1  # sampling with different seeds gives different texts
    assert all(c["out_shape"][1] - c["input_ids"].shape[1] <= 3 for c in calls[2:])


def test_settings_are_checked_before_loading() -> None:
    for bad in ({"top_p": 0.0}, {"temperature": -1.0}, {"max_new_tokens": 0}, {"batch_size": 0}):
        with pytest.raises(EmoreasonError, match="need max_new_tokens >= 1"):
            HFReasoner("/definitely/not/loaded", **bad)


# -- bad models, processors and adapters: one line each, never a library traceback ----------------------------
# Bad model folders (missing, empty, a file, text-only, a mismatched processor) are checked once for the hf backend
# and training together: tests/train/test_model_loading.py (same one-line error from both).


def _save_adapter(base: Path, target: Path, edit: dict[str, Any] | None = None) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(base)
    torch.manual_seed(1)
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)  # a trained-looking adapter: it changes the output
    peft_model.save_pretrained(target)
    if edit:
        config_file = target / "adapter_config.json"
        config = {**json.loads(config_file.read_text()), **edit}
        config_file.write_text(json.dumps(config))
    return target


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, tiny_vlm: Path, tiny_smolvlm: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        "good": _save_adapter(tiny_vlm, root / "good"),
        "smolvlm": _save_adapter(tiny_smolvlm, root / "smolvlm"),
        # no class recorded: the base model's config.json tells the architecture
        "smolvlm_by_config": _save_adapter(tiny_smolvlm, root / "by_config", {"auto_mapping": None}),
        # nothing recorded but a hub id: only the weights tell (peft alone would warn and load a no-op)
        "smolvlm_by_weights": _save_adapter(
            tiny_smolvlm, root / "by_weights", {"auto_mapping": None, "base_model_name_or_path": "org/other-vlm"}
        ),
    }


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("smolvlm", "the adapter is for a SmolVLMForConditionalGeneration, the model is a Qwen2_5_VL"),
        ("smolvlm_by_config", "the adapter is for a 'smolvlm' model, the model is 'qwen2_5_vl'"),
        ("smolvlm_by_weights", "its weights name layers the model does not have.*trained on 'org/other-vlm'"),
    ],
)
def test_adapter_for_another_base_model_is_one_line(
    adapters: dict[str, Path], tiny_vlm: Path, which: str, words: str
) -> None:
    with pytest.raises(EmoreasonError, match=f"--adapter .* does not fit --model {tiny_vlm}: {words}") as err:
        HFReasoner(str(tiny_vlm), adapter=str(adapters[which]))
    assert "\n" not in str(err.value)


def test_adapter_that_fits_is_applied(
    adapters: dict[str, Path], tiny_vlm: Path, hf: HFReasoner, tmp_path: Path
) -> None:
    tuned = HFReasoner(str(tiny_vlm), adapter=str(adapters["good"]), max_new_tokens=8)
    assert type(tuned.model).__name__ == "PeftModel" and not tuned.model.training
    ev = _evidence(1)
    assert tuned.reason(ev)[0].raw != hf.reason(ev)[0].raw  # the LoRA weights change the generation
    with pytest.raises(EmoreasonError, match="no adapter_config.json there"):
        HFReasoner(str(tiny_vlm), adapter=str(tmp_path))
