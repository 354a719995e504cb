"""A slow dependency on 127.0.0.1: every GET is held for `delay_s`, then answered 503.

With the `local` target and `FIRSTLINE_TARGETS__HTTP_ALLOW=["127.0.0.1"]`, the offline model opens an
investigation of "http://127.0.0.1:PORT/health returns 503" with `http_check` on that URL, so a turn
stays mid-tool-call for `delay_s` (at most about 7 s, the tool's own deadline). Real HTTP, real tool,
real model code: the way to catch an offline-model turn in the middle.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from background_http import BackgroundHTTP


class SlowHTTP(BackgroundHTTP):
    def __init__(self, delay_s: float = 5.0) -> None:
        self.delay_s = delay_s
        self.hits = 0
        slow = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                slow.hits += 1
                time.sleep(slow.delay_s)
                body = b"upstream timed out\n"
                try:
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), Handler))

    @property
    def question(self) -> str:
        return f"http://127.0.0.1:{self.port}/health returns 503"


def local_target_env() -> dict[str, str]:
    """What a server needs to investigate the slow dependency with the offline model."""
    return {
        "FIRSTLINE_MODEL": "firstline/runbook",
        "FIRSTLINE_DEFAULT_TARGET": "local",
        "FIRSTLINE_TARGETS__HTTP_ALLOW": '["127.0.0.1"]',
    }
