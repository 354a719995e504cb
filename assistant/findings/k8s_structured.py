"""`kubectl get pod -o yaml` / `-o json` read as the describe text would be: the same pod, container states
and reasons, so every describe analyzer also reads a pod printed as an object (or a List of them).

Evidence stays exact: each field keeps the output line that holds its value.
"""

from __future__ import annotations

from typing import Any

import yaml

from assistant.findings.k8s_objects import Container, PodDescription
from assistant.findings.logtext import unframe

MAX_OBJECT = 2_000_000
"""Larger outputs are not parsed as objects (a YAML parse is linear, but this keeps a turn cheap)."""

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def looks_structured(text: str) -> bool:
    """A Kubernetes object printed as YAML or JSON (cheap: its first characters)."""
    head = "\n".join(unframe(ln) for ln in text.lstrip()[:400].splitlines()).lstrip()
    return head.startswith(("apiVersion:", "kind:")) or (head.startswith("{") and '"apiVersion"' in head)


def load_pods(text: str) -> list[dict[str, Any]]:
    """The Pod objects in a YAML/JSON output (one Pod, or a List), [] for anything else."""
    if len(text) > MAX_OBJECT or not looks_structured(text):
        return []
    body = "\n".join(unframe(ln) for ln in text.splitlines())
    try:
        doc = yaml.load(body, Loader=_Loader)
    except yaml.YAMLError:
        return []
    if not isinstance(doc, dict):
        return []
    items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else [doc]
    return [i for i in items or [] if isinstance(i, dict) and i.get("kind", "Pod") == "Pod" and "status" in i]


class _Lines:
    """Finds the output line that holds a field's value (the first not used yet, so two containers with the
    same reason each quote their own line)."""

    def __init__(self, text: str) -> None:
        self.lines = [unframe(ln).strip() for ln in text.splitlines()]
        self.used: set[int] = set()

    def of(self, key: str, value: Any) -> str:
        if value in (None, ""):
            return ""
        needle = str(value)[:60]
        for i, ln in enumerate(self.lines):
            if i not in self.used and needle in ln and key in ln:
                self.used.add(i)
                return ln
        return ""


def _state(prefix: str, state: dict[str, Any] | None, c: Container, at: _Lines) -> None:
    for kind in ("waiting", "running", "terminated"):
        s = (state or {}).get(kind)
        if s is None:
            continue
        s = s if isinstance(s, dict) else {}
        c.fields[prefix] = kind.capitalize()
        for key, field in (("reason", "Reason"), ("message", "Message"), ("exitCode", "Exit Code")):
            if s.get(key) is not None:
                c.fields[f"{prefix}.{field}"] = str(s[key]).strip().splitlines()[0] if s[key] != "" else ""
                line = at.of(key, s[key] if key != "message" else str(s[key]).strip().splitlines()[0])
                if line:
                    c.lines[f"{prefix}.{field}"] = line
        if f"{prefix}.Reason" in c.lines:
            c.lines[prefix] = c.lines[f"{prefix}.Reason"]  # `reason: X` says the state too
        return


def describe_pod(pod: dict[str, Any], text: str) -> PodDescription:
    """A Pod object as the describe parser's PodDescription, each field with its own output line."""
    at = _Lines(text)
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    desc = PodDescription(
        name=meta.get("name"),
        namespace=meta.get("namespace"),
        status=status.get("phase"),
        controlled_by=f"{owner.get('kind')}/{owner.get('name')}" if owner else None,
        node=spec.get("nodeName"),
        reason=status.get("reason"),
        message=status.get("message"),
    )
    for key, field in (("reason", "Reason"), ("message", "Message")):
        line = at.of(key, status.get(key))
        if line:
            desc.lines[field] = line
    for kind, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        specs = {c.get("name"): c for c in spec.get("initContainers" if init else "containers") or []}
        for st in status.get(kind) or []:
            c = Container(str(st.get("name")), init=init)
            c.fields["Image"] = str(st.get("image") or specs.get(st.get("name"), {}).get("image") or "")
            c.fields["Ready"] = "True" if st.get("ready") else "False"
            c.fields["Restart Count"] = str(st.get("restartCount", 0))
            if (line := at.of("restartCount", st.get("restartCount"))) and st.get("restartCount"):
                c.lines["Restart Count"] = line
            limit = ((specs.get(st.get("name")) or {}).get("resources") or {}).get("limits", {}).get("memory")
            if limit:
                c.fields["Limits.memory"] = str(limit)
                c.lines["Limits.memory"] = at.of("memory", limit)
            _state("State", st.get("state"), c, at)
            _state("Last State", st.get("lastState"), c, at)
            desc.containers.append(c)
    return desc
