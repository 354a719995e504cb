"""The command line an engineer would type for a tool call, known before it runs.

Approval prompts and the command trail show it; targets may report a more exact
one after running (e.g. the real argv they used).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any


def _q(value: Any) -> str:
    return shlex.quote(str(value))


def _log_tail(a: dict[str, Any]) -> str:
    source, lines, grep = a.get("source", ""), a.get("lines", 50), a.get("grep")
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


def _pod_logs(a: dict[str, Any]) -> str:
    cmd = f"kubectl logs {_q(a['pod'])} -n {_q(a.get('namespace', 'default'))}"
    if a.get("container"):
        cmd += f" -c {_q(a['container'])}"
    if a.get("previous"):
        cmd += " --previous"
    return cmd + f" --tail={a.get('tail', 100)}"


def _port_owner(a: dict[str, Any]) -> str:
    flags = "-lunp" if a.get("protocol") == "udp" else "-ltnp"
    return f"ss {flags} 'sport = :{a['port']}'"


_COMMANDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "service_status": lambda a: f"systemctl status {_q(a['service'])}",
    "log_tail": _log_tail,
    "port_owner": _port_owner,
    "process_list": lambda a: "ps aux" + (f" | grep -F {_q(a['match'])}" if a.get("match") else ""),
    "host_resources": lambda a: "uptime; free -m; top -bn1 | head -5",
    "disk_usage": lambda a: f"df -h {_q(a.get('path', '/'))}; df -i {_q(a.get('path', '/'))}",
    "dns_lookup": lambda a: f"host {_q(a['name'])}",
    "http_check": lambda a: f"curl -sS -i -m 10 {_q(a['url'])}",
    "tls_certificate": lambda a: (
        f"openssl s_client -connect {a['host']}:{a.get('port', 443)} -servername "
        f"{_q(a['host'])} </dev/null | openssl x509 -noout -subject -issuer -dates"
    ),
    "pod_describe": lambda a: f"kubectl describe pod {_q(a['pod'])} -n {_q(a.get('namespace', 'default'))}",
    "pod_logs": _pod_logs,
    "list_pods": lambda a: (
        f"kubectl get pods -n {_q(a.get('namespace', 'default'))}"
        + (f" -l {_q(a['selector'])}" if a.get("selector") else "")
    ),
    "k8s_events": lambda a: (
        f"kubectl get events -n {_q(a.get('namespace', 'default'))}"
        + (
            f" --field-selector involvedObject.name={_q(a['involved_object'])}"
            if a.get("involved_object")
            else ""
        )
        + " --sort-by=.lastTimestamp"
    ),
    "restart_service": lambda a: f"systemctl restart {_q(a['service'])}",
    "kill_process": lambda a: f"kill -{a.get('signal', 'TERM')} {a['pid']}",
    "rollout_restart": lambda a: (
        f"kubectl rollout restart deployment/{a['deployment']} -n {_q(a.get('namespace', 'default'))}"
    ),
    "rollout_undo": lambda a: (
        f"kubectl rollout undo deployment/{a['deployment']} -n {_q(a.get('namespace', 'default'))}"
    ),
}


def command_line(tool: str, args: dict[str, Any]) -> str:
    """The equivalent shell command, for display only (Firstline never runs it through a shell)."""
    fn = _COMMANDS.get(tool)
    if fn is None:
        return f"{tool} " + " ".join(f"{k}={_q(v)}" for k, v in sorted(args.items()))
    try:
        return fn(args)
    except KeyError:
        return f"{tool} " + " ".join(f"{k}={_q(v)}" for k, v in sorted(args.items()))
