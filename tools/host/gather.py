"""Host facts from psutil and statvfs: processes, sockets, load/memory, filesystems.

Plain functions that block (call them in a thread); each returns `tools.facts` models.
"""

from __future__ import annotations

import os
import re
import socket
import time
from datetime import UTC, datetime

import psutil

from tools.facts import CpuPercent, FilesystemFacts, HostFacts, ProcessFacts, SocketFacts

_STAT = {
    psutil.STATUS_RUNNING: "R",
    psutil.STATUS_SLEEPING: "S",
    psutil.STATUS_DISK_SLEEP: "D",
    psutil.STATUS_STOPPED: "T",
    psutil.STATUS_TRACING_STOP: "t",
    psutil.STATUS_ZOMBIE: "Z",
    psutil.STATUS_DEAD: "X",
    psutil.STATUS_IDLE: "I",
}
_ATTRS = [
    "pid",
    "ppid",
    "name",
    "cmdline",
    "username",
    "create_time",
    "cpu_times",
    "memory_info",
    "memory_percent",
    "status",
    "terminal",
    "num_threads",
]


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def cmdline_text(cmdline: list[str] | None) -> str:
    """Arguments joined with spaces; control characters shown as `?` like ps does (one process, one line)."""
    return _CONTROL.sub("?", " ".join(cmdline or []).strip())


def _ps_start(created: float, now: float) -> str:
    """ps's START column: time today, month+day this year, else the year."""
    when, today = time.localtime(created), time.localtime(now)
    if now - created < 86_400 and when.tm_yday == today.tm_yday:
        return time.strftime("%H:%M", when)
    return time.strftime("%b%d", when) if when.tm_year == today.tm_year else str(when.tm_year)


def ps_time(cpu: float) -> str:
    """ps's TIME column (`M:SS`) from CPU seconds."""
    minutes, seconds = divmod(int(cpu), 60)
    return f"{minutes}:{seconds:02d}"


def _stat(info: dict) -> str:
    letters = _STAT.get(info.get("status"), "S")
    try:
        if os.getsid(info["pid"]) == info["pid"]:
            letters += "s"
    except OSError:
        pass
    if (info.get("num_threads") or 1) > 1:
        letters += "l"
    return letters


def process_facts(info: dict, now: float) -> ProcessFacts:
    """One ps aux row from a psutil `as_dict` (lifetime %CPU, like ps)."""
    cpu = info.get("cpu_times")
    cpu_total = (cpu.user + cpu.system) if cpu else 0.0
    created = info.get("create_time") or now
    mem = info.get("memory_info")
    tty = info.get("terminal")
    return ProcessFacts(
        pid=info["pid"],
        ppid=info.get("ppid"),
        user=info.get("username") or "?",
        cpu_percent=round(100 * cpu_total / max(now - created, 1e-3), 1),
        mem_percent=round(info.get("memory_percent") or 0.0, 1),
        vsz_kb=(mem.vms // 1024) if mem else 0,
        rss_kb=(mem.rss // 1024) if mem else 0,
        tty=tty.removeprefix("/dev/") if tty else "?",
        stat=_stat(info),
        start=_ps_start(created, now),
        time=ps_time(cpu_total),
        cmdline=cmdline_text(info.get("cmdline")),
        name=info.get("name") or "",
    )


def list_processes(match: str | None = None) -> list[ProcessFacts]:
    """Every process (or those whose command line contains `match`), in pid order."""
    now = time.time()
    out = []
    for proc in psutil.process_iter(_ATTRS, ad_value=None):
        info = proc.info
        if match and match not in cmdline_text(info.get("cmdline")) and match not in (info.get("name") or ""):
            continue
        out.append(process_facts(info, now))
    return sorted(out, key=lambda p: p.pid)


def _owner(pid: int | None) -> dict:
    if pid is None:
        return {}
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            return {
                "process": p.name(),
                "user": p.username(),
                "cmdline": cmdline_text(p.cmdline()) or p.name(),
                "started": datetime.fromtimestamp(p.create_time(), UTC),
            }
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return {}


def sockets_on_port(port: int, protocol: str = "tcp") -> list[SocketFacts]:
    """Listening (tcp) or bound (udp) sockets on `port`, with their owning processes."""
    out = []
    for conn in psutil.net_connections(kind=protocol):
        if not conn.laddr or conn.laddr.port != port:
            continue
        if protocol == "tcp" and conn.status != psutil.CONN_LISTEN:
            continue
        if protocol == "udp" and conn.raddr:
            continue
        state = "LISTEN" if protocol == "tcp" else "UNCONN"
        out.append(
            SocketFacts(
                protocol=protocol,
                state=state,
                local_address=conn.laddr.ip,
                local_port=port,
                pid=conn.pid,
                fd=conn.fd if conn.fd and conn.fd > 0 else None,
                **_owner(conn.pid),
            )
        )
    return sorted(out, key=lambda s: (":" in s.local_address, s.pid or 0, s.fd or 0))


def host_facts(sample_s: float = 0.2) -> HostFacts:
    """Load, CPU split over a short sample, memory and swap."""
    cpu = psutil.cpu_times_percent(interval=sample_s)
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    now = time.time()
    return HostFacts(
        hostname=socket.gethostname(),
        now=datetime.fromtimestamp(now, UTC),
        uptime_s=now - psutil.boot_time(),
        users=len(psutil.users()),
        load=os.getloadavg(),
        cpu_count=psutil.cpu_count() or 1,
        cpu=CpuPercent(
            user=cpu.user,
            system=cpu.system,
            nice=cpu.nice,
            idle=cpu.idle,
            iowait=getattr(cpu, "iowait", 0.0),
            irq=getattr(cpu, "irq", 0.0),
            softirq=getattr(cpu, "softirq", 0.0),
            steal=getattr(cpu, "steal", 0.0),
        ),
        mem_total=vm.total,
        mem_used=vm.used,
        mem_free=vm.free,
        mem_shared=getattr(vm, "shared", 0),
        mem_buff_cache=getattr(vm, "buffers", 0) + getattr(vm, "cached", 0),
        mem_available=vm.available,
        swap_total=sw.total,
        swap_used=sw.used,
        swap_free=sw.free,
    )


def _mount_point(path: str) -> str:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def filesystem_facts(path: str) -> FilesystemFacts:
    """The filesystem holding `path`: df's space and inode numbers (statvfs)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file or directory: {path!r}")
    mount = _mount_point(path)
    device, fstype = "-", ""
    for part in psutil.disk_partitions(all=True):
        if part.mountpoint == mount:
            device, fstype = part.device, part.fstype
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return FilesystemFacts(
        filesystem=device,
        fstype=fstype,
        size=st.f_blocks * st.f_frsize,
        used=used,
        avail=st.f_bavail * st.f_frsize,
        mounted_on=mount,
        inodes_total=st.f_files,
        inodes_used=st.f_files - st.f_ffree,
        inodes_free=st.f_ffree,
    )
