"""open_files: a process's open file descriptors against its limit (RLIMIT_NOFILE).

A process at its soft limit fails every new socket, pipe and file with EMFILE ("Too many
open files") while looking healthy to ps and systemctl; this is the one place that shows
it. On a host it reads /proc/PID/limits and /proc/PID/fd; in a sandbox, the process's
`tool_facts.open_files`. The whole tool lives here: declaration, rendering, handlers.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import psutil
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.base import RawOutput, Scope, Tool, ToolArgs
from tools.targets.base import TargetError

if TYPE_CHECKING:
    from tools.scenarios import ProcessSpec
    from tools.targets.local import LocalTarget
    from tools.targets.sandbox import SandboxTarget
    from tools.targets.ssh import SshTarget

MAX_PROCESSES = 20
"""Processes of one name shown (the fullest first)."""
WARN_PERCENT = 90.0
"""At or above this share of the soft limit the output says what fails next."""
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,127}$")


def _process_name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError("a process name (like pgrep -x: letters, digits and _.:@+-, no spaces or slashes)")
    return v


ProcessName = Annotated[str, Field(max_length=128), AfterValidator(_process_name)]


class OpenFilesArgs(ToolArgs):
    pid: int | None = Field(default=None, ge=1, le=4_194_304, description="process id")
    process: ProcessName | None = Field(
        default=None, description="process name instead of a pid (e.g. nginx): every process of that name"
    )

    @model_validator(mode="after")
    def _one_of(self) -> OpenFilesArgs:
        if (self.pid is None) == (self.process is None):
            raise ValueError("give exactly one of `pid` or `process`")
        return self


def _shows(a: OpenFilesArgs) -> str:
    each = "grep 'Max open files' /proc/{p}/limits; ls -l /proc/{p}/fd"
    if a.pid is not None:
        return each.format(p=a.pid)
    return f"for p in $(pgrep -x {a.process}); do {each.format(p='$p')}; done"


TOOL: Tool[OpenFilesArgs] = Tool(
    name="open_files",
    args_model=OpenFilesArgs,
    description="Open file descriptors of a process against its limit (ulimit -n): count, soft/hard, kinds.",
    scopes=frozenset({Scope.HOST}),
    shows=_shows,
)


# ---------------------------------------------------------------- facts and rendering


class FdFacts(BaseModel):
    """One process's descriptors: how many, of which kinds, against which limits (None: unlimited)."""

    model_config = ConfigDict(extra="forbid")

    pid: int
    name: str
    open: int
    soft_limit: int | None
    hard_limit: int | None
    kinds: dict[str, int] = Field(default_factory=dict)

    @property
    def use_percent(self) -> float | None:
        return None if not self.soft_limit else 100.0 * self.open / self.soft_limit


def _limit(n: int | None) -> str:
    return "unlimited" if n is None else str(n)


def render(procs: list[FdFacts]) -> str:
    """A table like `ulimit -n` beside `ls /proc/PID/fd | wc -l`, then each process's fd kinds."""
    rows = [("PID", "COMMAND", "OPEN", "SOFT", "HARD", "USE%")]
    for f in procs:
        use = f.use_percent
        rows.append(
            (
                str(f.pid),
                f.name[:15],
                str(f.open),
                _limit(f.soft_limit),
                _limit(f.hard_limit),
                "-" if use is None else f"{use:.1f}%",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = [
        "  ".join(
            cell.ljust(w) if col == 1 else cell.rjust(w)
            for col, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    for f in procs:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(f.kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        out.append(f"fds of {f.pid}: {kinds or 'none'}")
    for f in procs:
        use = f.use_percent
        if use is not None and use >= WARN_PERCENT:
            out.append(
                f"# {f.pid} {f.name} is at {use:.1f}% of its soft limit: each new socket, pipe or file "
                "fails (errno 24) until it closes some"
            )
    return "\n".join(out) + "\n"


def _result(args: OpenFilesArgs, procs: list[FdFacts], source: str, notes: list[str]) -> RawOutput:
    procs = sorted(procs, key=lambda f: (-(f.use_percent or 0.0), f.pid))[:MAX_PROCESSES]
    data: dict[str, Any] = {
        "processes": [{**f.model_dump(mode="json"), "use_percent": f.use_percent} for f in procs]
    }
    if not procs:
        what = f"running with PID {args.pid}" if args.pid is not None else f"named {args.process!r}"
        text = f"# no process is {what}\n"
        return RawOutput(
            exit_code=1, output=text + "".join(notes), command=TOOL.command(args), data=data, source=source
        )
    text = render(procs) + "".join(notes)
    return RawOutput(exit_code=0, output=text, command=TOOL.command(args), data=data, source=source)


# ---------------------------------------------------------------- local: /proc


def fd_kind(link: str) -> str:
    """What /proc/PID/fd/N points to: socket:[…], pipe:[…], anon_inode:[…] or a path (a file)."""
    for prefix, kind in (("socket:", "socket"), ("pipe:", "pipe"), ("anon_inode:", "anon")):
        if link.startswith(prefix):
            return kind
    return "file"


def parse_nofile_limits(text: str, pid: int) -> tuple[int | None, int | None]:
    """(soft, hard) of `Max open files` in the text of /proc/PID/limits; None is unlimited."""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft, hard = line[len("Max open files") :].split()[:2]
            return (None if soft == "unlimited" else int(soft)), (None if hard == "unlimited" else int(hard))
    raise OSError(f"/proc/{pid}/limits has no 'Max open files' line")


def read_nofile_limits(pid: int) -> tuple[int | None, int | None]:
    with open(f"/proc/{pid}/limits", encoding="ascii") as fh:
        return parse_nofile_limits(fh.read(), pid)


def read_fds(pid: int, name: str) -> FdFacts:
    """One process's descriptors from /proc (PermissionError: not ours and we are not root)."""
    soft, hard = read_nofile_limits(pid)
    kinds: Counter[str] = Counter()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            kinds[fd_kind(os.readlink(f"{fd_dir}/{fd}"))] += 1
        except FileNotFoundError:
            continue  # closed while we looked
        except PermissionError:
            kinds["unknown"] += 1  # counted, but what it is needs ptrace access to the process
    return FdFacts(
        pid=pid, name=name, open=sum(kinds.values()), soft_limit=soft, hard_limit=hard, kinds=dict(kinds)
    )


def _all_denied(args: OpenFilesArgs) -> TargetError:
    which = f"PID {args.pid}" if args.pid is not None else f"processes named {args.process!r}"
    return TargetError(
        f"open_files: reading /proc/PID/fd of {which} was denied: it needs the process's own user, "
        "or root with CAP_SYS_PTRACE"
    )


def gather_local(args: OpenFilesArgs) -> tuple[list[FdFacts], list[str]]:
    """The facts of the pid or of every process of the name, and a note per process we may not read."""
    if args.pid is not None:
        try:
            candidates = [(args.pid, psutil.Process(args.pid).name())]
        except psutil.NoSuchProcess:
            return [], []
    else:
        candidates = [
            (p.info["pid"], p.info["name"])
            for p in psutil.process_iter(["pid", "name"])
            if p.info["name"] == args.process
        ]
    found, notes, denied = [], [], 0
    for pid, name in candidates:
        try:
            found.append(read_fds(pid, name or "?"))
        except PermissionError:
            denied += 1
            notes.append(f"# {pid} {name}: reading /proc/{pid}/fd was denied\n")
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
    if candidates and denied == len(candidates):
        raise _all_denied(args)
    return found, notes


@TOOL.handler("local")
async def on_local(target: LocalTarget, args: OpenFilesArgs) -> RawOutput:
    found, notes = await asyncio.to_thread(gather_local, args)
    return _result(args, found, "proc", notes)


# ---------------------------------------------------------------- ssh: the same /proc files, read remotely

MAX_REMOTE_PROCESSES = 50
"""Processes of one name read over SSH (two round trips each on the shared connection)."""


@TOOL.handler("ssh")
async def on_ssh(target: SshTarget, args: OpenFilesArgs) -> RawOutput:
    """The local reading, done with `cat` and `find -printf %l` on the host (argv only, over one connection)."""
    if args.pid is not None:
        comm = await target.exec(["cat", f"/proc/{args.pid}/comm"], TOOL.name)
        candidates = [(args.pid, comm.output.strip() or "?")] if comm.returncode == 0 else []
    else:
        found = await target.exec(["pgrep", "-x", args.process or ""], TOOL.name)
        candidates = [(int(w), args.process or "?") for w in found.output.split() if w.isdigit()]
    facts, notes, denied = [], [], 0
    for pid, name in candidates[:MAX_REMOTE_PROCESSES]:
        limits = await target.exec(["cat", f"/proc/{pid}/limits"], TOOL.name)
        if limits.returncode != 0:
            continue  # exited while we looked
        links = await target.exec(
            ["find", f"/proc/{pid}/fd", "-mindepth", "1", "-maxdepth", "1", "-printf", "%l\\n"], TOOL.name
        )
        if links.returncode != 0 and "Permission denied" in links.output:
            denied += 1
            notes.append(f"# {pid} {name}: reading /proc/{pid}/fd was denied\n")
            continue
        kinds = Counter(fd_kind(ln) for ln in links.output.splitlines() if ln and not ln.startswith("find: "))
        soft, hard = parse_nofile_limits(limits.output, pid)
        facts.append(
            FdFacts(
                pid=pid,
                name=name,
                open=sum(kinds.values()),
                soft_limit=soft,
                hard_limit=hard,
                kinds=dict(kinds),
            )
        )
    if candidates and denied == len(candidates):
        raise _all_denied(args)
    return _result(args, facts, "proc", notes)


# ---------------------------------------------------------------- sandbox: scenario facts


class SandboxFds(BaseModel):
    """`tool_facts.open_files` of a scenario process; without it: systemd's default limits and stdio plus
    the process's sockets in the scenario."""

    model_config = ConfigDict(extra="forbid")

    soft_limit: int | None = 1024
    hard_limit: int | None = 524288
    kinds: dict[str, int] | None = None


def _sandbox_facts(target: SandboxTarget, p: ProcessSpec, name: str) -> FdFacts:
    try:
        spec = SandboxFds.model_validate(p.tool_facts.get("open_files") or {})
    except ValidationError as exc:
        raise TargetError(
            f"scenario {target.scenario.id}: process {p.pid}: bad open_files facts: {exc}"
        ) from None
    kinds = spec.kinds
    if kinds is None:
        host = target.host
        sockets = len([s for s in host.spec.sockets if s.pid == p.pid]) if host is not None else 0
        kinds = {"file": 3, **({"socket": sockets} if sockets else {})}
    return FdFacts(
        pid=p.pid,
        name=name,
        open=sum(kinds.values()),
        soft_limit=spec.soft_limit,
        hard_limit=spec.hard_limit,
        kinds=kinds,
    )


@TOOL.handler("sandbox")
async def on_sandbox(target: SandboxTarget, args: OpenFilesArgs) -> RawOutput:
    host = target._need_host()
    found = []
    for p in host.spec.processes:
        name = host.process_facts(p).name
        if p.pid == args.pid or (args.process is not None and name == args.process):
            found.append(_sandbox_facts(target, p, name))
    return _result(args, found, "sandbox", [])
