"""An HTTP server on 127.0.0.1 that serves from a daemon thread inside a `with` block: the shared
body of the tests' stand-ins (tests/fake_openai.py, tests/slow_http.py)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Self


class BackgroundHTTP:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        server.daemon_threads = True
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
