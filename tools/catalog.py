"""Every tool Firstline has, declared once.

The argument model's fields (types, bounds, descriptions) are the contract: the
model sees them as JSON schema, the CLI turns them into flags, the runner
validates against them. Each declaration also carries its risk, its scopes and the
command line it shows; every list of tools (host tools, Kubernetes tools, write
tools, log tools) is derived from them here. How each tool runs lives in the
targets (`@TOOL.handler(kind)`). A tool may also be declared in its own module under
tools/defs/ (declaration, rendering and handlers together); those are found here.
"""

from __future__ import annotations

import importlib
import pkgutil
import shlex
from typing import Any, Literal

from pydantic import Field, model_validator

from tools import defs
from tools.base import Risk, Scope, Tool, ToolArgs
from tools.validate import (
    Host,
    LogSource,
    Match,
    Namespace,
    ObjectName,
    PodName,
    Port,
    Selector,
    ServiceName,
    Url,
)

# ---------------------------------------------------------------- read: host


class ServiceStatusArgs(ToolArgs):
    service: ServiceName


class LogTailArgs(ToolArgs):
    source: LogSource = Field(
        description="a log file path (e.g. /var/log/nginx/error.log), 'unit:NAME' for a journald unit, "
        "or 'pod:NAMESPACE/POD[/CONTAINER]'"
    )
    lines: int = Field(default=50, ge=1, le=2000, description="how many of the last lines")
    grep: str | None = Field(default=None, max_length=200, description="keep only lines matching this regex")


class PortOwnerArgs(ToolArgs):
    port: Port
    protocol: Literal["tcp", "udp"] = "tcp"


class ProcessListArgs(ToolArgs):
    match: Match | None = Field(default=None, description="substring of the command line to filter on")


class HostResourcesArgs(ToolArgs):
    pass


class DiskUsageArgs(ToolArgs):
    path: str = Field(default="/", max_length=4096, description="mount point or directory")


class DnsLookupArgs(ToolArgs):
    name: Host


class HttpCheckArgs(ToolArgs):
    url: Url


class TlsCertificateArgs(ToolArgs):
    host: Host
    port: Port = 443


# ---------------------------------------------------------------- read: kubernetes


class PodDescribeArgs(ToolArgs):
    pod: PodName
    namespace: Namespace = "default"


class PodLogsArgs(ToolArgs):
    pod: PodName
    namespace: Namespace = "default"
    container: ObjectName | None = None
    previous: bool = Field(default=False, description="logs of the previous (crashed) container instance")
    tail: int = Field(default=100, ge=1, le=5000)


class ListPodsArgs(ToolArgs):
    namespace: Namespace = "default"
    selector: Selector | None = Field(default=None, description="label selector, e.g. app=web")
    all_namespaces: bool = Field(default=False, description="pods of every namespace (-A)")

    @model_validator(mode="after")
    def _namespace_or_all(self) -> ListPodsArgs:
        if self.all_namespaces and "namespace" in self.model_fields_set:
            raise ValueError("give `namespace` or `all_namespaces`, not both")
        return self


class K8sEventsArgs(ToolArgs):
    namespace: Namespace = "default"
    involved_object: ObjectName | None = Field(default=None, description="only events about this object name")


# ---------------------------------------------------------------- write


class RestartServiceArgs(ToolArgs):
    service: ServiceName


class KillProcessArgs(ToolArgs):
    pid: int = Field(ge=2, le=4_194_304, description="process id (never 1)")
    signal: Literal["TERM", "KILL", "HUP", "INT"] = "TERM"


class RolloutArgs(ToolArgs):
    deployment: ObjectName
    namespace: Namespace = "default"


# ---------------------------------------------------------------- the command line each tool shows


def _q(value: object) -> str:
    return shlex.quote(str(value))


def _log_tail(a: LogTailArgs) -> str:
    source, lines, grep = a.source, a.lines, a.grep
    if source.startswith("unit:"):
        cmd = f"journalctl -u {_q(source[5:])} -n {lines} --no-pager"
    elif source.startswith("pod:"):
        ns, _, rest = source[4:].partition("/")
        pod, _, container = rest.partition("/")
        cmd = (
            f"kubectl logs {_q(pod)} -n {_q(ns)}"
            + (f" -c {_q(container)}" if container else "")
            + f" --tail={lines}"
        )
    else:
        cmd = f"tail -n {lines} {_q(source)}"
    return cmd + (f" | grep -E {_q(grep)}" if grep else "")


def _pod_logs(a: PodLogsArgs) -> str:
    cmd = f"kubectl logs {_q(a.pod)} -n {_q(a.namespace)}"
    if a.container:
        cmd += f" -c {_q(a.container)}"
    if a.previous:
        cmd += " --previous"
    return cmd + f" --tail={a.tail}"


def _port_owner(a: PortOwnerArgs) -> str:
    flags = "-lunp" if a.protocol == "udp" else "-ltnp"
    return f"ss {flags} 'sport = :{a.port}'"


def _process_list(a: ProcessListArgs) -> str:
    return "ps aux" + (f" | grep -F {_q(a.match)}" if a.match else "")


def _tls_certificate(a: TlsCertificateArgs) -> str:
    return (
        f"openssl s_client -connect {a.host}:{a.port} -servername "
        f"{_q(a.host)} </dev/null | openssl x509 -noout -subject -issuer -dates"
    )


def _list_pods(a: ListPodsArgs) -> str:
    where = "-A" if a.all_namespaces else f"-n {_q(a.namespace)}"
    return f"kubectl get pods {where}" + (f" -l {_q(a.selector)}" if a.selector else "")


def _k8s_events(a: K8sEventsArgs) -> str:
    return (
        f"kubectl get events -n {_q(a.namespace)}"
        + (f" --field-selector involvedObject.name={_q(a.involved_object)}" if a.involved_object else "")
        + " --sort-by=.lastTimestamp"
    )


# ---------------------------------------------------------------- the declarations

HOST = frozenset({Scope.HOST})
NETWORK = frozenset({Scope.NETWORK})
KUBERNETES = frozenset({Scope.KUBERNETES})

SERVICE_STATUS: Tool[ServiceStatusArgs] = Tool(
    name="service_status",
    args_model=ServiceStatusArgs,
    description="Service state, main PID, recent log lines and exit reason (like systemctl status).",
    scopes=HOST,
    shows=lambda a: f"systemctl status {_q(a.service)}",
    prints_logs=True,
)
LOG_TAIL: Tool[LogTailArgs] = Tool(
    name="log_tail",
    args_model=LogTailArgs,
    description="Last lines of a log file, journald unit or pod, optionally filtered by a regex.",
    scopes=HOST | KUBERNETES,
    shows=_log_tail,
    prints_logs=True,
)
PORT_OWNER: Tool[PortOwnerArgs] = Tool(
    name="port_owner",
    args_model=PortOwnerArgs,
    description="Which process listens on or holds a port: PID, user, command line (like ss -ltnp).",
    scopes=HOST,
    shows=_port_owner,
)
PROCESS_LIST: Tool[ProcessListArgs] = Tool(
    name="process_list",
    args_model=ProcessListArgs,
    description="Running processes with PID, user, CPU, memory and command (like ps aux).",
    scopes=HOST,
    shows=_process_list,
)
HOST_RESOURCES: Tool[HostResourcesArgs] = Tool(
    name="host_resources",
    args_model=HostResourcesArgs,
    description="Load average, CPU, memory and swap of the host.",
    scopes=HOST,
    shows=lambda a: "uptime; free -m; top -bn1 | head -5",
)
DISK_USAGE: Tool[DiskUsageArgs] = Tool(
    name="disk_usage",
    args_model=DiskUsageArgs,
    description="Disk space and inodes of the filesystem holding a path (like df -h).",
    scopes=HOST,
    shows=lambda a: f"df -h {_q(a.path)}; df -i {_q(a.path)}",
)
DNS_LOOKUP: Tool[DnsLookupArgs] = Tool(
    name="dns_lookup",
    args_model=DnsLookupArgs,
    description="Resolve a hostname to addresses; reports NXDOMAIN and timeouts.",
    scopes=NETWORK,
    shows=lambda a: f"host {_q(a.name)}",
)
HTTP_CHECK: Tool[HttpCheckArgs] = Tool(
    name="http_check",
    args_model=HttpCheckArgs,
    description="HTTP GET a URL the target allows: status, latency, headers, start of body.",
    timeout_s=10,
    scopes=NETWORK,
    shows=lambda a: f"curl -sS -i -m 10 {_q(a.url)}",
)
TLS_CERTIFICATE: Tool[TlsCertificateArgs] = Tool(
    name="tls_certificate",
    args_model=TlsCertificateArgs,
    description="TLS certificate of host:port: subject, issuer, not-after, days left.",
    timeout_s=10,
    scopes=NETWORK,
    shows=_tls_certificate,
)
POD_DESCRIBE: Tool[PodDescribeArgs] = Tool(
    name="pod_describe",
    args_model=PodDescribeArgs,
    description="Describe a pod like kubectl describe: phase, container states, restarts, conditions, events.",
    scopes=KUBERNETES,
    shows=lambda a: f"kubectl describe pod {_q(a.pod)} -n {_q(a.namespace)}",
)
POD_LOGS: Tool[PodLogsArgs] = Tool(
    name="pod_logs",
    args_model=PodLogsArgs,
    description="Logs of a pod's container, or of its previous crashed instance.",
    scopes=KUBERNETES,
    shows=_pod_logs,
    prints_logs=True,
)
LIST_PODS: Tool[ListPodsArgs] = Tool(
    name="list_pods",
    args_model=ListPodsArgs,
    description="Pods in a namespace (or all) with ready count, status, restarts and age (like kubectl get pods).",
    scopes=KUBERNETES,
    shows=_list_pods,
)
K8S_EVENTS: Tool[K8sEventsArgs] = Tool(
    name="k8s_events",
    args_model=K8sEventsArgs,
    description="Recent Kubernetes events in a namespace, optionally for one object.",
    scopes=KUBERNETES,
    shows=_k8s_events,
)
RESTART_SERVICE: Tool[RestartServiceArgs] = Tool(
    name="restart_service",
    args_model=RestartServiceArgs,
    description="Restart a service (needs approval).",
    risk=Risk.WRITE,
    timeout_s=60,
    scopes=HOST,
    shows=lambda a: f"systemctl restart {_q(a.service)}",
)
KILL_PROCESS: Tool[KillProcessArgs] = Tool(
    name="kill_process",
    args_model=KillProcessArgs,
    description="Send a signal to a process (needs approval).",
    risk=Risk.WRITE,
    scopes=HOST,
    shows=lambda a: f"kill -{a.signal} {a.pid}",
)
ROLLOUT_RESTART: Tool[RolloutArgs] = Tool(
    name="rollout_restart",
    args_model=RolloutArgs,
    description="Restart a deployment's pods (needs approval).",
    risk=Risk.WRITE,
    timeout_s=60,
    scopes=KUBERNETES,
    shows=lambda a: f"kubectl rollout restart deployment/{a.deployment} -n {_q(a.namespace)}",
)
ROLLOUT_UNDO: Tool[RolloutArgs] = Tool(
    name="rollout_undo",
    args_model=RolloutArgs,
    description="Roll a deployment back to its previous revision (needs approval).",
    risk=Risk.WRITE,
    timeout_s=60,
    scopes=KUBERNETES,
    shows=lambda a: f"kubectl rollout undo deployment/{a.deployment} -n {_q(a.namespace)}",
)


def _declared_in_defs() -> list[Tool[Any]]:
    """Tools declared in their own module under tools/defs/ (each exports `TOOL`), in file-name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(defs.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{defs.__name__}.{info.name}")
        tool = getattr(module, "TOOL", None)
        if not isinstance(tool, Tool):
            raise TypeError(f"{module.__name__} must export TOOL, a tools.base.Tool")
        found.append(tool)
    return found


ALL_TOOLS: list[Tool[Any]] = [
    SERVICE_STATUS,
    LOG_TAIL,
    PORT_OWNER,
    PROCESS_LIST,
    HOST_RESOURCES,
    DISK_USAGE,
    DNS_LOOKUP,
    HTTP_CHECK,
    TLS_CERTIFICATE,
    POD_DESCRIBE,
    POD_LOGS,
    LIST_PODS,
    K8S_EVENTS,
    RESTART_SERVICE,
    KILL_PROCESS,
    ROLLOUT_RESTART,
    ROLLOUT_UNDO,
    *_declared_in_defs(),
]
TOOLS: dict[str, Tool[Any]] = {t.name: t for t in ALL_TOOLS}
if len(TOOLS) != len(ALL_TOOLS):
    raise ValueError("two tools share a name")

# ---------------------------------------------------------------- derived lists (never written by hand)

HOST_TOOLS = {t.name for t in ALL_TOOLS if t.scopes & {Scope.HOST, Scope.NETWORK}}
"""What a host-like target (local, ssh, a node) may offer: its own facts and probes sent from it."""
K8S_TOOLS = {t.name for t in ALL_TOOLS if Scope.KUBERNETES in t.scopes}
HOST_ONLY = {t.name for t in ALL_TOOLS if t.scopes == HOST}
"""Tools that need a host's facts and nothing else (a cluster-only sandbox lacks them)."""
K8S_ONLY = {t.name for t in ALL_TOOLS if t.scopes == KUBERNETES}
"""Tools only a cluster answers: calling one marks a recorded session as a Kubernetes one."""
WRITE_TOOLS = {t.name for t in ALL_TOOLS if t.risk is Risk.WRITE}
LOG_TOOLS = {t.name for t in ALL_TOOLS if t.prints_logs}
"""Tools whose output is (or ends in) log lines; others print tables that say 'error' in their headers."""


def get_tool(name: str) -> Tool[Any] | None:
    return TOOLS.get(name)
