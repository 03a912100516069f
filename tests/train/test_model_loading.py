"""Training and the ``hf`` backend load through one loader (``reasoning/loading.py``): the same one-line error for the
same bad model, processor or adapter (only the flag names differ), and the same dtype rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from emoreason.errors import EmoreasonError
from emoreason.reasoning.hf import HFReasoner
from emoreason.reasoning.loading import pick_device, pick_dtype
from emoreason.train.config import parse_config

MODEL_FILES = {"config.json", "model.safetensors", "generation_config.json"}
FLAGS = (("--model_name_or_path", "--model"), ("--adapter_path", "--adapter"))


def _config(model: Path | str, tmp: Path, *extra: str) -> Any:
    args = ["--model_name_or_path", str(model), "--dataset_path", str(tmp), "--output_dir", str(tmp / "out")]
    return parse_config("sft", [*args, "--report_to", "none", *extra])


def _training_error(model: Path | str, tmp: Path, *extra: str) -> str:
    """What ``emoreason train`` says, in its order: processor, base model, adapter (flags named as the CLI's)."""
    from emoreason.train.model import add_lora, load_base_model, load_processor

    config = _config(model, tmp, *extra)
    with pytest.raises(EmoreasonError) as err:
        load_processor(str(model), config.model_revision)
        add_lora(load_base_model(config), config)
    text = str(err.value)
    for train_flag, cli_flag in FLAGS:
        text = text.replace(train_flag, cli_flag)
    return text


def _hf_error(model: Path | str, adapter: Path | None = None) -> str:
    with pytest.raises(EmoreasonError) as err:
        HFReasoner(str(model), adapter=str(adapter) if adapter else None)
    return str(err.value)


@pytest.fixture(scope="module")
def smolvlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emoreason.testing.vlm import build_tiny_vlm

    return Path(build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "smolvlm", arch="smolvlm"))


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory, tiny_vlm: Path, smolvlm: Path) -> dict[str, Path]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("bad")
    LlamaForCausalLM(
        LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    ).save_pretrained(root / "text_only")
    (root / "mismatch").mkdir()  # the Qwen2.5-VL weights with SmolVLM's processor files
    for folder, keep in ((tiny_vlm, True), (smolvlm, False)):
        for f in folder.iterdir():
            if (f.name in MODEL_FILES) == keep:
                shutil.copy(f, root / "mismatch" / f.name)
    (root / "empty").mkdir()
    peft_model = get_peft_model(
        AutoModelForImageTextToText.from_pretrained(smolvlm), LoraConfig(r=2, target_modules=["q_proj", "v_proj"])
    )
    peft_model.save_pretrained(root / "smol_adapter")
    by_weights = root / "smol_adapter_by_weights"  # nothing recorded but a hub id: only the weights tell
    shutil.copytree(root / "smol_adapter", by_weights)
    config = json.loads((by_weights / "adapter_config.json").read_text())
    config.update(auto_mapping=None, base_model_name_or_path="org/other-vlm")
    (by_weights / "adapter_config.json").write_text(json.dumps(config))
    (root / "not_an_adapter").mkdir()
    return {
        "missing": root / "no" / "such" / "model",
        "file": tiny_vlm / "config.json",
        **{p.name: p for p in root.iterdir()},
    }


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("missing", "no such folder"),
        ("empty", "has no config.json"),
        ("file", "is a file; pass the model's folder"),
        ("text_only", "is a 'llama' model, not a vision-language"),
        ("mismatch", "does not match its model: its tokenizer has"),
    ],
)
def test_a_bad_model_gets_the_same_error_in_training_and_the_hf_backend(
    bad: dict[str, Path], tmp_path: Path, which: str, words: str
) -> None:
    hf = _hf_error(bad[which])
    assert words in hf and "\n" not in hf
    assert _training_error(bad[which], tmp_path, "--dtype", "float32") == hf


def test_an_uncached_hub_id_gets_the_same_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import transformers

    def offline(name: str, *args: Any, **kwargs: Any) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files.\nCheck your connection.")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", offline)
    hf = _hf_error("Qwen/Qwen2.5-VL-3B-Instruct")
    assert "download it first (`hf download Qwen/Qwen2.5-VL-3B-Instruct`)" in hf
    assert _training_error("Qwen/Qwen2.5-VL-3B-Instruct", tmp_path) == hf


@pytest.mark.parametrize(
    ("which", "words"),
    [
        ("smol_adapter", "the adapter is for a SmolVLMForConditionalGeneration, the model is a Qwen2_5_VL"),
        ("smol_adapter_by_weights", "its weights name layers the model does not have"),
    ],
)
def test_an_adapter_for_another_base_gets_the_same_error(
    bad: dict[str, Path], tiny_vlm: Path, tmp_path: Path, which: str, words: str
) -> None:
    hf = _hf_error(tiny_vlm, bad[which])
    assert f"does not fit --model {tiny_vlm}: {words}" in hf and "\n" not in hf
    assert _training_error(tiny_vlm, tmp_path, "--dtype", "float32", "--adapter_path", str(bad[which])) == hf


def test_a_fitting_adapter_is_trainable_in_training(tiny_vlm: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from emoreason.train.model import add_lora, load_base_model

    get_peft_model(
        AutoModelForImageTextToText.from_pretrained(tiny_vlm), LoraConfig(r=2, target_modules=["q_proj", "v_proj"])
    ).save_pretrained(tmp_path / "adapter")
    config = _config(tiny_vlm, tmp_path, "--dtype", "float32", "--adapter_path", str(tmp_path / "adapter"))
    model = add_lora(load_base_model(config), config)
    assert any(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)


def test_the_same_dtype_rule(tiny_vlm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto`` is the device rule in both, not the checkpoint's dtype (training used to load a bf16 checkpoint in
    bf16 on a CPU, where the hf backend used float32)."""
    from transformers import AutoModelForImageTextToText

    from emoreason.train.model import load_base_model, train_dtype

    bf16 = tmp_path / "bf16"
    shutil.copytree(tiny_vlm, bf16)
    AutoModelForImageTextToText.from_pretrained(tiny_vlm, dtype=torch.bfloat16).save_pretrained(bf16)
    assert json.loads((bf16 / "config.json").read_text()).get("dtype", "bfloat16") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert load_base_model(_config(bf16, tmp_path)).dtype == HFReasoner(str(bf16)).model.dtype == torch.float32

    asked: list[Any] = []

    def record(name: str, *args: Any, dtype: Any = None, **kwargs: Any) -> None:
        asked.append(dtype)
        raise OSError("stop here")

    auto, on_cpu = _config(tiny_vlm, tmp_path), _config(tiny_vlm, tmp_path, "--use_cpu", "true")  # parsed before
    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", record)  # CUDA is faked: TrainingArguments
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # would try to start it
    for bf16_ok, expected in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda ok=bf16_ok: ok)
        asked.clear()
        with pytest.raises(EmoreasonError, match="could not load the weights"):
            load_base_model(auto)
        _hf_error(tiny_vlm)
        assert asked == [expected, expected] and train_dtype(auto) == pick_dtype(pick_device()) == expected
    assert train_dtype(on_cpu) == torch.float32


def test_a_gpu_only_flag_says_what_it_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from emoreason.reasoning.loading import require_gpu_package

    with pytest.raises(EmoreasonError, match=r"^--use_vllm needs a CUDA GPU; pass --use_vllm false$"):
        require_gpu_package("--use_vllm", "vllm", "vLLM", "pass --use_vllm false")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(EmoreasonError, match=r"^--x needs Nothing: pip install 'emoreason\[gpu\]'$"):
        require_gpu_package("--x", "emoreason_no_such_module", "Nothing", "unused")
    require_gpu_package("--x", "json", "json", "unused")  # present: no error
