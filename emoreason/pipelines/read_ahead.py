"""One read-ahead helper for the pipelines: an iterator's items made in a background thread, a few in advance.

Used for decoding the next image files while MediaPipe reads this one (:mod:`emoreason.pipelines.image`) and, in
video, for the decoded frames and the landmarker's results (:mod:`emoreason.pipelines.video_faces`): PyAV, Pillow
and MediaPipe do their work without the GIL, so the stages overlap on two cores.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
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
