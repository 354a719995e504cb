"""The fixed argv templates host tools run where a command is the only way to ask.

A tool's validated arguments fill a template's slots; nothing else reaches the argv,
and options end with `--` wherever a slot could start with `-`. The parsers in
`tools.host.parse` read exactly what these print.
"""

from __future__ import annotations

import ipaddress

from tools.host.parse import DF_FIELDS, PS_FIELDS

PS_MARK = PS_FIELDS
"""Our own `ps` shows up in its own listing; rows carrying its field list are left out."""
PROC_FILES = ["cat", "/proc/loadavg", "/proc/uptime", "/proc/meminfo", "/proc/stat"]
PROC_STAT = ["cat", "/proc/stat"]


def ss(port: int, protocol: str) -> list[str]:
    return ["ss", "-H", "-lunp" if protocol == "udp" else "-ltnp", f"sport = :{port}"]


def ps(pids: list[int] | None = None) -> list[str]:
    """Every process (`-e`), or just `pids`, one row each with the full command line (`-ww`)."""
    select = ["-p", ",".join(map(str, pids))] if pids else ["-e"]
    return ["ps", *select, "-ww", "-o", PS_FIELDS]


def df(path: str) -> list[str]:
    return ["df", "-B1", f"--output={DF_FIELDS}", "--", path]


def getent(name: str) -> tuple[list[str], bool]:
    """(argv, reverse): `getent hosts IP` for an address, `getent ahosts NAME` for a name."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return ["getent", "ahosts", name], False
    return ["getent", "hosts", name], True


def find_files(roots: list[str], depth: int) -> list[str]:
    """Regular files under the roots (not following symlinks), `mtime<TAB>path<NUL>` each."""
    return ["find", *roots, "-maxdepth", str(depth), "-type", "f", "-printf", "%T@\\t%p\\0"]


def tail(path: str, lines: int) -> list[str]:
    return ["tail", "-n", str(lines), "--", path]
