"""Helpers for the serve tests: a real uvicorn server on loopback, multipart bodies, JSON calls."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import uvicorn

    from emoreason.serve.server import uvicorn_config

    srv = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


_TOKENS: dict[str, str] = {}  # base URL -> the client token that server issued to these tests
CLIENT = "X-Emoreason-Client"


def fetch(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
    timeout: float = 60,
    source: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request, as one client: the token its server issued is sent back (unless
    ``headers`` name one), like a browser's cookie. ``source`` sends from that local address, as another client
    with a token of its own (127.0.0.2 is another machine to the server)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    key = f"{source or ''}|{base}"
    headers = dict(headers or {})
    if CLIENT not in headers and "Authorization" not in headers and key in _TOKENS:
        headers[CLIENT] = _TOKENS[key]
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method or ("POST" if data is not None else "GET"), target or "/", body=data, headers=headers)
        response = conn.getresponse()
        body = response.read()
        issued = response.getheader(CLIENT)
        if issued:
            _TOKENS[key] = issued
        return response.status, dict(response.getheaders()), body
    finally:
        conn.close()


def call(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
    timeout: float = 60,
    source: str | None = None,
) -> tuple[int, Any]:
    """(status, parsed JSON body) of one request (see :func:`fetch`); HTTP errors are returned, not raised."""
    status, _, body = fetch(url, data, headers, method, timeout, source)
    return status, json.loads(body)


def text(url: str, source: str | None = None) -> tuple[int, str]:
    status, _, body = fetch(url, source=source)
    return status, body.decode()


def post_json(
    url: str, body: Any, headers: dict[str, str] | None = None, source: str | None = None
) -> tuple[int, Any]:
    return call(url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}, source=source)


def multipart(fields: list[tuple[str, str, bytes | str]]) -> tuple[bytes, dict[str, str]]:
    """(name, filename or "", content) parts -> a multipart/form-data body and its Content-Type."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, filename, content in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        payload = content.encode() if isinstance(content, str) else content
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + payload + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def raw(url: str, head: str, chunks: Any = (), first_wait: float = 1.0, timeout: float = 10) -> tuple[int, int]:
    """Send ``head``, wait up to ``first_wait`` s for an early answer, then send ``chunks`` until the server answers;
    (status, body bytes sent). A server that answers before reading the body gives (status, 0)."""
    import select

    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode())
        select.select([sock], [], [], first_wait)
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (and stopped reading)
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        reply = sock.recv(65536).decode("latin-1")
    return int(reply.split(" ", 2)[1]), sent


def form_head(path: str, length: int, url: str | None = None, source: str | None = None) -> str:
    """A request head for a multipart POST (boundary ``b``) of ``length`` bytes to ``path``; with ``url``, as the
    client :func:`call` is to that server from ``source`` (its token)."""
    token = _TOKENS.get(f"{source or ''}|{url}") if url else None
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        + (f"{CLIENT}: {token}\r\n" if token else "")
        + f"Content-Length: {length}\r\n\r\n"
    )


def submit_clip(url: str, clip: Any, source: str | None = None, **fields: str) -> tuple[int, Any]:
    """POST ``clip`` (a Path) to /v1/caption with form ``fields``; (status, reply)."""
    body, headers = multipart([("file", clip.name, clip.read_bytes()), *((k, "", v) for k, v in fields.items())])
    return call(f"{url}/v1/caption", body, headers, source=source)


def wait_job(url: str, job_id: str, until: Any = None, timeout: float = 180) -> tuple[dict[str, Any], list[float]]:
    """Poll a caption job until ``until(job)`` (default: it has ended); (the job, the progress values seen)."""
    until = until or (lambda job: job["status"] not in ("queued", "running"))
    seen, deadline, job = [], time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        job = call(f"{url}/v1/caption/{job_id}")[1]
        seen.append(job["progress"])
        if until(job):
            return job, seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not get there: {job}")


@contextmanager
def stalled_upload(url: str, path: str, source: str | None = None) -> Iterator[socket.socket]:
    """A multipart POST to ``path`` whose body is half sent and then waits (until the block ends, or the server's
    read timeout), as the client :func:`call` is from ``source``: a request held open."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0) if source else None)
    try:
        sock.sendall((form_head(path, 2 * 2**20, url, source) + "--b\r\n").encode())
        yield sock
    finally:
        sock.close()
