"""What kubectl shows about pods and events, as plain shapes: the text parsers (`k8s_text`) and the
object reader (`k8s_structured`) both build them, so neither needs the other's module."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class PodRow:
    name: str
    ready: str
    status: str
    restarts: int
    line: str
    namespace: str | None = None
    age: str = ""

    @property
    def healthy(self) -> bool:
        have, want = (int(x) for x in self.ready.split("/"))
        return self.status == "Completed" or (self.status == "Running" and have == want)


@dataclass
class Event:
    type: str
    reason: str
    message: str
    line: str
    object: str | None = None
    age: str = ""

    @property
    def last_seen(self) -> float | None:
        """Seconds since the event last occurred (its LAST SEEN / Age column), when the output says."""
        m = re.match(r"^(\S+)", self.age)
        return seconds(m.group(1)) if m else None

    @property
    def stopped(self) -> bool:
        """A burst that is over: last seen minutes ago, and it lasted only a short while (start-up noise)."""
        m = re.match(r"^(\S+)(?: \(x\d+ over (\S+)\))?$", self.age)
        last = seconds(m.group(1)) if m else None
        span = seconds(m.group(2)) if m and m.group(2) else last
        return last is not None and span is not None and last >= 120 and span - last <= 180


def seconds(age: str) -> int | None:
    """kubectl's human duration ("6m52s", "3h", "2d4h") in seconds; None if it is not one."""
    parts = re.findall(r"(\d+)([smhdy])", age)
    if not parts or "".join(n + u for n, u in parts) != age:
        return None
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 31536000}
    return sum(int(n) * unit[u] for n, u in parts)


@dataclass
class Container:
    name: str
    indent: int = 2
    field_indent: int | None = None
    parent: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)
    init: bool = False
    """An init container (it must finish before the others start)."""

    def get(self, key: str) -> str | None:
        return self.fields.get(key)


@dataclass
class PodDescription:
    name: str | None = None
    namespace: str | None = None
    status: str | None = None
    controlled_by: str | None = None
    node: str | None = None
    """The node the pod was placed on (`Node: NAME/IP`; `spec.nodeName`), None before it is scheduled."""
    reason: str | None = None
    message: str | None = None
    containers: list[Container] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    lines: dict[str, str] = field(default_factory=dict)
