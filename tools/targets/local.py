"""The `local` target: host tools run on this machine.

Commands run as argv lists (never a shell) with a timeout that kills the whole
process group; everything else is read with psutil, statvfs, the resolver, httpx and
ssl, then rendered by `tools.render_host` so the output reads like the command in
`RawOutput.command`. Without systemd (containers, CI) service_status falls back to
the process table and says so.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
import signal
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import psutil

from tools import catalog
from tools.base import RawOutput, Tool, ToolArgs
from tools.catalog import (
    TOOLS,
    DiskUsageArgs,
    DnsLookupArgs,
    HostResourcesArgs,
    HttpCheckArgs,
    KillProcessArgs,
    LogTailArgs,
    PortOwnerArgs,
    ProcessListArgs,
    RestartServiceArgs,
    ServiceStatusArgs,
    TlsCertificateArgs,
)
from tools.facts import DnsFacts
from tools.host import systemd
from tools.host.gather import cmdline_text, filesystem_facts, host_facts, list_processes, sockets_on_port
from tools.host.logs import LogAccessError, compile_grep, grep_lines, read_tail, resolve_log_path
from tools.host.net import checked_address, fetch_certificate, http_get, resolve
from tools.host.proc import ProcOutput, run_argv, systemd_is_pid1
from tools.host.services import service_facts_from_processes
from tools.render_host import (
    render_df,
    render_dns,
    render_host_resources,
    render_http,
    render_ps,
    render_service_status,
    render_ss,
    render_tls,
    tls_status,
)
from tools.targets.base import Target, TargetConfig, TargetError

PROCESS_DATA_LIMIT = 300
"""Processes kept in process_list's structured data (the text shows all, capped by the runner)."""


class LocalTarget(Target):
    """This host. One instance per session; its handlers are registered as `@TOOL.handler("local")`."""

    kind = "local"

    def __init__(self, name: str = "local", config: TargetConfig | None = None) -> None:
        super().__init__(name, config)
        self.hostname = socket.gethostname()

    @functools.cached_property
    def systemd(self) -> bool:
        return systemd_is_pid1()

    def supports(self, tool_name: str) -> bool:
        return self.has_handler(tool_name)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "hostname": self.hostname,
            "systemd": self.systemd,
            "log_roots": [str(p) for p in self.config.log_roots],
            "http_allow": list(self.config.http_allow),
        }

    async def run(self, tool: Tool, args: ToolArgs) -> RawOutput:
        return await self.handler(tool.name)(args)

    def call_timeout(self, tool_name: str) -> float:
        """Our own deadline, a little inside the runner's, so we kill and report before it cancels."""
        return TOOLS[tool_name].timeout_s * 0.9

    async def exec(self, argv: list[str], tool_name: str) -> ProcOutput:
        try:
            return await run_argv(argv, self.call_timeout(tool_name))
        except FileNotFoundError:
            raise TargetError(f"{tool_name}: {argv[0]} is not installed on this host") from None

    # ------------------------------------------------------------ services

    @catalog.SERVICE_STATUS.handler("local")
    async def tool_service_status(self, args: ServiceStatusArgs) -> RawOutput:
        if self.systemd:
            return await systemd.service_status(self.exec, args.service)
        command = shlex.join(["systemctl", "status", args.service])
        facts = await asyncio.to_thread(
            service_facts_from_processes, args.service, self.config.log_roots, self.hostname
        )
        text, code = render_service_status(facts)
        note = (
            "# source: psutil (systemd is not PID 1 on this host; state from the process table, "
            "/etc/init.d and log files)\n"
        )
        return RawOutput(
            exit_code=code,
            output=note + text,
            command=command,
            data=facts.model_dump(mode="json"),
            source="psutil",
        )

    @catalog.RESTART_SERVICE.handler("local")
    async def tool_restart_service(self, args: RestartServiceArgs) -> RawOutput:
        if not self.systemd:
            raise TargetError(
                f"cannot restart {args.service} without systemd: systemd is not PID 1 on this "
                "host; restart it the way it was started"
            )
        return await systemd.restart_service(self.exec, args.service)

    # ------------------------------------------------------------ logs

    @catalog.LOG_TAIL.handler("local")
    async def tool_log_tail(self, args: LogTailArgs) -> RawOutput:
        source = args.source
        if source.startswith("pod:"):
            raise TargetError("log_tail: pod logs need a kubernetes target; this target is the local host")
        if source.startswith("unit:"):
            return await self._journal(source.removeprefix("unit:"), args)
        try:
            pattern = compile_grep(args.grep) if args.grep else None
            path = resolve_log_path(source, self.config.log_roots)
            tail = await asyncio.to_thread(
                read_tail, path, self.config.log_roots, args.lines, self.config.log_owners
            )
            lines = await asyncio.to_thread(grep_lines, tail.lines, pattern) if pattern else tail.lines
        except LogAccessError as exc:
            raise TargetError(f"log_tail: {exc}") from None
        except OSError as exc:
            raise TargetError(f"log_tail: cannot read {source!r}: {exc.strerror or exc}") from None
        command = shlex.join(["tail", "-n", str(args.lines), path])
        if args.grep:
            command += f" | grep -E {shlex.quote(args.grep)}"
        text = "".join(f"{line}\n" for line in lines)
        if pattern and not lines:
            text = f"# no line among the last {len(tail.lines)} of {path} matches {args.grep!r}\n"
        data = {
            "path": path,
            "file_size": tail.file_size,
            "lines_read": len(tail.lines),
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

    async def _journal(self, unit: str, args: LogTailArgs) -> RawOutput:
        argv = systemd.journal_argv(unit, args.lines)
        if not self.systemd:
            return systemd.no_journal(argv, ", ".join(str(p) for p in self.config.log_roots), "this host")
        return await systemd.journal_tail(self.exec, argv, args)

    # ------------------------------------------------------------ processes, ports, resources

    @catalog.PORT_OWNER.handler("local")
    async def tool_port_owner(self, args: PortOwnerArgs) -> RawOutput:
        try:
            sockets = await asyncio.to_thread(sockets_on_port, args.port, args.protocol)
        except psutil.AccessDenied:
            raise TargetError(
                "port_owner: listing sockets with their processes needs root on this host"
            ) from None
        text, code = render_ss(sockets, args.port, args.protocol)
        flags = "-lunp" if args.protocol == "udp" else "-ltnp"
        command = shlex.join(["ss", flags, f"sport = :{args.port}"])
        pids = sorted({s.pid for s in sockets if s.pid is not None})
        if pids:
            command += "; " + shlex.join(["ps", "-o", "pid,user,lstart,cmd", "-p", ",".join(map(str, pids))])
        data = {
            "port": args.port,
            "protocol": args.protocol,
            "sockets": [s.model_dump(mode="json") for s in sockets],
        }
        return RawOutput(exit_code=code, output=text, command=command, data=data, source="psutil")

    @catalog.PROCESS_LIST.handler("local")
    async def tool_process_list(self, args: ProcessListArgs) -> RawOutput:
        procs = await asyncio.to_thread(list_processes, args.match)
        text, code = render_ps(procs)
        command = "ps aux" + (f" | grep -F -- {shlex.quote(args.match)}" if args.match else "")
        data = {
            "count": len(procs),
            "processes": [p.model_dump(mode="json") for p in procs[:PROCESS_DATA_LIMIT]],
        }
        return RawOutput(exit_code=code, output=text, command=command, data=data, source="psutil")

    @catalog.HOST_RESOURCES.handler("local")
    async def tool_host_resources(self, args: HostResourcesArgs) -> RawOutput:
        facts = await asyncio.to_thread(host_facts)
        text, code = render_host_resources(facts)
        return RawOutput(
            exit_code=code,
            output=text,
            command="uptime; free -m; top -bn1 | head -3",
            data=facts.model_dump(mode="json"),
            source="psutil",
        )

    @catalog.DISK_USAGE.handler("local")
    async def tool_disk_usage(self, args: DiskUsageArgs) -> RawOutput:
        try:
            facts = await asyncio.to_thread(filesystem_facts, args.path)
        except (OSError, ValueError) as exc:
            raise TargetError(f"disk_usage: {exc}") from None
        text, code = render_df([facts])
        path = shlex.quote(args.path)
        return RawOutput(
            exit_code=code,
            output=text,
            command=f"df -h {path}; df -i {path}",
            data=facts.model_dump(mode="json"),
            source="statvfs",
        )

    # ------------------------------------------------------------ network

    @catalog.DNS_LOOKUP.handler("local")
    async def tool_dns_lookup(self, args: DnsLookupArgs) -> RawOutput:
        try:
            facts = await asyncio.wait_for(
                asyncio.to_thread(resolve, args.name), self.call_timeout("dns_lookup") * 0.8
            )
        except TimeoutError:
            facts = DnsFacts(name=args.name, status="TIMEOUT")
        text, code = render_dns(facts)
        return RawOutput(
            exit_code=code,
            output=text,
            command=shlex.join(["host", args.name]),
            data=facts.model_dump(mode="json"),
            source="getaddrinfo",
        )

    @catalog.HTTP_CHECK.handler("local")
    async def tool_http_check(self, args: HttpCheckArgs) -> RawOutput:
        parts = urlsplit(args.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await asyncio.to_thread(
            checked_address,
            "http_check",
            parts.hostname or "",
            port,
            self.config.http_allow,
            self.config.deny_ports,
        )
        facts = await http_get(args.url, timeout=self.call_timeout("http_check") * 0.85, address=address)
        text, code = render_http(facts)
        data = facts.model_dump(mode="json", exclude={"body"})
        return RawOutput(
            exit_code=code,
            output=text,
            command=shlex.join(["curl", "-sS", "-i", "-m", "10", args.url]),
            data=data,
            source="httpx",
        )

    @catalog.TLS_CERTIFICATE.handler("local")
    async def tool_tls_certificate(self, args: TlsCertificateArgs) -> RawOutput:
        address = await asyncio.to_thread(
            checked_address,
            "tls_certificate",
            args.host,
            args.port,
            self.config.http_allow,
            self.config.deny_ports,
        )
        per_connection = self.call_timeout("tls_certificate") * 0.4
        facts = await asyncio.to_thread(fetch_certificate, args.host, args.port, per_connection, address)
        text, code = render_tls(facts)
        days_left, status = tls_status(facts)
        data = {**facts.model_dump(mode="json"), "days_left": days_left, "status": status}
        command = (
            f"openssl s_client -connect {shlex.quote(f'{args.host}:{args.port}')} -servername "
            f"{shlex.quote(args.host)} </dev/null | openssl x509 -noout -subject -issuer -dates"
        )
        return RawOutput(exit_code=code, output=text, command=command, data=data, source="ssl")

    # ------------------------------------------------------------ write

    @catalog.KILL_PROCESS.handler("local")
    async def tool_kill_process(self, args: KillProcessArgs) -> RawOutput:
        pid, sig = args.pid, signal.Signals[f"SIG{args.signal}"]
        if pid in (os.getpid(), os.getppid()):
            raise TargetError(f"kill_process: refusing to signal PID {pid}, which is Firstline itself")
        try:
            proc = psutil.Process(pid)
            described = cmdline_text(proc.cmdline()) or proc.name()
            os.kill(pid, sig)
        except (psutil.NoSuchProcess, ProcessLookupError):
            raise TargetError(f"kill_process: no process with PID {pid}") from None
        except (psutil.AccessDenied, PermissionError):
            raise TargetError(f"kill_process: not permitted to signal PID {pid}") from None
        exited = await asyncio.to_thread(_wait_gone, proc, 3.0)
        after = f"process {pid} has exited" if exited else f"process {pid} is still running after 3s"
        return RawOutput(
            exit_code=0,
            output=f"sent {sig.name} to {pid} ({described})\n{after}\n",
            command=f"kill -{args.signal} {pid}",
            source="os.kill",
            data={"pid": pid, "signal": sig.name, "exited": exited},
        )


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    """True once the process is gone (or a zombie waiting for its parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False
