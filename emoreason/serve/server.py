"""The uvicorn server behind ``emoreason serve``, with the connection limits that belong to it rather than to the
app: uvicorn's own ``limit_concurrency`` (503 past ``max_connections``) and keep-alive timeout, and a header
timeout, which uvicorn lacks: its h11 protocol, subclassed to close a connection that has not sent a whole request
head within ``header_timeout_s`` (a slow-headers client holds nothing for long). Body read timeouts and caps are in
:class:`~emoreason.serve.limits.BodyLimit`.
"""

from __future__ import annotations

from typing import Any


def _protocol(header_timeout_s: float) -> type:
    """uvicorn's h11 protocol with a header timeout (armed on connect and after each response)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _header_timer: Any = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
                self.transport.close()  # no request is being answered, and none has arrived in time

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._disarm()  # a WebSocket (the live page) has its own idle timeout; this timer would close it
            super().handle_websocket_upgrade(event)

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and not self.cycle.response_complete:
                self._disarm()  # a request head has arrived; its body has BodyLimit's read timeout

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the next request on this keep-alive connection has the same time for its head

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def uvicorn_config(app: Any, host: str, port: int, log_level: str = "info") -> Any:
    """The uvicorn Config for ``app`` (from ``create_app``), with the limits of its ``ServeLimits``."""
    import uvicorn

    limits = app.state.ctx.limits
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=_protocol(limits.header_timeout_s),
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=5,
        ws_max_size=limits.live_frame_bytes + 4096,  # the protocol refuses a bigger live frame before holding it
        ws_max_queue=4,  # messages read ahead per WebSocket
    )
