"""What the server refuses, and where: the limits every request meets before any work is done.

:class:`ServeLimits` holds every cap (each one a ``serve`` option). The two ASGI middlewares run before FastAPI sees
a request: :class:`AccessGuard` checks the Host and Origin headers (other sites, DNS rebinding) and the bearer key,
:class:`BodyLimit` counts the body as it streams in and stops at the cap, so a body over it is never spooled to
disk. :func:`check_image` reads an image's size and mode from its header before anything decodes it;
:func:`safe_name` makes any client filename safe to write. Every refusal is an :class:`ApiError`, answered in the
OpenAI error shape (``{"error": {"message", "type", "code"}}``) with the message also under ``detail``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import secrets
import unicodedata
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from emoreason.errors import EmoreasonError
from emoreason.pipelines import MAX_FACES

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
OPEN_PATHS = (
    "/",
    "/review",
    "/health",
    "/docs",
    "/redoc",
    "/openapi.json",
)  # no key needed: the page asks for it, docs hold no data
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
    504: "timeout_error",
}


@dataclass
class ServeLimits:
    """Every cap the server enforces; each is a ``serve`` option of the same name (``--max-body-mb`` ...)."""

    max_body_mb: float = 32.0  # any request body but a video upload, counted while it streams in
    max_video_mb: float = 200.0  # the body of POST /v1/caption
    client_inflight_mb: float = 256.0  # request bodies one client address may have in flight (being read or held)
    read_timeout_s: float = 30.0  # a request body that sends nothing for this long is dropped (408)
    header_timeout_s: float = 10.0  # a connection that has not sent a request's headers in this long is closed
    max_connections: int = 1000  # requests and connections at once (uvicorn's limit_concurrency); more get 503
    connections_per_client: int = 64  # requests one key (or one address's keyless clients) has open; more get 429
    max_megapixels: float = 40.0  # per image (and per video frame): images by their header, video frames as decoded
    max_image_mb: float = 320.0  # memory one image takes to decode, from its header's size and mode (bit depth, alpha)
    max_files: int = 16  # photos per /v1/analyze request
    max_faces: int = MAX_FACES  # faces reported per photo (more are said, not silently dropped)
    timeout_s: float = 120.0  # how long one request may wait for its answer, queue time included
    queue: int = 8  # requests waiting behind the one being worked on; more get 429 with Retry-After
    max_sessions: int = 256  # chat sessions alive at once (idle ones expire first)
    sessions_per_client: int = 16  # chat sessions one owner (key or client token) holds; past it, its oldest ends
    sessions_per_address: int = 64  # chat sessions the client tokens of one address may hold together
    session_idle_min: float = 30.0  # a chat session unused this long is ended
    session_attachments: int = 8  # photos/videos per chat session (and images per chat completion)
    session_turns: int = 100  # questions per chat session
    question_chars: int = 4000  # characters per question (and per chat-completion message)
    messages: int = 64  # messages per /v1/chat/completions request
    json_items: int = 100_000  # values in a JSON body, bounded before it is parsed (json_body.value_bound)
    video_jobs: int = 2  # caption jobs queued or running at once; more get 429
    video_seconds: float = 180.0  # longest clip POST /v1/caption takes (read from the container header)
    video_timeout_s: float = 600.0  # a caption job running longer is stopped
    jobs_kept: int = 32  # finished caption jobs kept for GET (oldest forgotten first)
    review_reviewers: int = 32  # reviewers (keys or client tokens) one --review dataset may have
    review_cot_chars: int = 8000  # characters of an edited CoT
    live_connections: int = 4  # live-page WebSockets at once (each reads its own frames); more are refused
    live_per_client: int = 2  # live WebSockets one owner (key or client token) holds at once
    live_frame_kb: float = 512.0  # one live frame (a JPEG or PNG message); a bigger one closes the connection (1009)
    live_idle_s: float = 30.0  # a live connection that sends no frame this long is closed
    live_seconds: float = 1800.0  # longest live session; past it, it stops and becomes a caption as on Stop

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * 1024 * 1024)

    @property
    def client_inflight_bytes(self) -> int:
        return int(self.client_inflight_mb * 1024 * 1024)

    @property
    def live_frame_bytes(self) -> int:
        return int(self.live_frame_kb * 1024)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)

    @property
    def max_image_bytes(self) -> int:
        return int(self.max_image_mb * 1024 * 1024)


class ApiError(Exception):
    """A refusal with its HTTP status; rendered by :func:`error_body`. ``retry_after`` sets Retry-After (429)."""

    def __init__(self, status: int, message: str, code: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.retry_after = status, message, code, retry_after

    def headers(self) -> dict[str, str]:
        out = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.status == 401:
            out["WWW-Authenticate"] = "Bearer"
        return out


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """The error JSON every route answers with: OpenAI's shape, plus ``detail`` (FastAPI's) with the same text."""
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}, "detail": message}


async def send_error(send: Send, err: ApiError) -> None:
    """Answer an ASGI request with ``err`` directly (used by the middlewares, before FastAPI)."""
    body = json.dumps(error_body(err.status, err.message, err.code)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers().items()]
    headers.append((b"connection", b"close"))  # the rest of an unread body is not worth reading
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("192.168.1.4")
    (True, True, False, False)
    """
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """``example.com:8000`` / ``[::1]:8000`` -> the name without the port, lower case."""
    return (urlsplit(f"//{host_header}").hostname or "").lower()


@dataclass
class AccessPolicy:
    """Who may call: the bearer keys (none: no key needed, and each client gets a token of its own), the Host names
    served (IP address literals always are), the Origins allowed besides the page's own. ``hosts`` None accepts
    any Host (only with keys: the key protects the server; see ``app.access_policy``)."""

    api_keys: tuple[str, ...] = ()
    hosts: set[str] | None = field(default_factory=lambda: set(LOOPBACK_NAMES))
    origins: set[str] = field(default_factory=set)

    def check(self, scope: Scope) -> str | None:
        """Raise ApiError(403/401) for a request this policy refuses; else the key's owner id (None: no key)."""
        host = _header(scope, b"host") or ""
        if self.hosts is not None and not _host_allowed(_hostname(host), self.hosts):
            raise ApiError(
                403, f"Host {host!r} is not served here (this guards against DNS rebinding); add it with --allow-host"
            )
        origin = _header(scope, b"origin")
        if origin is not None and origin.rstrip("/") not in self.origins:
            parts = urlsplit(origin)
            if origin == "null" or parts.netloc.lower() != host.lower():
                raise ApiError(
                    403, f"requests from the page at {origin} are refused; allow that site with --allow-origin"
                )
        path = scope.get("path", "")
        if not self.api_keys or path in OPEN_PATHS or path.startswith("/docs/"):
            return None
        auth = _header(scope, b"authorization") or ""
        scheme, _, token = auth.partition(" ")
        matched = [key for key in self.api_keys if secrets.compare_digest(token.strip(), key)]  # every key compared
        if scheme.lower() != "bearer" or not matched:
            raise ApiError(401, "this server needs an API key: send 'Authorization: Bearer KEY'", "invalid_api_key")
        from emoreason.serve.owners import key_owner

        return key_owner(matched[0])


def _host_allowed(name: str, hosts: set[str]) -> bool:
    """A listed name, or an IP address literal: a rebinding page's Host is its own domain name, never an address
    (so a LAN client typing http://192.168.1.4:8000/ is served without naming it)."""
    if name in hosts:
        return True
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class AccessGuard:
    """ASGI middleware applying an :class:`AccessPolicy` before the app reads anything, and naming the request's
    owner (``scope["state"]["owner"]``): its key, or its client token, issued here on a first request without one.
    It also holds each client to its fair share of open requests (``open_requests``, a ``fair.OpenRequests``: per
    key, or per address for keyless clients), 429 past it."""

    def __init__(self, app: Any, policy: AccessPolicy, tokens: Any, open_requests: Any) -> None:
        self.app, self.policy, self.tokens = app, policy, tokens  # tokens: owners.ClientTokens
        self.open_requests = open_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            owner = self.policy.check(scope)
        except ApiError as err:
            await send_error(send, err)
            return
        owner, issued = self._owner(scope, owner)
        from emoreason.serve.fair import address_holder

        address = scope["client"][0] if scope.get("client") else "?"
        holder = owner if owner and owner.startswith("key-") else address_holder(address)
        if not self.open_requests.take(holder):
            held, cap = self.open_requests.held.get(holder, 0), self.open_requests.own_cap
            message = (
                f"this client has {held} requests open (at most {cap}, --connections-per-client; fewer while the "
                "server is near its --max-connections); wait for one to finish"
            )
            await send_error(send, ApiError(429, message, "too_many_requests", retry_after=1))
            return

        async def send_token(message: dict[str, Any]) -> None:
            if issued and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *issued]}
            await send(message)

        try:
            await self.app(scope, receive, send_token if issued else send)
        finally:
            self.open_requests.release(holder)

    def _owner(self, scope: Scope, checked: Any) -> tuple[Any, list[tuple[bytes, bytes]]]:
        """Who a request or WebSocket belongs to, kept in ``scope["state"]["owner"]``: its API key's owner
        (``checked``, what the policy's check gave) where the server has keys, else its client token's, a new token
        being issued (the headers to send it with) to a client without one."""
        owner: Any = checked
        issued: list[tuple[bytes, bytes]] = []
        if not self.policy.api_keys:
            owner = self.tokens.owner(self.tokens.from_scope(scope["headers"]))
            if owner is None:
                token = self.tokens.issue()
                owner, issued = self.tokens.owner(token), self.tokens.response_headers(token)
        scope.setdefault("state", {})["owner"] = owner
        return owner, issued

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The same policy for a WebSocket (the live page): Host, Origin (a page elsewhere can't open one), the key;
        refused before it is accepted (close 1008 with the reason). Its owner is its key or client token, and a
        client without a token gets one with the accept."""
        try:
            owner = self.policy.check(scope)
        except ApiError as err:
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": 1008, "reason": err.message[:120]})
            return
        owner, issued = self._owner(scope, owner)

        async def send_token(message: dict[str, Any]) -> None:
            if issued and message["type"] == "websocket.accept":
                message = {**message, "headers": [*message.get("headers", []), *issued]}
            await send(message)

        await self.app(scope, receive, send_token)


def _http_exception() -> type[Exception]:
    try:
        from starlette.exceptions import HTTPException
    except ImportError:  # the serve extra is not installed; the middleware is never built then
        return Exception
    return HTTPException


class BodyRefused(_http_exception()):  # type: ignore[misc]
    """Raised from ``receive`` when a body is refused midway (over its cap, too slow, over the client's bytes in
    flight). An HTTPException, because FastAPI's body parsing turns any other exception into a 400; the app's
    handler (or BodyLimit itself) answers it."""

    def __init__(self, status: int, message: str, code: str, retry_after: int | None = None) -> None:
        self.error = ApiError(status, message, code, retry_after)
        super().__init__(status, message, headers=self.error.headers() or None)


def _too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, f"the request body is over this server's {limit / 2**20:.0f} MB cap", "body_too_large")


class BodyLimit:
    """ASGI middleware guarding each request body while it streams: a declared Content-Length over the cap is
    refused before one byte is read, and a body that grows past it (chunked, or lying about its length) is cut
    off at the cap, so nothing beyond it reaches the app. A body that sends nothing for ``read_timeout_s`` is
    dropped (408). The bytes in flight per client address (declared or received, held until the response ends)
    stay under ``inflight_bytes`` (429 otherwise, before reading when declared). It also answers 415 when a route
    that takes files (or JSON) gets another content type. ``rule(method, path)`` gives (cap in bytes, the content
    type expected: "multipart/form-data", "application/json" or None). ``seen`` records, per path, the most body
    bytes handed to the app (for tests and the load benchmark)."""

    def __init__(
        self, app: Any, rule: Callable[[str, str], tuple[int, str | None]], read_timeout_s: float, inflight_bytes: int
    ) -> None:
        self.app, self.rule, self.read_timeout_s, self.inflight_bytes = app, rule, read_timeout_s, inflight_bytes
        self.seen: dict[str, int] = {}
        self.inflight: dict[str, int] = {}

    def _hold(self, address: str, extra: int) -> None:
        held = self.inflight.get(address, 0)
        if extra and held + extra > self.inflight_bytes:
            raise BodyRefused(
                429,
                f"this address has {held / 2**20:.0f} MB of requests in flight; at most "
                f"{self.inflight_bytes / 2**20:.0f} MB (--client-inflight-mb): wait for them to finish",
                "too_many_bytes_in_flight",
                retry_after=5,
            )
        self.inflight[address] = held + extra

    def _release(self, address: str, held: int) -> None:
        left = self.inflight.get(address, 0) - held
        if left > 0:
            self.inflight[address] = left
        else:
            self.inflight.pop(address, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit, expected = self.rule(scope["method"], path)
        kind = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if expected and kind != expected:
            shown = kind or "no content type"
            await send_error(send, ApiError(415, f"{path} takes {expected}, not {shown}", "unsupported_media_type"))
            return
        declared = _header(scope, b"content-length")
        held = int(declared) if declared is not None and declared.isdigit() else 0
        address = scope["client"][0] if scope.get("client") else "?"
        try:
            if held > limit:
                raise _too_large(limit)
            self._hold(address, held)
        except BodyRefused as err:
            await send_error(send, err.error)
            return
        received, more, started = 0, True, False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, more, held
            if not more:  # the body is in; what follows is the wait for a disconnect, which has no timeout
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except TimeoutError:
                raise BodyRefused(
                    408, f"the request body stalled for {self.read_timeout_s:.0f} s (--read-timeout-s)", "timeout"
                ) from None
            if message["type"] != "http.request":
                more = False
                return message
            received += len(message.get("body", b""))
            more = message.get("more_body", False)
            if received > limit:
                raise _too_large(limit)
            if received > held:
                self._hold(address, received - held)
                held = received
            self.seen[path] = max(self.seen.get(path, 0), received)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyRefused as err:
            if not started:
                await send_error(send, err.error)
        finally:
            self._release(address, held)


def check_image(source: Any, limits: ServeLimits, name: str) -> None:
    """Refuse an image whose header says it is over the pixel cap, or whose size and mode (bit depth, alpha) say
    that decoding it takes more than ``max_image_mb`` (``images.decode_bytes``), before it is decoded (Pillow's
    ``open`` reads only the header). A file Pillow can't identify passes: the loader that follows reports it."""
    from PIL import Image, UnidentifiedImageError

    from emoreason.perception.images import decode_bytes

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                (width, height), mode = img.size, img.mode
    except Image.DecompressionBombError as err:  # over Pillow's own bomb limit: far over any cap that can decode
        message = f"{name} is too large to decode safely ({err}); downscale it first"
        raise ApiError(413, message, "image_too_large") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return
    if width * height > limits.max_pixels:
        raise ApiError(
            413,
            f"{name} is {width}x{height} ({width * height / 1e6:.0f} MP), over this server's "
            f"{limits.max_pixels / 1e6:.0f} MP cap; downscale it first",
            "image_too_large",
        )
    needed = decode_bytes(mode, width, height)
    if needed > limits.max_image_bytes:
        raise ApiError(
            413,
            f"{name} is {width}x{height} in mode {mode} ({needed // (width * height)} bytes per pixel to decode): "
            f"about {needed / 2**20:.0f} MB, over this server's {limits.max_image_mb:.0f} MB per image "
            "(--max-image-mb); save it as 8-bit RGB without alpha, or downscale it",
            "image_too_large",
        )


_UNSAFE = re.compile(r"[^\w.\- ()+,@]")


def safe_name(filename: str | None, fallback: str = "upload", max_bytes: int = 120) -> str:
    """A client's filename made safe to write and to show: no folders, NUL or control characters, no leading dot,
    at most ``max_bytes`` UTF-8 bytes with the extension kept.

    >>> safe_name("../../etc/passwd"), safe_name("a\\x00b.jpg"), safe_name(".."), len(safe_name("x" * 300 + ".png"))
    ('passwd', 'a_b.jpg', 'upload', 120)
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", "".join(ch if ch.isprintable() else "_" for ch in name)).strip(" .")
    if not name or set(name) <= {"_", "."}:
        return fallback
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 10:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = max_bytes - len(suffix.encode())
    stem = stem.encode()[:budget].decode("utf-8", errors="ignore")
    return (stem or fallback) + suffix


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name_1``, ``name_2`` ... when taken."""
    target, counter = folder / name, 1
    while target.exists():
        target = folder / f"{Path(name).stem}_{counter}{Path(name).suffix}"
        counter += 1
    return target


def as_api_error(err: EmoreasonError, status: int = 422) -> ApiError:
    """A user-caused EmoreasonError as an HTTP refusal."""
    return ApiError(status, str(err))
