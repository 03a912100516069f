"""The live page of ``emoreason serve``: ``GET /live`` (the browser's camera) and ``WS /v1/live``.

The page sends frames (JPEG or PNG, one binary message each) and gets one JSON message per event of
:class:`emoreason.pipelines.live.LiveCaption`: ``ready`` once the session has warmed up (the page starts sending
then: frames sent before wait behind the models' first runs and are mostly dropped), ``reading`` (box, label, top
AUs, latency), ``segment`` (a window's label and its chain of thought), ``speech``, ``end``, and ``frame`` after
each frame read (its time, how many faces, frames read and dropped so far: what became of every frame sent, so a
page can pace itself); then ``done`` with the caption job that Stop made of it (its subtitles and JSONL are fetched
as an uploaded clip's: ``/v1/caption/{id}/...``). Text messages are commands: ``{"type": "stop"}``. Optional query
``?label_set=``.

Bounds: at most ``live_connections`` at once and ``live_per_client`` per owner (close 1013 past either); each
connection holds one frame waiting (a newer one replaces it: ``pipelines.live_source.FrameBox``) and a few answers
(past ``ANSWERS_HELD``, the oldest reading or frame event is dropped for a client that does not read); a frame over
``live_frame_kb`` closes it (1009), as do ``GARBAGE_LIMIT`` frames that are not images (1003) and ``live_idle_s``
without a frame (1001). ``live_seconds`` ends a session as Stop does. The access guard checks Host, Origin and the key
before the connection is accepted, as for every request, and names its owner.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations at definition time.
import asyncio
import contextlib
import io
import json
import logging
import threading
import time
from typing import Any

from emoreason.serve.context import ServeContext

logger = logging.getLogger(__name__)

ANSWERS_HELD = 32  # events waiting to be sent per connection; past it the oldest reading goes
GARBAGE_LIMIT = 5  # frames that are not images before the connection is closed


class LiveSlots:
    """Live connections held, in all and per owner."""

    def __init__(self, total: int, per_owner: int) -> None:
        self.total, self.per_owner = total, per_owner
        self.held: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, owner: str) -> str | None:
        """None when taken; else why not."""
        with self._lock:
            if sum(self.held.values()) >= self.total:
                return f"the server has {self.total} live connections open (--live-connections); try again later"
            if self.held.get(owner, 0) >= self.per_owner:
                return f"this client has {self.per_owner} live connections open (--live-per-client); stop one first"
            self.held[owner] = self.held.get(owner, 0) + 1
            return None

    def release(self, owner: str) -> None:
        with self._lock:
            self.held[owner] -= 1
            if not self.held[owner]:
                del self.held[owner]


def decode_frame(data: bytes, max_pixels: int, max_side: int) -> Any:
    """A frame message -> RGB array (longer side at most ``max_side``); ValueError for what is not an image or is
    over the pixel cap (from the header, before decoding)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ("JPEG", "PNG", "WEBP"):
            raise ValueError(f"a {image.format} image; send JPEG, PNG or WebP frames")
        if image.width * image.height > max_pixels:
            raise ValueError(f"a {image.width}x{image.height} frame is over the pixel cap (--max-megapixels)")
        image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale where it can
        image = image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise ValueError("not an image (send each frame as one binary JPEG, PNG or WebP message)") from err
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    return np.asarray(image)


def add_routes(app: Any, ctx: ServeContext) -> None:
    """Add ``GET /live`` and ``WS /v1/live`` to ``app``."""
    from importlib import resources

    import fastapi
    from fastapi.responses import HTMLResponse

    slots = LiveSlots(ctx.limits.live_connections, ctx.limits.live_per_client)
    page = resources.files("emoreason.serve").joinpath("live.html").read_text(encoding="utf-8")

    @app.get("/live", response_class=HTMLResponse, include_in_schema=False)
    def live_page() -> str:
        return page

    @app.websocket("/v1/live")
    async def live(websocket: fastapi.WebSocket) -> None:
        owner = websocket.scope.get("state", {}).get("owner") or "?"
        refused = slots.take(owner)
        if refused is None and ctx.backend != "rules":
            slots.release(owner)
            refused = f"the live page reads with the rules backend; this server runs {ctx.backend}"
        if refused is not None:  # accepted, then closed: the client sees why (a refused handshake is a bare 403)
            await websocket.accept()
            await websocket.close(code=1013, reason=refused[:120])
            return
        try:
            await websocket.accept()
            await _session(websocket, ctx, owner)
        finally:
            slots.release(owner)


async def _session(websocket: Any, ctx: ServeContext, owner: str) -> None:
    """One live connection: frames in, events out, until Stop, a disconnect, a bound or the idle timeout."""
    from starlette.websockets import WebSocketDisconnect

    from emoreason.labels import LABEL_SETS
    from emoreason.pipelines.live import LiveCaption
    from emoreason.pipelines.live_source import FrameBox
    from emoreason.pipelines.video_options import VideoOptions

    limits = ctx.limits
    label_set = websocket.query_params.get("label_set") or ctx.label_set
    if label_set not in LABEL_SETS:
        await websocket.close(code=1008, reason=f"label_set must be one of {', '.join(LABEL_SETS)}")
        return
    loop = asyncio.get_running_loop()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    dropped_answers = 0

    def put(event: dict[str, Any]) -> None:  # on the loop: bounded, the oldest reading goes first
        nonlocal dropped_answers
        if answers.qsize() >= ANSWERS_HELD:
            held = [answers.get_nowait() for _ in range(answers.qsize())]
            old = next((i for i, e in enumerate(held) if e["type"] in ("reading", "frame")), 0)
            held.pop(old)
            dropped_answers += 1
            for e in held:
                answers.put_nowait(e)
        answers.put_nowait(event)

    def emit(event: dict[str, Any]) -> None:  # on the caption thread
        loop.call_soon_threadsafe(put, event)

    box = FrameBox()
    options = VideoOptions(no_speech=True, fps=5.0, label_set=label_set, face_model=ctx.face_model,
                           num_faces=limits.max_faces)  # fmt: skip
    run = LiveCaption(ctx.reasoner, options, emit, video_id="live", keep_crops=True, frame_done=emit)
    worker = loop.run_in_executor(None, run.run, box)
    started = time.monotonic()

    async def sender() -> None:
        while True:
            await websocket.send_text(json.dumps(await answers.get()))

    send_task = asyncio.create_task(sender())
    garbage, reason, code = 0, "", 1000
    try:
        while True:
            left = limits.live_seconds - (time.monotonic() - started)
            if left <= 0:
                reason = f"the session reached --live-seconds ({limits.live_seconds:.0f} s)"
                break
            try:
                message = await asyncio.wait_for(websocket.receive(), timeout=min(limits.live_idle_s, left))
            except TimeoutError:
                if time.monotonic() - started >= limits.live_seconds:
                    continue
                reason, code = f"no frame for {limits.live_idle_s:.0f} s (--live-idle-s)", 1001
                break
            if message["type"] == "websocket.disconnect":
                reason, code = "the client went away", 0
                break
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                if len(data) > limits.live_frame_bytes:
                    reason, code = f"a frame of {len(data) // 1024} KB is over --live-frame-kb", 1009
                    break
                try:
                    image = await asyncio.to_thread(decode_frame, data, limits.max_pixels, options.max_side)
                except ValueError as err:
                    garbage += 1
                    put({"type": "error", "message": str(err)})
                    if garbage >= GARBAGE_LIMIT:
                        reason, code = f"{garbage} messages were not frames", 1003
                        break
                    continue
                box.put(image, time.monotonic() - started)
            elif text is not None:
                try:
                    command = json.loads(text)
                except ValueError:
                    command = None
                if isinstance(command, dict) and command.get("type") == "stop":
                    reason = "stopped"
                    break
                put({"type": "error", "message": 'text messages are commands: {"type": "stop"}'})
    except WebSocketDisconnect:
        reason, code = "the client went away", 0
    finally:
        box.stop()
    try:
        result = await worker  # the last segment closes at the last frame
    except Exception as err:  # noqa: BLE001 - said to the client, logged here; the server goes on
        logger.exception("live session failed")
        send_task.cancel()
        with contextlib.suppress(Exception):
            await websocket.close(code=1011, reason=f"the live caption failed ({type(err).__name__})")
        return
    job = ctx.jobs.add_finished("live", owner, result, run.perception.evidence, run.perception.crops)
    if code == 0:
        send_task.cancel()
        return
    put({"type": "done", "reason": reason, "job": job.view(with_result=False), **run.stats(),
         "dropped_answers": dropped_answers})  # fmt: skip
    with contextlib.suppress(Exception):
        await asyncio.wait_for(_drain(answers), timeout=5.0)
    send_task.cancel()
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason[:120])


async def _drain(answers: asyncio.Queue) -> None:
    while not answers.empty():
        await asyncio.sleep(0.02)
