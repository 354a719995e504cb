"""Known-benign states: objects (pods, containers, units) whose fields look like a failure but are not one.

The structural counterpart of benign.py (which classifies single lines): each rule names the state, why a
senior SRE would not call it a fault, and the test on the parsed object. The analyzers that read the
structure (kubernetes.py, services.py) consult these and report the state at severity info, with the evidence that
shows it is over, instead of as a fault. Each rule is proven in tests/test_findings_benign_states.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from assistant.findings.k8s_text import Container, Event, PodDescription, PodRow, seconds


@dataclass(frozen=True)
class BenignState:
    name: str
    why: str
    holds: Callable[..., Any]


RUNTIME_LOST_REASONS = frozenset({"Unknown", "ContainerStatusUnknown"})
MAX_RUNTIME_RESTARTS = 3
"""More restarts than this with an Unknown last state is a node or runtime that keeps failing, not one reboot."""

SETTLED_AFTER = 3600
"""A replacement Ready for longer than this (the default event TTL, 1h) means the disruption is over."""

_CONTROLLERS = ("ReplicaSet/", "StatefulSet/", "DaemonSet/", "Job/")
_NO_EVENTS = re.compile(r"^\s*Events:\s*<none>\s*$", re.MULTILINE)


def _runtime_restart(c: Container) -> bool:
    restarts = c.get("Restart Count") or "0"
    return (
        c.get("State") == "Running"
        and c.get("Ready") == "True"
        and c.get("Last State") == "Terminated"
        and (c.get("Last State.Reason") or "") in RUNTIME_LOST_REASONS
        and restarts.isdigit()
        and 0 < int(restarts) <= MAX_RUNTIME_RESTARTS
    )


def _owner(name: str) -> str:
    return re.sub(r"-[a-z0-9]{5}$", "", name)


def _replaced(row: PodRow, rows: list[PodRow]) -> list[PodRow]:
    """The Ready siblings that show an evicted pod was replaced long ago; empty when that is not shown."""
    owner = _owner(row.name)
    if owner == row.name:
        return []
    siblings = [r for r in rows if r is not row and r.status != "Evicted" and _owner(r.name) == owner]
    settled = [r for r in siblings if r.healthy and (seconds(r.age) or 0) >= SETTLED_AFTER]
    return settled if siblings and len(settled) == len(siblings) else []


def _eviction_aged_out(pod: PodDescription, text: str) -> bool:
    return (
        pod.reason == "Evicted"
        and (pod.controlled_by or "").startswith(_CONTROLLERS)
        and not pod.events
        and bool(_NO_EVENTS.search(text))
    )


_CONDITION_UNMET = re.compile(r"^\s*Condition: start condition (?:failed|unmet)\b", re.MULTILINE)
_TRIGGERED = re.compile(r"^\s*TriggeredBy: .*\.(?:timer|path)\b", re.MULTILINE)
_UNIT_FAILED = re.compile(r"status=[1-9]|Failed with result|Failed to start")


def _skipped_by_condition(status: str, state: str) -> bool:
    return (
        state.startswith("inactive")
        and bool(_CONDITION_UNMET.search(status))
        and bool(_TRIGGERED.search(status))
        and not _UNIT_FAILED.search(status)
    )


def _stopping(pod: PodDescription | None, killed: Collection[str | None], name: str | None) -> bool:
    return bool(pod and (pod.status or "").startswith("Terminating")) or (name is not None and name in killed)


PRESTART_REASONS = frozenset(
    {"FailedScheduling", "FailedCreatePodSandBox", "FailedMount", "FailedAttachVolume", "NetworkNotReady"}
)
"""Warnings about getting a pod started (a node, a sandbox, a volume): over once its containers started."""


def _last_seen(e: Event) -> int | None:
    return seconds(e.age.split(" ", 1)[0]) if e.age else None


def _prestart_recovered(e: Event, events: list[Event], pod: PodDescription | None) -> bool:
    if e.reason not in PRESTART_REASONS:
        return False
    if pod is not None:  # described: Ready now, and the warning a burst that is over (not still repeating)
        return (
            e.stopped
            and bool(pod.containers)
            and all(c.get("Ready") == "True" for c in pod.containers if not c.init)
        )
    last = _last_seen(e)
    done = {"Scheduled", "Started"} if e.reason == "FailedScheduling" else {"Started"}
    return last is not None and any(
        o.object == e.object and o.reason in done and (s := _last_seen(o)) is not None and s <= last
        for o in events
        if o is not e
    )


RUNTIME_RESTART = BenignState(
    "runtime-restart",
    "a container whose last run ended with reason Unknown (exit 255/137: the node rebooted or the container "
    "runtime restarted and lost it), restarted a few times at most, and is Running and Ready now: the restart "
    "was the node's, not a crash of the application",
    _runtime_restart,
)
EVICTED_AND_REPLACED = BenignState(
    "evicted-and-replaced",
    "an Evicted pod left in a listing whose controller's other pods are all Running and Ready, each for over an "
    "hour: its replacement was created when it was evicted, so the eviction is over an hour old and healed; the "
    "Failed pod object stays until it is garbage-collected",
    _replaced,
)
EVICTION_AGED_OUT = BenignState(
    "eviction-aged-out",
    "an Evicted pod owned by a controller whose describe shows no events: the Evicted event has expired "
    "(events live an hour by default), so the eviction is old, and the controller created a replacement then",
    _eviction_aged_out,
)

CONDITION_SKIPPED = BenignState(
    "timer-skipped-by-condition",
    "a unit started by a timer or path unit that systemd skipped because its own Condition*= was not met "
    "(fstrim in a container, a job gated on a flag file): by design, not a failure; a service nobody "
    "triggers that is skipped is still reported, since then nothing runs it",
    _skipped_by_condition,
)
PROBE_WHILE_STOPPING = BenignState(
    "probe-while-stopping",
    "probe failures of a pod that is being terminated (describe says Terminating, or the kubelet's Killing "
    "event says `Stopping container`, as in a rollout or scale-down): the application is shutting down",
    _stopping,
)

PRESTART_RECOVERED = BenignState(
    "prestart-recovered",
    "a warning about getting a pod started (no node fit yet, sandbox/CNI, a volume mount or attach) followed by "
    "the pod being scheduled and its containers starting (a later Scheduled/Started event for the same pod, or "
    "describe showing every container Ready): a transient that resolved itself",
    _prestart_recovered,
)

STATES: list[BenignState] = [
    PRESTART_RECOVERED,
    RUNTIME_RESTART,
    EVICTED_AND_REPLACED,
    EVICTION_AGED_OUT,
    CONDITION_SKIPPED,
    PROBE_WHILE_STOPPING,
]
