"""Pods that do not run: crash loops, image pulls, OOM kills, failing probes, unschedulable pods."""

from __future__ import annotations

import re
from collections.abc import Collection

from assistant.events import Finding
from assistant.findings.base import Observation, analyzer, call, make_finding
from assistant.findings.benign_states import (
    EVICTED_AND_REPLACED,
    EVICTION_AGED_OUT,
    PRESTART_RECOVERED,
    PROBE_WHILE_STOPPING,
    RUNTIME_RESTART,
)
from assistant.findings.k8s_structured import looks_structured
from assistant.findings.k8s_text import (
    Container,
    PodDescription,
    PodRow,
    deployment_of,
    parse_describe,
    parse_events,
    parse_pod_list,
    seconds,
)
from assistant.findings.logtext import gist

_PULL_STATES = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
_PULL_FAILED = re.compile(r"Failed to pull image \"(?P<image>[^\"]+)\"(?P<why>.*)$")
_NOT_FOUND = re.compile(r"not found|manifest unknown|does not exist|NotFound|no such manifest", re.IGNORECASE)
_AUTH = re.compile(
    r"unauthorized|authentication required|access denied|denied|401|403|forbidden", re.IGNORECASE
)
_PROBE = re.compile(r"(?P<probe>Readiness|Liveness|Startup) probe failed: (?P<detail>.+)$")


def _namespace(obs: Observation, pod: PodDescription | None = None) -> str:
    return (pod.namespace if pod and pod.namespace else None) or str(obs.args.get("namespace") or "default")


def _pod_of_event_object(obj: str | None) -> str | None:
    return obj.split("/", 1)[1] if obj and obj.lower().startswith("pod/") else None


def _describe(obs: Observation) -> PodDescription | None:
    if (
        obs.tool == "pod_describe"
        or ("Containers:" in obs.output and "Name:" in obs.output)
        or looks_structured(obs.output)
    ):
        return parse_describe(obs.output)
    return None


_FAILED_STATUS = re.compile(
    r"^(?:Init:)?(?:Error|CrashLoopBackOff|RunContainerError|CreateContainerError|CreateContainerConfigError|"
    r"ContainerCannotRun|StartError|ContainerStatusUnknown|ImagePullBackOff|ErrImagePull|InvalidImageName|"
    r"ErrImageNeverPull|OOMKilled|DeadlineExceeded|PostStartHookError|PreStopHookError|Signal:\d+|"
    r"ExitCode:[1-9]\d*)$|^(?:NodeLost|Unknown|NodeAffinity|OutOf\w+|UnexpectedAdmissionError)$"
)
"""STATUS values kubectl prints for a pod whose container (or init container) failed, or that the node
rejected; transitional ones (Pending, ContainerCreating, Terminating, Init:0/1) are not failures by themselves."""


NOT_READY_AFTER = 600
"""A pod Running but not Ready is normal while it starts; after ten minutes it is a failing probe or container."""


def _job_attempt(row: PodRow, rows: list[PodRow]) -> str | None:
    """Known-benign: a failed Job attempt whose Job then succeeded (a sibling pod of the same Job Completed)."""
    job = re.sub(r"-[a-z0-9]{5}$", "", row.name)
    done = next(
        (r for r in rows if r is not row and r.status == "Completed" and r.name.startswith(job + "-")), None
    )
    return done.line if done and job != row.name else None


@analyzer
def pod_list_problems(obs: Observation) -> list[Finding]:
    """`kubectl get pods` rows in CrashLoopBackOff / image pull errors / OOMKilled: which pods to describe.
    Any other failed STATUS (Error, RunContainerError, Init:CrashLoopBackOff...) is a finding with its row."""
    out = []
    rows = parse_pod_list(obs.output)
    for row in rows:
        ns = row.namespace or str(obs.args.get("namespace") or "default")
        describe = call("pod_describe", pod=row.name, namespace=ns)
        facts = {"pod": row.name, "namespace": ns, "restarts": row.restarts, "status": row.status}
        if row.status == "CrashLoopBackOff":
            logs = call("pod_logs", pod=row.name, namespace=ns, previous=True)
            out.append(
                make_finding(
                    obs,
                    "crash-loop",
                    f"pod {row.name} is in CrashLoopBackOff ({row.restarts} restarts)",
                    [row.line],
                    facts,
                    confidence=0.9,
                    next_checks=[describe, logs],
                )
            )
        elif row.status in _PULL_STATES:
            out.append(
                make_finding(
                    obs,
                    "image-pull-failed",
                    f"pod {row.name} cannot pull its image ({row.status})",
                    [row.line],
                    facts,
                    confidence=0.85,
                    next_checks=[describe],
                )
            )
        elif row.status == "Evicted":
            replaced = EVICTED_AND_REPLACED.holds(row, rows)
            out.append(
                make_finding(
                    obs,
                    "pod-evicted",
                    f"pod {row.name} was evicted"
                    + (
                        f" over an hour ago; its {len(replaced)} sibling pod(s) are Running and Ready "
                        f"(the youngest for {min(replaced, key=lambda r: seconds(r.age) or 0).age}): "
                        "a leftover, already replaced"
                        if replaced
                        else ""
                    ),
                    [row.line, *(r.line for r in replaced[:2])],
                    {**facts, "benign": EVICTED_AND_REPLACED.name if replaced else None},
                    severity="info" if replaced else "high",
                    confidence=0.8,
                    next_checks=[] if replaced else [describe],
                )
            )
        elif row.status == "OOMKilled":
            out.append(
                make_finding(
                    obs,
                    "oom-killed",
                    f"pod {row.name} was OOMKilled",
                    [row.line],
                    facts,
                    confidence=0.85,
                    next_checks=[describe],
                )
            )
        elif row.status == "Running" and not row.healthy and (seconds(row.age) or 0) >= NOT_READY_AFTER:
            out.append(
                make_finding(
                    obs,
                    "pod-not-running",
                    f"pod {row.name} runs but only {row.ready} of its containers are Ready, for {row.age}",
                    [row.line],
                    facts,
                    severity="info",  # a symptom: its describe (probe, dependency) says why, and that is the cause
                    confidence=0.7,
                    next_checks=[describe],
                )
            )
        elif _FAILED_STATUS.match(row.status):
            retried = _job_attempt(row, rows)
            init = row.status.startswith("Init:")
            out.append(
                make_finding(
                    obs,
                    "pod-not-running",
                    f"pod {row.name} is {row.status}"
                    + (" (an init container failed)" if init else "")
                    + (f", {row.restarts} restarts" if row.restarts else "")
                    + ("; a later attempt of the same Job completed" if retried else ""),
                    [row.line, *([retried] if retried else [])],
                    facts,
                    severity="info" if retried else "medium",
                    confidence=0.75,
                    next_checks=[] if retried else [describe],
                )
            )
    return out


def _crash_facts(pod: PodDescription, c: Container, ns: str) -> dict:
    exit_code = c.get("Last State.Exit Code") or c.get("State.Exit Code")
    return {
        "pod": pod.name,
        "namespace": ns,
        "container": c.name,
        "exit_code": int(exit_code) if exit_code and exit_code.lstrip("-").isdigit() else None,
        "last_reason": c.get("Last State.Reason") or c.get("State.Reason"),
        "restarts": int(c.get("Restart Count") or 0),
        "memory_limit": c.get("Limits.memory"),
        "image": c.get("Image"),
        "deployment": deployment_of(pod.name, pod.controlled_by),
        "message": (c.get("Last State.Message") or c.get("State.Message") or "")[:300] or None,
    }


def _lines(c: Container, *keys: str) -> list[str]:
    return [c.lines[k] for k in keys if k in c.lines]


@analyzer
def described_containers(obs: Observation) -> list[Finding]:
    """`kubectl describe pod`: per container, OOMKilled / crash loop / image pull state with exit code."""
    pod = _describe(obs)
    if pod is None or not pod.name:
        return []
    ns = _namespace(obs, pod)
    out = []
    for c in pod.containers:
        facts = _crash_facts(pod, c, ns)
        state_reason = c.get("State.Reason") or ""
        if "OOMKilled" in (c.get("Last State.Reason") or "", state_reason):
            out.append(_oom(obs, pod, c, facts))
        elif state_reason in _PULL_STATES:
            out.append(_pull(obs, pod, c, facts))
        elif RUNTIME_RESTART.holds(c):
            out.append(_runtime_restart(obs, pod, c, facts))
        elif state_reason == "CrashLoopBackOff" or (
            facts["restarts"] and c.get("Last State") == "Terminated" and facts["exit_code"] not in (0, None)
        ):
            out.append(_crash(obs, pod, c, facts))
    return out


def _oom(obs: Observation, pod: PodDescription, c: Container, facts: dict) -> Finding:
    limit = facts["memory_limit"]
    deploy = facts["deployment"]
    fix = f"Raise the memory limit of {c.name}" + (f" (now {limit})" if limit else "")
    if deploy:
        fix += f" or roll back a recent change: {call('rollout_undo', deployment=deploy, namespace=facts['namespace'])}"
    return make_finding(
        obs,
        "oom-killed",
        f"container {c.name} in {pod.name} was OOMKilled (exit {facts['exit_code']})"
        + (f" against a {limit} memory limit" if limit else ""),
        _lines(
            c, "Last State.Reason", "Last State.Exit Code", "Limits.memory", "Restart Count", "State.Reason"
        ),
        facts,
        severity="critical",
        confidence=0.95,
        max_lines=5,
        next_checks=[call("k8s_events", namespace=facts["namespace"], involved_object=deploy or pod.name)],
        fixes=[call("rollout_undo", deployment=deploy, namespace=facts["namespace"])] if deploy else [],
        remediation=fix + " (needs approval).",
    )


def _crash(obs: Observation, pod: PodDescription, c: Container, facts: dict) -> Finding:
    back_off = [e.line for e in pod.events if e.reason == "BackOff" and "restarting" in e.message]
    reason = facts["last_reason"] if facts["last_reason"] not in (None, "Error", "CrashLoopBackOff") else None
    said = facts["message"]
    return make_finding(
        obs,
        "crash-loop",
        f"container {c.name} in {pod.name} keeps crashing (last "
        + (f"{reason}, " if reason else "")
        + f"exit code {facts['exit_code']}, {facts['restarts']} restarts)"
        + (f": {gist(said)}" if said else ""),
        [
            *_lines(c, "Last State.Message", "State.Message"),
            *_lines(c, "State.Reason", "Last State.Reason", "Last State.Exit Code", "Restart Count"),
            *back_off[:1],
        ],
        facts,
        severity="high",
        confidence=0.9,
        max_lines=6,
        next_checks=[
            call("pod_logs", pod=pod.name, namespace=facts["namespace"], container=c.name, previous=True)
        ],
    )


def _runtime_restart(obs: Observation, pod: PodDescription, c: Container, facts: dict) -> Finding:
    """Known-benign (benign_states.RUNTIME_RESTART): restarted by a node reboot or runtime restart, Ready now."""
    return make_finding(
        obs,
        "container-restarted",
        f"container {c.name} in {pod.name} restarted {facts['restarts']} time(s) when its node or container "
        f"runtime restarted (last state {facts['last_reason']}, exit code {facts['exit_code']}, finished "
        f"{c.get('Last State.Finished') or '?'}); it is Running and Ready now",
        _lines(c, "State", "Last State.Reason", "Last State.Exit Code", "Last State.Finished", "Ready"),
        {**facts, "benign": RUNTIME_RESTART.name},
        severity="info",
        confidence=0.8,
        max_lines=5,
    )


def _pull(obs: Observation, pod: PodDescription, c: Container, facts: dict) -> Finding:
    failed = [e for e in pod.events if _PULL_FAILED.search(e.message)]
    said = (
        c.get("State.Message") or ""
    )  # ErrImagePull's message is the registry's answer (not a back-off note)
    said = "" if failed or said.lower().startswith("back-off") else said
    cause = _pull_cause(" ".join(e.message for e in failed) or said)
    return _pull_finding(
        obs,
        pod.name,
        facts["namespace"],
        c.get("Image"),
        cause,
        [
            *_lines(c, "State.Reason", "Image"),
            *(e.line for e in failed[:1]),
            *_lines(c, "State.Message")[: bool(said)],
        ],
        deployment_of(pod.name, pod.controlled_by),
    )


def _pull_cause(text: str) -> str | None:
    if _NOT_FOUND.search(text):
        return "tag-not-found"
    if _AUTH.search(text):
        return "unauthorized"
    return "registry-unreachable" if text else None


def _pull_finding(
    obs: Observation,
    pod: str | None,
    ns: str,
    image: str | None,
    cause: str | None,
    lines: list[str],
    deploy: str | None,
) -> Finding:
    words = {
        "tag-not-found": "does not exist in the registry",
        "unauthorized": "is refused: not authorized",
        "registry-unreachable": "cannot be fetched from the registry",
    }
    title = f"image {image or '?'} {words.get(cause or '', 'cannot be pulled')}" + (
        f" (pod {pod})" if pod else ""
    )
    if cause == "unauthorized":
        fix = "Fix the registry credentials (imagePullSecrets) for the pod's service account."
    else:
        fix = "Point the deployment at an image tag that exists" + (
            f", or roll back: {call('rollout_undo', deployment=deploy, namespace=ns)} (needs approval)"
            if deploy
            else ""
        )
    return make_finding(
        obs,
        "image-pull-failed",
        title,
        lines,
        {"pod": pod, "namespace": ns, "image": image, "cause": cause, "deployment": deploy},
        severity="critical",
        confidence=0.9 if cause else 0.8,
        remediation=fix + ".",
        fixes=[call("rollout_undo", deployment=deploy, namespace=ns)]
        if deploy and cause != "unauthorized"
        else [],
    )


_LOW_ON = re.compile(r"low on resource: (?P<resource>[\w-]+)")


def _evicted(
    obs: Observation, pod: str | None, ns: str, message: str, lines: list[str], *, aged_out: str | None = None
) -> Finding:
    """`aged_out`: the controller that replaced a pod evicted over an hour ago (benign_states.EVICTION_AGED_OUT)."""
    m = _LOW_ON.search(message)
    resource = m.group("resource") if m else None
    return make_finding(
        obs,
        "pod-evicted",
        f"pod {pod or '?'} was evicted by the kubelet"
        + (f": the node ran low on {resource}" if resource else "")
        + (
            f"; no event about it remains (over an hour ago) and {aged_out} replaced it: check the replacement"
            if aged_out
            else ""
        ),
        lines,
        {
            "pod": pod,
            "namespace": ns,
            "resource": resource,
            "message": message[:300],
            "benign": EVICTION_AGED_OUT.name if aged_out else None,
        },
        severity="info" if aged_out else "high",
        confidence=0.9,
        remediation="Give the workload a request/limit for the resource it exhausts"
        + (f" ({resource})" if resource else "")
        + " and stop the runaway use (e.g. local logs/buffers on the "
        "node's disk); delete the Evicted pods once fixed.",
    )


@analyzer
def described_eviction(obs: Observation) -> list[Finding]:
    """`kubectl describe pod` of an evicted pod: Status Failed, Reason Evicted, and the kubelet's message."""
    pod = _describe(obs)
    if pod is None or pod.reason != "Evicted":
        return []
    lines = [pod.lines.get("Reason", ""), pod.lines.get("Message", "")]
    aged_out = pod.controlled_by if EVICTION_AGED_OUT.holds(pod, obs.output) else None
    if aged_out:
        lines.append(pod.lines.get("Controlled By", ""))
    return [_evicted(obs, pod.name, _namespace(obs, pod), pod.message or "", lines, aged_out=aged_out)]


READINESS_PASSING_AFTER = 600
"""The kubelet records an Unhealthy event on every failed probe (every periodSeconds, 10s by default): a readiness
probe with no failure for ten minutes passes again. It only took the pod out of its Service meanwhile; it killed
nothing, so a past burst (a start-up, a load spike that has cleared) is not a cause now."""


def started_fine(pod: PodDescription | None) -> bool:
    """Known-benign: probe failures while a container was starting, and it is Ready now without restarts."""
    if pod is None or not pod.containers:
        return False
    return all(c.get("Ready") == "True" and (c.get("Restart Count") or "0") == "0" for c in pod.containers)


def ready_now(pod: PodDescription | None) -> bool:
    """Every container Ready and the pod Running: a readiness probe that failed before passes now (a readiness
    probe restarts nothing, so restarts, if any, have their own finding)."""
    if pod is None or not pod.containers or pod.status not in (None, "Running"):
        return False
    return all(c.get("Ready") == "True" for c in pod.containers)


def _probe(
    obs: Observation,
    name: str | None,
    ns: str,
    m: re.Match[str],
    e,
    pod: PodDescription | None,
    killed: Collection[str | None] = (),
) -> Finding:
    stopping = PROBE_WHILE_STOPPING.holds(pod, killed, name)
    quiet = (e.last_seen or 0) >= READINESS_PASSING_AFTER
    benign = (
        stopping
        or started_fine(pod)
        or (m.group("probe") == "Readiness" and ready_now(pod))
        or (pod is None and m.group("probe") == "Readiness" and (e.stopped or quiet))
    )
    probe = m.group("probe")
    return make_finding(
        obs,
        "probe-failing",
        f"{probe} probe of {name or 'a pod'} "
        + (
            f"failed while the pod was being stopped ({m.group('detail')})"
            if stopping
            else f"failed while it started ({m.group('detail')}); it is Ready now"
            if benign
            else f"fails: {m.group('detail')}"
        ),
        [e.line],
        {
            "pod": name,
            "namespace": ns,
            "probe": probe.lower(),
            "detail": m.group("detail"),
            "during_startup": (benign and not stopping) or None,
            "benign": PROBE_WHILE_STOPPING.name if stopping else None,
        },
        severity="info" if benign else "medium" if probe == "Readiness" else "high",
        confidence=0.85,
        next_checks=[call("pod_logs", pod=name, namespace=ns)] if name and not benign else [],
    )


@analyzer
def event_problems(obs: Observation) -> list[Finding]:
    """Events (describe's table or `kubectl get events`): pull failures, failing probes, scheduling, OOM."""
    pod = _describe(obs)
    ns = _namespace(obs, pod)
    out: list[Finding] = []
    seen: set[tuple] = set()
    events = parse_events(obs.output)
    scaling = {
        (pod.name if pod else None) or _pod_of_event_object(e.object)
        for e in events
        if e.reason == "TriggeredScaleUp"
    }
    killed = {
        (pod.name if pod else None) or _pod_of_event_object(e.object)
        for e in events
        if e.reason == "Killing" and e.message.startswith("Stopping container")
    }
    for e in events:
        name = (pod.name if pod else None) or _pod_of_event_object(e.object)
        if (m := _PULL_FAILED.search(e.message)) and pod is None and ("pull", m.group("image")) not in seen:
            seen.add(("pull", m.group("image")))
            out.append(
                _pull_finding(
                    obs,
                    name,
                    ns,
                    m.group("image"),
                    _pull_cause(m.group("why")),
                    [e.line],
                    deployment_of(name),
                )
            )
        elif (m := _PROBE.search(e.message)) and (name, m.group("probe")) not in seen:
            seen.add((name, m.group("probe")))
            out.append(_probe(obs, name, ns, m, e, pod, killed))
        elif e.reason == "Evicted" and pod is None and ("evict", name) not in seen:
            seen.add(("evict", name))
            out.append(_evicted(obs, name, ns, e.message, [e.line]))
        elif e.reason == "FailedScheduling" and ("sched", name) not in seen:
            seen.add(("sched", name))
            later = PRESTART_RECOVERED.holds(e, events, pod)
            out.append(_unschedulable(obs, name, ns, e, pod, name in scaling, later))
    return out


_WHY_PENDING = [
    (
        "selector",
        re.compile(r"node affinity|node\(s\) didn't match|selector", re.IGNORECASE),
        "Node-Selectors",
    ),
    ("taint", re.compile(r"untolerated taint|had taint|taint", re.IGNORECASE), "Tolerations"),
    ("volume", re.compile(r"PersistentVolumeClaim|volume node affinity|unbound", re.IGNORECASE), None),
]


def _unschedulable(
    obs: Observation,
    name: str | None,
    ns: str,
    e,
    pod: PodDescription | None,
    scaling: bool = False,
    scheduled_later: bool = False,
) -> Finding:
    """The scheduler's reason, with the pod's own line that it is about (its node selector, its tolerations).
    Known-benign: the cluster autoscaler answered it with a scale-up (the pod waits for the new node), or the
    pod was scheduled and started after it (benign_states.PRESTART_RECOVERED)."""
    if scheduled_later:
        return make_finding(
            obs,
            "pod-unschedulable",
            f"pod {name or '?'} could not be scheduled for a while, then was scheduled and started: {e.message}",
            [e.line],
            {"pod": name, "namespace": ns, "benign": PRESTART_RECOVERED.name},
            severity="info",
            confidence=0.8,
        )
    if scaling:
        return make_finding(
            obs,
            "pod-unschedulable",
            f"pod {name or '?'} waited for a node the cluster autoscaler "
            f"is adding (TriggeredScaleUp): {e.message}",
            [e.line],
            {"pod": name, "namespace": ns, "scale_up": True},
            severity="info",
            confidence=0.8,
        )
    why = [(kind, field) for kind, rx, field in _WHY_PENDING if rx.search(e.message)]
    spec = [pod.lines[f] for _, f in why if pod and f and f in pod.lines]
    volume = any(kind == "volume" for kind, _ in why)
    return make_finding(
        obs,
        "pod-unschedulable",
        f"pod {name or '?'} cannot be scheduled: {e.message}",
        [e.line, *spec],
        {
            "pod": name,
            "namespace": ns,
            "why": [k for k, _ in why] or None,
            "spec": spec[0] if spec else None,
            "described": pod is not None or None,
        },
        severity="high",
        confidence=0.85,
        next_checks=[call("k8s_events", namespace=ns)]
        if volume and obs.tool != "k8s_events"
        else [call("pod_describe", pod=name, namespace=ns)]
        if pod is None and name
        else [],
    )
