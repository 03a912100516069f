"""The openai backend against a real HTTP server on loopback: the request on the wire, and server failures."""

from __future__ import annotations

import base64
import io
import socket

import pytest
from PIL import Image

from emoreason.errors import EmoreasonError
from emoreason.reasoning.base import build_reasoner
from emoreason.reasoning.openai_backend import OpenAIReasoner, to_wire
from emoreason.reasoning.prompts import PROMPT_VERSION, system_prompt
from emoreason.schema import Evidence


def _evidence(n_images: int = 2, transcript: str = "I got the job!") -> Evidence:
    images = [Image.new("RGB", (48, 40), (200, 10 * i, 30)) for i in range(n_images)]
    return Evidence(id="e1", images=images, aus={"AU6": 2.2, "AU12": 3.1}, transcript=transcript, prosody="loud")


def test_request_carries_messages_data_url_images_and_model(openai_server) -> None:
    reasoner = build_reasoner("openai", model="emo-vlm", base_url=openai_server.base_url, max_new_tokens=77)
    [result] = reasoner.reason([_evidence()])
    assert result.label == "happiness" and result.format_ok and result.backend == "openai"
    assert result.raw.endswith("</answer>")  # the stop string the server dropped is restored
    [request] = openai_server.requests
    body = request["body"]
    assert request["path"] == "/v1/chat/completions"
    assert body["model"] == "emo-vlm" and body["max_tokens"] == 77 and body["temperature"] == 0.0
    assert body["stop"] == ["</answer>"]
    system, user = body["messages"]
    assert system == {"role": "system", "content": system_prompt()}
    assert user["role"] == "user"
    kinds = [part["type"] for part in user["content"]]
    assert kinds == ["image_url", "image_url", "text"]
    for part in user["content"][:2]:
        url = part["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert decoded.size == (48, 40)
    text = user["content"][2]["text"]
    assert "AU12 lip corner puller (marked)" in text and '"""\nI got the job!\n"""' in text
    assert "<answer>" in text and PROMPT_VERSION == "v1"
    assert request["headers"]["authorization"] == "Bearer EMPTY"  # a dummy key is fine for local servers


def test_api_key_comes_from_the_environment(openai_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-123")
    OpenAIReasoner("m", openai_server.base_url).reason([_evidence(0)])
    assert openai_server.requests[0]["headers"]["authorization"] == "Bearer sk-local-123"


def test_concurrency_limit_and_order(openai_server) -> None:
    openai_server.delay = 0.2
    reasoner = OpenAIReasoner("m", openai_server.url("slow"), concurrency=3)
    evidence = [_evidence(1, transcript=f"clip {i}") for i in range(7)]
    results = reasoner.reason(evidence)
    assert len(results) == 7 and all(r.label == "happiness" for r in results)
    assert 2 <= openai_server.max_in_flight <= 3
    sent = sorted(r["body"]["messages"][1]["content"][-1]["text"].count("clip ") for r in openai_server.requests)
    assert sent == [1] * 7


def test_retries_server_errors_with_backoff(openai_server) -> None:
    openai_server.fail_first = 1
    [result] = OpenAIReasoner("m", openai_server.base_url, max_retries=2).reason([_evidence(0)])
    assert result.label == "happiness" and len(openai_server.requests) == 2


def test_gives_up_after_retries_with_a_clear_message(openai_server) -> None:
    openai_server.fail_first = 5
    with pytest.raises(EmoreasonError, match=r"HTTP 503 .*overloaded.* after retries"):
        OpenAIReasoner("m", openai_server.base_url, max_retries=0).reason([_evidence(0)])


def test_401_says_to_set_the_key(openai_server) -> None:
    with pytest.raises(
        EmoreasonError, match=r"rejected the API key \(401 Incorrect API key provided\).*OPENAI_API_KEY"
    ):
        OpenAIReasoner("m", openai_server.base_url, api_key="bad").reason([_evidence(0)])


def test_unknown_model_says_404(openai_server) -> None:
    with pytest.raises(EmoreasonError, match=r"model 'missing' not found .*404"):
        OpenAIReasoner("missing", openai_server.base_url).reason([_evidence(0)])


def test_non_json_server_is_explained(openai_server) -> None:
    with pytest.raises(EmoreasonError, match=r"non-JSON .*Welcome to nginx.*ending in /v1"):
        OpenAIReasoner("m", openai_server.url("html")).reason([_evidence(0)])


def test_unreachable_base_url_is_explained() -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reasoner = OpenAIReasoner("m", f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5)
    with pytest.raises(EmoreasonError, match=r"cannot reach an OpenAI-compatible server at http://127.0.0.1:\d+/v1"):
        reasoner.reason([_evidence(0)])


def test_bad_base_url_scheme() -> None:
    with pytest.raises(EmoreasonError, match="must start with http"):
        OpenAIReasoner("m", "localhost:8000/v1")


def test_stream_chat_streams_and_restores_the_stop(openai_server) -> None:
    reasoner = OpenAIReasoner("m", openai_server.base_url)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How does she feel?"}]}]
    pieces = list(reasoner.stream_chat(messages, [Image.new("RGB", (20, 20))]))
    assert len(pieces) > 5 and "".join(pieces).endswith("<answer>happiness</answer>")
    assert openai_server.requests[0]["body"]["stream"] is True


def test_generate_texts_accepts_plain_and_placeholder_parts(openai_server) -> None:
    reasoner = OpenAIReasoner("m", openai_server.base_url)
    messages = [
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "image", "text": None}]}],
        [{"role": "user", "content": "no image here"}],
    ]
    texts = reasoner.generate_texts(messages, [[Image.new("RGB", (8, 8))], []], temperature=0.7, do_sample=True)
    assert texts == [texts[0]] * 2 and texts[0].endswith("</answer>")
    bodies = sorted((r["body"] for r in openai_server.requests), key=lambda b: len(b["messages"]))
    assert bodies[0]["messages"] == [{"role": "user", "content": "no image here"}]
    assert bodies[1]["messages"][0] == {"role": "system", "content": "be brief"} and bodies[1]["temperature"] == 0.7


def test_to_wire_checks_image_count() -> None:
    with pytest.raises(EmoreasonError, match="1 image parts but 0 images"):
        to_wire([{"role": "user", "content": [{"type": "image"}]}], [])
