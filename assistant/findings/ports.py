"""Port conflicts: a service cannot bind its port, and which process holds it.

The bind error (journal, error log) and the owner (ss/netstat output) arrive in
different tool runs; the owner becomes a finding only when an earlier bind error
for the same port makes it the cause rather than a healthy listener.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.events import Finding
from assistant.findings.base import Observation, analyzer, call, make_finding, port_of

_BIND = re.compile(
    r"address already in use|EADDRINUSE|could not bind|cannot bind socket|"
    r"port \d+ (?:was|is) already in use|could not create server tcp listening socket",
    re.IGNORECASE,
)
_HINT = re.compile(r"already running on port \d+|port \d+ (?:is|was) (?:already )?in use", re.IGNORECASE)
_RUNNING = re.compile(r"^\s*Active:\s+active \(running\)", re.MULTILINE)
_PROGRAM = re.compile(r"\s([A-Za-z][\w.@-]*)\[\d+\]:")
_SS = re.compile(
    r"^(?P<state>LISTEN|UNCONN|ESTAB)\s+\d+\s+\d+\s+(?P<local>\S+)\s+\S+\s+"
    r"users:\(\(\"(?P<name>[^\"]+)\",pid=(?P<pid>\d+),fd=\d+\)"
)
_NETSTAT = re.compile(
    r"^(?:tcp|udp)6?\s+\d+\s+\d+\s+(?P<local>\S+)\s+\S+\s+(?:\w+\s+)?(?P<pid>\d+)/(?P<name>\S+)"
)
_LSTART = re.compile(r"^\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4}\s+(?P<cmd>.+)$")


@dataclass
class Owner:
    port: int
    pid: int
    process: str
    line: str
    user: str | None = None
    cmdline: str | None = None
    started: str | None = None
    ps_line: str | None = None


def _bind_program(obs: Observation, line: str) -> str | None:
    if obs.tool == "service_status" and obs.args.get("service"):
        return str(obs.args["service"])
    m = _PROGRAM.search(line)
    if m and m.group(1) != "systemd":
        return m.group(1)
    return None


@analyzer
def bind_errors(obs: Observation) -> list[Finding]:
    """`bind() to 0.0.0.0:80 failed (98: Address already in use)` and its cousins."""
    if obs.tool == "service_status" and _RUNNING.search(obs.output):
        return []  # journal lines from before a successful (re)start are history, not a current fault
    by_port: dict[int | None, list[str]] = {}
    lines = obs.lines
    for i, ln in enumerate(lines):
        if not _BIND.search(ln) or "permission denied" in ln.lower():
            continue
        port = port_of(ln)
        hint = next((h for h in lines[i + 1 : i + 3] if _HINT.search(h)), None) if port is None else None
        if hint:  # postgres: 'could not bind ...' then 'HINT: ... running on port 5432?'
            port = port_of(hint)
        by_port.setdefault(port, []).extend([ln.strip(), *([hint.strip()] if hint else [])])
    known = [p for p in by_port if p is not None]
    if None in by_port and len(known) == 1:  # "still could not bind()" belongs to the one port
        by_port[known[0]].extend(by_port.pop(None))
    out = []
    for port, lines in by_port.items():
        program = _bind_program(obs, lines[0])
        who = program or "a service"
        title = (
            f"{who} cannot bind port {port}: address already in use"
            if port
            else f"{who} cannot bind its port: address already in use"
        )
        out.append(
            make_finding(
                obs,
                "port-in-use",
                title,
                lines,
                {"port": port, "service": program},
                severity="critical",
                confidence=0.9,
                next_checks=[call("port_owner", port=port)] if port else [],
                fixes=[call("restart_service", service=program)] if program else [],
                remediation="Stop whatever holds the port, then "
                + (call("restart_service", service=program) if program else "restart the service")
                + " (needs approval).",
            )
        )
    return out


def parse_owners(output: str) -> list[Owner]:
    """Listening sockets with their process from `ss -ltnp` / `netstat -tlnp` text, plus ps details."""
    owners: list[Owner] = []
    lines = output.splitlines()
    for ln in lines:
        m = _SS.match(ln.strip()) or _NETSTAT.match(ln.strip())
        if not m:
            continue
        port = port_of(":" + m.group("local").rsplit(":", 1)[-1])
        if port is None:
            continue
        owners.append(Owner(port, int(m.group("pid")), m.group("name"), ln.strip()))
    for owner in owners:
        _attach_ps(owner, lines)
    return owners


def _attach_ps(owner: Owner, lines: list[str]) -> None:
    """Fill user/cmdline/start from a `ps -o pid,user,lstart,cmd` or `ps aux` line for the pid."""
    pid_first = re.compile(rf"^\s*{owner.pid}\s+(?P<user>\S+)\s+(?P<rest>.+)$")
    user_first = re.compile(
        rf"^(?P<user>\S+)\s+{owner.pid}\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+(?P<rest>.+)$"
    )
    for ln in lines:
        m = pid_first.match(ln) or user_first.match(ln)
        if not m or ln.strip() == owner.line:
            continue
        rest = m.group("rest").strip()
        lstart = _LSTART.match(rest)
        owner.user = m.group("user")
        owner.cmdline = lstart.group("cmd").strip() if lstart else rest
        owner.started = rest[: lstart.start("cmd")].strip() if lstart else None
        owner.ps_line = ln.strip()
        return


def _is_self(owner: Owner, service: str) -> bool:
    stem = service.split("@")[0].split(".")[0]
    cmd = (owner.cmdline or "").split()
    return owner.process == stem or (
        bool(cmd)
        and (cmd[0] == stem or cmd[0].rstrip(":").endswith("/" + stem) or cmd[0].rstrip(":") == stem)
    )


@analyzer
def port_owner_after_bind_error(obs: Observation) -> list[Finding]:
    """The process holding a port that a service failed to bind is the conflict's cause."""
    conflicts = {f.facts.get("port"): f for f in obs.prior_of("port-in-use") if not f.facts.get("pid")}
    if not conflicts:
        return []
    out = []
    for owner in parse_owners(obs.output):
        bind = conflicts.get(owner.port)
        if bind is None:
            continue
        service = bind.facts.get("service")
        if service and _is_self(owner, str(service)):
            continue  # the service itself listening is the healthy state, not the conflict
        what = owner.cmdline or owner.process
        fix = str(call("kill_process", pid=owner.pid))
        if service:
            fix += " then " + call("restart_service", service=service)
        out.append(
            make_finding(
                obs,
                "port-in-use",
                f"port {owner.port} is held by {owner.process} (pid {owner.pid}: {what})"
                + (f", so {service} cannot start" if service else ""),
                [owner.line, owner.ps_line or ""],
                {
                    "port": owner.port,
                    "pid": owner.pid,
                    "process": owner.process,
                    "cmdline": owner.cmdline,
                    "user": owner.user,
                    "started": owner.started,
                    "service": service,
                },
                severity="critical",
                confidence=0.95,
                fixes=[
                    call("kill_process", pid=owner.pid),
                    *([call("restart_service", service=service)] if service else []),
                ],
                remediation=f"Stop the process holding :{owner.port} if it is not meant to run: {fix} "
                "(needs approval).",
            )
        )
    return out


_LOOPBACK = re.compile(r"^(?:127\.\d+\.\d+\.\d+|\[::1\]|::1|localhost)$")


@analyzer
def loopback_only(obs: Observation) -> list[Finding]:
    """Every listener on the port asked about is bound to loopback: only this host can connect. Normal for a
    backend behind a local proxy, the cause when other hosts are refused: `info` unless a refusal was seen."""
    port = obs.args.get("port")
    if obs.tool != "port_owner" or not port:
        return []
    listeners = [
        (m.group("local").rsplit(":", 1)[0], ln.strip())
        for ln in obs.lines
        if (m := _SS.match(ln.strip()) or _NETSTAT.match(ln.strip()))
        and m.group("local").rsplit(":", 1)[-1] == str(port)
    ]
    if not listeners or not all(_LOOPBACK.match(addr) for addr, _ in listeners):
        return []
    refused = any(
        f.facts.get("port") == port
        for f in obs.prior
        if f.signature in ("connection-refused", "connection-timeout")
    )
    return [
        make_finding(
            obs,
            "loopback-only",
            f"port {port} listens only on {listeners[0][0]} (loopback): other hosts cannot connect",
            [ln for _, ln in listeners],
            {"port": port, "address": listeners[0][0]},
            severity="high" if refused else "info",
            confidence=0.8,
            remediation=f"Make the service listen on the address other hosts use (its listen-address / bind setting, "
            f"e.g. 0.0.0.0:{port} or the host's IP), then restart it (restart_service, needs approval).",
        )
    ]
