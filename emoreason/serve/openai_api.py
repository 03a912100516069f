"""OpenAI-compatible routes: ``POST /v1/chat/completions`` and ``GET /v1/models``, so the official ``openai``
client (and every tool built on that API) works unchanged.

A request's messages are replayed into one :class:`~emoreason.chat.session.ChatSession` (the REPL's): the ``image_url``
parts of each user message (``data:`` URLs only; nothing is fetched) are attached as photos, earlier assistant
messages are taken as given, and the last user message is answered. The reply text is the ``<think>…</think>
<answer>…</answer>`` output: a model backend's own, or for the rules backend its answer to the question wrapped that
way. The parsed reading (faces, AUs, label, scores) rides along under ``emoreason``, which OpenAI clients ignore.
``stream: true`` answers with server-sent events in OpenAI's chunk format, ending ``data: [DONE]``. Token counts in
``usage`` are whitespace words, an estimate. System messages are not passed on: emoreason's own prompt is used.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import secrets
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from emoreason.errors import EmoreasonError
from emoreason.serve.context import ServeContext, save_bytes, scrub
from emoreason.serve.limits import ApiError, ServeLimits, check_image, error_body

try:  # a module-level name: FastAPI reads the endpoint's (string) annotations in this module's globals
    from starlette.requests import Request
except ImportError:  # the serve extra is not installed; add_routes is never called then
    Request = Any  # type: ignore[misc,assignment]

IMAGE_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
}


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: StrictStr
    detail: StrictStr | None = None


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: StrictStr


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["image_url"]
    image_url: ImageURL


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: StrictStr | list[Annotated[TextPart | ImagePart, Field(discriminator="type")]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    """The fields of OpenAI's chat-completion request that mean something here; other fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: StrictStr
    messages: list[Message] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: StrictInt = Field(1, ge=1, le=1, description="only 1 is supported")


def _decode_image(url: str, index: int, limits: ServeLimits) -> tuple[bytes, str]:
    """A ``data:image/...;base64,`` URL -> (bytes, a file name); 400/415/413 for anything else."""
    if not url.startswith("data:"):
        raise ApiError(400, "image_url must be a data: URL (data:image/jpeg;base64,...); remote URLs are not fetched")
    head, comma, payload = url[5:].partition(",")
    kind, *params = head.split(";")
    if not comma or "base64" not in params:
        raise ApiError(400, "image_url data URLs must be base64 (data:image/jpeg;base64,...)")
    if not kind.startswith("image/"):
        raise ApiError(415, f"image_url is {kind or 'untyped'} data; send an image (image/jpeg, image/png, ...)")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ApiError(400, f"image {index}: the data URL is not valid base64 ({err})") from None
    check_image(io.BytesIO(data), limits, f"image {index}")
    return data, f"image-{index}{IMAGE_EXTENSIONS.get(kind, '.img')}"


def _turns(body: ChatCompletionRequest, ctx: ServeContext) -> list[dict[str, Any]]:
    """The messages as turns: {"images": [(bytes, name)], "text": str, "reply": str | None}; the last has no reply."""
    limits = ctx.limits
    if len(body.messages) > limits.messages:
        raise ApiError(422, f"{len(body.messages)} messages; at most {limits.messages} per request (--messages)")
    turns: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    count = 0
    for message in body.messages:
        if isinstance(message.content, str):
            parts: list[Any] = [TextPart(type="text", text=message.content)]
        else:
            parts = list(message.content or [])
        text = "\n".join(p.text for p in parts if isinstance(p, TextPart)).strip()
        if len(text) > limits.question_chars:
            raise ApiError(
                422, f"a message is {len(text)} characters; at most {limits.question_chars} (--question-chars)"
            )
        if message.role in ("system", "developer"):
            continue
        if message.role == "assistant":
            turn = current or {"images": [], "text": ""}
            turn["reply"] = text
            turns.append(turn)
            current = None
            continue
        current = current or {"images": [], "text": "", "reply": None}
        current["text"] = "\n".join(t for t in (current["text"], text) if t)
        for part in parts:
            if isinstance(part, ImagePart):
                count += 1
                if count > limits.session_attachments:
                    raise ApiError(
                        422, f"more than {limits.session_attachments} images in one request (--session-attachments)"
                    )
                current["images"].append(_decode_image(part.image_url.url, count, limits))
    if current is None:
        raise ApiError(400, "the last message must be the user's (the question to answer)")
    turns.append(current)
    if ctx.backend == "rules" and not count:
        raise ApiError(400, "send at least one image_url part (a data: URL of a photo): the rules backend reads faces")
    return turns


def _answer(ctx: ServeContext, turns: list[dict[str, Any]], generation: dict[str, Any], on_piece: Any) -> dict:
    """Replay ``turns`` into a fresh ChatSession and answer the last one (runs on the work queue)."""
    from emoreason.chat import answers as chat_answers
    from emoreason.chat.session import SessionFull
    from emoreason.reasoning.parser import parse_output

    session = ctx.new_chat()
    said: list[str] = []
    session.write = said.append
    with ctx.upload_folder() as folder:
        try:
            for turn in turns:
                for data, name in turn["images"]:
                    session.attach_image(str(save_bytes(data, folder, name)))
                if turn["reply"] is not None:
                    session.record_turn(turn["text"], turn["reply"])
            session.write = lambda _text: None
            session.write_piece = on_piece if ctx.backend != "rules" else None
            session.stream_end = ""
            reply = session.ask(turns[-1]["text"], **generation)
        except SessionFull as err:
            raise ApiError(409, str(err), "session_full") from err
        except EmoreasonError as err:
            raise ApiError(422, scrub(str(err), folder)) from err
        notes = [scrub(text, folder) for text in said]
    if ctx.backend == "rules":
        labels = chat_answers.labels(session.last_items)
        reply = f"<think>\n{reply}\n</think>\n<answer>{', '.join(labels) or 'none'}</answer>"
        faces = chat_answers.reading(session.last_items)
        label = labels[0] if len(labels) == 1 else None
    else:
        faces = [
            {
                "source": Path(str(ev.meta.get("path", ""))).name,
                "box": ev.meta.get("box"),
                "aus": ev.aus,
                "start": ev.start,
                "end": ev.end,
            }
            for ev in session.evidence
        ]
        label = parse_output(reply).label
    return {"text": reply, "label": label, "faces": faces, "notes": notes}


def _generation(body: ChatCompletionRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tokens = body.max_completion_tokens or body.max_tokens
    if tokens:
        out["max_new_tokens"] = tokens
    if body.temperature is not None:
        out["temperature"] = body.temperature
    if body.top_p is not None:
        out["top_p"] = body.top_p
    return out


def _cut(text: str, max_tokens: int | None) -> tuple[str, str]:
    """(text, finish_reason) with the text cut to ``max_tokens`` whitespace words (the rules backend's tokens)."""
    words = text.split(" ")
    if max_tokens is None or len(words) <= max_tokens:
        return text, "stop"
    return " ".join(words[:max_tokens]), "length"


def _words(body: ChatCompletionRequest) -> int:
    total = 0
    for message in body.messages:
        if isinstance(message.content, str):
            total += len(message.content.split())
        else:
            total += sum(len(p.text.split()) for p in message.content or [] if isinstance(p, TextPart))
    return total


def add_routes(app: Any, ctx: ServeContext, dependencies: list[Any]) -> None:
    """Add /v1/models and /v1/chat/completions to ``app``."""
    from fastapi.responses import StreamingResponse

    def models_list() -> list[str]:
        return [ctx.model_id, "emoreason"]

    @app.get("/v1/models", tags=["openai"], dependencies=dependencies)
    def models() -> dict[str, Any]:
        """The models this server answers as (OpenAI's list shape): the backend's, and the alias ``emoreason``."""
        created = int(time.time())
        data = [{"id": m, "object": "model", "created": created, "owned_by": "emoreason"} for m in models_list()]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions", tags=["openai"], dependencies=dependencies)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        """OpenAI's chat completion: text and ``image_url`` (data: URL) parts in, ``<think>…<answer>`` out, with
        the parsed reading under ``emoreason``. ``stream: true`` gives server-sent events."""
        if body.model not in models_list():
            raise ApiError(
                404,
                f"model {body.model!r} is not served here; GET /v1/models lists {models_list()}",
                "model_not_found",
            )
        turns = _turns(body, ctx)
        generation = _generation(body) if ctx.backend != "rules" else {}
        limit = (body.max_completion_tokens or body.max_tokens) if ctx.backend == "rules" else None
        cid, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
        base = {"id": cid, "created": created, "model": body.model}
        if not body.stream:
            out = await ctx.queue.run(_answer, ctx, turns, generation, None, request=request)
            text, finish = _cut(out["text"], limit)
            prompt, completion = _words(body), len(text.split())
            return {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
                "emoreason": {"backend": ctx.backend, **{k: v for k, v in out.items() if k != "text"}},
            }
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str] = asyncio.Queue()
        future = ctx.queue.submit(
            _answer, ctx, turns, generation, lambda p: loop.call_soon_threadsafe(pieces.put_nowait, p)
        )
        return StreamingResponse(
            _events(base, future, pieces, limit, body, ctx),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    chunk = {
        **base,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps({**chunk, **extra})}\n\n"


async def _events(
    base: dict[str, Any],
    future: Any,
    pieces: asyncio.Queue,
    limit: int | None,
    body: ChatCompletionRequest,
    ctx: ServeContext,
) -> Any:
    """The SSE stream: a role chunk, the text as it comes (a model backend) or in word pieces (rules), the finish
    chunk carrying ``emoreason``, optional usage, then ``[DONE]``. An error after the start is an ``error`` event."""
    yield _chunk(base, {"role": "assistant", "content": ""})
    deadline = time.monotonic() + ctx.limits.timeout_s
    done = asyncio.wrap_future(future)
    streamed = []
    try:
        while not (done.done() and pieces.empty()):
            getter = asyncio.ensure_future(pieces.get())
            await asyncio.wait(
                {getter, done}, timeout=max(0.0, deadline - time.monotonic()), return_when=asyncio.FIRST_COMPLETED
            )
            if getter.done():
                streamed.append(getter.result())
                yield _chunk(base, {"content": getter.result()})
            else:
                getter.cancel()
            if time.monotonic() > deadline and not done.done():
                future.cancel()
                raise ApiError(504, f"no answer within {ctx.limits.timeout_s:.0f} s (--timeout-s)")
        out = done.result()
        text, finish = out["text"], "stop"
        if not streamed:  # the rules backend (or a model that could not stream): send it in word pieces
            text, finish = _cut(text, limit)
            for i, word in enumerate(text.split(" ")):
                yield _chunk(base, {"content": word if i == 0 else " " + word})
        extra = {"emoreason": {"backend": ctx.backend, **{k: v for k, v in out.items() if k != "text"}}}
        yield _chunk(base, {}, finish, **extra)
        if body.stream_options and body.stream_options.include_usage:
            prompt, completion = _words(body), len(text.split())
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            yield f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n"
    except ApiError as err:
        yield f"data: {json.dumps(error_body(err.status, err.message, err.code))}\n\n"
    except Exception as err:  # noqa: BLE001 - the response has started: the error goes in the stream
        yield f"data: {json.dumps(error_body(500, f'{type(err).__name__}: {err}'))}\n\n"
    finally:  # also when the client hangs up (Starlette cancels the stream): its call, if still queued, is dropped
        if not done.done():
            future.cancel()
    yield "data: [DONE]\n\n"
