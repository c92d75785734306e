"""uvicorn's h11 protocol with a deadline for each request's head (request line and headers).

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but only
once a response has been sent, and its timer stops at the first byte of the next request: a
client that opens a connection and sends nothing, or sends its headers a byte at a time
(slow-loris), holds the connection for as long as it likes. Here the head of every request must
arrive within ``header_timeout`` seconds of the connection opening (or of the previous
response); else the server answers ``408`` with the coded error ``E531`` and closes the
connection. The body has its own deadline, in :class:`spertmt.serve.app._BodyLimit`.

Imported only by :func:`spertmt.serve.server.serve`, once uvicorn is known to be installed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HeaderTimeoutProtocol", "with_header_timeout"]


class HeaderTimeoutProtocol(H11Protocol):
    """:class:`~uvicorn.protocols.http.h11_impl.H11Protocol` with a deadline for request heads.

    Subclasses set :attr:`header_timeout` (:func:`with_header_timeout` makes one).
    """

    header_timeout: float = 10.0
    """Seconds a request's head may take to arrive."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Stop the clock once a request's head is complete."""
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        """Start the clock for the next request's head on this connection."""
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        body = json.dumps(
            {
                "error": {
                    "code": "E531",
                    "message": f"the request line and headers did not arrive within "
                    f"{self.header_timeout:g} s (--header-timeout); send the whole head at once",
                }
            }
        ).encode("utf-8")
        # h11 cannot answer a request it has not seen, so the bytes are written directly.
        head = (
            "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode("ascii")
        self.logger.info(
            "%sclosed a connection whose request head took over %g s",
            f"{self.client[0]}:{self.client[1]} - " if self.client else "",
            self.header_timeout,
        )
        self.transport.write(head + body)
        self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeoutProtocol]:
    """A :class:`HeaderTimeoutProtocol` class whose heads must arrive within ``seconds``.

    Example:
        >>> import uvicorn                                                    # doctest: +SKIP
        >>> uvicorn.Config(app, http=with_header_timeout(10.0))               # doctest: +SKIP

    """
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": seconds})
