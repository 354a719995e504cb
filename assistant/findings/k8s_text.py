"""Reading kubectl's text back: `get pods`, `describe pod` and `get events` as engineers see them.

Analyzers and the runbook model only ever have the text, so these parsers are
tolerant of column widths and keep each field's original line for evidence.
"""

from __future__ import annotations

import re

from assistant.findings.k8s_objects import Container, Event, PodDescription, PodRow, seconds
from assistant.findings.k8s_structured import describe_pod, load_pods
from assistant.findings.logtext import unframe

__all__ = ["Container", "Event", "PodDescription", "PodRow", "seconds"]  # the shapes, for existing importers

_ROW = re.compile(
    r"^(?:(?P<ns>[a-z0-9][-a-z0-9]*)\s+)?(?P<name>[a-z0-9][-a-z0-9.]*)\s+(?P<ready>\d+/\d+)\s+(?P<status>[A-Za-z]\S*)\s+"
    r"(?P<restarts>\d+)(?:\s+\((?P<last>[^)]*)\))?\s+(?P<age>\S+)"
)
_DESCRIBE_EVENT = re.compile(
    r"^\s*(?P<type>Normal|Warning)\s+(?P<reason>\S+)\s+(?P<age>\S+(?: \(x\d+ over \S+\))?)\s+"
    r"(?P<source>\S+(?:, \S+)?)\s+(?P<message>.+)$"
)
_GET_EVENT = re.compile(
    r"^\s*(?:(?P<ns>[a-z0-9][-a-z0-9]*)\s+(?=\S+(?: \(x\d+ over \S+\))?\s+(?:Normal|Warning)\s))?(?P<age>\S+(?: \(x\d+ over \S+\))?)\s+(?P<type>Normal|Warning)\s+(?P<reason>\S+)\s+(?P<object>[\w.-]+/[\w.-]+)\s+(?P<message>.+)$"
)


def parse_pod_list(text: str) -> list[PodRow]:
    """Rows of `kubectl get pods`: with or without a NAMESPACE column (-A), -o wide's extra columns, with no
    header at all (a grep'd listing), each line maybe framed as `stdout:`."""
    lines = [unframe(ln) for ln in text.splitlines()]
    header = next((ln.split() for ln in lines if ln.split()[:1] in (["NAME"], ["NAMESPACE"])), None)
    has_ns = None if header is None else header[0] == "NAMESPACE"
    rows = []
    for ln in lines:
        m = _ROW.match(ln.strip())
        if not m or ln.strip().startswith(("NAME ", "NAMESPACE ")):
            continue
        if has_ns is not None and bool(m.group("ns")) != has_ns:
            continue
        rows.append(
            PodRow(
                m.group("name"),
                m.group("ready"),
                m.group("status"),
                int(m.group("restarts")),
                ln.strip(),
                m.group("ns"),
                m.group("age"),
            )
        )
    return rows


_NO_PODS = re.compile(r"^No resources found|^\s*$")


def pod_list_unreadable(text: str) -> bool:
    """Output that is neither pods nor kubectl's 'No resources found': it must not be read as 'no pods'."""
    lines = [unframe(ln) for ln in text.splitlines() if ln.strip()]
    meaningful = [
        ln for ln in lines if not _NO_PODS.match(ln.strip()) and not ln.strip().startswith(("NAME", "#"))
    ]
    return bool(meaningful) and not parse_pod_list(text)


_HEADER_CELL = re.compile(r"\S+(?: \S+)*")
_EVENT_ID = re.compile(r"\.[0-9a-f]{8,}$")


def _event_columns(line: str) -> list[tuple[str, int]] | None:
    """Column names and start offsets of a `kubectl get events` header (any kubectl version, -A, -o wide)."""
    if "REASON" not in line or "TYPE" not in line:
        return None
    cols = [(m.group(0), m.start()) for m in _HEADER_CELL.finditer(line)]
    names = {n for n, _ in cols}
    return cols if {"TYPE", "REASON", "MESSAGE"} <= names else None


def _event_by_columns(line: str, cols: list[tuple[str, int]]) -> Event | None:
    """One row read by the header's offsets (kubectl's tabwriter starts every cell where its header starts)."""
    cells = {}
    for i, (name, start) in enumerate(cols):
        end = cols[i + 1][1] if i + 1 < len(cols) else None
        if start > 0 and line[start - 1 : start] not in (" ", "\t"):
            return None  # the row is not aligned to this header
        cells[name] = line[start:end].strip()
    if cells.get("TYPE") not in ("Normal", "Warning") or not cells.get("REASON"):
        return None
    obj = cells.get("OBJECT")
    if not obj and cells.get("KIND") and cells.get("NAME"):  # kubectl before 1.14: KIND and the event's NAME
        obj = f"{cells['KIND'].lower()}/{_EVENT_ID.sub('', cells['NAME'])}"
    age = cells.get("LAST SEEN", "")
    if cells.get("COUNT", "").isdigit() and int(cells["COUNT"]) > 1 and cells.get("FIRST SEEN"):
        age = f"{age} (x{cells['COUNT']} over {cells['FIRST SEEN']})"
    return Event(cells["TYPE"], cells["REASON"], cells.get("MESSAGE", ""), line.strip(), obj or None, age)


def parse_events(text: str) -> list[Event]:
    """Events from a describe's Events table or from `kubectl get events` / `kubectl events`: with or without
    a NAMESPACE column, -o wide's extra columns, kubectl's old column set, or no header (a grep'd listing)."""
    out: list[Event] = []
    if "Normal" not in text and "Warning" not in text:
        return out
    cols: list[tuple[str, int]] | None = None
    for ln in text.splitlines():
        ln = unframe(ln).rstrip()
        header = _event_columns(ln)
        if header:
            cols = header
            continue
        if not ln.strip():
            continue
        e = _event_by_columns(ln, cols) if cols else None
        if e is None and (m := _GET_EVENT.match(ln) or _DESCRIBE_EVENT.match(ln)):
            g = m.groupdict()
            e = Event(
                g["type"],
                g["reason"],
                g["message"].strip(),
                ln.strip(),
                g.get("object"),
                (g.get("age") or "").strip(),
            )
        if e is not None:
            out.append(e)
    return out


def parse_describe(text: str) -> PodDescription | None:
    """`kubectl describe pod` text: top fields, containers (State/Last State/Limits...) and events."""
    lines = text.splitlines()
    if not any(ln.startswith("Name:") for ln in lines):
        pods = load_pods(text)  # `kubectl get pod -o yaml|json`: the same facts, read from the object
        return describe_pod(pods[0], text) if pods else None
    pod = PodDescription()
    section = None
    for ln in lines:
        if not ln.strip():
            continue
        indent = len(ln) - len(ln.lstrip())
        if indent == 0 and section is not None and not _top_key(ln):
            continue  # a multi-line termination message goes on at column 0: still the same field
        if indent == 0:
            key, _, value = ln.partition(":")
            section = key.strip()
            pod.lines.setdefault(section, ln.strip())
            _top_field(pod, section, value.strip())
        elif section in ("Containers", "Init Containers"):
            before = len(pod.containers)
            _container_line(pod, ln, indent)
            if len(pod.containers) > before:
                pod.containers[-1].init = section == "Init Containers"
    pod.events = parse_events("\n".join(lines[_events_start(lines) :]))
    return pod


_TOP_NAMES = {
    "Name",
    "Namespace",
    "Priority",
    "Priority Class Name",
    "Runtime Class Name",
    "Service Account",
    "Node",
    "Start Time",
    "Labels",
    "Annotations",
    "Status",
    "Reason",
    "Message",
    "SeccompProfile",
    "AppArmor Profile",
    "IP",
    "IPs",
    "Controlled By",
    "Init Containers",
    "Containers",
    "Ephemeral Containers",
    "Readiness Gates",
    "Conditions",
    "Volumes",
    "QoS Class",
    "Node-Selectors",
    "Tolerations",
    "Events",
    "Termination Grace Period",
    "Nominated Node Name",
    "Scheduling Gates",
    "Resource Claims",
    "Topology Spread Constraints",
}
_ALIGNED_KEY = re.compile(r"^[A-Z][\w-]*(?: [A-Z][\w-]*)*:(?:\s{2,}|\t|$)")


def _top_key(line: str) -> bool:
    """A describe top-level field (`Status:  Running`, `Events:`), not a line of a multi-line message that
    kubectl printed at column 0 (a panic, a traceback, `ValueError: ...`)."""
    key = line.split(":", 1)[0]
    return key in _TOP_NAMES or bool(_ALIGNED_KEY.match(line))


def _top_field(pod: PodDescription, key: str, value: str) -> None:
    if key == "Name":
        pod.name = value
    elif key == "Namespace":
        pod.namespace = value
    elif key == "Status":
        pod.status = value
    elif key == "Controlled By":
        pod.controlled_by = value
    elif key == "Node":
        pod.node = value.split("/", 1)[0] if value and value != "<none>" else None
    elif key == "Reason":
        pod.reason = value
    elif key == "Message":
        pod.message = value


def _container_line(pod: PodDescription, ln: str, indent: int) -> None:
    """Containers sit at the section's first indent, their fields deeper, sub-fields (Reason, Exit Code) deeper."""
    text = ln.strip()
    if not pod.containers or indent <= pod.containers[0].indent:
        if re.fullmatch(r"[\w.-]+:", text):
            pod.containers.append(Container(text[:-1], indent=indent))
        return
    c = pod.containers[-1]
    key, _, value = text.partition(":")
    key, value = key.strip(), value.strip()
    if c.field_indent is None:
        c.field_indent = indent
    if indent <= c.field_indent:
        c.parent = key
        full = key
    else:
        full = f"{c.parent}.{key}"
    c.fields.setdefault(full, value)
    c.lines.setdefault(full, text)


def _events_start(lines: list[str]) -> int:
    for i, ln in enumerate(lines):
        if ln.startswith("Events:"):
            return i + 1
    return len(lines)


def deployment_of(pod: str | None, controlled_by: str | None = None) -> str | None:
    """The Deployment behind a pod name like web-7d9f8c6b5-x2k4p (or its ReplicaSet/web-7d9f8c6b5)."""
    if controlled_by and controlled_by.startswith("ReplicaSet/"):
        m = re.match(r"^(.*)-[a-z0-9]{5,10}$", controlled_by.split("/", 1)[1])
        if m:
            return m.group(1)
    if pod:
        m = re.match(r"^(.*)-([a-z0-9]{5,10})-[a-z0-9]{5}$", pod)
        if m and _hashlike(m.group(2)):
            return m.group(1)
    return None


def _hashlike(segment: str) -> bool:
    """A pod-template hash: Kubernetes spells it without vowels, and hand-written ones are hex with digits; a word
    such as 'exporter' (node-exporter-8k2lp, a DaemonSet pod) is part of the name."""
    return bool(re.search(r"\d", segment)) or not re.search(r"[aeiou]", segment)
