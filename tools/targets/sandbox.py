"""The `sandbox:<scenario>` target: realistic incidents with no infrastructure.

A scenario file (tools/scenarios/*.yaml, or `config.scenarios_dir`) holds the facts of
one simulated environment; every tool derives its output from them through the shared
renderers, so the text is what the real command prints. Each target instance works
on its own deep copy: approved write tools (kill, restart, rollouts) change it, and
never the file or another session. The scenario's root cause is never exposed.
"""

from __future__ import annotations

import posixpath
from datetime import datetime, timedelta
from typing import Any

from tools import catalog
from tools.base import RawOutput, Scope, Tool, ToolArgs
from tools.catalog import TOOLS
from tools.facts import ServiceFacts
from tools.host.logs import LogAccessError, compile_grep
from tools.render_host import (
    Rendered,
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
from tools.scenarios import (
    SCENARIO_ID,
    Scenario,
    ScenarioError,
    list_scenario_files,
    load_all,
    load_scenario_file,
)
from tools.targets.base import Target, TargetConfig, TargetError
from tools.targets.fleet import Fleet
from tools.targets.sandbox_host import HostState, grep_lines
from tools.targets.sandbox_k8s import ClusterState
from tools.targets.sandbox_net import NetState
from tools.targets.sandbox_rollout import Rollouts

WRITE_TICK = timedelta(seconds=7)
"""Simulated time each write action takes, so later output shows it happened after."""


def list_scenarios(config: TargetConfig | None = None) -> list[Scenario]:
    """Shipped scenarios plus those in `config.scenarios_dir` (same id: the directory's wins)."""
    config = config or TargetConfig()
    return load_all(config.scenarios_dir)


class SandboxTarget(Target):
    kind = "sandbox"

    def __init__(self, scenario: Scenario, config: TargetConfig | None = None) -> None:
        super().__init__(f"sandbox:{scenario.id}", config)
        self.scenario = scenario.model_copy(deep=True)
        self.now: datetime = self.scenario.now
        sc = self.scenario
        self.host = HostState(sc.host, self.clock) if sc.host is not None else None
        self.cluster = ClusterState(sc.namespaces, self.clock) if sc.namespaces else None
        self.rollouts = Rollouts(self.cluster) if self.cluster is not None else None
        local = self.host.local_names() if self.host else {"localhost", "127.0.0.1", "::1"}
        address = sc.host.addresses[0] if sc.host and sc.host.addresses else None
        self.net = NetState(
            sc.dns,
            sc.http,
            sc.tls,
            self.clock,
            local,
            address,
            self.host.owner_name if self.host else (lambda port: None),
        )

    @classmethod
    def from_scenario_id(
        cls, scenario_id: str, config: TargetConfig | None = None
    ) -> SandboxTarget | SandboxFleet:
        """Open `sandbox:<scenario_id>`; TargetError names the available ids when it is unknown."""
        config = config or TargetConfig()
        files = list_scenario_files(config.scenarios_dir)
        available = ", ".join(sorted(files)) or "(none)"
        if not scenario_id or not SCENARIO_ID.match(scenario_id):
            raise TargetError(
                f"invalid sandbox scenario id {scenario_id!r} (lowercase letters, digits and '-'); "
                f"available: {available}"
            )
        if scenario_id not in files:
            raise TargetError(f"unknown sandbox scenario {scenario_id!r}; available: {available}")
        try:
            scenario = load_scenario_file(files[scenario_id])
        except ScenarioError as exc:
            raise TargetError(str(exc)) from None
        return SandboxFleet(scenario, config) if scenario.hosts else cls(scenario, config)

    def clock(self) -> datetime:
        return self.now

    def describe(self) -> dict[str, Any]:
        sc = self.scenario
        return {
            "name": self.name,
            "kind": self.kind,
            "scenario": sc.id,
            "title": sc.title,
            "summary": sc.summary,
            "environment": sc.kind,
            "hosts": [sc.host.hostname] if sc.host else [],
            "namespaces": self.cluster.names() if self.cluster else [],
        }

    def scopes(self) -> set[Scope]:
        """What this scenario simulates: network probes always, a host and a cluster when it has them."""
        have = {Scope.NETWORK}
        if self.host is not None:
            have.add(Scope.HOST)
        if self.cluster is not None:
            have.add(Scope.KUBERNETES)
        return have

    def supports(self, tool_name: str) -> bool:
        tool = TOOLS.get(tool_name)
        return tool is not None and self.has_handler(tool_name) and bool(tool.scopes & self.scopes())

    async def run(self, tool: Tool, args: ToolArgs) -> RawOutput:
        if not self.supports(tool.name):
            raise TargetError(
                f"{tool.name} is not available on target {self.name} ({self.kind}: {self.scenario.kind})"
            )
        return await self.handler(tool.name)(args)

    def _out(self, name: str, args: ToolArgs, r: Rendered, data: dict[str, Any] | None = None) -> RawOutput:
        return RawOutput(
            exit_code=r.exit_code,
            output=r.text,
            data=data,
            source="sandbox",
            command=TOOLS[name].command(args),
        )

    def _need_host(self) -> HostState:
        if self.host is None:
            raise TargetError(f"scenario {self.scenario.id} simulates a cluster, not a host")
        return self.host

    def _need_cluster(self) -> ClusterState:
        if self.cluster is None:
            raise TargetError(f"scenario {self.scenario.id} has no Kubernetes cluster")
        return self.cluster

    # ------------------------------------------------------------ host reads

    @catalog.SERVICE_STATUS.handler("sandbox")
    async def tool_service_status(self, args) -> RawOutput:
        svc = self._need_host().service(args.service)
        if svc is None:
            r = render_service_status(ServiceFacts(name=args.service, loaded="not-found"), self.now)
            return self._out("service_status", args, r, {"found": False})
        facts = self.host.service_facts(svc)
        return self._out(
            "service_status",
            args,
            render_service_status(facts, self.now),
            facts.model_dump(mode="json", exclude={"journal"}),
        )

    @catalog.PORT_OWNER.handler("sandbox")
    async def tool_port_owner(self, args) -> RawOutput:
        sockets = self._need_host().listeners(args.port, args.protocol)
        data = {"sockets": [s.model_dump(mode="json") for s in sockets]}
        return self._out("port_owner", args, render_ss(sockets, args.port, args.protocol), data)

    @catalog.PROCESS_LIST.handler("sandbox")
    async def tool_process_list(self, args) -> RawOutput:
        procs = self._need_host().processes(args.match)
        return self._out("process_list", args, render_ps(procs), {"count": len(procs)})

    @catalog.HOST_RESOURCES.handler("sandbox")
    async def tool_host_resources(self, args) -> RawOutput:
        facts = self._need_host().host_facts()
        return self._out("host_resources", args, render_host_resources(facts), facts.model_dump(mode="json"))

    @catalog.DISK_USAGE.handler("sandbox")
    async def tool_disk_usage(self, args) -> RawOutput:
        host = self._need_host()
        fs = host.filesystem_for(args.path) if host.path_exists(args.path) else None
        if fs is None:
            r = Rendered(f"df: {args.path}: No such file or directory\n", 1)
            return self._out("disk_usage", args, r)
        return self._out("disk_usage", args, render_df([fs]), fs.model_dump(mode="json"))

    # ------------------------------------------------------------ logs

    @catalog.LOG_TAIL.handler("sandbox")
    async def tool_log_tail(self, args) -> RawOutput:
        if args.grep:
            try:
                compile_grep(args.grep)
            except LogAccessError as exc:
                raise TargetError(f"log_tail: {exc}") from None
        source: str = args.source
        if source.startswith("pod:"):
            text, code = self._pod_source(source, args.lines)
        elif source.startswith("unit:"):
            journal = self._need_host().journal(source[5:])
            lines = (journal or [])[-args.lines :]
            text, code = ("".join(f"{ln}\n" for ln in lines) if lines else "-- No entries --\n"), 0
        else:
            text, code = self._file_source(source, args.lines)
        if args.grep and code == 0:
            text = "".join(f"{ln}\n" for ln in grep_lines(text.splitlines(), args.grep))
        return self._out("log_tail", args, Rendered(text, code))

    def _pod_source(self, source: str, lines: int) -> tuple[str, int]:
        ns, _, rest = source[4:].partition("/")
        pod, _, container = rest.partition("/")
        if not ns or not pod:
            raise TargetError(
                f"log_tail: pod sources look like pod:NAMESPACE/POD[/CONTAINER], got {source!r}"
            )
        r = self._need_cluster().logs(ns, pod, container or None, False, lines)
        return r.text, r.exit_code

    def _file_source(self, path: str, lines: int) -> tuple[str, int]:
        """Files under the log roots only (after normalising `..`), like the local target."""
        host = self._need_host()
        norm = posixpath.normpath(path) if path.startswith("/") else ""
        roots = ["/var/log", *(str(r) for r in self.config.log_roots)]
        if not norm or not any(norm == r.rstrip("/") or norm.startswith(r.rstrip("/") + "/") for r in roots):
            raise TargetError(f"log_tail: {path!r} is outside the allowed log roots ({', '.join(roots)})")
        content = host.file(norm)
        if content is None:
            return f"tail: cannot open '{path}' for reading: No such file or directory\n", 1
        tail = content.splitlines()[-lines:]
        return "".join(f"{ln}\n" for ln in tail), 0

    # ------------------------------------------------------------ network

    @catalog.DNS_LOOKUP.handler("sandbox")
    async def tool_dns_lookup(self, args) -> RawOutput:
        facts = self.net.resolve(args.name)
        return self._out("dns_lookup", args, render_dns(facts), facts.model_dump(mode="json"))

    @catalog.HTTP_CHECK.handler("sandbox")
    async def tool_http_check(self, args) -> RawOutput:
        facts = self.net.get(args.url)
        data = facts.model_dump(mode="json", exclude={"body"})
        return self._out("http_check", args, render_http(facts), data)

    @catalog.TLS_CERTIFICATE.handler("sandbox")
    async def tool_tls_certificate(self, args) -> RawOutput:
        facts = self.net.certificate(args.host, args.port)
        days_left, status = tls_status(facts, self.now)
        data = {**facts.model_dump(mode="json"), "days_left": days_left, "status": status}
        return self._out("tls_certificate", args, render_tls(facts, self.now), data)

    # ------------------------------------------------------------ kubernetes reads

    @catalog.POD_DESCRIBE.handler("sandbox")
    async def tool_pod_describe(self, args) -> RawOutput:
        r, data = self._need_cluster().describe(args.namespace, args.pod)
        return self._out("pod_describe", args, r, data)

    @catalog.POD_LOGS.handler("sandbox")
    async def tool_pod_logs(self, args) -> RawOutput:
        r = self._need_cluster().logs(args.namespace, args.pod, args.container, args.previous, args.tail)
        return self._out("pod_logs", args, r)

    @catalog.LIST_PODS.handler("sandbox")
    async def tool_list_pods(self, args) -> RawOutput:
        r, data = self._need_cluster().list_pods(args.namespace, args.selector, args.all_namespaces)
        return self._out("list_pods", args, r, data)

    @catalog.K8S_EVENTS.handler("sandbox")
    async def tool_k8s_events(self, args) -> RawOutput:
        r, data = self._need_cluster().events(args.namespace, args.involved_object)
        return self._out("k8s_events", args, r, data)

    # ------------------------------------------------------------ writes (the runner gates approval)

    @catalog.KILL_PROCESS.handler("sandbox")
    async def tool_kill_process(self, args) -> RawOutput:
        self.now += WRITE_TICK
        host = self._need_host()
        reloads = next((s.name for s in host.spec.services if s.main_pid == args.pid), None)
        r = host.kill(args.pid, args.signal)
        if r.exit_code == 0 and args.signal == "HUP" and reloads:
            self.net.reload_service(
                reloads
            )  # SIGHUP to a daemon's main process: reload config and certificates
        data = {
            "pid": args.pid,
            "signal": f"SIG{args.signal}",
            "exited": r.exit_code == 0 and args.signal != "HUP",
        }
        return self._out("kill_process", args, r, data)

    @catalog.RESTART_SERVICE.handler("sandbox")
    async def tool_restart_service(self, args) -> RawOutput:
        self.now += WRITE_TICK
        r = self._need_host().restart(args.service)
        svc = self.host.service(args.service)
        if r.exit_code == 0 and svc is not None:
            self.net.reload_service(svc.name)
        data = {"service": args.service, "active": svc.active if svc is not None else "inactive"}
        return self._out("restart_service", args, r, data)

    @catalog.ROLLOUT_RESTART.handler("sandbox")
    async def tool_rollout_restart(self, args) -> RawOutput:
        self._need_cluster()
        self.now += WRITE_TICK
        return self._out("rollout_restart", args, self.rollouts.restart(args.namespace, args.deployment))

    @catalog.ROLLOUT_UNDO.handler("sandbox")
    async def tool_rollout_undo(self, args) -> RawOutput:
        self._need_cluster()
        self.now += WRITE_TICK
        return self._out("rollout_undo", args, self.rollouts.undo(args.namespace, args.deployment))


class SandboxFleet(Fleet):
    """A scenario with several hosts: one sandbox per host (each with the shared DNS, HTTP and TLS facts), the
    same `host` mechanism as a node group."""

    kind = "sandbox"

    def __init__(self, scenario: Scenario, config: TargetConfig | None = None) -> None:
        members: dict[str, Target] = {
            h.hostname: SandboxTarget(scenario.model_copy(update={"host": h, "hosts": []}), config)
            for h in scenario.hosts
        }
        super().__init__(f"sandbox:{scenario.id}", members)
        self.scenario = scenario

    def describe(self) -> dict[str, Any]:
        sc = self.scenario
        return {
            "name": self.name,
            "kind": self.kind,
            "scenario": sc.id,
            "title": sc.title,
            "summary": sc.summary,
            "environment": "fleet",
            "hosts": list(self.members),
        }
