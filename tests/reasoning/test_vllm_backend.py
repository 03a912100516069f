"""The vllm backend: a clear error without vLLM, the engine glue checked against a recording fake, and a real run on
a tiny VLM where a CUDA GPU and vLLM are present."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from emoreason.errors import EmoreasonError
from emoreason.reasoning.base import build_reasoner
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


def test_batch_goes_to_one_chat_call_with_data_urls_and_stop(fake_vllm: _Recorder, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    reasoner = build_reasoner("vllm", model="/models/qwen", adapter=str(adapter), max_new_tokens=64)
    results = reasoner.reason([_evidence(0), _evidence(1), _evidence(2)])
    assert [r.label for r in results] == ["happiness"] * 3 and all(r.format_ok for r in results)
    assert fake_vllm.engine["model"] == "/models/qwen" and fake_vllm.engine["enable_lora"] is True
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
        build_reasoner("vllm", model="/models/qwen", adapter=str(tmp_path))


@pytest.mark.gpu
def test_real_vllm_on_a_tiny_vlm(tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    from emoreason.testing.vlm import build_tiny_vlm

    model = build_tiny_vlm(tmp_path / "vlm", arch="qwen2_5_vl")
    reasoner = build_reasoner("vllm", model=str(model), max_new_tokens=16, gpu_memory_utilization=0.3)
    results = reasoner.reason([_evidence(0), _evidence(1)])
    assert len(results) == 2 and all(r.backend == "vllm" for r in results)
