"""A JSON body's values are bounded before it is parsed, and parsing happens off the event loop: a 27 MB chat
request of 900k messages is refused at once, and other clients are answered meanwhile."""

from __future__ import annotations

import doctest
import threading
import time

from serve_helpers import call, post_json


def test_a_body_of_900k_messages_is_refused_before_parsing_and_stalls_no_one(server: str) -> None:
    message = b'{"role": "user", "content": "x"}, '
    body = b'{"model": "emoreason", "messages": [' + message * 900_000 + b'{"role": "user", "content": "x"}]}'
    worst, stop = [0.0], threading.Event()

    def canary() -> None:
        while not stop.is_set():
            began = time.perf_counter()
            assert call(f"{server}/health")[0] == 200
            worst[0] = max(worst[0], time.perf_counter() - began)
            time.sleep(0.02)

    watcher = threading.Thread(target=canary)
    watcher.start()
    try:
        time.sleep(0.1)
        began = time.perf_counter()
        status, reply = call(f"{server}/v1/chat/completions", body, {"Content-Type": "application/json"})
        took = time.perf_counter() - began
        time.sleep(0.1)
    finally:
        stop.set()
        watcher.join()
    assert status == 413 and "--json-items" in reply["detail"], reply
    assert took < 3 and worst[0] < 0.5, (took, worst[0])
    assert post_json(f"{server}/v1/chat/completions", {"model": "emoreason", "messages": "hi"})[0] == 422  # typed


def test_the_examples_in_the_docstring() -> None:
    from emoreason.serve import json_body

    result = doctest.testmod(json_body)
    assert result.attempted > 0 and result.failed == 0
