"""`python tests/with_hostname.py NAME PROGRAM ARGS...`: set the hostname, then become PROGRAM.

Run inside `unshare --uts` (and `--pid --fork --mount-proc` for a PID namespace of its own) to give a
server process the hostname a Kubernetes pod would have, without touching the machine's.
"""

from __future__ import annotations

import os
import socket
import sys

if __name__ == "__main__":
    name, argv = sys.argv[1], sys.argv[2:]
    socket.sethostname(name)
    os.execvp(argv[0], argv)
