"""`emoreason export`: merges the LoRA into the base, saves the processor, writes an HF model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from emoreason.errors import EmoreasonError
from emoreason.train.export import export_model

METRICS = {
    "accuracy": 0.75,
    "uar": 0.7,
    "macro_f1": 0.68,
    "au_f1": 0.5,
    "format_rate": 1.0,
    "per_class": {"happiness": {"recall": 1.0, "f1": 0.9, "support": 4}, "sadness": {"recall": 0.5, "support": 4}},
    "per_group": {"gender": {"female": {"accuracy": 0.8, "n": 5}, "male": {"accuracy": 0.67, "n": 3}}},
}


def test_export_merges_and_writes_a_card(sft_run: dict[str, Any], tiny_vlm: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "metrics.json").write_text(json.dumps(METRICS))
    out = export_model(sft_run["out"], tmp_path / "merged", merge=True, eval_dir=tmp_path / "eval")

    merged = AutoModelForImageTextToText.from_pretrained(out)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    AutoProcessor.from_pretrained(out)
    reference = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_vlm), str(sft_run["out"]))
    ids = torch.tensor([[1, 5, 9, 12, 30]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-4)

    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    # a local base is named by its absolute path in the text; base_model metadata is for Hub ids only
    assert "base_model" not in front and front["library_name"] == "transformers"
    assert f"`{tiny_vlm.resolve()}`" in card
    for heading in (
        "## Intended use",
        "## Out-of-scope use",
        "## Training data",
        "## Evaluation",
        "## Known limitations",
        "### Per class",
        "### Per demographic group",
    ):
        assert heading in card
    assert "clinical" in card and "hiring" in card and "policing" in card and "surveillance" in card
    assert "| happiness | 1.000 | 0.900 | 4 |" in card
    assert "| female | 0.800 | 5 |" in card
    assert "SFT** on" in card and "8 samples" in card


def test_export_without_merge_copies_the_adapter(sft_run: dict[str, Any], tmp_path: Path) -> None:
    out = export_model(sft_run["out"], tmp_path / "adapter", merge=False)
    assert (out / "adapter_model.safetensors").is_file() and (out / "README.md").is_file()
    card = (out / "README.md").read_text()
    assert "library_name: peft" in card and "no per-group" not in card and "No evaluation was attached" in card


def test_export_errors(sft_run: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="not a LoRA adapter"):
        export_model(tmp_path, tmp_path / "x")
    with pytest.raises(EmoreasonError, match="metrics.json"):
        export_model(sft_run["out"], tmp_path / "x", eval_dir=tmp_path)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("keep me")
    with pytest.raises(EmoreasonError, match="not an earlier export"):
        export_model(sft_run["out"], tmp_path / "busy")
    assert (tmp_path / "busy" / "thesis.tex").is_file()
    with pytest.raises(EmoreasonError, match=r"--base /nowhere/vlm: no such folder"):  # the loader's own checks
        export_model(sft_run["out"], tmp_path / "x", base="/nowhere/vlm")
    bare = tmp_path / "bare_adapter"  # no processor beside it: the base's is loaded, and its error names --base
    bare.mkdir()
    (bare / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/nowhere/base"}))
    with pytest.raises(EmoreasonError, match=r"^--base /nowhere/base: no such folder"):
        export_model(bare, tmp_path / "x", merge=False)
    with pytest.raises(EmoreasonError, match="unknown --dtype 'int8'"):
        export_model(sft_run["out"], tmp_path / "x", dtype="int8")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))  # nothing half-written is left


def test_export_saves_the_bases_dtype_or_the_one_asked(
    sft_run: dict[str, Any], tiny_vlm: Path, tmp_path: Path
) -> None:
    from transformers import AutoConfig

    from emoreason.train.export import saved_dtype

    assert saved_dtype(AutoConfig.from_pretrained(tiny_vlm)) == torch.float32  # the tiny base is saved in float32
    assert saved_dtype(type("C", (), {"dtype": "bfloat16"})()) == torch.bfloat16
    assert saved_dtype(type("C", (), {"dtype": None})()) == torch.float32
    out = export_model(sft_run["out"], tmp_path / "bf16", dtype="bfloat16")
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), framework="pt") as handle:
        assert {handle.get_tensor(k).dtype for k in handle.keys()} == {torch.bfloat16}  # noqa: SIM118
