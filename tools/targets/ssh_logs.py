"""Log files on an SSH host, read only inside the configured log roots.

The same rules as `tools.host.logs` on this machine (the same candidate paths, the same
inside-the-roots check, the same grep applied here in Python), with the host's own
`realpath`, `stat`, `find` and `tail` doing the looking. The remote `tail` opens the
path realpath returned; unlike the local target it cannot re-check the opened descriptor,
so a symlink swapped in between could be followed (read with the login user's rights).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from tools.base import RawOutput
from tools.catalog import LogTailArgs
from tools.host import argv as templates
from tools.host.logs import (
    LogAccessError,
    compile_grep,
    grep_lines,
    log_candidates,
    named_after,
    require_inside,
)
from tools.host.systemd import Exec
from tools.targets.base import TargetError

_FOUND = re.compile(r"(?:^|\n)(\d+(?:\.\d+)?)\t(.+)\Z", re.DOTALL)
FIND_DEPTH = 3
"""Like the local search: files in a root, a subdirectory, or one level further."""


@dataclass
class RemoteFile:
    path: str
    size: int


class RemoteLogs:
    def __init__(self, exec_: Exec, roots: list[str]) -> None:
        self.exec, self.roots = exec_, roots
        self._real_roots: list[str] | None = None

    async def _realpaths(self, paths: list[str], tool: str) -> list[str]:
        out = await self.exec(["realpath", "-m", "-z", "--", *paths], tool)
        found = out.output.split("\0")[: len(paths)]
        if out.returncode != 0 or len(found) != len(paths):
            raise TargetError(f"{tool}: realpath failed on the host: {out.output.strip()}")
        return found

    async def real_roots(self, tool: str) -> list[str]:
        if self._real_roots is None:
            self._real_roots = await self._realpaths(self.roots, tool) if self.roots else []
        return self._real_roots

    async def resolve(self, source: str, tool: str = "log_tail") -> RemoteFile:
        """The real path and size of `source` if it is a regular file inside the roots; else LogAccessError."""
        roots = await self.real_roots(tool)
        candidates = log_candidates(source, roots)
        for real in await self._realpaths(candidates, tool):
            require_inside(source, real, roots)
            out = await self.exec(["stat", "-c", "%F|%s", "--", real], tool)
            if out.returncode != 0:
                continue
            kind, _, size = out.output.strip().rpartition("|")
            if not kind.startswith("regular"):
                raise LogAccessError(f"{source!r} is not a regular file")
            return RemoteFile(real, int(size) if size.isdigit() else 0)
        raise LogAccessError(f"no such log file: {source!r} (allowed roots: {', '.join(roots)})")

    async def read(self, path: str, lines: int, tool: str) -> list[str]:
        out = await self.exec(templates.tail(path, lines), tool)
        if out.returncode != 0:
            raise TargetError(f"{tool}: cannot read {path!r} on the host: {out.output.strip()}")
        return out.output.splitlines()[-lines:]

    async def tail(self, args: LogTailArgs) -> RawOutput:
        try:
            pattern = compile_grep(args.grep) if args.grep else None
            found = await self.resolve(args.source)
        except LogAccessError as exc:
            raise TargetError(f"log_tail: {exc}") from None
        tail = await self.read(found.path, args.lines, "log_tail")
        lines = grep_lines(tail, pattern) if pattern else tail
        command = shlex.join(templates.tail(found.path, args.lines))
        if args.grep:
            command += f" | grep -E {shlex.quote(args.grep)}"
        text = "".join(f"{line}\n" for line in lines)
        if pattern and not lines:
            text = f"# no line among the last {len(tail)} of {found.path} matches {args.grep!r}\n"
        data = {
            "path": found.path,
            "file_size": found.size,
            "lines_read": len(tail),
            "lines_shown": len(lines),
        }
        return RawOutput(
            exit_code=1 if pattern and not lines else 0,
            ok=True,
            output=text,
            command=command,
            data=data,
            source="file",
        )

    async def named(self, key: str, limit: int, tool: str) -> list[str]:
        """Log files named after a service, newest first (the rule of `tools.host.logs.find_named_logs`)."""
        roots = await self.real_roots(tool)
        if not roots:
            return []
        out = await self.exec(templates.find_files(roots, FIND_DEPTH), tool)
        found = []
        for record in out.output.split("\0"):
            m = _FOUND.search(record)
            if m and named_after(key, m.group(2)):
                try:
                    require_inside(m.group(2), m.group(2), roots)
                except LogAccessError:
                    continue
                found.append((float(m.group(1)), m.group(2)))
        return [p for _, p in sorted(set(found), reverse=True)[:limit]]
