"""The vllm backend: a clear error without vLLM, the engine glue checked against a recording fake, and a real run on
a tiny VLM where a CUDA GPU and vLLM are present."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from emoreason.errors import EmoreasonError
from emoreason.reasoning.base import build_reasoner
from emoreason.reasoning.loading import pick_dtype
from emoreason.schema import Evidence


def _evidence(i: int) -> Evidence:
    return Evidence(id=f"e{i}", images=[Image.new("RGB", (32, 32), (200, 10 * i, 0))], aus={"AU12": 3.0})


def test_missing_vllm_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError, whether or not it is installed
    with pytest.raises(EmoreasonError, match=r"pip install 'emoreason\[gpu\]'"):
        build_reasoner("vllm", model="some/model")


class _Recorder:
    """Records what the backend hands to vLLM's engine; answers each conversation with a fixed reply."""

    def __init__(self) -> None:
        self.engine: dict[str, Any] = {}
        self.calls: list[dict[str, Any]] = []


@pytest.fixture()
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    rec = _Recorder()
    vllm = types.ModuleType("vllm")

    class LLM:
        def __init__(self, **engine: Any) -> None:
            rec.engine = engine

        def chat(self, conversations: list, params: Any, lora_request: Any = None, use_tqdm: bool = True) -> list:
            rec.calls.append({"conversations": conversations, "params": params, "lora": lora_request})
            reply = (
                "<think>\nKey observations: AU12.\nOverall interpretation: smile.\nConclusion: happiness.\n</think>"
            )
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=reply + "<answer>happy</answer>")])
                    for _ in conversations]  # fmt: skip

    vllm.LLM = LLM
    vllm.SamplingParams = lambda **kw: kw
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda name, idx, path: (name, idx, path)
    for name, module in {"vllm": vllm, "vllm.lora": lora, "vllm.lora.request": request}.items():
        monkeypatch.setitem(sys.modules, name, module)
    return rec


def _model_folder(path: Path, model_type: str = "qwen2_5_vl", arch: str = "Qwen2_5_VLForConditionalGeneration") -> str:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": [arch]}))
    return str(path)


def test_batch_goes_to_one_chat_call_with_data_urls_and_stop(fake_vllm: _Recorder, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    model = _model_folder(tmp_path / "qwen")
    reasoner = build_reasoner("vllm", model=model, adapter=str(adapter), max_new_tokens=64)
    results = reasoner.reason([_evidence(0), _evidence(1), _evidence(2)])
    assert [r.label for r in results] == ["happiness"] * 3 and all(r.format_ok for r in results)
    assert fake_vllm.engine["model"] == model and fake_vllm.engine["enable_lora"] is True
    (call,) = fake_vllm.calls
    assert len(call["conversations"]) == 3 and call["lora"] == ("adapter", 1, str(adapter.resolve()))
    assert call["params"]["stop"] == ["</answer>"] and call["params"]["include_stop_str_in_output"]
    assert call["params"]["max_tokens"] == 64 and call["params"]["temperature"] == 0.0
    system, user = call["conversations"][0]
    assert system["role"] == "system" and isinstance(system["content"], str)
    assert user["content"][0]["type"] == "image_url"
    assert user["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "AU12" in user["content"][-1]["text"]


def test_adapter_folder_is_checked(fake_vllm: _Recorder, tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="adapter_config.json"):
        build_reasoner("vllm", model=_model_folder(tmp_path / "qwen"), adapter=str(tmp_path))


def test_vllm_gets_the_hf_backends_model_and_adapter_checks(fake_vllm: _Recorder, tmp_path: Path) -> None:
    """The same one-line refusals as ``hf`` before vLLM starts (was: vLLM's own error, or a silently ignored dtype)."""
    with pytest.raises(EmoreasonError, match="--model .*: no such folder; pass a local model folder or a hub id"):
        build_reasoner("vllm", model=str(tmp_path / "no" / "such"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmoreasonError, match="has no config.json"):
        build_reasoner("vllm", model=str(tmp_path / "empty"))
    smol = _model_folder(tmp_path / "smol", "smolvlm", "SmolVLMForConditionalGeneration")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps(
            {"base_model_name_or_path": smol, "auto_mapping": {"base_model_class": "SmolVLMForConditionalGeneration"}}
        )
    )
    with pytest.raises(EmoreasonError, match="does not fit --model .*: the adapter is for a SmolVLMForCond"):
        build_reasoner("vllm", model=_model_folder(tmp_path / "qwen"), adapter=str(adapter))
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": smol}))
    with pytest.raises(EmoreasonError, match="the adapter is for a 'smolvlm' model, the model is 'qwen2_5_vl'"):
        build_reasoner("vllm", model=str(tmp_path / "qwen"), adapter=str(adapter))
    build_reasoner("vllm", model="org/some-vlm", dtype="float32")  # a hub id goes to vLLM as given
    assert fake_vllm.engine["model"] == "org/some-vlm" and fake_vllm.engine["dtype"] == "float32"
    build_reasoner("vllm", model="org/some-vlm")
    assert fake_vllm.engine["dtype"] == str(pick_dtype("cuda")).removeprefix("torch.")


@pytest.mark.gpu
def test_real_vllm_on_a_tiny_vlm(tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    from emoreason.testing.vlm import build_tiny_vlm

    model = build_tiny_vlm(tmp_path / "vlm", arch="qwen2_5_vl")
    reasoner = build_reasoner("vllm", model=str(model), max_new_tokens=16, gpu_memory_utilization=0.3)
    results = reasoner.reason([_evidence(0), _evidence(1)])
    assert len(results) == 2 and all(r.backend == "vllm" for r in results)
