"""Chat sessions by id, each owned by its key or client token (:mod:`emoreason.serve.owners`), bounded fairly
(:mod:`emoreason.serve.fair`): an owner holds at most ``sessions_per_client``, the tokens of one address at most
``sessions_per_address`` together, and neither may grow once the server's free sessions are no more than it holds.
An owner that may not grow gets its new session in place of its own oldest idle one (idle: no request on it now),
never another owner's; with none idle, or with none of its own at a full server, it gets 429 with a Retry-After.
Sessions unused for ``session_idle_min`` end. Another owner's session is 404, as if it did not exist."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from emoreason.serve.fair import may_take
from emoreason.serve.limits import ApiError, ServeLimits

BUSY_RETRY_S = 5  # Retry-After when an owner's sessions are all in use by requests (they end within seconds)


@dataclass
class _Entry:
    session: Any  # chat.ChatSession
    owner: str
    address: str
    used: float = field(default_factory=time.monotonic)
    busy: int = 0  # requests working on it now


class SessionStore:
    """ChatSessions made by ``factory``; ids are 16 random bytes, so an id is the only key to a session."""

    def __init__(self, factory: Callable[[], Any], limits: ServeLimits) -> None:
        self.factory, self.limits = factory, limits
        self.items: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def _expire(self) -> None:
        idle = self.limits.session_idle_min * 60
        now = time.monotonic()
        for sid, entry in list(self.items.items()):  # least recently used first
            if now - entry.used < idle:
                break
            if not entry.busy:
                del self.items[sid]

    def new(self, owner: str, address: str) -> str:
        """A new session for ``owner``; past its share, in place of its own oldest idle one (ApiError 429 if none)."""
        with self._lock:
            self._expire()
            refusal = self._refusal(owner, address)
            if refusal is not None:
                oldest_idle = next((sid for sid, e in self.items.items() if e.owner == owner and not e.busy), None)
                if oldest_idle is None:
                    raise refusal
                del self.items[oldest_idle]
            sid = secrets.token_urlsafe(16)
            self.items[sid] = _Entry(self.factory(), owner, address)
            return sid

    def _refusal(self, owner: str, address: str) -> ApiError | None:
        """Why ``owner`` (at ``address``) may not take one more session now, or None (call with the lock held)."""
        limits, used = self.limits, len(self.items)
        mine = sum(1 for e in self.items.values() if e.owner == owner)
        if not may_take(mine, used, limits.max_sessions, limits.sessions_per_client):
            if mine == 0:
                return ApiError(
                    429,
                    f"the server holds its cap of {limits.max_sessions} chat sessions; retry later",
                    "too_many_sessions",
                    retry_after=self._retry_after(),
                )
            return ApiError(
                429,
                f"you hold {mine} chat sessions (at most {limits.sessions_per_client}, fewer while the server is "
                f"near its {limits.max_sessions}), each in use by a request now; retry when one is done, or end one "
                "with DELETE /v1/sessions/{id}",
                "too_many_sessions",
                retry_after=BUSY_RETRY_S,
            )
        if owner.startswith("client-"):  # keyless: the tokens of one address share its sessions
            here = sum(1 for e in self.items.values() if e.address == address and e.owner.startswith("client-"))
            if not may_take(here, used, limits.max_sessions, limits.sessions_per_address):
                return ApiError(
                    429,
                    f"clients at this address hold {here} chat sessions (at most {limits.sessions_per_address}, "
                    f"fewer while the server is near its {limits.max_sessions}); end one with "
                    "DELETE /v1/sessions/{id}",
                    "too_many_sessions",
                    retry_after=self._retry_after(address),
                )
        return None

    def _retry_after(self, address: str | None = None) -> int:
        """Seconds until the least recently used session (of ``address``, when given) expires."""
        entries = [e for e in self.items.values() if address is None or e.address == address]
        if not entries:
            return 1
        left = self.limits.session_idle_min * 60 - (time.monotonic() - entries[0].used)
        return max(1, math.ceil(left))

    def _find(self, sid: str, owner: str, message: str) -> _Entry:
        entry = self.items.get(sid)
        if entry is None or entry.owner != owner:
            raise ApiError(404, message)
        return entry

    @contextmanager
    def hold(self, sid: str, owner: str) -> Iterator[Any]:
        """``owner``'s session ``sid`` (ApiError 404 for anyone else's), marked in use until the block ends: a
        session in use is never the one a new session replaces, nor does it expire."""
        with self._lock:
            self._expire()
            entry = self._find(
                sid, owner, "no such chat session (ended, expired, or never made); start one: POST /v1/sessions"
            )
            entry.busy += 1
            entry.used = time.monotonic()
            self.items.move_to_end(sid)
        try:
            yield entry.session
        finally:
            with self._lock:
                entry.busy -= 1
                entry.used = time.monotonic()

    def end(self, sid: str, owner: str) -> None:
        with self._lock:
            self._find(sid, owner, "no such chat session (ended, expired, or never made)")
            del self.items[sid]
