"""Reasoning fixtures: tiny VLMs built offline (session-scoped) and a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

GOOD_REPLY = (
    "<think>\nKey observations: AU6 cheek raiser (slight) and AU12 lip corner puller (marked).\n"
    "Overall interpretation: a Duchenne smile.\nConclusion: happiness.\n</think>\n<answer>happiness"
)  # the server drops the stop string "</answer>", as real servers do


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2.5-VL folder (model + processor), built once per test session."""
    from emoreason.testing.vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "qwen2_5_vl", arch="qwen2_5_vl")


@pytest.fixture(scope="session")
def tiny_smolvlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SmolVLM (Idefics3 family) folder."""
    from emoreason.testing.vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "smolvlm", arch="smolvlm")


@dataclass
class FakeOpenAI:
    """A loopback chat-completions server. ``requests`` records every request (path, headers, JSON body).

    Paths: ``/v1`` answers normally (401 for the key "bad", 404 for the model "missing", 503 ``fail_first``
    times first); ``/html/v1`` answers 200 with an HTML page; ``/slow/v1`` waits ``delay`` s per request.
    """

    server: ThreadingHTTPServer
    reply: str = GOOD_REPLY
    fail_first: int = 0
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{prefix}/v1"


def _handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"error": {"message": message, "type": "error", "code": status}}).encode())

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with state.lock:
                state.requests.append(
                    {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                failing = state.fail_first > 0
                state.fail_first -= failing
            try:
                self._answer(body, failing)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _answer(self, body: dict[str, Any], failing: bool) -> None:
            if self.path.startswith("/html/"):
                return self._send(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
            if self.path.startswith("/slow/"):
                time.sleep(state.delay)
            if self.headers.get("Authorization") == "Bearer bad":
                return self._error(401, "Incorrect API key provided")
            if body.get("model") == "missing":
                return self._error(404, "The model `missing` does not exist")
            if failing:
                return self._error(503, "overloaded")
            if body.get("stream"):
                return self._stream(body)
            reply = {
                "id": "cmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": state.reply}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            self._send(200, json.dumps(reply).encode())

        def _stream(self, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            words = state.reply.split(" ")
            pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
            for i, piece in enumerate(pieces):
                finish = "stop" if i == len(pieces) - 1 else None
                chunk = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    """A fresh loopback OpenAI-compatible server per test (its request log starts empty)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = FakeOpenAI(server)
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
