"""pipelines.read_ahead: items in order, errors where the consumer reaches them, bounded, and no thread left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from emoreason.pipelines.read_ahead import read_ahead


def _threads() -> int:
    return sum(t.name == "emoreason-read-ahead" for t in threading.enumerate())


def test_items_come_in_order_and_an_error_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield from range(5)
        raise ValueError("frame 5 is damaged")

    got = []
    with pytest.raises(ValueError, match="frame 5 is damaged"):
        for item in read_ahead(source(), ahead=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4] and _threads() == 0


def test_the_producer_stays_at_most_ahead_items_in_front_and_stops_when_the_consumer_does() -> None:
    made, closed_in = [], []

    def source() -> Iterator[int]:
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed_in.append(threading.current_thread().name)

    with closing(read_ahead(source(), ahead=3)) as items:
        assert next(items) == 0
        time.sleep(0.3)  # let the producer run as far as it may
        assert len(made) <= 1 + 3 + 1  # the one taken, a full queue, and one waiting to be put
    assert closed_in == ["emoreason-read-ahead"] and _threads() == 0  # closed where it ran, thread gone


def test_a_consumer_error_inside_a_caption_stops_the_stages(monkeypatch: pytest.MonkeyPatch, face_video) -> None:  # noqa: ANN001
    from emoreason.pipelines import video_faces
    from emoreason.pipelines.video_options import VideoOptions

    calls = {"n": 0}
    real = video_faces.frame_label

    def failing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("reading failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(video_faces, "frame_label", failing)
    with pytest.raises(RuntimeError, match="reading failed"):
        video_faces.faces_pass(face_video, VideoOptions(no_speech=True), [(0.0, 100.0)], [])
    assert _threads() == 0


def _pool_threads() -> int:
    return sum(t.name.startswith("emoreason-read-ahead-") for t in threading.enumerate())


def test_map_ahead_keeps_the_order_and_gives_item_i_to_worker_i_mod_workers() -> None:
    from emoreason.pipelines.read_ahead import map_ahead

    names: dict[int, set[str]] = {0: set(), 1: set()}

    def work(item: int, worker: int) -> tuple[int, int]:
        names[worker].add(threading.current_thread().name)
        time.sleep(0.01 * (item % 3))  # later items may finish first
        return item, worker

    got = list(map_ahead(work, iter(range(9)), workers=2, ahead=3))
    assert got == [(i, i % 2) for i in range(9)]
    assert len(names[0]) == len(names[1]) == 1 and names[0] != names[1]  # one thread per worker
    assert _pool_threads() == 0


def test_map_ahead_raises_where_the_item_is_reached_and_stops_early_without_threads_left() -> None:
    from emoreason.pipelines.read_ahead import map_ahead

    started: list[int] = []

    def work(item: int, worker: int) -> int:
        started.append(item)
        if item == 2:
            raise ValueError("photo 2 is damaged")
        return item

    got = []
    with pytest.raises(ValueError, match="photo 2 is damaged"):
        for item in map_ahead(work, iter(range(100)), workers=2, ahead=3):
            got.append(item)
    assert got == [0, 1] and _pool_threads() == 0
    assert len(started) <= 6  # bounded: never more than `ahead` items past the consumer

    with closing(map_ahead(lambda item, worker: item, iter(range(100)), workers=2, ahead=3)) as stream:
        assert next(stream) == 0
    assert _pool_threads() == 0
