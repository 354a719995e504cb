"""Reading `df` and `free` back as they really print: with or without a Type column, `-h` units per
cell, a device name too long for its column (df wraps the row), `df -P`'s Capacity, procps' old
`-/+ buffers/cache` row, and every line maybe framed as `stdout:`.

Each row keeps its original line for evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.findings.logtext import unframe

_PCT = re.compile(r"^(?:\d{1,3}%|-)$")


@dataclass(frozen=True)
class DfRow:
    device: str
    percent: int | None
    """Use% (or IUse%); None when df prints '-' (a filesystem without a fixed inode table)."""
    mount: str
    inodes: bool
    line: str
    """The row as printed (for a wrapped row: its second line, which holds the figures)."""
    device_line: str | None = None
    """A wrapped row's first line (the device name alone)."""


def parse_df(text: str) -> list[DfRow]:
    """Rows of `df`, `df -h`, `df -hT`, `df -i`, `df -P`, several tables one after the other, no header."""
    rows: list[DfRow] = []
    if "%" not in text and " - /" not in text:
        return rows
    inodes = False
    pending: str | None = None
    for raw in text.splitlines():
        ln = unframe(raw).rstrip()
        cells = ln.split()
        if not cells:
            pending = None
            continue
        if "Mounted on" in ln or cells[0] == "Filesystem":
            inodes = "IUse%" in ln or "Inodes" in ln
            pending = None
            continue
        if len(cells) == 1 and (cells[0].startswith("/") or ":" in cells[0]):
            pending = cells[0]  # a long device name: df wraps and prints the figures on the next line
            continue
        wrapped = pending if pending and ln[:1].isspace() else None
        if wrapped:
            cells = [wrapped, *cells]
        pending = None
        at = next((i for i, c in enumerate(cells) if i >= 2 and _PCT.match(c)), None)
        if at is None or at + 1 >= len(cells) or not cells[at + 1].startswith("/"):
            continue
        pct = cells[at]
        rows.append(
            DfRow(
                device=cells[0],
                percent=None if pct == "-" else int(pct[:-1]),
                mount=" ".join(cells[at + 1 :]),
                inodes=inodes,
                line=ln.strip(),
                device_line=wrapped,
            )
        )
    return rows


_UNIT = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}
_AMOUNT = re.compile(r"^(?P<n>\d+(?:[.,]\d+)?)(?P<u>[BKMGTP]?)(?:i|iB|B)?$")


def amount(cell: str) -> float | None:
    """'7.6Gi', '180Mi', '0B', '1967' (a plain number keeps the table's unit) as a comparable number."""
    m = _AMOUNT.match(cell)
    if not m:
        return None
    return float(m.group("n").replace(",", ".")) * _UNIT[m.group("u")]


@dataclass(frozen=True)
class Memory:
    total: str
    available: str
    ratio: float
    """available / total."""
    line: str
    also: str | None = None
    """procps' old `-/+ buffers/cache` row, when that is where the available figure came from."""


def parse_free(text: str) -> Memory | None:
    """`free`, `free -m`, `free -h` (a unit per cell) and procps < 3.3.10 (no `available`: the
    `-/+ buffers/cache` row's free column, or free + buffers + cached)."""
    if "Mem:" not in text:
        return _meminfo(text) if "MemAvailable:" in text else None
    header: list[str] | None = None
    mem: tuple[list[str], str] | None = None
    buffers_row: list[str] | None = None
    buffers_line: str | None = None
    for raw in text.splitlines():
        ln = unframe(raw).strip()
        cells = ln.split()
        if "total" in cells and "used" in cells and "free" in cells:
            header = cells
        elif cells[:1] == ["Mem:"]:
            mem = (cells[1:], ln)
        elif cells[:2] == ["-/+", "buffers/cache:"]:
            buffers_row, buffers_line = cells[2:], ln
    if mem is None:
        return None
    values, line = mem
    names = header or ["total", "used", "free", "shared", "buff/cache", "available"]
    cell = dict(zip(names, values, strict=False))
    total = cell.get("total")
    avail = cell.get("available")
    also = None
    if avail is None and buffers_row and len(buffers_row) >= 2:
        avail, also = buffers_row[1], buffers_line
    if avail is None and all(k in cell for k in ("free", "buffers", "cached")):
        parts = [amount(cell[k]) for k in ("free", "buffers", "cached")]
        if None not in parts:
            avail = str(int(sum(p for p in parts if p is not None)))
    t, a = amount(total or ""), amount(avail or "")
    if t is None or a is None or t <= 0:
        return None
    return Memory(total=total or "", available=avail or "", ratio=a / t, line=line, also=also)


_MEMINFO = re.compile(r"^(MemTotal|MemAvailable):\s+(\d+) kB\s*$")


def _meminfo(text: str) -> Memory | None:
    """`/proc/meminfo`: MemAvailable against MemTotal."""
    found: dict[str, tuple[int, str]] = {}
    for raw in text.splitlines():
        ln = unframe(raw).strip()
        m = _MEMINFO.match(ln)
        if m:
            found[m.group(1)] = (int(m.group(2)), ln)
    if "MemTotal" not in found or "MemAvailable" not in found or not found["MemTotal"][0]:
        return None
    (total, tline), (avail, aline) = found["MemTotal"], found["MemAvailable"]
    return Memory(total=f"{total} kB", available=f"{avail} kB", ratio=avail / total, line=aline, also=tline)
