"""Which process owns a running turn, and whether that process is provably gone.

Every process that runs turns is a *replica*: a uuid drawn once per process, with a
heartbeat row in the database (`assistant/store/lease.py`). Ownership is that lease;
host and pid are kept only to tell people where a turn ran.

One shortcut proves an owner dead without waiting for its lease: it ran in our own PID
namespace during this boot (same kernel boot id, same `/proc/self/ns/pid`) and that exact
process (pid + start time) no longer exists. A hostname proves nothing (pods share
names, a container's processes are all PID 1), so it is never used.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from functools import lru_cache

import psutil


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    boot: str
    """`<boot id>/<process start time>`: unique for one process over the host's life."""
    ns: str = ""
    """The PID namespace (`pid:[4026531836]`): a pid means something only inside its namespace."""
    replica: str = ""
    """The uuid of the process: what a turn's lease names."""


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()[:36]
    except OSError:
        return f"boot-{int(psutil.boot_time())}"


def _pid_ns() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")[:64]
    except OSError:
        return ""  # unknown: no shortcut, only the lease decides


def _stamp(pid: int) -> str:
    """`<boot id>/<process start time>`: unique for one process over the host's life."""
    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""
    return f"{_boot_id()}/{started:.2f}"[:64]


@lru_cache(maxsize=1)
def _me(pid: int) -> Owner:
    """Keyed on the pid, so a forked child is a replica of its own."""
    return Owner(
        host=socket.gethostname()[:255], pid=pid, boot=_stamp(pid), ns=_pid_ns(), replica=str(uuid.uuid4())
    )


def current_owner() -> Owner:
    return _me(os.getpid())


def owner_is_gone(pid: int, boot: str, ns: str) -> bool:
    """True only when we can tell for sure: that process ran in our PID namespace during this boot and is gone."""
    me = current_owner()
    if not ns or not boot or ns != me.ns or boot.split("/")[0] != me.boot.split("/")[0]:
        return False
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True  # killed, not yet reaped by its parent
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        pass
    return _stamp(pid) != boot
