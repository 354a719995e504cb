"""Times written inside tool output: ISO 8601, syslog, nginx, Apache, RFC 2822 and kubectl ages.

The incident happened on the target's clock, not the chat's: these are the times the evidence
itself states. Syslog omits the year (taken from another stamp in the same output, else from
when the command ran); a kubectl age ("46m", "3m (x4 over 5m)") counts back from when the
command ran, so it is marked approximate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_MON = r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_HMS = r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)"
_ZONE = r"(?:\s?(?P<z>Z|UTC|GMT|[+-]\d\d:?\d\d))?"
_ISO = re.compile(r"\b(?P<y>20\d\d)[-/](?P<mo>\d\d)[-/](?P<d>\d\d)[T ]" + _HMS + r"(?:[.,]\d+)?" + _ZONE)
_APACHE = re.compile(r"\b(?P<d>\d\d)/" + _MON + r"/(?P<y>20\d\d):" + _HMS + _ZONE)
_RFC2822 = re.compile(r"\b(?P<d>\d{1,2}) " + _MON + r" (?P<y>20\d\d) " + _HMS + _ZONE)
_SYSLOG = re.compile(r"(?:^|(?<=\s)|(?<=\[))" + _MON + r"\s+(?P<d>\d{1,2}) " + _HMS + r"\b")
_AGE = r"\d+[smhd](?:\d+[smh])?"
_EVENT_ROW = re.compile(r"^\s*(?P<age>" + _AGE + r")\s+(?:Normal|Warning)\s")
_DESCRIBE_EVENT = re.compile(
    r"^\s*(?:Normal|Warning)\s+\S+\s+(?P<age>" + _AGE + r")(?:\s+\(x\d+ over (?P<first>" + _AGE + r")\))?\s"
)


@dataclass(frozen=True)
class Stamp:
    at: datetime
    approx: bool = False
    """Counted back from a kubectl age: minutes precise at best."""


def _zone(z: str | None) -> timezone:
    if not z or z in ("Z", "UTC", "GMT"):
        return UTC
    sign = 1 if z[0] == "+" else -1
    digits = z[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _make(y: int, mo: int, d: int, m: re.Match[str]) -> datetime | None:
    try:
        local = datetime(y, mo, d, int(m.group("h")), int(m.group("mi")), int(m.group("s")))
    except ValueError:
        return None
    return local.replace(tzinfo=_zone(m.groupdict().get("z"))).astimezone(UTC)


def year_hint(text: str) -> int | None:
    """The year of the first fully dated stamp in `text` (for syslog lines next to it)."""
    m = _ISO.search(text) or _RFC2822.search(text) or _APACHE.search(text)
    return int(m.group("y")) if m else None


def age(text: str) -> timedelta | None:
    """`46m`, `2m30s`, `3h`, `2d` as a duration."""
    total, units = timedelta(), {"s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    for n, u in parts:
        total += timedelta(seconds=int(n) * units[u])
    return total


def _absolute(line: str, year: int, ran_at: datetime) -> datetime | None:
    for rx in (_ISO, _RFC2822, _APACHE):
        m = rx.search(line)
        if m:
            mo = int(m.group("mo")) if "mo" in m.groupdict() else MONTHS[m.group("mon").lower()]
            return _make(int(m.group("y")), mo, int(m.group("d")), m)
    m = _SYSLOG.search(line)
    if m is None:
        return None
    at = _make(year, MONTHS[m.group("mon").lower()], int(m.group("d")), m)
    if at is not None and at > ran_at + timedelta(days=2):  # "Dec 31" read in January: last year
        at = _make(year - 1, MONTHS[m.group("mon").lower()], int(m.group("d")), m)
    return at


def stamp(line: str, year: int, ran_at: datetime) -> Stamp | None:
    """When `line` says it happened: its own timestamp, else its kubectl age counted back from `ran_at`."""
    at = _absolute(line, year, ran_at)
    if at is not None:
        return Stamp(at)
    m = _EVENT_ROW.match(line) or _DESCRIBE_EVENT.match(line)
    if m is None:
        return None
    first = m.groupdict().get("first")
    ago = age(first or m.group("age"))
    return Stamp(ran_at - ago, approx=True) if ago is not None else None
