"""A test web app: `shop.py PORT LOG [STATUS BODY]` answers every GET with STATUS; when the port is taken
it logs the bind error like a real service and exits 1. No `Server:` header, like many app servers."""

from __future__ import annotations

import http.server
import sys
import time


def main() -> None:
    port, log = int(sys.argv[1]), sys.argv[2]
    status = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    body = (sys.argv[4] if len(sys.argv) > 4 else '{"status":"ok"}').encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response_only(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    try:
        server = http.server.HTTPServer(("0.0.0.0", port), Handler)
    except OSError as exc:
        with open(log, "a") as fh:
            fh.write(
                f"{stamp} ERROR shop: cannot listen on 0.0.0.0:{port}: [Errno {exc.errno}] {exc.strerror}\n"
            )
        sys.exit(1)
    with open(log, "a") as fh:
        fh.write(f"{stamp} INFO shop: listening on 0.0.0.0:{port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
