"""PID 1 of a test "host": starts the host's apps, then becomes its `firstline node`.

Run as `ip netns exec NS unshare --pid --fork --mount-proc python tests/hostinit.py SPEC.json`:
the namespace gives the host its own network, the PID namespace and /proc its own process
table, so the node's tools see this host only (as on a real machine).
SPEC: {"apps": [{"argv": [...], "log": "path", "wait_port": 8080}], "node": [argv...]}
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    for app in spec.get("apps", []):
        out = open(app["log"], "ab") if app.get("log") else subprocess.DEVNULL
        proc = subprocess.Popen(app["argv"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if app.get("wait_port"):
            _wait_port(app["wait_port"])
        if app.get("wait_exit"):
            proc.wait(10)
    os.execv(spec["node"][0], spec["node"])


if __name__ == "__main__":
    main()
