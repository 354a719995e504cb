"""The `ssh:[user@]host[:port]` target: host tools run on another machine over SSH.

Each tool is a few fixed argv templates (see `tools.host.argv`), sent over one reused
connection (`tools.targets.ssh_link`). Their output is read back by the same parsers
(`tools.host.parse`) and shown by the same renderers (`tools.render_host`) the `local`
target uses, so findings read identical lines whichever host answered; the systemd
paths are literally the local target's (`tools.host.systemd`). Each result's command is
the argv sent and its data names the host, so the command trail and audit show both.
http_check and tls_certificate are not offered: they probe from wherever Firstline runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import shlex
import time
from typing import Any

from tools import catalog
from tools.base import RawOutput, Tool, ToolArgs
from tools.catalog import (
    TOOLS,
    DiskUsageArgs,
    DnsLookupArgs,
    HostResourcesArgs,
    KillProcessArgs,
    LogTailArgs,
    PortOwnerArgs,
    ProcessListArgs,
    RestartServiceArgs,
    ServiceStatusArgs,
)
from tools.facts import DnsFacts
from tools.host import argv as templates
from tools.host import systemd
from tools.host.parse import parse_df, parse_getent, parse_host, parse_ps, parse_ss
from tools.host.proc import ProcOutput
from tools.render_host import render_df, render_dns, render_host_resources, render_ps, render_ss
from tools.targets.base import Target, TargetConfig, TargetError
from tools.targets.ssh_link import RemoteTimeout, SshAddress, SshLink
from tools.targets.ssh_logs import RemoteLogs
from tools.targets.ssh_services import remote_service_facts

_SENT: contextvars.ContextVar[list[list[str]] | None] = contextvars.ContextVar("ssh_sent", default=None)
"""The argv lists one tool call sent, for its result's data (and so the audit's `command`)."""
PROCESS_DATA_LIMIT = 300


class SshTarget(Target):
    """One remote host. A fleet target can hold several, one per host, and route each call by `host`."""

    kind = "ssh"

    def __init__(self, name: str, address: SshAddress, config: TargetConfig | None = None) -> None:
        super().__init__(name, config)
        self.address = address
        self.link = SshLink(address, self.config.ssh, name)
        self.logs = RemoteLogs(self.exec, [str(p) for p in self.config.log_roots])
        self._probe: dict[str, Any] | None = None

    @classmethod
    def from_spec(cls, rest: str, config: TargetConfig) -> SshTarget:
        return cls(f"ssh:{rest}", SshAddress.parse(rest), config)

    def supports(self, tool_name: str) -> bool:
        return self.has_handler(tool_name)

    def describe(self) -> dict[str, Any]:
        a = self.address
        return {
            "name": self.name,
            "kind": self.kind,
            "hosts": [a.host],
            "login": f"{self.link.user}@{a.host} port {a.port}",
            "log_roots": [str(p) for p in self.config.log_roots],
        }

    async def run(self, tool: Tool[Any], args: ToolArgs) -> RawOutput:
        sent: list[list[str]] = []
        _SENT.set(sent)  # this call's task only: concurrent calls keep their own lists
        raw: RawOutput = await self.handler(tool.name)(args)
        remote = {"host": self.address.host, "port": self.address.port, "user": self.link.user, "argv": sent}
        return raw.model_copy(
            update={
                "data": {**(raw.data or {}), "ssh": remote},
                "source": f"ssh:{raw.source}" if raw.source else "ssh",
            }
        )

    async def aclose(self) -> None:
        await self.link.aclose()

    async def exec(self, argv: list[str], tool_name: str) -> ProcOutput:
        """Run one argv on the host within the tool's time (see `tools.targets.ssh_link`)."""
        timeout = min(self.config.ssh.command_timeout_s, TOOLS[tool_name].timeout_s * 0.75)
        sent = _SENT.get()
        if sent is not None:
            sent.append(argv)
        out = await self.link.exec(argv, timeout)
        if out.returncode == 127 and out.output.startswith("env: "):  # env could not find the program
            raise TargetError(f"{tool_name}: {argv[0]} is not installed on {self._where()}")
        return out

    async def probe(self) -> dict[str, Any]:
        """The host's name and whether systemd runs it, asked once per target (a turn's worth of calls)."""
        if self._probe is None:
            name = await self.link.exec(["uname", "-n"], 5)
            pid1 = await self.link.exec(["cat", "/proc/1/comm"], 5)
            unit_dir = await self.link.exec(["test", "-d", "/run/systemd/system"], 5)
            self._probe = {
                "hostname": name.output.strip() or self.address.host,
                "systemd": unit_dir.returncode == 0 or pid1.output.strip() == "systemd",
            }
        return self._probe

    def _where(self) -> str:
        return f"{self.address.host} ({self.name})"

    # ------------------------------------------------------------ services

    @catalog.SERVICE_STATUS.handler("ssh")
    async def tool_service_status(self, args: ServiceStatusArgs) -> RawOutput:
        probe = await self.probe()
        if probe["systemd"]:
            return await systemd.service_status(self.exec, args.service)
        facts, code, text = await remote_service_facts(self, args.service, probe["hostname"])
        note = (
            f"# source: ps on {self.address.host} (systemd is not PID 1 there; state from the process table, "
            "/etc/init.d and log files)\n"
        )
        return RawOutput(
            exit_code=code,
            output=note + text,
            command=shlex.join(["systemctl", "status", args.service]),
            data=facts.model_dump(mode="json"),
            source="ps",
        )

    @catalog.RESTART_SERVICE.handler("ssh")
    async def tool_restart_service(self, args: RestartServiceArgs) -> RawOutput:
        if not (await self.probe())["systemd"]:
            raise TargetError(
                f"cannot restart {args.service} on {self._where()} without systemd: systemd is not "
                "PID 1 there; restart it the way it was started"
            )
        return await systemd.restart_service(self.exec, args.service)

    # ------------------------------------------------------------ logs

    @catalog.LOG_TAIL.handler("ssh")
    async def tool_log_tail(self, args: LogTailArgs) -> RawOutput:
        source = args.source
        if source.startswith("pod:"):
            raise TargetError(
                f"log_tail: pod logs need a kubernetes target; this target is the host {self._where()}"
            )
        if source.startswith("unit:"):
            argv = systemd.journal_argv(source.removeprefix("unit:"), args.lines)
            if not (await self.probe())["systemd"]:
                return systemd.no_journal(argv, ", ".join(self.logs.roots), self.address.host)
            return await systemd.journal_tail(self.exec, argv, args)
        return await self.logs.tail(args)

    # ------------------------------------------------------------ processes, ports, resources

    @catalog.PORT_OWNER.handler("ssh")
    async def tool_port_owner(self, args: PortOwnerArgs) -> RawOutput:
        ss_argv = templates.ss(args.port, args.protocol)
        out = await self.exec(ss_argv, "port_owner")
        if out.returncode != 0:
            raise TargetError(
                f"port_owner: {shlex.join(ss_argv)} failed on {self.address.host}: {out.output.strip()}"
            )
        sockets = parse_ss(out.output, args.protocol)
        command = shlex.join(ss_argv)
        pids = sorted({s.pid for s in sockets if s.pid is not None})
        if pids:
            ps_argv = templates.ps(pids)
            rows = {r.facts.pid: r for r in parse_ps((await self.exec(ps_argv, "port_owner")).output)}
            command += "; " + shlex.join(ps_argv)
            sockets = [
                s.model_copy(
                    update={
                        "user": rows[s.pid].facts.user,
                        "cmdline": rows[s.pid].facts.cmdline,
                        "started": rows[s.pid].started,
                    }
                )
                if s.pid in rows
                else s
                for s in sockets
            ]
        text, code = render_ss(sockets, args.port, args.protocol)
        if sockets and not pids:
            text += (
                f"# ss shows a socket's process only to its owner or root; {self.link.user} on "
                f"{self.address.host} sees none here\n"
            )
        data = {
            "port": args.port,
            "protocol": args.protocol,
            "sockets": [s.model_dump(mode="json") for s in sockets],
        }
        return RawOutput(exit_code=code, output=text, command=command, data=data, source="ss")

    @catalog.PROCESS_LIST.handler("ssh")
    async def tool_process_list(self, args: ProcessListArgs) -> RawOutput:
        argv = templates.ps()
        rows = [
            r.facts
            for r in parse_ps((await self.exec(argv, "process_list")).output)
            if templates.PS_MARK not in r.facts.cmdline
        ]
        if args.match:
            rows = [p for p in rows if args.match in p.cmdline or args.match in p.name]
        text, code = render_ps(rows)
        command = shlex.join(argv) + (f" | grep -F -- {shlex.quote(args.match)}" if args.match else "")
        data = {
            "count": len(rows),
            "processes": [p.model_dump(mode="json") for p in rows[:PROCESS_DATA_LIMIT]],
        }
        return RawOutput(exit_code=code, output=text, command=command, data=data, source="ps")

    @catalog.HOST_RESOURCES.handler("ssh")
    async def tool_host_resources(self, args: HostResourcesArgs) -> RawOutput:
        probe = await self.probe()
        first = await self.exec(templates.PROC_FILES, "host_resources")
        await asyncio.sleep(0.2)
        second = await self.exec(templates.PROC_STAT, "host_resources")
        clock = await self.exec(["date", "+%s"], "host_resources")
        who = await self.exec(["who"], "host_resources")
        now = float(clock.output.strip()) if clock.output.strip().isdigit() else time.time()
        facts = parse_host(
            first.output,
            second.output,
            hostname=probe["hostname"],
            now=now,
            users=len([x for x in who.output.splitlines() if x.strip()]),
        )
        text, code = render_host_resources(facts)
        return RawOutput(
            exit_code=code,
            output=text,
            command=shlex.join(templates.PROC_FILES),
            data=facts.model_dump(mode="json"),
            source="proc",
        )

    @catalog.DISK_USAGE.handler("ssh")
    async def tool_disk_usage(self, args: DiskUsageArgs) -> RawOutput:
        argv = templates.df(args.path)
        out = await self.exec(argv, "disk_usage")
        filesystems = parse_df(out.output)
        if out.returncode != 0 or not filesystems:
            raise TargetError(
                f"disk_usage on {self.address.host}: {out.output.strip() or 'df printed nothing'}"
            )
        text, code = render_df(filesystems[:1])
        return RawOutput(
            exit_code=code,
            output=text,
            command=shlex.join(argv),
            data=filesystems[0].model_dump(mode="json"),
            source="df",
        )

    # ------------------------------------------------------------ network

    @catalog.DNS_LOOKUP.handler("ssh")
    async def tool_dns_lookup(self, args: DnsLookupArgs) -> RawOutput:
        argv, reverse = templates.getent(args.name)
        try:
            out = await self.exec(argv, "dns_lookup")
            facts = parse_getent(args.name, out.output, out.returncode, reverse)
        except RemoteTimeout:
            facts = DnsFacts(name=args.name, status="TIMEOUT")
        text, code = render_dns(facts)
        return RawOutput(
            exit_code=code,
            output=text,
            command=shlex.join(argv),
            data=facts.model_dump(mode="json"),
            source="getent",
        )

    # ------------------------------------------------------------ write

    @catalog.KILL_PROCESS.handler("ssh")
    async def tool_kill_process(self, args: KillProcessArgs) -> RawOutput:
        pid = str(args.pid)
        described = await self.exec(["ps", "-o", "args=", "-ww", "-p", pid], "kill_process")
        if described.returncode != 0 or not described.output.strip():
            raise TargetError(f"kill_process: no process with PID {pid} on {self.address.host}")
        sent = await self.exec(["kill", "-s", args.signal, "--", pid], "kill_process")
        if sent.returncode != 0:
            raise TargetError(
                f"kill_process: {self.address.host} refused to signal PID {pid}: {sent.output.strip()}"
            )
        exited = await self._wait_gone(pid, 3.0)
        after = f"process {pid} has exited" if exited else f"process {pid} is still running after 3s"
        return RawOutput(
            exit_code=0,
            output=f"sent SIG{args.signal} to {pid} ({described.output.strip()})\n{after}\n",
            command=shlex.join(["kill", "-s", args.signal, "--", pid]),
            source="kill",
            data={"pid": args.pid, "signal": f"SIG{args.signal}", "exited": exited},
        )

    async def _wait_gone(self, pid: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = await self.exec(["ps", "-o", "stat=", "-p", pid], "kill_process")
            if state.returncode != 0 or state.output.strip().startswith("Z"):
                return True
            await asyncio.sleep(0.1)
        return False
