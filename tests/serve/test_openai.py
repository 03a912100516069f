"""The official `openai` client, unchanged, against /v1/chat/completions and /v1/models on a real loopback server."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")


def _image(path: Path) -> dict:
    url = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)


def test_models_list(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["emoreason-rules", "emoreason"]


def test_chat_completion_with_an_image(client: openai.OpenAI, face_photo: Path) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "Which AUs?"}, _image(face_photo)]}]
    reply = client.chat.completions.create(model="emoreason-rules", messages=messages, temperature=0)
    text = reply.choices[0].message.content
    assert re.fullmatch(r"<think>\n.+\n</think>\n<answer>happiness</answer>", text, re.S), text
    assert "AU12 lip corner puller" in text and "Key observations" not in text  # it answered the question asked
    assert reply.choices[0].finish_reason == "stop" and reply.usage.completion_tokens > 0
    (face,) = reply.emoreason["faces"]  # the parsed reading rides along; the client keeps unknown fields
    assert face["label"] == "happiness" and face["source"] == "image-1.jpg"
    assert max(v for k, v in face["aus"].items() if k.startswith("AU12")) > 1


def test_history_then_a_follow_up(client: openai.OpenAI, five_faces: Path) -> None:
    messages = [
        {"role": "user", "content": [_image(five_faces), {"type": "text", "text": "How do they feel?"}]},
        {"role": "assistant", "content": "Five faces: mostly happy."},
        {"role": "user", "content": "What about face 2?"},
    ]
    reply = client.chat.completions.create(model="emoreason", messages=messages)
    text = reply.choices[0].message.content
    (face,) = reply.emoreason["faces"]
    assert face["face"] == 2 and f"face 2: {face['label']}\n" in text and "face 1" not in text


def test_streamed_completion_matches_the_plain_one(client: openai.OpenAI, face_photo: Path) -> None:
    messages = [{"role": "user", "content": [_image(face_photo), {"type": "text", "text": "Why?"}]}]
    plain = client.chat.completions.create(model="emoreason-rules", messages=messages).choices[0].message.content
    chunks = list(client.chat.completions.create(model="emoreason-rules", messages=messages, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].emoreason["label"] == "happiness"
    assert len(chunks) > 10  # streamed in pieces, not one blob


def test_max_tokens_cuts_with_finish_reason_length(client: openai.OpenAI, face_photo: Path) -> None:
    messages = [{"role": "user", "content": [_image(face_photo)]}]
    reply = client.chat.completions.create(model="emoreason-rules", messages=messages, max_tokens=5)
    assert reply.choices[0].finish_reason == "length" and len(reply.choices[0].message.content.split(" ")) == 5


def test_errors_surface_as_the_clients_own_exceptions(client: openai.OpenAI, face_photo: Path) -> None:
    messages = [{"role": "user", "content": [_image(face_photo)]}]
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4o", messages=messages)
    with pytest.raises(openai.BadRequestError, match="remote URLs are not fetched"):
        remote = [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://example.com/a.jpg"}}]}
        ]
        client.chat.completions.create(model="emoreason", messages=remote)
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="emoreason", messages=messages, temperature="hot")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="at least one image_url"):
        client.chat.completions.create(model="emoreason", messages=[{"role": "user", "content": "hi"}])


def test_the_api_key_is_required_when_set(start, face_photo: Path) -> None:
    from emoreason.serve.limits import AccessPolicy

    with start(access=AccessPolicy(api_keys=("s3cret",))) as url:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()
        good = openai.OpenAI(base_url=f"{url}/v1", api_key="s3cret", max_retries=0)
        assert [m.id for m in good.models.list()][-1] == "emoreason"


def test_a_model_backend_streams_as_it_generates(start, face_photo: Path, tmp_path_factory) -> None:
    from emoreason.reasoning.hf import HFReasoner
    from emoreason.testing.vlm import build_tiny_vlm

    model = build_tiny_vlm(tmp_path_factory.mktemp("serve_vlm") / "qwen2_5_vl")
    with start(HFReasoner(str(model), max_new_tokens=8)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        (model_id, _) = [m.id for m in client.models.list()]
        assert model_id == "qwen2_5_vl"
        messages = [{"role": "user", "content": [_image(face_photo), {"type": "text", "text": "Why?"}]}]
        plain = client.chat.completions.create(model=model_id, messages=messages, max_tokens=5)
        chunks = list(client.chat.completions.create(model=model_id, messages=messages, max_tokens=5, stream=True))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert streamed == plain.choices[0].message.content and streamed  # greedy: the same text, in pieces
        assert len(chunks) >= 4 and chunks[-1].emoreason["backend"] == "hf"
        (face,) = plain.emoreason["faces"]  # a model backend's reading: the measured faces, its own label
        assert face["source"] == "image-1.jpg" and face["aus"]
        text_only = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "hello"}])
        assert text_only.choices[0].message.content is not None  # a model can answer without an image
