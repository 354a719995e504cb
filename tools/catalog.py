"""Every tool Firstline has, declared once.

The argument model's fields (types, bounds, descriptions) are the contract: the
model sees them as JSON schema, the CLI turns them into flags, the runner
validates against them. How each tool runs lives in the targets.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tools.base import Risk, Tool, ToolArgs
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


def _t(name: str, args: type[ToolArgs], description: str, **kw) -> Tool:
    return Tool(name=name, args_model=args, description=description, **kw)


ALL_TOOLS: list[Tool] = [
    _t(
        "service_status",
        ServiceStatusArgs,
        "Service state, main PID, recent log lines and exit reason (like systemctl status).",
    ),
    _t(
        "log_tail",
        LogTailArgs,
        "Last lines of a log file, journald unit or pod, optionally filtered by a regex.",
    ),
    _t(
        "port_owner",
        PortOwnerArgs,
        "Which process listens on or holds a port: PID, user, command line (like ss -ltnp).",
    ),
    _t(
        "process_list",
        ProcessListArgs,
        "Running processes with PID, user, CPU, memory and command (like ps aux).",
    ),
    _t("host_resources", HostResourcesArgs, "Load average, CPU, memory and swap of the host."),
    _t("disk_usage", DiskUsageArgs, "Disk space and inodes of the filesystem holding a path (like df -h)."),
    _t("dns_lookup", DnsLookupArgs, "Resolve a hostname to addresses; reports NXDOMAIN and timeouts."),
    _t(
        "http_check",
        HttpCheckArgs,
        "HTTP GET a URL the target allows: status, latency, headers, start of body.",
        timeout_s=10,
    ),
    _t(
        "tls_certificate",
        TlsCertificateArgs,
        "TLS certificate of host:port: subject, issuer, not-after, days left.",
        timeout_s=10,
    ),
    _t(
        "pod_describe",
        PodDescribeArgs,
        "Describe a pod like kubectl describe: phase, container states, restarts, conditions, events.",
    ),
    _t("pod_logs", PodLogsArgs, "Logs of a pod's container, or of its previous crashed instance."),
    _t(
        "list_pods",
        ListPodsArgs,
        "Pods in a namespace with ready count, status, restarts and age (like kubectl get pods).",
    ),
    _t("k8s_events", K8sEventsArgs, "Recent Kubernetes events in a namespace, optionally for one object."),
    _t(
        "restart_service",
        RestartServiceArgs,
        "Restart a service (needs approval).",
        risk=Risk.WRITE,
        timeout_s=60,
    ),
    _t("kill_process", KillProcessArgs, "Send a signal to a process (needs approval).", risk=Risk.WRITE),
    _t(
        "rollout_restart",
        RolloutArgs,
        "Restart a deployment's pods (needs approval).",
        risk=Risk.WRITE,
        timeout_s=60,
    ),
    _t(
        "rollout_undo",
        RolloutArgs,
        "Roll a deployment back to its previous revision (needs approval).",
        risk=Risk.WRITE,
        timeout_s=60,
    ),
]

TOOLS: dict[str, Tool] = {t.name: t for t in ALL_TOOLS}
HOST_TOOLS = {
    "service_status",
    "log_tail",
    "port_owner",
    "process_list",
    "host_resources",
    "disk_usage",
    "dns_lookup",
    "http_check",
    "tls_certificate",
    "restart_service",
    "kill_process",
}
K8S_TOOLS = {
    "pod_describe",
    "pod_logs",
    "list_pods",
    "k8s_events",
    "log_tail",
    "rollout_restart",
    "rollout_undo",
}


def get_tool(name: str) -> Tool | None:
    return TOOLS.get(name)
