"""Which process owns a running turn, and whether that process is still alive.

A pid alone is not enough: after a crash or a reboot the pid may belong to someone
else. The owner is host + pid + (boot id, process start time); a turn is orphaned when
its owner ran on this host and that exact process is gone. Turns owned by another host
are never touched (we cannot see its processes).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache

import psutil


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    boot: str


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()[:36]
    except OSError:
        return f"boot-{int(psutil.boot_time())}"


def _stamp(pid: int) -> str:
    """`<boot id>/<process start time>`: unique for one process over the host's life."""
    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""
    return f"{_boot_id()}/{started:.2f}"[:64]


@lru_cache(maxsize=1)
def _me(pid: int) -> Owner:
    return Owner(host=socket.gethostname()[:255], pid=pid, boot=_stamp(pid))


def current_owner() -> Owner:
    return _me(os.getpid())


def owner_is_gone(host: str, pid: int, boot: str) -> bool:
    """True only when we can tell for sure: same host, and that process no longer exists."""
    if host != current_owner().host:
        return False
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True  # killed, not yet reaped by its parent
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        pass
    return _stamp(pid) != boot
