"""Running a command on this host: argv only, a hard timeout, bounded output.

Never a shell: the argv list goes straight to exec. The child gets its own process
group so a timeout (or the caller being cancelled) kills it and anything it forked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTPUT_LIMIT = 1_000_000
"""Bytes of output kept; the rest is read and dropped so the child never blocks on a full pipe."""

QUIET_ENV = {"SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "PAGER": "cat", "LC_ALL": "C.UTF-8", "TERM": "dumb"}
"""No pager, no colours, one locale: output the parsers and renderers expect (here and over SSH)."""


@dataclass
class ProcOutput:
    argv: list[str]
    returncode: int
    output: str
    """stdout and stderr interleaved, as a terminal would show them."""
    truncated: bool = False


def systemd_is_pid1() -> bool:
    """True when systemd manages this host (the check sd_booted() makes)."""
    if Path("/run/systemd/system").is_dir():
        return True
    try:
        return Path("/proc/1/comm").read_text().strip() == "systemd"
    except OSError:
        return False


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def read_capped(stream: Any, limit: int) -> tuple[bytes, bool]:
    """Read to EOF, keeping `limit` bytes; anything with `await read(n)` (a pipe, an SSH channel)."""
    kept, truncated = bytearray(), False
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        if room > 0:
            kept += chunk[:room]
        truncated = truncated or len(chunk) > room
    return bytes(kept), truncated


async def run_argv(argv: list[str], timeout: float, limit: int = OUTPUT_LIMIT) -> ProcOutput:
    """Run argv (no shell), return its output; on timeout or cancellation kill its process group.

    Raises TimeoutError after `timeout` seconds (the child is gone by then) and
    FileNotFoundError when the program does not exist.
    """
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError("argv must be a non-empty list of strings")
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **QUIET_ENV},
    )
    try:
        async with asyncio.timeout(timeout):
            assert proc.stdout is not None
            data, truncated = await read_capped(proc.stdout, limit)
            returncode = await proc.wait()
    except BaseException:  # TimeoutError or CancelledError: never leave the child behind
        _kill_group(proc)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    return ProcOutput(argv, returncode, data.decode("utf-8", errors="replace"), truncated)
