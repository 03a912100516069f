"""The bounded work queue: one worker thread runs every perception and reasoning call in turn (model backends are
not thread-safe, and two cores do not gain from more), at most ``depth`` calls wait behind it, and the rest are
refused at once with 429 and a Retry-After estimated from recent calls. A route that takes an upload takes its slot
first (:meth:`WorkQueue.reserve`), before it reads a byte of the body, so a full queue costs no disk. A caller waits
at most its timeout, and only while its client is still connected (the ASGI ``http.disconnect`` message): then a
call still queued is dropped, so a client that hung up pushes no one else into 429, and a running one finishes
(its ticket's ``abandoned`` is set, for work that can stop between steps) and its result is discarded (the slot is
held until it does, so the bound stays true).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from emoreason.serve.limits import ApiError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Ticket:
    """A slot in the queue, taken by :meth:`WorkQueue.reserve`; ``abandoned`` is set once no one waits for its call
    (the client hung up, or the timeout passed), for a call that can stop between steps."""

    def __init__(self) -> None:
        self.used = False
        self.abandoned = threading.Event()


async def client_gone(receive: Callable[[], Any]) -> None:
    """Return once the client of a request whose body has been read disconnects (ASGI ``http.disconnect``)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class WorkQueue:
    """Run blocking calls one at a time on a worker thread, with admission control and timeouts."""

    def __init__(self, depth: int, timeout_s: float) -> None:
        self.depth, self.timeout_s = depth, timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emoreason-work")
        self._lock = threading.Lock()
        self._in = 0  # admitted and not yet finished: running + waiting
        self._mean_s = 1.0  # moving mean of a call's run time, for Retry-After
        self.counts = {"done": 0, "refused": 0, "timed_out": 0, "abandoned": 0, "failed": 0}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"in_flight": self._in, "depth": self.depth, "mean_s": round(self._mean_s, 3), **self.counts}

    def _admit(self) -> None:
        with self._lock:
            if self._in >= self.depth + 1:
                self.counts["refused"] += 1
                wait = max(1, math.ceil(self._mean_s * self._in))
                raise ApiError(
                    429,
                    f"the server is busy ({self._in} requests ahead); retry in about {wait} s",
                    "server_busy",
                    retry_after=wait,
                )
            self._in += 1

    def _release(self, _future: Future[Any] | None) -> None:
        with self._lock:
            self._in -= 1

    def _timed(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            elapsed = time.perf_counter() - start
            with self._lock:
                self._mean_s = 0.8 * self._mean_s + 0.2 * elapsed

    @contextmanager
    def reserve(self) -> Iterator[Ticket]:
        """A slot taken now (ApiError 429 when full), for one later :meth:`run` with ``ticket=``; given back on exit
        if no call used it."""
        self._admit()
        ticket = Ticket()
        try:
            yield ticket
        finally:
            if not ticket.used:
                self._release(None)

    def submit(self, fn: Callable[..., T], *args: Any, ticket: Ticket | None = None) -> Future[T]:
        """Admit (or take ``ticket``'s slot) and queue ``fn(*args)``; raises ApiError(429) when the queue is full."""
        if ticket is None:
            self._admit()
        elif ticket.used:
            raise RuntimeError("a queue ticket is good for one call")
        else:
            ticket.used = True
        try:
            future = self._pool.submit(self._timed, fn, args)
        except RuntimeError:  # shut down
            with self._lock:
                self._in -= 1
            raise ApiError(503, "the server is shutting down") from None
        future.add_done_callback(self._release)
        return future

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        timeout_s: float | None = None,
        ticket: Ticket | None = None,
        request: Any = None,
    ) -> T:
        """``fn(*args)`` on the worker; ApiError 429 when full, 504 past the timeout. With ``request`` (a Starlette
        Request whose body is read), a client that disconnects first has its call dropped (499)."""
        future = self.submit(fn, *args, ticket=ticket)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        answer = asyncio.wrap_future(future)
        gone = asyncio.ensure_future(client_gone(request.receive)) if request is not None else None
        try:
            await asyncio.wait({answer, gone} - {None}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the request's task itself is cancelled (shutdown)
            answer.cancel()
            raise
        finally:
            if gone is not None:
                gone.cancel()
        if not answer.done():
            answer.cancel()  # dropped if still waiting; a running call finishes on its own
            if ticket is not None:
                ticket.abandoned.set()
            if gone is not None and gone.done() and not gone.cancelled():
                with self._lock:
                    self.counts["abandoned"] += 1
                logger.info("client gone: its queued call was dropped")
                raise ApiError(499, "the client closed the request; its work was dropped", "client_closed")
            with self._lock:
                self.counts["timed_out"] += 1
            raise ApiError(504, f"no answer within {timeout:.0f} s (--timeout-s); try a smaller input")
        try:
            result = answer.result()
        except ApiError:
            raise
        except Exception:
            with self._lock:
                self.counts["failed"] += 1
            raise
        with self._lock:
            self.counts["done"] += 1
        return result

    def call(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """The blocking form of :meth:`run`, for threads that are not the event loop (caption jobs)."""
        future = self.submit(fn, *args)
        return future.result(timeout=self.timeout_s if timeout_s is None else timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
