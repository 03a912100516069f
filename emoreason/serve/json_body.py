"""JSON request bodies parsed off the event loop, after a count of their values.

FastAPI parses a JSON body with ``json.loads`` on the event loop, so a 29 MB body of 900k chat messages held every
client for seconds and took 742 MB before the ``--messages`` cap could look at it. :class:`CappedJSONRoute` (the
app's route class; FastAPI's documented hook for a custom Request) first bounds the number of values by counting
the bytes that start or separate them (``{``, ``[`` and ``,``: C-speed counts, no parsing), refusing more than
``json_items`` with 413, and then parses in a worker thread.
"""

from __future__ import annotations

import json
from typing import Any


def value_bound(body: bytes) -> int:
    """An upper bound on the JSON values in ``body``: every value but the first opens a container or follows a
    comma (commas inside strings only make the bound looser).

    >>> value_bound(b'{"messages": [{"role": "user"}, {"role": "user"}]}')  # 1 + 3 objects, 1 array, 1 comma
    6
    """
    return body.count(b"{") + body.count(b"[") + body.count(b",") + 1


def _parse(body: bytes, max_items: int) -> Any:
    from emoreason.serve.limits import BodyRefused

    if value_bound(body) > max_items:
        raise BodyRefused(
            413, f"the JSON body holds more than {max_items} values (--json-items); send fewer", "too_many_items"
        )
    return json.loads(body)


def route_class() -> type:
    """FastAPI's APIRoute, handing its endpoints a Request whose ``json()`` is capped and parsed in a thread."""
    from fastapi.routing import APIRoute
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request

    class CappedJSONRequest(Request):
        async def json(self) -> Any:
            if not hasattr(self, "_json"):
                limits = self.app.state.ctx.limits
                self._json = await run_in_threadpool(_parse, await self.body(), limits.json_items)
            return self._json

    class CappedJSONRoute(APIRoute):
        def get_route_handler(self) -> Any:
            handler = super().get_route_handler()

            async def capped(request: Request) -> Any:
                return await handler(CappedJSONRequest(request.scope, request.receive))

            return capped

    return CappedJSONRoute
