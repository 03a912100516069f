"""Who owns a request's sessions and jobs: the API key it carries, or (on a server without keys) a client token.

A client token is issued on a client's first request without one: a random id and its HMAC under the server's
secret, sent back as the ``X-Emoreason-Client`` header (API clients send it back the same way) and as an HttpOnly,
SameSite=Strict cookie (the page sends it back without knowing). Only tokens this server signed are taken, so a
client cannot pick a weak or someone else's token. An owner id is a hash (of the key, or of the token's id): it is
what sessions and jobs store, and nothing in it lets anyone act as that owner.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

TOKEN_HEADER = "x-emoreason-client"
COOKIE = "emoreason_client"
COOKIE_MAX_AGE_S = 400 * 24 * 3600  # the most browsers keep a cookie


def key_owner(key: str) -> str:
    """The owner id of an API key (the key itself is never stored)."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class ClientTokens:
    """Issues and checks client tokens signed with ``secret`` (kept in the state folder, so tokens outlive a
    restart)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _sign(self, raw: str) -> str:
        return hmac.new(self.secret, raw.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> str:
        raw = secrets.token_urlsafe(18)
        return f"{raw}.{self._sign(raw)}"

    def owner(self, token: str | None) -> str | None:
        """The owner id of a token this server issued; None for a missing, malformed or forged one."""
        raw, dot, sig = (token or "").strip().partition(".")
        if not dot or not raw or len(raw) > 64 or not hmac.compare_digest(sig, self._sign(raw)):
            return None
        return "client-" + hashlib.sha256(raw.encode()).hexdigest()[:20]

    def from_scope(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The token a request carries: the header first (API clients), else the cookie (the page)."""
        cookie = None
        for name, value in headers:
            if name == TOKEN_HEADER.encode() and value.strip():
                return value.decode("latin-1")
            if name == b"cookie":
                cookie = value.decode("latin-1")
        if cookie:
            from starlette.requests import cookie_parser

            return cookie_parser(cookie).get(COOKIE)
        return None

    def response_headers(self, token: str) -> list[tuple[bytes, bytes]]:
        """The headers that hand a new token to the client."""
        cookie = f"{COOKIE}={token}; Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Strict"
        return [(TOKEN_HEADER.encode(), token.encode()), (b"set-cookie", cookie.encode())]


def owner_of(request: Any) -> str:
    """The owner id :class:`~emoreason.serve.limits.AccessGuard` put on the request."""
    owner = request.scope.get("state", {}).get("owner")
    if not owner:  # AccessGuard always sets one on a /v1 route; this is a programming error, not a client's
        raise RuntimeError("request has no owner (is AccessGuard installed?)")
    return str(owner)
