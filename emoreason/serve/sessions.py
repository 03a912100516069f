"""Chat sessions by id, each owned by its key or client token (:mod:`emoreason.serve.owners`), bounded: a cap per
owner (a new session past it ends that owner's least recently used one, never another owner's), a cap per client
address on token owners (tokens cost nothing to get), a total cap (429 until an idle session expires or one is
ended), and idle expiry. Another owner's session is 404, as if it did not exist."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emoreason.serve.limits import ApiError, ServeLimits


@dataclass
class _Entry:
    session: Any  # chat.ChatSession
    owner: str
    address: str
    used: float = field(default_factory=time.monotonic)


class SessionStore:
    """ChatSessions made by ``factory``; ids are 16 random bytes, so an id is the only key to a session."""

    def __init__(self, factory: Callable[[], Any], limits: ServeLimits) -> None:
        self.factory, self.limits = factory, limits
        self.items: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def _expire(self) -> None:
        idle = self.limits.session_idle_min * 60
        now = time.monotonic()
        while self.items:
            sid, entry = next(iter(self.items.items()))
            if now - entry.used < idle:
                break
            del self.items[sid]

    def new(self, owner: str, address: str) -> str:
        with self._lock:
            self._expire()
            mine = [sid for sid, e in self.items.items() if e.owner == owner]  # least recently used first
            if len(mine) >= self.limits.sessions_per_client:
                del self.items[mine[0]]
            elif owner.startswith("client-"):
                here = sum(1 for e in self.items.values() if e.address == address and e.owner.startswith("client-"))
                if here >= self.limits.sessions_per_address:
                    raise ApiError(
                        429,
                        f"clients at this address hold {here} chat sessions (the cap is "
                        f"{self.limits.sessions_per_address}); end one with DELETE /v1/sessions/{{id}}",
                        "too_many_sessions",
                        retry_after=self._retry_after(),
                    )
            if len(self.items) >= self.limits.max_sessions:
                raise ApiError(
                    429,
                    f"the server holds its cap of {self.limits.max_sessions} chat sessions; retry later",
                    "too_many_sessions",
                    retry_after=self._retry_after(),
                )
            sid = secrets.token_urlsafe(16)
            self.items[sid] = _Entry(self.factory(), owner, address)
            return sid

    def _retry_after(self) -> int:
        """Seconds until the least recently used session expires."""
        if not self.items:
            return 1
        oldest = next(iter(self.items.values()))
        left = self.limits.session_idle_min * 60 - (time.monotonic() - oldest.used)
        return max(1, math.ceil(left))

    def get(self, sid: str, owner: str) -> Any:
        with self._lock:
            self._expire()
            entry = self.items.get(sid)
            if entry is None or entry.owner != owner:
                raise ApiError(
                    404, "no such chat session (ended, expired, or never made); start one: POST /v1/sessions"
                )
            entry.used = time.monotonic()
            self.items.move_to_end(sid)
            return entry.session

    def end(self, sid: str, owner: str) -> None:
        with self._lock:
            entry = self.items.get(sid)
            if entry is None or entry.owner != owner:
                raise ApiError(404, "no such chat session (ended, expired, or never made)")
            del self.items[sid]
