"""Kubernetes failures stated in any form: every Warning event, container waiting/terminated reasons,
pod conditions that are False, node conditions, and nodes that are not Ready.

The specific analyzers (kubernetes.py) word the known signatures precisely; these make
sure an unknown reason is still a finding with its exact line, never "nothing there".
"""

from __future__ import annotations

import re

from assistant.events import Finding
from assistant.findings.base import Observation, analyzer, call, fallback, make_finding
from assistant.findings.benign import Benign, benign
from assistant.findings.benign_states import PRESTART_RECOVERED, BenignState
from assistant.findings.generic import level_of, specificity
from assistant.findings.k8s_structured import looks_structured
from assistant.findings.k8s_text import Event, PodDescription, parse_describe, parse_events
from assistant.findings.logtext import gist, read_line, shape

COVERED = re.compile(
    r"Failed to pull image|^Error: (?:ErrImagePull|ImagePullBackOff)|(?:Readiness|Liveness|Startup) probe failed",
    re.IGNORECASE,
)
"""Event messages the specific analyzers already turn into findings."""
COVERED_REASONS = {"FailedScheduling", "Evicted"}
SYMPTOM_REASONS = {"BackOff", "Unhealthy", "Killing", "ProbeWarning"}
NOTICE_REASONS = {"JobAlreadyActive": "a previous run is still running, so this run was skipped"}
"""`Normal` events that say something did not happen: the CronJob controller skips a run while the previous one is
still active under `concurrencyPolicy: Forbid` ('Not starting job because prior execution is running ...')."""
"""Reasons that describe an effect (a restart back-off, a probe): the cause is elsewhere."""
_HANDLED_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
}
_TRANSITIONAL = {"ContainerCreating", "PodInitializing"}


def conditions_block(lines: list[str]) -> list[str]:
    """The indented lines of a describe's first `Conditions:` section (up to the next top-level field)."""
    out: list[str] = []
    inside = False
    for ln in lines:
        if ln.startswith("Conditions:"):
            inside = True
        elif inside and ln and not ln.startswith(" "):
            break
        elif inside:
            out.append(ln)
    return out


def _object(e: Event, pod: PodDescription | None) -> str:
    return e.object or (f"pod/{pod.name}" if pod and pod.name else "an object")


@fallback
def warning_events(obs: Observation, covered: set[str]) -> list[Finding]:
    """Every `Warning` event (describe's table or `kubectl get events`), one finding per object and reason."""
    if (
        obs.tool not in ("pod_describe", "k8s_events")
        and "Warning" not in obs.output
        and not any(r in obs.output for r in NOTICE_REASONS)
    ):
        return []
    pod = parse_describe(obs.output) if obs.tool == "pod_describe" else None
    ns = (pod.namespace if pod else None) or str(obs.args.get("namespace") or "default")
    groups: dict[tuple[str, str], list[Event]] = {}
    all_events = parse_events(obs.output)
    for e in all_events:
        if (
            (e.type != "Warning" and e.reason not in NOTICE_REASONS)
            or e.reason in COVERED_REASONS
            or COVERED.search(e.message)
            or e.line in covered
        ):
            continue
        if e.reason in SYMPTOM_REASONS and covered and obs.tool == "pod_describe":
            continue  # the pod's own finding already explains its back-off
        groups.setdefault((_object(e, pod), e.reason), []).append(e)
    out = []
    for (obj, reason), events in groups.items():
        symptom = reason in SYMPTOM_REASONS
        name = obj.split("/", 1)[-1]
        harmless: Benign | BenignState | None = next(
            (b for e in events if (b := benign(e.line)) is not None), None
        )
        if harmless is not None and any(benign(e.line) is None for e in events):
            harmless = None  # only when every event of the group is the known-harmless kind
        if harmless is None and all(PRESTART_RECOVERED.holds(e, all_events, pod) for e in events):
            harmless = PRESTART_RECOVERED
        out.append(
            make_finding(
                obs,
                "k8s-warning-symptom" if symptom else "k8s-warning",
                f"Kubernetes {'reports' if reason in NOTICE_REASONS else 'warns'} {reason} on {obj}: "
                f"{gist(events[0].message)}"
                + (f" ({NOTICE_REASONS[reason]})" if reason in NOTICE_REASONS else "")
                + (f" (known harmless: {harmless.name})" if harmless else ""),
                [e.line for e in events[:2]],
                {
                    "object": obj,
                    "reason": reason,
                    "message": events[0].message[:300],
                    "namespace": ns,
                    "pod": name if obj.lower().startswith("pod/") else None,
                    "benign": harmless.name if harmless else None,
                },
                severity="info" if harmless else "medium" if symptom else "high",
                confidence=0.8,
                next_checks=[call("pod_describe", pod=name, namespace=ns)]
                if obj.lower().startswith("pod/") and obs.tool != "pod_describe" and not harmless
                else [],
            )
        )
    return out


@analyzer
def container_states(obs: Observation) -> list[Finding]:
    """Waiting and terminated reasons of containers (and init containers) that no specific analyzer words."""
    described = obs.tool == "pod_describe" or "Containers:" in obs.output or looks_structured(obs.output)
    pod = parse_describe(obs.output) if described else None
    if pod is None or not pod.name or pod.status == "Succeeded" or pod.reason == "Evicted":
        return []  # an evicted pod's containers were stopped by the eviction: described_eviction words it
    ns = pod.namespace or str(obs.args.get("namespace") or "default")
    out = []
    for c in pod.containers:
        state, reason = c.get("State") or "", c.get("State.Reason") or ""
        code = c.get("State.Exit Code") or c.get("Last State.Exit Code")
        if c.init and state == "Running" and pod.status == "Pending":
            out.append(
                make_finding(
                    obs,
                    "init-container-waiting",
                    f"pod {pod.name} waits on its init container {c.name}, which has not finished",
                    [c.lines.get("State", ""), c.lines.get("State.Started", "")],
                    {"pod": pod.name, "namespace": ns, "container": c.name},
                    severity="high",
                    confidence=0.8,
                    next_checks=[call("pod_logs", pod=pod.name, namespace=ns, container=c.name)],
                )
            )
            continue
        if state == "Waiting" and reason and reason not in _HANDLED_WAITING | _TRANSITIONAL:
            kind, what = "waiting", f"waits in {reason}"
        elif state == "Terminated" and reason not in ("Completed", "OOMKilled") and code not in (None, "0"):
            kind, what = "terminated", f"terminated: {reason or 'Error'}, exit code {code}"
        else:
            continue
        message = c.get("State.Message")
        keys = ["State", "State.Reason", "State.Message", "State.Exit Code"]
        if not message and kind == "waiting" and c.get("Last State") == "Terminated":
            message = c.get(
                "Last State.Message"
            )  # why its last attempt ended: the runtime's or its own words
            keys += ["Last State.Reason", "Last State.Message"]
            last = c.get("Last State.Reason")
            what += f" (last attempt {last}" + (f": {gist(message)})" if message else ")") if last else ""
        elif message:
            what += f" ({gist(message, 160)})"
        out.append(
            make_finding(
                obs,
                "container-not-running",
                f"container {c.name} in {pod.name} {what}",
                [c.lines.get(k, "") for k in keys],
                {
                    "pod": pod.name,
                    "namespace": ns,
                    "container": c.name,
                    "state": kind,
                    "reason": reason or None,
                    "exit_code": int(code) if code and code.lstrip("-").isdigit() else None,
                },
                severity="high",
                confidence=0.85,
                next_checks=[call("pod_logs", pod=pod.name, namespace=ns, container=c.name)]
                if kind == "terminated"
                else [call("k8s_events", namespace=ns, involved_object=pod.name)],
            )
        )
    return out


_CONDITION_ROW = re.compile(r"^\s{2,}(?P<type>[A-Z][A-Za-z]+)\s+(?P<status>True|False|Unknown)\s*$")


@fallback
def false_conditions(obs: Observation, covered: set[str]) -> list[Finding]:
    """A pod's Conditions table: Ready/ContainersReady/PodScheduled/Initialized that are False, when nothing
    more specific in the same description explains them."""
    if obs.tool != "pod_describe" or "Conditions:" not in obs.output or covered:
        return []
    pod = parse_describe(obs.output)
    if pod is None or pod.status == "Succeeded":
        return []
    rows = []
    for ln in conditions_block(obs.lines):
        m = _CONDITION_ROW.match(ln)
        if m and m.group("status") != "True":
            rows.append((m.group("type"), ln.strip()))
    if not rows:
        return []
    names = ", ".join(t for t, _ in rows)
    return [
        make_finding(
            obs,
            "pod-condition-false",
            f"pod {pod.name}: {names} False",
            [ln for _, ln in rows],
            {"pod": pod.name, "namespace": pod.namespace, "conditions": [t for t, _ in rows]},
            severity="medium",
            confidence=0.7,
        )
    ]


_CONDITION = re.compile(
    r"^\s{2,}(?P<type>[A-Z][A-Za-z]+)\s+(?P<status>True|False|Unknown)(?:\s+(?P<reason>[A-Z]\w+))?(?:\s{2,}.*)?$"
)
BAD_WHEN_TRUE = re.compile(
    r"(?:Failure|Failed|Error|Degraded|Stalled|Remaining|Target)$|^(?:Suspended|ScalingLimited|Terminating)$"
)
"""Condition types whose True is the failure (a Deployment's ReplicaFailure, a Job's Failed, an HPA's
ScalingLimited, a Namespace's ContentRemaining); for every other type it is False."""
_PRESSURE = re.compile(r"Pressure$|^NetworkUnavailable$")


@fallback
def object_conditions(obs: Observation, covered: set[str]) -> list[Finding]:
    """The Conditions table of any other object (a Deployment's Progressing False / ProgressDeadlineExceeded,
    a Job's Failed True / BackoffLimitExceeded, an HPA's ScalingActive False): every condition in its failed
    polarity, with its reason, when nothing more specific in the same output explains it."""
    if covered or "Conditions:" not in obs.output:
        return []
    if any(ln.startswith("Containers:") for ln in obs.lines):
        return []  # a pod: false_conditions reads it
    rows = []
    for ln in conditions_block(obs.lines):
        m = _CONDITION.match(ln)
        if not m or _PRESSURE.search(m.group("type")):
            continue  # node conditions are node_conditions' to read
        bad = m.group("status") == ("True" if BAD_WHEN_TRUE.search(m.group("type")) else "False")
        if bad or m.group("status") == "Unknown":
            rows.append((m.group("type"), m.group("status"), m.group("reason"), ln.strip()))
    if not rows:
        return []
    name = next((m.group(1) for ln in obs.lines if (m := re.match(r"^Name:\s+(\S+)", ln))), None)
    said = ", ".join(f"{t} {st}" + (f" ({r})" if r else "") for t, st, r, _ in rows)
    return [
        make_finding(
            obs,
            "condition-false",
            f"{name or 'the object'} reports {said}",
            [ln for *_, ln in rows],
            {
                "object": name,
                "conditions": [t for t, *_ in rows],
                "reasons": [r for *_, r, _ in rows if r] or None,
            },
            severity="medium",
            confidence=0.7,
        )
    ]


_NODE_PRESSURE = re.compile(
    r"^\s*(?P<type>MemoryPressure|DiskPressure|PIDPressure|NetworkUnavailable)\s+True\b"
)
_NODE_NOT_READY = re.compile(
    r"^\s*Ready\s+(?P<status>False|Unknown)\s+\S.*(?:Kubelet|NodeStatusUnknown|NotReady)"
)
_NODE_ROW = re.compile(r"^(?P<node>[\w.-]+)\s+(?P<status>NotReady|NotReady,\S+)\s+\S+\s+\S+")
_NODE_EVENT = re.compile(
    r"\b(?:NodeNotReady|NodeHasDiskPressure|NodeHasInsufficientMemory|NodeHasInsufficientPID|"
    r"EvictionThresholdMet|KubeletHasDiskPressure|KubeletHasInsufficientMemory)\b"
)
_NODE_TAINT = re.compile(
    r"^(?:Taints:\s+|\s+)node\.kubernetes\.io/(?P<taint>not-ready|unreachable|memory-pressure|disk-pressure|"
    r"pid-pressure|network-unavailable|out-of-service):(?:NoSchedule|NoExecute)\b"
)
"""The taints the node controller puts on a sick node (describe node's Taints:, one per line)."""
_NODE_RECOVERED = {
    "NodeNotReady": "NodeReady",
    "NodeHasDiskPressure": "NodeHasNoDiskPressure",
    "NodeHasInsufficientMemory": "NodeHasSufficientMemory",
    "NodeHasInsufficientPID": "NodeHasSufficientPID",
}
"""The node controller and kubelet report these transitions as `Normal` events; the pair says it recovered."""
_NODE_OBJECT = re.compile(r"\b[Nn]ode/(?P<node>[\w.-]+)")


def _taint_lines(obs: Observation) -> list[str]:
    """The lines of describe node's `Taints:` field (it goes on, indented, one taint per line). A pod's
    `Tolerations:` lists the same keys on every pod: those are not taints."""
    out, inside = [], False
    for ln in obs.lines:
        if ln.startswith("Taints:"):
            inside = True
        elif not ln[:1].isspace():
            inside = False
        if inside:
            out.append(ln)
    return out


@analyzer
def node_conditions(obs: Observation) -> list[Finding]:
    """Node pressure conditions, nodes not Ready (describe node, get nodes, or node events)."""
    hits = [(ln.strip(), m.group("type")) for ln in obs.lines if (m := _NODE_PRESSURE.match(ln))]
    hits += [(ln.strip(), "NotReady") for ln in obs.lines if _NODE_NOT_READY.match(ln)]
    hits += [
        (ln.strip(), m.group("status").split(",")[0])
        for ln in obs.lines
        if (m := _NODE_ROW.match(ln.strip())) and m.group("node") != "NAME"
    ]
    hits += [
        (ln.strip(), f"taint {m.group('taint')}") for ln in _taint_lines(obs) if (m := _NODE_TAINT.match(ln))
    ]
    seen = {h[0] for h in hits}
    hits += [
        (ln.strip(), m.group(0))
        for ln in obs.lines
        if (m := _NODE_EVENT.search(ln))
        and ln.strip() not in seen
        and not ("Normal" in ln[:40] and _NODE_RECOVERED.get(m.group(0), "-") in obs.output)
    ]
    if not hits:
        return []
    node = next((m.group(1) for ln in obs.lines if (m := re.match(r"^Name:\s+(\S+)", ln))), None)
    node = node or next(
        (m.group("node") for h, _ in hits if (m := _NODE_OBJECT.search(h) or _NODE_ROW.match(h))), None
    )
    kinds = list(dict.fromkeys(k for _, k in hits))
    return [
        make_finding(
            obs,
            "node-condition",
            f"node {node or '?'} reports {', '.join(kinds)}",
            [h[0] for h in hits[:3]],
            {"node": node, "conditions": kinds},
            severity="high",
            confidence=0.85,
        )
    ]


@fallback
def termination_messages(obs: Observation, covered: set[str]) -> list[Finding]:
    """A crashed container's termination message (kubectl describe's `Message:` under State/Last State) is
    the tail of its own log, or what the runtime said when it could not start it: read like any log line,
    so the pod's crash is explained by its own words even when its logs cannot be fetched."""
    described = obs.tool == "pod_describe" or looks_structured(obs.output)
    pod = parse_describe(obs.output) if described else None
    if pod is None or not pod.name or pod.reason == "Evicted":
        return []  # the runtime's words about a container the eviction stopped: the eviction is the cause
    out = []
    for c in pod.containers:
        for state in ("Last State", "State"):
            message = c.get(f"{state}.Message")
            if not message or c.get(state) != "Terminated":
                continue
            if c.get(f"{state}.Reason") == "Completed" and c.get(f"{state}.Exit Code") in (None, "0"):
                continue
            line = read_line(message)
            level = level_of(line) or "failure"
            out.append(
                make_finding(
                    obs,
                    "error-lines",
                    f"{pod.name} logged {level}: {gist(message)}",
                    [c.lines.get(f"{state}.Message", "")],
                    {
                        "source": pod.name,
                        "shape": shape(message),
                        "count": 1,
                        "level": level,
                        "container": c.name,
                        "message": message[:300],
                        "specific": specificity(message),
                    },
                    severity="high" if level == "fatal" else "medium",
                    confidence=0.7,
                )
            )
            break
    return out


_TOP_NODE = re.compile(
    r"^(?P<node>[\w.-]+)\s+(?P<cpu>\d+m?)\s+(?P<cpu_pct>\d+)%\s+(?P<mem>\d+[KMGT]i?)\s+(?P<mem_pct>\d+)%\s*$"
)


@analyzer
def node_usage(obs: Observation) -> list[Finding]:
    """`kubectl top node`: a node at 95% of its allocatable memory or more (evictions and OOM kills follow)."""
    if "MEMORY%" not in obs.output:
        return []
    out = []
    for ln in obs.lines:
        m = _TOP_NODE.match(ln.strip())
        if m and int(m.group("mem_pct")) >= 95:
            out.append(
                make_finding(
                    obs,
                    "memory-exhausted",
                    f"node {m.group('node')} uses {m.group('mem_pct')}% of its allocatable memory ({m.group('mem')})",
                    [ln],
                    {"host": m.group("node"), "available": None, "total": None},
                    severity="high",
                    confidence=0.8,
                )
            )
    return out


_PVC_ROW = re.compile(
    r"^(?:(?P<ns>[a-z0-9][-a-z0-9]*)\s+)?(?P<name>[a-z0-9][-a-z0-9.]*)\s+(?P<status>Pending|Lost)\b"
)


@analyzer
def claims_not_bound(obs: Observation) -> list[Finding]:
    """`kubectl get pvc`: a claim Pending (no volume provisioned or matched) or Lost (its volume is gone);
    pods that use it cannot start."""
    if "STORAGECLASS" not in obs.output and "ACCESS MODES" not in obs.output:
        return []
    out = []
    waits = "WaitForFirstConsumer" in obs.output  # known-benign: bound only once a pod is scheduled
    for ln in obs.lines:
        m = _PVC_ROW.match(ln.strip())
        if not m or ln.strip().startswith(("NAME", "NAMESPACE")):
            continue
        ns = m.group("ns") or str(obs.args.get("namespace") or "default")
        out.append(
            make_finding(
                obs,
                "pvc-not-bound",
                f"PersistentVolumeClaim {m.group('name')} is {m.group('status')}"
                + (
                    ": no volume was provisioned or matched"
                    if m.group("status") == "Pending"
                    else ": its volume is gone"
                ),
                [ln],
                {"claim": m.group("name"), "namespace": ns, "status": m.group("status")},
                severity="info" if waits and m.group("status") == "Pending" else "medium",
                confidence=0.75,
                next_checks=[call("k8s_events", namespace=ns, involved_object=m.group("name"))],
            )
        )
    return out
