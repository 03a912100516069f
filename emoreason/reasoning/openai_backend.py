"""The ``openai`` backend: any OpenAI-compatible chat server (vLLM, Ollama, LM Studio, llama.cpp, a hosted API).

It uses the official ``openai`` client: images go as base64 data URLs in ``image_url`` parts, the client retries
connection errors, 408/409/429 and 5xx with exponential backoff (``max_retries``), a thread pool bounds the requests
in flight (``concurrency``), and every server failure becomes one EmoreasonError line saying what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.reasoning.base import reason_with_texts
from emoreason.reasoning.images import data_url
from emoreason.reasoning.prompts import message_images
from emoreason.schema import Evidence, Reasoning

logger = logging.getLogger(__name__)

STOP = "</answer>"


def to_wire(messages: list[dict[str, Any]], images: list[Any]) -> list[dict[str, Any]]:
    """HF-format messages + their images -> OpenAI chat messages, each ``{"type": "image"}`` part a data URL.

    System and assistant turns become plain strings (what every compatible server accepts); user turns keep
    their parts. Parts that already carry an ``image_url`` are passed through.
    """
    if message_images(messages) != sum(1 for m in messages for p in _parts(m) if "image_url" in p) + len(images):
        raise EmoreasonError(f"the messages have {message_images(messages)} image parts but {len(images)} images")
    queue = list(images)
    wire = []
    for message in messages:
        role, content = message["role"], message.get("content")
        if isinstance(content, str):
            wire.append({"role": role, "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for part in _parts(message):
            kind = part.get("type")
            if kind == "image_url" or "image_url" in part:
                parts.append({"type": "image_url", "image_url": part["image_url"]})
            elif kind == "image":
                parts.append({"type": "image_url", "image_url": {"url": data_url(queue.pop(0))}})
            elif kind == "text" or "text" in part:
                parts.append({"type": "text", "text": str(part.get("text") or "")})
        if role != "user" and all(p["type"] == "text" for p in parts):
            wire.append({"role": role, "content": "".join(p["text"] for p in parts)})
        else:
            wire.append({"role": role, "content": parts})
    return wire


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


class OpenAIReasoner:
    """Reason through an OpenAI-compatible server: ``Reasoner``, ``StreamingReasoner`` and ``generate_texts``."""

    name = "openai"
    needs_images = True

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        concurrency: int = 4,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 512,
        label_set: str | None = None,
        system_prompt: str | None = None,
        **_: Any,
    ):
        from openai import OpenAI

        if not base_url.startswith(("http://", "https://")):
            raise EmoreasonError(f"--base-url {base_url!r} must start with http:// or https://")
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise EmoreasonError("need concurrency >= 1, max_retries >= 0 and timeout > 0")
        self.model, self.base_url = model, base_url.rstrip("/")
        # Local servers ignore the key, but the client requires one.
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.client = OpenAI(base_url=self.base_url, api_key=key, timeout=timeout, max_retries=max_retries)
        self.timeout, self.concurrency = timeout, concurrency
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.label_set = label_set  # None: each Evidence's own label_set
        self.system_prompt = system_prompt

    def reason(self, evidence: list[Evidence]) -> list[Reasoning]:
        """One Reasoning per Evidence; up to ``concurrency`` requests in flight."""
        return reason_with_texts(self, evidence)

    def _request(self, messages: list[dict[str, Any]], images: list[Any], **overrides: Any) -> dict[str, Any]:
        overrides.pop("do_sample", None)  # sampling is on whenever temperature > 0
        return {
            "model": self.model,
            "messages": to_wire(messages, images),
            "temperature": overrides.pop("temperature", self.temperature),
            "top_p": overrides.pop("top_p", self.top_p),
            "max_tokens": overrides.pop("max_new_tokens", self.max_new_tokens),
            "stop": [STOP],
            **overrides,
        }

    def _complete(self, messages: list[dict[str, Any]], images: list[Any], **overrides: Any) -> str:
        request = self._request(messages, images, **overrides)
        try:
            reply = self.client.chat.completions.create(**request)
        except Exception as err:  # noqa: BLE001 - mapped to one clear line below
            raise self._error(err) from err
        choices = getattr(reply, "choices", None)
        if choices is None:
            raise EmoreasonError(
                f"the server at {self.base_url} answered with non-JSON ({_snippet(reply)}); --base-url must be the "
                "API root of an OpenAI-compatible server, usually ending in /v1"
            )
        if not choices:
            return ""
        text = choices[0].message.content or ""
        return _restore_stop(text, choices[0].finish_reason)

    def generate_texts(
        self, messages_batch: list[list[dict[str, Any]]], images_batch: list[list[Any]], **overrides: Any
    ) -> list[str]:
        """One reply per conversation, ``concurrency`` at a time, in order. Raises EmoreasonError on failure."""
        if len(messages_batch) != len(images_batch):
            raise EmoreasonError(f"{len(messages_batch)} conversations but {len(images_batch)} image lists")
        if len(messages_batch) <= 1 or self.concurrency == 1:
            return [self._complete(m, i, **overrides) for m, i in zip(messages_batch, images_batch, strict=True)]
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="emoreason-openai") as pool:
            pairs = zip(messages_batch, images_batch, strict=True)
            futures = [pool.submit(self._complete, m, i, **overrides) for m, i in pairs]
            return [f.result() for f in futures]

    def stream_chat(self, messages: list[dict[str, Any]], images: list[Any], **overrides: Any) -> Iterator[str]:
        """Stream one chat reply (server-sent events), text pieces as they arrive."""
        request = self._request(messages, images, **overrides)
        try:
            stream = self.client.chat.completions.create(**request, stream=True)
            text, finish = "", None
            for chunk in stream:
                if not getattr(chunk, "choices", None):
                    continue
                piece = chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
                text += piece
                if piece:
                    yield piece
        except EmoreasonError:
            raise
        except Exception as err:  # noqa: BLE001
            raise self._error(err) from err
        tail = _restore_stop(text, finish)[len(text) :]
        if tail:
            yield tail

    def _error(self, err: Exception) -> EmoreasonError:
        """One line that says what went wrong with the server and what to do."""
        return EmoreasonError(self._explain(err))

    def _explain(self, err: Exception) -> str:
        import openai

        url, model, detail = self.base_url, self.model, _server_message(err)
        if isinstance(err, openai.APITimeoutError):
            return f"the server at {url} did not answer within {self.timeout:g} s; raise the timeout or check its load"
        if isinstance(err, openai.APIConnectionError):
            return (
                f"cannot reach an OpenAI-compatible server at {url} ({_cause(err)}); "
                "check --base-url and that the server is running"
            )
        if isinstance(err, openai.AuthenticationError):
            return f"the server at {url} rejected the API key (401 {detail}); set OPENAI_API_KEY to a valid key"
        if isinstance(err, openai.PermissionDeniedError):
            return f"the server at {url} refused access to {model!r} (403 {detail})"
        if isinstance(err, openai.NotFoundError):
            return (
                f"model {model!r} not found at {url} (404 {detail}); check --model against the server's model list "
                f"({url}/models) and that --base-url ends in /v1"
            )
        if isinstance(err, openai.RateLimitError):
            return f"the server at {url} is rate limiting (429 {detail}) even after retries; lower the concurrency"
        if isinstance(err, openai.BadRequestError | openai.UnprocessableEntityError):
            return (
                f"the server at {url} rejected the request ({err.status_code} {detail}); does {model!r} accept "
                "images, and does the prompt fit its context length?"
            )
        if isinstance(err, openai.APIStatusError):
            return f"the server at {url} failed with HTTP {err.status_code} ({detail}) after retries"
        if isinstance(err, openai.APIResponseValidationError | ValueError):
            return (
                f"the server at {url} answered with something that is not an OpenAI chat completion (bad or "
                "non-JSON body); --base-url must be the API root, usually ending in /v1"
            )
        return f"request to {url} failed: {type(err).__name__}: {err}"


def _restore_stop(text: str, finish_reason: str | None) -> str:
    """Servers drop the stop string from the text; put ``</answer>`` back when the reply stopped on it."""
    if finish_reason == "stop" and text.lower().rfind("<answer>") > text.lower().rfind(STOP):
        return text + STOP
    return text


def _server_message(err: Exception) -> str:
    body = getattr(err, "body", None)
    message: Any = None
    if isinstance(body, dict):
        inner = body.get("error")
        message = body.get("message") or (inner.get("message") if isinstance(inner, dict) else inner)
    message = message or getattr(err, "message", "") or err
    return str(message).splitlines()[0][:200] if str(message).strip() else ""


def _cause(err: Exception) -> str:
    cause = err.__cause__ or err.__context__
    return f"{type(cause).__name__}: {cause}".splitlines()[0][:160] if cause else str(err)


def _snippet(reply: Any) -> str:
    text = " ".join(str(reply).split())
    return repr(text[:60] + ("..." if len(text) > 60 else ""))
