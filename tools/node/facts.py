"""What a node tells the server about its host when it registers."""

from __future__ import annotations

import platform
import socket
import sys
from pathlib import Path
from typing import Any

from tools.host.proc import systemd_is_pid1


def os_name(os_release: Path = Path("/etc/os-release")) -> str:
    try:
        for line in os_release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("firstline")
    except PackageNotFoundError:
        return "0.0.0"


def host_facts() -> dict[str, Any]:
    return {
        "os": os_name(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "systemd": systemd_is_pid1(),
        "hostname": socket.gethostname(),
        "python": ".".join(map(str, sys.version_info[:3])),
    }
