"""The read-ahead helpers of the pipelines: an iterator's items made in background threads, a few in advance.

:func:`map_ahead` decodes and searches the next image files, two at a time with a landmarker each, while this one is
reasoned over (:mod:`emoreason.pipelines.image`); :func:`read_ahead` makes the decoded frames and the landmarker's
results in video (:mod:`emoreason.pipelines.video_faces`). PyAV, Pillow and MediaPipe do their work without the GIL,
so the stages overlap on two cores.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def read_ahead(items: Iterator[Any], ahead: int = 4) -> Iterator[Any]:
    """``items`` produced in a background thread, up to ``ahead`` in advance (a bounded queue, so memory stays at a
    few frames). PyAV decodes and MediaPipe runs its graph without the GIL, so the next frames decode while the
    landmarker works on this one. An exception in ``items`` is raised here, where the consumer reaches it; when the
    consumer stops early (an error, ``close()``), the producer stops at its next item and closes ``items`` in its
    own thread (so the container is closed where it was opened).
    """
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                box.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", value=item):
                    break
            else:
                put("end", None)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            put("error", err)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="emoreason-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join()


def map_ahead(
    work: Callable[[Any, int], Any], items: Iterable[Any], workers: int = 2, ahead: int = 3
) -> Iterator[Any]:
    """``work(item, worker)`` for each of ``items``, yielded in order, computed by ``workers`` threads with up to
    ``ahead`` items in flight. Item i always goes to worker ``i % workers`` (its index is the second argument), so a
    caller can give each thread MediaPipe graphs of its own: one graph reads one image at a time, and on two cores
    two photos are then searched and read by the landmarker at once while the consumer reasons over a third. An
    exception in ``work`` is raised here, where the consumer reaches its item; when the consumer stops early, the
    items not started are dropped and the running ones finish before this returns."""
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    pools = [ThreadPoolExecutor(1, thread_name_prefix=f"emoreason-read-ahead-{w}") for w in range(max(1, workers))]
    pending: deque[Future[Any]] = deque()
    source = iter(items)
    index = 0
    try:
        while True:
            while len(pending) < max(1, ahead):
                item = next(source, _END)
                if item is _END:
                    break
                w = index % len(pools)
                pending.append(pools[w].submit(work, item, w))
                index += 1
            if not pending:
                return
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        for pool in pools:
            pool.shutdown(wait=True)


_END = object()
