"""kubectl's computed pod STATUS, `kubectl get pods`, `kubectl events` and structured pod facts.

Ported from kubectl's printers so the STATUS column (CrashLoopBackOff, OOMKilled,
Init:0/1, Terminating...) and restart counts match what an engineer sees. Pure
functions over API-shaped dicts; `tools.render_k8s` re-exports them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tools.k8s_text import controller_of, event_age, human_duration, parse_time, since, tabwrite


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# ---------------------------------------------------------------- get pods


def _restartable(c: dict | None) -> bool:
    return bool(c) and c.get("restartPolicy") == "Always"


def _later(a: datetime | None, b: Any) -> datetime | None:
    t = parse_time(b)
    return t if t and (a is None or t > a) else a


def _init_status(pod: dict, reason: str) -> tuple[str, bool, int, int, datetime | None, datetime | None]:
    """Walk init containers like kubectl: (reason, initializing, restarts, sidecar restarts, dates)."""
    spec, status = pod.get("spec", {}), pod.get("status", {})
    inits = {c.get("name"): c for c in spec.get("initContainers") or []}
    restarts = sidecar_restarts = 0
    last = sidecar_last = None
    initializing = False
    statuses = status.get("initContainerStatuses") or []
    for i, c in enumerate(statuses):
        restarts += c.get("restartCount", 0)
        term = (c.get("lastState") or {}).get("terminated")
        if term:
            last = _later(last, term.get("finishedAt"))
        sidecar = _restartable(inits.get(c.get("name")))
        if sidecar:
            sidecar_restarts += c.get("restartCount", 0)
            if term:
                sidecar_last = _later(sidecar_last, term.get("finishedAt"))
        state = c.get("state") or {}
        t, wt = state.get("terminated"), state.get("waiting")
        if t is not None and t.get("exitCode", 0) == 0:
            continue
        if sidecar and c.get("started"):
            continue
        if t is not None:
            if t.get("reason"):
                reason = "Init:" + t["reason"]
            elif t.get("signal"):
                reason = f"Init:Signal:{t['signal']}"
            else:
                reason = f"Init:ExitCode:{t.get('exitCode', 0)}"
        elif wt is not None and wt.get("reason") and wt["reason"] != "PodInitializing":
            reason = "Init:" + wt["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    return reason, initializing, restarts, sidecar_restarts, last, sidecar_last


def _has_condition(pod: dict, ctype: str) -> bool:
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def pod_status(pod: dict) -> tuple[str, int, int, int, datetime | None]:
    """kubectl's computed (STATUS, ready, total, restarts, last restart time) for a pod."""
    spec, status, meta = pod.get("spec", {}), pod.get("status", {}), pod.get("metadata", {})
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for c in status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    total = len(spec.get("containers") or []) + sum(
        1 for c in spec.get("initContainers") or [] if _restartable(c)
    )
    reason, initializing, restarts, sidecar_restarts, last, sidecar_last = _init_status(pod, reason)
    ready = sum(
        1
        for c in status.get("initContainerStatuses") or []
        if _restartable({i.get("name"): i for i in spec.get("initContainers") or []}.get(c.get("name")))
        and c.get("started")
        and c.get("ready")
    )
    if not initializing or _has_condition(pod, "Initialized"):
        restarts, last, has_running = sidecar_restarts, sidecar_last, False
        for c in reversed(status.get("containerStatuses") or []):
            restarts += c.get("restartCount", 0)
            term = (c.get("lastState") or {}).get("terminated")
            if term:
                last = _later(last, term.get("finishedAt"))
            state = c.get("state") or {}
            wt, t = state.get("waiting"), state.get("terminated")
            if wt is not None and wt.get("reason"):
                reason = wt["reason"]
            elif t is not None and t.get("reason"):
                reason = t["reason"]
            elif t is not None:
                reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode', 0)}"
            elif c.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(pod, "Ready") else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"
    return reason, ready, total, restarts, last


def render_pod_list(
    pods: list[dict], now: datetime | None = None, namespace: str | None = None, all_namespaces: bool = False
) -> str:
    """`kubectl get pods` text (NAME READY STATUS RESTARTS AGE), in the API's name order.

    `all_namespaces`: `kubectl get pods -A`, with a leading NAMESPACE column.
    """
    now = _now(now)
    if not pods:
        if all_namespaces or not namespace:
            return "No resources found\n"
        return f"No resources found in {namespace} namespace.\n"
    lines = [("NAMESPACE\t" if all_namespaces else "") + "NAME\tREADY\tSTATUS\tRESTARTS\tAGE\n"]
    ordered = sorted(
        pods,
        key=lambda p: (p.get("metadata", {}).get("namespace", ""), p.get("metadata", {}).get("name", "")),
    )
    for pod in ordered:
        reason, ready, total, restarts, last = pod_status(pod)
        restarts_text = str(restarts)
        if restarts and last is not None:
            restarts_text = f"{restarts} ({human_duration((now - last).total_seconds())} ago)"
        age = since(pod.get("metadata", {}).get("creationTimestamp"), now)
        lines.append(
            (f"{pod['metadata'].get('namespace', '')}\t" if all_namespaces else "")
            + f"{pod['metadata'].get('name', '')}\t{ready}/{total}\t{reason}\t{restarts_text}\t{age}\n"
        )
    return tabwrite("".join(lines), minwidth=6, padding=3)


# ---------------------------------------------------------------- events


def _event_time(e: dict) -> datetime:
    if e.get("series"):
        t = parse_time(e["series"].get("lastObservedTime"))
    else:
        t = parse_time(e.get("lastTimestamp")) or parse_time(e.get("eventTime"))
    return t or datetime(1, 1, 1, tzinfo=UTC)


def render_events(events: list[dict], now: datetime | None = None, namespace: str | None = None) -> str:
    """`kubectl events` text (LAST SEEN TYPE REASON OBJECT MESSAGE), oldest first."""
    now = _now(now)
    if not events:
        return f"No events found in {namespace} namespace.\n" if namespace else "No events found.\n"
    lines = ["LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE\n"]
    for e in sorted(events, key=_event_time):
        obj = e.get("involvedObject") or {}
        message = str(e.get("message", "")).strip()
        lines.append(
            f"{event_age(e, now)}\t{e.get('type', '')}\t{e.get('reason', '')}\t"
            f"{obj.get('kind', '')}/{obj.get('name', '')}\t{message}\n"
        )
    return tabwrite("".join(lines), minwidth=6, padding=3)


# ---------------------------------------------------------------- structured facts


def _state_facts(state: dict | None) -> dict[str, Any]:
    state = state or {}
    for kind in ("waiting", "running", "terminated"):
        if state.get(kind) is not None:
            s = state[kind]
            facts: dict[str, Any] = {"state": kind, "reason": s.get("reason"), "message": s.get("message")}
            if kind == "terminated":
                facts.update(
                    exit_code=s.get("exitCode", 0),
                    signal=s.get("signal"),
                    started_at=s.get("startedAt"),
                    finished_at=s.get("finishedAt"),
                )
            if kind == "running":
                facts["started_at"] = s.get("startedAt")
            return facts
    return {"state": None, "reason": None, "message": None}


def _container_facts(c: dict, st: dict | None) -> dict[str, Any]:
    st = st or {}
    cur = _state_facts(st.get("state"))
    last = _state_facts(st.get("lastState"))
    return {
        "name": c.get("name"),
        "image": c.get("image"),
        "ready": bool(st.get("ready")),
        "restart_count": st.get("restartCount", 0),
        "state": cur["state"],
        "reason": cur["reason"],
        "message": cur["message"],
        "exit_code": cur.get("exit_code"),
        "last_state": last["state"],
        "last_reason": last["reason"],
        "last_exit_code": last.get("exit_code"),
        "last_finished_at": last.get("finished_at"),
        "limits": dict((c.get("resources") or {}).get("limits") or {}),
        "requests": dict((c.get("resources") or {}).get("requests") or {}),
    }


def pod_status_facts(pod: dict) -> dict[str, Any]:
    """Structured facts about a pod for `RawOutput.data`: phase, kubectl STATUS, per-container states."""
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    reason, ready, total, restarts, last = pod_status(pod)
    statuses = {s.get("name"): s for s in status.get("containerStatuses") or []}
    init_statuses = {s.get("name"): s for s in status.get("initContainerStatuses") or []}
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "phase": status.get("phase"),
        "status": reason,
        "ready": f"{ready}/{total}",
        "restarts": restarts,
        "last_restart": last.isoformat() if last else None,
        "reason": status.get("reason"),
        "message": status.get("message"),
        "node": spec.get("nodeName"),
        "controlled_by": controller_of(meta) or None,
        "conditions": {c.get("type"): c.get("status") for c in status.get("conditions") or []},
        "containers": [
            _container_facts(c, statuses.get(c.get("name"))) for c in spec.get("containers") or []
        ],
        "init_containers": [
            _container_facts(c, init_statuses.get(c.get("name"))) for c in spec.get("initContainers") or []
        ],
    }
