"""A deadline on request headers: a connection that has not sent its whole request head in time is closed.

uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) and the number of connections
(`limit_concurrency`), but not a client that connects and sends its headers a byte at a time:
800 of those held their sockets for as long as they liked. Here the deadline is armed when a
connection is made and again when a response completes (the next request's head must come in
time too), and disarmed once the headers are parsed: a request past its headers, an event
stream idle for minutes included, is never cut by it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_BODY = b"request headers not received in time\n"
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    + f"content-length: {len(_BODY)}\r\nconnection: close\r\n\r\n".encode()
    + _BODY
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline (`header_timeout_s`, set by `with_header_deadline`)."""

    header_timeout_s = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never cut a response being written
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


def with_header_deadline(header_timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with this deadline."""
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout_s": header_timeout_s})
