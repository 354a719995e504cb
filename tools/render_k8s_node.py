"""`kubectl get nodes -o wide` and `kubectl describe node` text from v1.Node dicts.

Pods go Pending, get evicted or hang Terminating because of their node: memory or disk
pressure, a NotReady kubelet, a cordon. These renderers show exactly those facts the way
kubectl prints them, so findings and people read one format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tools.k8s_text import since, tabwrite
from tools.render_k8s import _annotations, _describe_events, _multiline_map, _ts, _Writer

Obj = dict[str, Any]
"""One API object as JSON."""
ROLE_PREFIX = "node-role.kubernetes.io/"
NORMAL = {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False"}
"""A condition's healthy status; any other status (or NetworkUnavailable=True) is abnormal."""


def node_roles(node: Obj) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = {k.removeprefix(ROLE_PREFIX) for k in labels if k.startswith(ROLE_PREFIX)}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def node_status(node: Obj) -> str:
    """kubectl's STATUS column: Ready / NotReady / Unknown, plus SchedulingDisabled when cordoned."""
    ready = next(
        (c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None
    )
    state = "Unknown"
    if ready is not None:
        state = "Ready" if ready.get("status") == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    return state


def abnormal_conditions(node: Obj) -> list[dict[str, Any]]:
    """Conditions away from their healthy status (pressure True, Ready not True, Unknown)."""
    out = []
    for c in (node.get("status") or {}).get("conditions") or []:
        healthy = NORMAL.get(c.get("type", ""), "False")
        if c.get("status") != healthy:
            out.append(c)
    return out


def node_facts(node: Obj) -> dict[str, Any]:
    meta, spec = node.get("metadata") or {}, node.get("spec") or {}
    return {
        "name": meta.get("name", ""),
        "status": node_status(node),
        "roles": node_roles(node),
        "version": ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""),
        "unschedulable": bool(spec.get("unschedulable")),
        "taints": [f"{t.get('key')}:{t.get('effect')}" for t in spec.get("taints") or []],
        "conditions": {
            c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []
        },
        "abnormal": [
            {
                "type": c.get("type"),
                "status": c.get("status"),
                "reason": c.get("reason"),
                "message": c.get("message"),
            }
            for c in abnormal_conditions(node)
        ],
    }


def _address(node: Obj, kind: str) -> str:
    addrs = (node.get("status") or {}).get("addresses") or []
    return next((a.get("address", "") for a in addrs if a.get("type") == kind), "<none>")


def render_node_list(nodes: list[Obj], now: datetime | None = None) -> str:
    """`kubectl get nodes -o wide`, then one line per abnormal condition (the list's conditions summary)."""
    now = now or datetime.now(UTC)
    if not nodes:
        return "No resources found\n"
    lines = [
        "NAME\tSTATUS\tROLES\tAGE\tVERSION\tINTERNAL-IP\tEXTERNAL-IP\tOS-IMAGE\tKERNEL-VERSION\tCONTAINER-RUNTIME\n"
    ]
    ordered = sorted(nodes, key=lambda n: (n.get("metadata") or {}).get("name", ""))
    for n in ordered:
        info = (n.get("status") or {}).get("nodeInfo") or {}
        cells = [
            n["metadata"].get("name", ""),
            node_status(n),
            node_roles(n),
            since(n["metadata"].get("creationTimestamp"), now),
            info.get("kubeletVersion", ""),
            _address(n, "InternalIP"),
            _address(n, "ExternalIP"),
            info.get("osImage", ""),
            info.get("kernelVersion", ""),
            info.get("containerRuntimeVersion", ""),
        ]
        lines.append("\t".join(cells) + "\n")
    text = tabwrite("".join(lines), minwidth=6, padding=3)
    rows = [("NODE", "CONDITION", "STATUS", "REASON", "MESSAGE")]
    for n in ordered:
        for c in abnormal_conditions(n):
            rows.append(
                (
                    n["metadata"].get("name", ""),
                    c.get("type", ""),
                    c.get("status", ""),
                    c.get("reason", ""),
                    str(c.get("message", "")).strip(),
                )
            )
    if len(rows) == 1:
        return text + "\n# all node conditions normal\n"
    summary = "".join("\t".join(r) + "\n" for r in rows)
    return (
        text
        + "\n# node conditions not normal (kubectl get nodes -o custom-columns)\n"
        + tabwrite(summary, 6, 3)
    )


def render_node_describe(node: Obj, events: list[Obj] | None, now: datetime | None = None) -> str:
    """`kubectl describe node` up to System Info and PodCIDRs, then Events.

    The Non-terminated Pods and Allocated resources sections are left out: they need the
    node's pods and quantity arithmetic, and `list_pods` shows the pods.
    """
    now = now or datetime.now(UTC)
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    out = _Writer()
    out.w(0, f"Name:\t{meta.get('name', '')}\n")
    out.w(0, f"Roles:\t{node_roles(node)}\n")
    _multiline_map(out, "Labels", meta.get("labels"))
    _annotations(out, meta.get("annotations"))
    out.w(0, f"CreationTimestamp:\t{_ts(meta.get('creationTimestamp'))}\n")
    taints = spec.get("taints") or []
    out.w(0, "Taints:\t")
    if not taints:
        out.w(0, "<none>\n")
    for i, t in enumerate(taints):
        value = f"={t['value']}" if t.get("value") else ""
        out.w(0, ("\t" if i else "") + f"{t.get('key', '')}{value}:{t.get('effect', '')}\n")
    out.w(0, f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}\n")
    conditions = status.get("conditions") or []
    if conditions:
        out.w(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
        out.w(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in conditions:
            out.w(
                1,
                f"{c.get('type', '')} \t{c.get('status', '')} \t{_ts(c.get('lastHeartbeatTime'))} \t"
                f"{_ts(c.get('lastTransitionTime'))} \t{c.get('reason', '')} \t{c.get('message', '')}\n",
            )
    out.w(0, "Addresses:\n")
    for a in status.get("addresses") or []:
        out.w(1, f"{a.get('type', '')}:\t{a.get('address', '')}\n")
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        if status.get(key):
            out.w(0, f"{title}:\n")
            for name in sorted(status[key]):
                out.w(1, f"{name}:\t{status[key][name]}\n")
    info = status.get("nodeInfo") or {}
    out.w(0, "System Info:\n")
    for label, key in (
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
        ("Kube-Proxy Version", "kubeProxyVersion"),
    ):
        out.w(1, f"{label}:\t{info.get(key, '')}\n")
    if spec.get("podCIDR"):
        out.w(0, f"PodCIDR:\t{spec['podCIDR']}\n")
        out.w(0, f"PodCIDRs:\t{','.join(spec.get('podCIDRs') or [spec['podCIDR']])}\n")
    if spec.get("providerID"):
        out.w(0, f"ProviderID:\t{spec['providerID']}\n")
    _describe_events(out, events, now)
    return out.text()
