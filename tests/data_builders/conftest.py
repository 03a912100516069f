"""Data-builder fixtures: layout replicas are built per test; heavy things (tiny VLM, loopback server) per session."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class TeacherServer:
    """A loopback OpenAI-compatible chat server that answers with ``replies`` in order (the last one repeats)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: list[str] = ["I am not sure."]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = len(outer.requests)
                outer.requests.append(body)
                reply = outer.replies[min(n, len(outer.replies) - 1)]
                payload = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": body.get("model", "t"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def prompt_text(self, i: int) -> str:
        """All text parts of request ``i``."""
        parts = [p for m in self.requests[i]["messages"] for p in (m["content"] if isinstance(m["content"], list)
                 else [{"type": "text", "text": m["content"]}])]  # fmt: skip
        return " ".join(p.get("text", "") for p in parts if p.get("type") == "text")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def teacher_server() -> Iterator[TeacherServer]:
    server = TeacherServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def tiny_vlm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny Qwen2.5-VL saved offline."""
    from emoreason.testing.vlm import build_tiny_vlm

    return Path(build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "qwen2_5_vl", arch="qwen2_5_vl"))
