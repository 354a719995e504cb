"""The small text primitives kubectl's output is made of, ported so our text matches it.

Go's text/tabwriter (column blocks, padding), apimachinery's HumanDuration ("3m20s",
"5d"), RFC1123Z times and kubectl's probe summary. Kept apart from the renderers so
each stays small and the primitives can be tested against kubectl on their own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _format_block(
    lines: list[list[str]],
    widths: list[int],
    line0: int,
    line1: int,
    minwidth: int,
    padding: int,
    out: list[str],
) -> None:
    """Go tabwriter's format(): a column block is a run of lines that have a cell in this column."""
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write_lines(lines, widths, line0, this, out)
        line0 = this
        width = minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        widths.append(width)
        _format_block(lines, widths, line0, this, minwidth, padding, out)
        widths.pop()
        line0 = this
    _write_lines(lines, widths, line0, line1, out)


def _write_lines(lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]) -> None:
    for i in range(line0, line1):
        row = []
        for j, cell in enumerate(lines[i]):
            row.append(cell)
            if j < len(widths):
                row.append(" " * (widths[j] - len(cell)))
        out.append("".join(row))


def tabwrite(text: str, minwidth: int = 0, padding: int = 2) -> str:
    """Align tab-separated cells exactly like Go's tabwriter with padchar ' ' and no flags.

    kubectl describe uses (minwidth 0, padding 2); kubectl get/events use (6, 3).
    """
    raw = text.split("\n")
    trailing = raw.pop()  # text after the last newline: written as is, like tabwriter's last line
    lines = [line.split("\t") for line in raw]
    out: list[str] = []
    _format_block(lines, [], 0, len(lines), minwidth, padding, out)
    return "".join(line + "\n" for line in out) + trailing


def human_duration(seconds: float) -> str:
    """apimachinery duration.HumanDuration: the AGE format of kubectl ("45s", "3m20s", "5h", "12d")."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        s = secs % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """An API timestamp ("2024-06-03T10:00:00Z" or MicroTime with fraction) as an aware datetime."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """kubectl's translateTimestampSince: "<unknown>" for a missing time."""
    dt = parse_time(value)
    return human_duration((now - dt).total_seconds()) if dt else "<unknown>"


def rfc1123z(dt: datetime) -> str:
    """Go's time.RFC1123Z ("Mon, 03 Jun 2024 10:00:00 +0000"), in UTC."""
    dt = dt.astimezone(UTC)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{days[dt.weekday()]}, {dt.day:02d} {months[dt.month - 1]} {dt.year:04d} {dt:%H:%M:%S} +0000"


def _go_slice(items: list[Any]) -> str:
    return "[" + " ".join(str(i) for i in items) + "]"


def describe_probe(probe: dict) -> str:
    """kubectl's DescribeProbe: "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3"."""
    attrs = (
        f"delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
        f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
        f"#failure={probe.get('failureThreshold', 3)}"
    )
    if (ex := probe.get("exec")) is not None:
        return f"exec {_go_slice(ex.get('command') or [])} {attrs}"
    if (hg := probe.get("httpGet")) is not None:
        host, port = hg.get("host", ""), str(hg.get("port", ""))
        hostport = (f"[{host}]:{port}" if ":" in host else f"{host}:{port}") if port else host
        scheme = str(hg.get("scheme", "")).lower()
        prefix = f"{scheme}://" if scheme else "//"
        return f"http-get {prefix}{hostport}{hg.get('path', '')} {attrs}"
    if (tcp := probe.get("tcpSocket")) is not None:
        return f"tcp-socket {tcp.get('host', '')}:{tcp.get('port', '')} {attrs}"
    if (grpc := probe.get("grpc")) is not None:
        return f"grpc <pod>:{grpc.get('port', 0)} {grpc.get('service', '')} {attrs}"
    return f"unknown {attrs}"


def controller_of(meta: dict) -> str:
    """The controlling owner as kubectl's "Controlled By" shows it (ReplicaSet/web-6f7d9c8b5); empty if none."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind', '')}/{ref.get('name', '')}"
    return ""


def event_age(e: dict, now: datetime) -> str:
    """kubectl's event interval: "40s (x187 over 46m)" for repeated events, else the age."""
    first = since(e.get("eventTime"), now) if e.get("eventTime") else since(e.get("firstTimestamp"), now)
    series = e.get("series")
    if series:
        return f"{since(series.get('lastObservedTime'), now)} (x{series.get('count', 0)} over {first})"
    if (e.get("count") or 0) > 1:
        return f"{since(e.get('lastTimestamp'), now)} (x{e['count']} over {first})"
    return first
