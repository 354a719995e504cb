"""The systemd paths of the host tools, written once for every target that runs commands.

`local` runs these argv lists on this machine, `ssh:` on a remote one; both hand in an
`Exec` (argv, tool name) -> ProcOutput and get the same RawOutput back, parsed by
`tools.host.parse`.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable

from pydantic import TypeAdapter, ValidationError

from tools.base import RawOutput
from tools.catalog import LogTailArgs
from tools.host.logs import LogAccessError, compile_grep, grep_lines
from tools.host.parse import parse_systemctl_status
from tools.host.proc import ProcOutput
from tools.targets.base import TargetError
from tools.validate import ServiceName

Exec = Callable[[list[str], str], Awaitable[ProcOutput]]
"""Run an argv list (never through a local shell) for a tool; raise TargetError when it cannot run."""

_UNIT = TypeAdapter(ServiceName)


async def service_status(exec_: Exec, service: str) -> RawOutput:
    out = await exec_(["systemctl", "status", "--no-pager", "--lines=20", "--", service], "service_status")
    return RawOutput(
        exit_code=out.returncode,
        output=out.output,
        command=shlex.join(["systemctl", "status", service]),
        data=parse_systemctl_status(out.output),
        source="systemd",
    )


async def restart_service(exec_: Exec, service: str) -> RawOutput:
    out = await exec_(["systemctl", "restart", "--", service], "restart_service")
    state = await exec_(["systemctl", "is-active", "--", service], "restart_service")
    text = out.output + f"# systemctl is-active {service}: {state.output.strip()}\n"
    return RawOutput(
        exit_code=out.returncode,
        output=text,
        command=shlex.join(["systemctl", "restart", service]),
        data={"service": service, "active": state.output.strip()},
        source="systemd",
    )


def journal_argv(unit: str, lines: int) -> list[str]:
    """The journalctl call for `unit:NAME`; the unit name is checked like a service name first."""
    try:
        unit = _UNIT.validate_python(unit)
    except ValidationError:
        raise TargetError(f"log_tail: {unit!r} is not a valid unit name") from None
    return ["journalctl", "-u", unit, "-n", str(lines), "--no-pager"]


async def journal_tail(exec_: Exec, argv: list[str], args: LogTailArgs) -> RawOutput:
    """The unit's last lines; a grep is applied here, in Python, never handed to a shell."""
    out = await exec_(argv, "log_tail")
    text = out.output
    if args.grep:
        try:
            text = "".join(f"{x}\n" for x in grep_lines(text.splitlines(), compile_grep(args.grep)))
        except LogAccessError as exc:
            raise TargetError(f"log_tail: {exc}") from None
    return RawOutput(exit_code=out.returncode, output=text, command=shlex.join(argv), source="journald")


def no_journal(argv: list[str], roots: str, where: str) -> RawOutput:
    unit = argv[2]
    return RawOutput(
        exit_code=None,
        command=shlex.join(argv),
        source="journald",
        error=f"log_tail: there is no journal on {where} (systemd is not PID 1), so unit:{unit} has "
        f"no logs here; read a log file under {roots} instead",
    )
