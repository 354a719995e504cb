"""`python -m web --host 127.0.0.1 --port 8080`: the server without the CLI (settings from FIRSTLINE_*)."""

from __future__ import annotations

import argparse

from assistant.config import load_settings
from web import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m web", description="Run the Firstline web server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log-level", default="warning")
    opts = parser.parse_args()
    serve(load_settings(), opts.host, opts.port, log_level=opts.log_level)


if __name__ == "__main__":
    main()
