"""Command output -> `tools.facts`: the text of systemctl, ss, ps, df, /proc and getent, read back.

Where a host's facts come from running a command (the `local` target with systemd, an
SSH host always), this is the one parser for that command's output. The facts are then
rendered by `tools.render_host` like everywhere else, so a finding reads the same lines
whichever target produced them. Every parser takes the exact argv it expects from
`tools.host.argv` and tolerates lines it does not understand (skipped, never guessed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tools.facts import CpuPercent, DnsFacts, FilesystemFacts, HostFacts, ProcessFacts, SocketFacts
from tools.host.gather import ps_time

# ---------------------------------------------------------------- systemctl status

_ACTIVE = re.compile(r"^\s*Active: (\S+)(?: \((?!Result:)([^)]*)\))?(?: \(Result: ([^)]*)\))?", re.MULTILINE)
_MAIN_PID = re.compile(r"^\s*Main PID: (\d+)", re.MULTILINE)
_LOADED = re.compile(r"^\s*Loaded: (\S+)", re.MULTILINE)


def parse_systemctl_status(text: str) -> dict[str, Any]:
    """The state fields of real `systemctl status` output, for findings."""
    active, main_pid, loaded = _ACTIVE.search(text), _MAIN_PID.search(text), _LOADED.search(text)
    return {
        "loaded": loaded.group(1) if loaded else None,
        "active": active.group(1) if active else None,
        "sub": (active.group(2) or active.group(1)) if active else None,
        "result": active.group(3) if active else None,
        "main_pid": int(main_pid.group(1)) if main_pid else None,
    }


# ---------------------------------------------------------------- ss -Hl[tu]np

_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\)')


def _split_address(text: str) -> tuple[str, int | None]:
    """`127.0.0.1:80`, `[::]:80`, `*:80`, `127.0.0.53%lo:53`, `0.0.0.0:*` -> (address, port)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]").split("%", 1)[0]
    if host == "*":
        host = "0.0.0.0"
    return host, int(port) if port.isdigit() else None


def parse_ss(text: str, protocol: str) -> list[SocketFacts]:
    """`ss -H -l{t,u}np 'sport = :PORT'` rows -> one SocketFacts per (socket, owning process)."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5 or not parts[1].isdigit():
            continue
        state, recv_q, send_q, local, peer = parts[:5]
        address, port = _split_address(local)
        peer_address, peer_port = _split_address(peer)
        if port is None:
            continue
        common: dict[str, Any] = {
            "protocol": protocol,
            "state": state,
            "recv_q": int(recv_q),
            "send_q": int(send_q),
            "local_address": address,
            "local_port": port,
            "peer_address": None if peer_address in ("0.0.0.0", "::") else peer_address,
            "peer_port": peer_port,
        }
        users = _USER.findall(parts[5]) if len(parts) > 5 else []
        if not users:
            out.append(SocketFacts(**common))
        for name, pid, fd in users:
            out.append(SocketFacts(**common, process=name.replace('\\"', '"'), pid=int(pid), fd=int(fd)))
    return sorted(out, key=lambda s: (":" in s.local_address, s.pid or 0, s.fd or 0))


# ---------------------------------------------------------------- ps -eo ...

PS_FIELDS = "pid=,ppid=,user:32=,pcpu=,pmem=,vsz=,rss=,tty=,stat=,start_time=,cputimes=,nlwp=,lstart=,args="
"""One row per process; `lstart` is five words, `args` the rest of the line."""


@dataclass
class PsRow:
    """A process as `ps` reports it: the `ps aux` row plus what a service summary needs."""

    facts: ProcessFacts
    started: datetime | None
    threads: int
    cpu_s: float


def _lstart(words: list[str]) -> datetime | None:
    """`Wed Dec  2 14:35:51 2026`, printed under TZ=UTC (see `tools.host.argv.QUIET_ENV`)."""
    try:
        return datetime.strptime(" ".join(words), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _ps_row(line: str) -> PsRow | None:
    parts = line.split(None, 17)
    if len(parts) < 17 or not parts[0].isdigit():
        return None
    pid, ppid, user, pcpu, pmem, vsz, rss, tty, stat, start, cputimes, nlwp = parts[:12]
    args = parts[17] if len(parts) > 17 else ""
    try:
        cpu_s = float(cputimes)
        facts = ProcessFacts(
            pid=int(pid),
            ppid=int(ppid),
            user=user,
            cpu_percent=float(pcpu),
            mem_percent=float(pmem),
            vsz_kb=int(vsz),
            rss_kb=int(rss),
            tty=tty,
            stat=stat,
            start=start,
            time=ps_time(cpu_s),
            cmdline=args,
            name=_comm(args),
        )
    except ValueError:
        return None
    return PsRow(
        facts=facts, started=_lstart(parts[12:17]), threads=int(nlwp) if nlwp.isdigit() else 1, cpu_s=cpu_s
    )


def _comm(args: str) -> str:
    first = args.split(None, 1)[0] if args else ""
    return first.strip("[]").rsplit("/", 1)[-1].split(":", 1)[0]


def parse_ps(text: str) -> list[PsRow]:
    """`ps -eo PS_FIELDS -ww` -> rows in pid order; lines that are not a row are skipped."""
    rows = [row for line in text.splitlines() if (row := _ps_row(line)) is not None]
    return sorted(rows, key=lambda r: r.facts.pid)


# ---------------------------------------------------------------- df

DF_FIELDS = "source,fstype,size,used,avail,pcent,itotal,iused,iavail,ipcent,target"


def _percent(text: str) -> int | None:
    return int(text.rstrip("%")) if text.rstrip("%").isdigit() else None


def _count(text: str) -> int:
    return int(text) if text.isdigit() else 0


def parse_df(text: str) -> list[FilesystemFacts]:
    """`df -B1 --output=DF_FIELDS -- PATH` (header, then one row; the mount point may hold spaces)."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split(None, 10)
        if len(parts) < 11 or not parts[2].isdigit():
            continue
        source, fstype, size, used, avail, pcent, itotal, iused, iavail, ipcent, target = parts
        out.append(
            FilesystemFacts(
                filesystem=source,
                fstype=fstype,
                size=int(size),
                used=int(used),
                avail=int(avail),
                use_percent=_percent(pcent),
                mounted_on=target,
                inodes_total=_count(itotal),
                inodes_used=_count(iused),
                inodes_free=_count(iavail),
                inodes_use_percent=_percent(ipcent),
            )
        )
    return out


# ---------------------------------------------------------------- /proc/loadavg /proc/uptime /proc/meminfo /proc/stat


def _cpu_ticks(text: str) -> list[int] | None:
    line = next((x for x in text.splitlines() if x.startswith("cpu ")), None)
    return [int(v) for v in line.split()[1:9]] if line else None


def cpu_percent(before: str, after: str) -> CpuPercent:
    """top's split of CPU time between two reads of /proc/stat."""
    a, b = _cpu_ticks(before), _cpu_ticks(after)
    if not a or not b:
        return CpuPercent()
    delta = [max(0, y - x) for x, y in zip(a, b, strict=False)] + [0] * (8 - len(a))  # older kernels: fewer
    total = sum(delta) or 1
    user, nice, system, idle, iowait, irq, softirq, steal = (100 * d / total for d in delta[:8])
    return CpuPercent(
        user=user,
        nice=nice,
        system=system,
        idle=idle if sum(delta) else 100.0,
        iowait=iowait,
        irq=irq,
        softirq=softirq,
        steal=steal,
    )


def _meminfo(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        words = rest.split()
        if sep and words and words[0].isdigit():
            out[key.strip()] = int(words[0]) * (1024 if len(words) > 1 and words[1] == "kB" else 1)
    return out


def parse_host(proc_text: str, stat_after: str, *, hostname: str, now: float, users: int) -> HostFacts:
    """`cat /proc/loadavg /proc/uptime /proc/meminfo /proc/stat` and a second /proc/stat -> HostFacts.

    Memory is split the way psutil splits it on the local target (used = total - free - buffers - cache).
    """
    lines = proc_text.splitlines()
    load = [float(x) for x in lines[0].split()[:3]] if lines else [0.0, 0.0, 0.0]
    uptime = float(lines[1].split()[0]) if len(lines) > 1 and lines[1].split() else 0.0
    mem = _meminfo(proc_text)
    cached = mem.get("Cached", 0) + mem.get("SReclaimable", 0)
    total, free, buffers = mem.get("MemTotal", 0), mem.get("MemFree", 0), mem.get("Buffers", 0)
    used = total - free - buffers - cached
    swap_total, swap_free = mem.get("SwapTotal", 0), mem.get("SwapFree", 0)
    cpus = sum(1 for x in proc_text.splitlines() if re.match(r"cpu\d+ ", x))
    return HostFacts(
        hostname=hostname,
        now=datetime.fromtimestamp(now, UTC),
        uptime_s=uptime,
        users=users,
        load=(load[0], load[1], load[2]),
        cpu_count=cpus or 1,
        cpu=cpu_percent(proc_text, stat_after),
        mem_total=total,
        mem_used=used if used >= 0 else total - free,
        mem_free=free,
        mem_shared=mem.get("Shmem", 0),
        mem_buff_cache=buffers + cached,
        mem_available=mem.get("MemAvailable", free),
        swap_total=swap_total,
        swap_used=swap_total - swap_free,
        swap_free=swap_free,
    )


# ---------------------------------------------------------------- getent ahosts / getent hosts


def parse_getent(name: str, text: str, exit_code: int, reverse: bool) -> DnsFacts:
    """`getent ahosts NAME` (or `getent hosts IP` for a reverse lookup): exit 2 means the name is unknown."""
    if exit_code == 2:
        return DnsFacts(name=name, status="NXDOMAIN")
    if exit_code != 0:
        return DnsFacts(name=name, status="SERVFAIL")
    rows = [line.split() for line in text.splitlines() if line.split()]
    if reverse:
        return DnsFacts(name=name, ptr_names=[n for row in rows for n in row[1:]])
    addresses: list[str] = []
    for row in rows:
        if row[0] not in addresses:
            addresses.append(row[0])
    canonical = next((row[2] for row in rows if len(row) > 2), None)
    v4 = [a for a in addresses if ":" not in a]
    return DnsFacts(name=name, addresses=v4 + [a for a in addresses if ":" in a], canonical_name=canonical)
