"""Reading the end of a log file, only inside the allowed log roots.

The path is resolved (symlinks, `..`) before anything is opened, checked against the
resolved roots, opened without following a final symlink, and checked again through
/proc/self/fd so a path swapped in between cannot escape. Tails are read backwards
from the end in blocks, so multi-GB files cost only what is shown.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2

BLOCK = 65_536
MAX_TAIL_BYTES = 8 * 1024 * 1024
"""Never read more than this from the end, however long the lines are."""
GREP_LINE_LIMIT = 8192
"""Characters of each line a regex is applied to (with RE2's linear time, this bounds each line's cost)."""
GREP_MAX_MEM = 1 << 20
"""Bytes RE2 may spend on one compiled pattern: `(a{100}){100}`-style blow-ups are refused, not built."""


class LogAccessError(ValueError):
    """The path was refused or cannot be read; nothing was opened."""


@dataclass
class Tail:
    path: str
    lines: list[str]
    file_size: int
    bytes_read: int


def _inside(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def resolved_roots(roots: Sequence[Path | str]) -> list[str]:
    return [os.path.realpath(os.fspath(r)) for r in roots]


def log_candidates(source: str, real_roots: Sequence[str]) -> list[str]:
    """The paths `source` may mean (itself if absolute, else under each root), refusing NUL and `..`."""
    if not real_roots:
        raise LogAccessError("no log roots are configured, so no log file may be read")
    if "\x00" in source:
        raise LogAccessError("log path contains a NUL byte")
    if ".." in Path(source).parts:
        raise LogAccessError(f"refused {source!r}: '..' is not allowed in log paths")
    return [source] if os.path.isabs(source) else [os.path.join(r, source) for r in real_roots]


def require_inside(source: str, real: str, real_roots: Sequence[str]) -> None:
    """LogAccessError unless the resolved path `real` lies under one of the resolved roots."""
    if not _inside(real, real_roots):
        raise LogAccessError(
            f"refused {source!r}: it resolves to {real}, outside the allowed log roots "
            f"({', '.join(real_roots)})"
        )


def resolve_log_path(source: str, roots: Sequence[Path | str]) -> str:
    """The canonical path of `source` if it is a file inside one of `roots`; else LogAccessError."""
    real_roots = resolved_roots(roots)
    for candidate in log_candidates(source, real_roots):
        real = os.path.realpath(candidate)
        require_inside(source, real, real_roots)
        if os.path.exists(real):
            if not os.path.isfile(real):
                raise LogAccessError(f"{source!r} is not a regular file")
            return real
    raise LogAccessError(f"no such log file: {source!r} (allowed roots: {', '.join(real_roots)})")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _open_checked(path: str, real_roots: Sequence[str], owners: Sequence[str] = ()) -> int:
    """Open read-only without following a final symlink; re-check where the descriptor really points."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        actual = os.path.realpath(f"/proc/self/fd/{fd}")
        if os.path.exists(f"/proc/self/fd/{fd}") and not _inside(actual, real_roots):
            raise LogAccessError(f"refused {path!r}: it changed to point outside the allowed log roots")
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LogAccessError(f"{path!r} is not a regular file")
        if info.st_nlink > 1:  # a hard link placed in a log root can name /etc/shadow; realpath cannot tell
            raise LogAccessError(
                f"refused {path!r}: it has {info.st_nlink} hard links, so it may be another "
                "file than its name says"
            )
        if owners and str(info.st_uid) not in owners and _user_name(info.st_uid) not in owners:
            raise LogAccessError(
                f"refused {path!r}: owned by {_user_name(info.st_uid)}, not by "
                f"{', '.join(owners)} (log_owners)"
            )
        return fd
    except BaseException:
        os.close(fd)
        raise


def _read_tail_bytes(fd: int, size: int, lines: int) -> bytes:
    """Blocks from the end until `lines` complete lines (or the start, or the byte budget) are in hand."""
    pos, buf = size, b""
    while pos > 0 and buf.count(b"\n") <= lines and len(buf) < MAX_TAIL_BYTES:
        step = min(BLOCK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
    return buf


def read_tail(path: str, roots: Sequence[Path | str], lines: int, owners: Sequence[str] = ()) -> Tail:
    """The last `lines` lines of a file already resolved by `resolve_log_path` (owned by one of `owners`, if
    any are given, and with a single hard link)."""
    fd = _open_checked(path, resolved_roots(roots), owners)
    try:
        size = os.fstat(fd).st_size
        data = _read_tail_bytes(fd, size, lines)
    finally:
        os.close(fd)
    text = data.decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    if len(data) < size and all_lines and len(all_lines) > lines:
        all_lines = all_lines[1:]  # the first one is probably a partial line
    return Tail(path=path, lines=all_lines[-lines:], file_size=size, bytes_read=len(data))


def compile_grep(pattern: str) -> Any:
    """Compile a model- or user-chosen regex with RE2: time linear in the text, whatever the pattern, so
    `(a|a)*b` cannot freeze the process (Python's `re` backtracks, holds the GIL and cannot be stopped).
    What RE2 cannot do (backreferences, lookaround) or what is too big is refused with the reason."""
    options = re2.Options()
    options.max_mem = GREP_MAX_MEM
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = (
            exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        )
        raise LogAccessError(
            f"grep: {pattern!r} is not a valid regular expression for this tool (RE2 syntax: "
            f"no backreferences or lookaround): {reason}"
        ) from None


def grep_lines(lines: Sequence[str], pattern: Any) -> list[str]:
    """Lines matching a `compile_grep` pattern. Linear time, but a long tail still takes a while: call it
    from a worker thread, never on the event loop."""
    return [line for line in lines if pattern.search(line[:GREP_LINE_LIMIT])]


def named_after(key: str, path: str) -> bool:
    """A log of service `key`: the file or its directory carries the name (`nginx/error.log`, `app.log`)."""
    return key in os.path.basename(path).lower() or key in os.path.basename(os.path.dirname(path)).lower()


def find_named_logs(
    name: str, roots: Sequence[Path | str], limit: int = 3, max_entries: int = 5000
) -> list[str]:
    """Log files under the roots named after a service (`nginx/error.log`, `myapp.log`), newest first."""
    real_roots = resolved_roots(roots)
    found: list[tuple[float, str]] = []
    seen = 0
    key = name.lower()
    for root in real_roots:
        for dirpath, dirnames, filenames in os.walk(root):
            depth = dirpath[len(root) :].count(os.sep)
            if depth >= 2:
                dirnames[:] = []
            for fname in filenames:
                seen += 1
                full = os.path.join(dirpath, fname)
                if named_after(key, full):
                    real = os.path.realpath(full)
                    if _inside(real, real_roots) and os.path.isfile(real):
                        found.append((os.path.getmtime(real), real))
            if seen > max_entries:
                break
    return [p for _, p in sorted(set(found), reverse=True)[:limit]]
