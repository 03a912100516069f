"""Chat sessions by id, bounded: a total cap, a cap per client address, and idle expiry. New sessions never evict
someone else's live one: past the caps a client gets 429 until an idle session expires or one is ended."""

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
    client: str
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

    def new(self, client: str) -> str:
        with self._lock:
            self._expire()
            mine = sum(1 for e in self.items.values() if e.client == client)
            if mine >= self.limits.sessions_per_client:
                raise ApiError(
                    429,
                    f"this client already has {mine} chat sessions (the cap is {self.limits.sessions_per_client}); "
                    "end one with DELETE /v1/sessions/{id}",
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
            self.items[sid] = _Entry(self.factory(), client)
            return sid

    def _retry_after(self) -> int:
        """Seconds until the least recently used session expires."""
        if not self.items:
            return 1
        oldest = next(iter(self.items.values()))
        left = self.limits.session_idle_min * 60 - (time.monotonic() - oldest.used)
        return max(1, math.ceil(left))

    def get(self, sid: str) -> Any:
        with self._lock:
            self._expire()
            entry = self.items.get(sid)
            if entry is None:
                raise ApiError(
                    404, "no such chat session (ended, expired, or never made); start one: POST /v1/sessions"
                )
            entry.used = time.monotonic()
            self.items.move_to_end(sid)
            return entry.session

    def end(self, sid: str) -> None:
        with self._lock:
            if self.items.pop(sid, None) is None:
                raise ApiError(404, "no such chat session (ended, expired, or never made)")
