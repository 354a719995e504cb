"""The simulated Kubernetes namespaces of a sandbox scenario.

Pods and events are API-shaped dicts (v1.Pod, v1.Event as YAML) rendered by the
same `tools.render_k8s` functions the live cluster target uses, so a pod's restart
count is one number that `get pods` and `describe pod` both read. Errors read like
kubectl's. Rollout writes change this target's copy only (see sandbox_rollout).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tools.render_host import Rendered
from tools.render_k8s import pod_status_facts, render_events, render_pod_describe, render_pod_list
from tools.scenarios import Namespace

_SEL_TERM = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_.\-/]+)\s*(?:(?P<op>==|=|!=)\s*(?P<val>[A-Za-z0-9_.\-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?\s*$"
)


def _split_selector(selector: str) -> list[str]:
    """Split on commas outside parentheses (`app in (a,b),tier=web`)."""
    parts, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def selector_matches(selector: str | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics: equality, inequality, set-based, existence."""
    if not selector:
        return True
    for term in _split_selector(selector):
        m = _SEL_TERM.match(term)
        if m is None:
            raise ValueError(f'unable to parse requirement: "{term.strip()}"')
        val = labels.get(m["key"])
        if m["setop"]:
            values = {v.strip() for v in m["set"].split(",")}
            ok = val in values if m["setop"] == "in" else val not in values
        elif m["op"]:
            ok = (val == m["val"]) if m["op"] in ("=", "==") else (val != m["val"])
        else:
            ok = (val is None) if m["neg"] else (val is not None)
        if not ok:
            return False
    return True


def not_found(kind: str, name: str) -> Rendered:
    return Rendered(f'Error from server (NotFound): {kind} "{name}" not found\n', 1)


def _tail(text: str, n: int) -> str:
    lines = text.splitlines()
    return "".join(f"{ln}\n" for ln in lines[-n:]) if n else ""


class ClusterState:
    """Mutable per-target copy of the scenario's namespaces."""

    def __init__(self, namespaces: list[Namespace], clock: Callable[[], datetime]) -> None:
        self.namespaces = {ns.name: ns for ns in namespaces}
        self.clock = clock

    def names(self) -> list[str]:
        return sorted(self.namespaces)

    def ns(self, name: str) -> Namespace:
        return self.namespaces.get(name) or Namespace(name=name)

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((p for p in self.ns(namespace).pods if p["metadata"]["name"] == name), None)

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((d for d in self.ns(namespace).deployments if d["metadata"]["name"] == name), None)

    def events_for(self, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.ns(namespace).events
            if name is None or (e.get("involvedObject") or {}).get("name") == name
        ]

    # ------------------------------------------------------------ reads

    def describe(self, namespace: str, name: str) -> tuple[Rendered, dict | None]:
        pod = self.pod(namespace, name)
        if pod is None:
            return not_found("pods", name), None
        events = [
            e for e in self.events_for(namespace, name) if e["involvedObject"].get("kind", "Pod") == "Pod"
        ]
        return Rendered(render_pod_describe(pod, events, self.clock()), 0), pod_status_facts(pod)

    def list_pods(
        self, namespace: str, selector: str | None, all_namespaces: bool = False
    ) -> tuple[Rendered, dict]:
        spaces = self.names() if all_namespaces else [namespace]
        try:
            pods = [
                p
                for name in spaces
                for p in self.ns(name).pods
                if selector_matches(selector, p["metadata"].get("labels") or {})
            ]
        except ValueError as exc:
            return Rendered(f"error: {exc}\n", 1), {}
        text = render_pod_list(pods, self.clock(), namespace, all_namespaces=all_namespaces)
        return Rendered(text, 0), {"pods": [pod_status_facts(p) for p in pods]}

    def events(self, namespace: str, involved: str | None) -> tuple[Rendered, dict]:
        evs = self.events_for(namespace, involved)
        text = render_events(evs, self.clock(), namespace)
        return Rendered(text, 0), {"count": len(evs)}

    def logs(self, namespace: str, name: str, container: str | None, previous: bool, tail: int) -> Rendered:
        """`kubectl logs`: the container's current or previous instance, or kubectl's error for why not."""
        pod = self.pod(namespace, name)
        if pod is None:
            return not_found("pods", name)
        names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
        default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
        cname = container or default or (names[0] if names else "")
        if cname not in names:
            return Rendered(
                f"Error from server (BadRequest): container {cname} is not valid for pod {name}\n", 1
            )
        texts = self.ns(namespace).logs.get(name, {}).get(cname, {})
        status = next(
            (s for s in pod.get("status", {}).get("containerStatuses") or [] if s.get("name") == cname), {}
        )
        if previous:
            if "previous" not in texts and not (status.get("lastState") or {}).get("terminated"):
                return Rendered(
                    f'Error from server (BadRequest): previous terminated container "{cname}" in pod '
                    f'"{name}" not found\n',
                    1,
                )
            return Rendered(_tail(texts.get("previous", ""), tail), 0)
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and "current" not in texts:
            if waiting.get("reason") == "CrashLoopBackOff" and "previous" in texts:
                return Rendered(_tail(texts["previous"], tail), 0)
            why = (
                "trying and failing to pull image"
                if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull")
                else waiting.get("reason", "ContainerCreating")
            )
            return Rendered(
                f'Error from server (BadRequest): container "{cname}" in pod "{name}" is waiting to '
                f"start: {why}\n",
                1,
            )
        return Rendered(_tail(texts.get("current", ""), tail), 0)
