"""Facts -> the text the real command prints (systemctl, ss, ps, uptime/free, df, host, curl, openssl).

These pure functions are the single source of truth for host tool output: the local
target renders what it gathered with them (unless it ran the real command), the
sandbox renders its scenario facts with them, and the findings analyzers parse these
formats. Keep them faithful to the real tools; engineers read them at 3am.
Each returns `Rendered(text, exit_code)` with the exit code the real command gives.
Lines starting with `# ` are Firstline's own annotations, not the tool's.
"""

from __future__ import annotations

import ipaddress
import signal
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from tools.facts import (
    DnsFacts,
    FilesystemFacts,
    HostFacts,
    HttpFacts,
    ProcessFacts,
    ServiceFacts,
    SocketFacts,
    TlsFacts,
)

BODY_LIMIT = 2048
"""Characters of an HTTP body shown (curl would print all of it)."""
TLS_WARN_DAYS = 14


class Rendered(NamedTuple):
    text: str
    exit_code: int


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


# ---------------------------------------------------------------- systemctl status

_EXIT_NAMES = {
    0: "SUCCESS",
    1: "FAILURE",
    2: "INVALIDARGUMENT",
    3: "NOTIMPLEMENTED",
    4: "NOPERMISSION",
    5: "NOTINSTALLED",
    6: "NOTCONFIGURED",
    7: "NOTRUNNING",
    200: "CHDIR",
    203: "EXEC",
    209: "STDOUT",
    217: "USER",
    226: "NAMESPACE",
}


def relative_time(delta_s: float) -> str:
    """systemd's format_timestamp_relative (`3min ago`, `1h 5min ago`, `4 days ago`)."""
    d = max(0, int(delta_s))
    year, month, week, day, hour, minute = 31_557_600, 2_629_800, 604_800, 86_400, 3600, 60

    def plural(n: int, unit: str) -> str:
        return f"{n} {unit}{'' if n == 1 else 's'}"

    if d >= year:
        text = f"{plural(d // year, 'year')} {plural(d % year // month, 'month')}"
    elif d >= month:
        text = f"{plural(d // month, 'month')} {plural(d % month // day, 'day')}"
    elif d >= week:
        text = f"{plural(d // week, 'week')} {plural(d % week // day, 'day')}"
    elif d >= 2 * day:
        text = f"{d // day} days"
    elif d >= 25 * hour:
        text = f"1 day {(d - day) // hour}h"
    elif d >= 6 * hour:
        text = f"{d // hour}h"
    elif d >= hour:
        text = f"{d // hour}h {d % hour // minute}min"
    elif d >= 5 * minute:
        text = f"{d // minute}min"
    elif d >= minute:
        text = f"{d // minute}min {d % minute}s"
    elif d >= 1:
        text = f"{d}s"
    else:
        return "now"
    return f"{text} ago"


def _exit_detail(code: str | None, status: int | None) -> str:
    """`code=exited, status=1/FAILURE` or `code=killed, status=9/KILL`."""
    if code is None or status is None:
        return f"code={code or 'exited'}"
    if code in ("killed", "dumped"):
        try:
            name = signal.Signals(status).name.removeprefix("SIG")
        except ValueError:
            name = str(status)
    else:
        name = _EXIT_NAMES.get(status, "")
    return f"code={code}, status={status}" + (f"/{name}" if name else "")


def _active_line(f: ServiceFacts, now: datetime) -> str:
    text = f.active if f.sub == f.active else f"{f.active} ({f.sub})"
    if f.result and f.result != "success" and f.active in ("failed", "activating", "inactive"):
        text += f" (Result: {f.result})"
    if f.since is not None:
        stamp = f.since.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M:%S UTC")
        text += f" since {stamp}; {relative_time((now - f.since).total_seconds())}"
    return text


def _service_fields(f: ServiceFacts, now: datetime) -> list[tuple[str, str]]:
    loaded = f.loaded
    preset = f"vendor preset: {f.vendor_preset}" if f.vendor_preset else None
    details = [x for x in (f.unit_path, f.enabled, preset) if x]
    if f.unit_path:
        loaded += f" ({'; '.join(details)})"
    fields = [("Loaded", loaded), ("Active", _active_line(f, now))]
    running = f.active in ("active", "reloading", "deactivating") and f.main_pid is not None
    if f.exec_pid is not None and f.exec_cmd:
        detail = (
            _exit_detail(f.exit_code, f.exit_status) if not (running and f.exec_pid == f.main_pid) else ""
        )
        fields.append(
            ("Process", f"{f.exec_pid} {f.exec_kind}={f.exec_cmd}" + (f" ({detail})" if detail else ""))
        )
    if f.main_pid is not None:
        if running or (f.active == "activating" and f.exit_code is None):
            fields.append(("Main PID", f"{f.main_pid} ({f.main_cmd or f.name})"))
        else:
            fields.append(("Main PID", f"{f.main_pid} ({_exit_detail(f.exit_code, f.exit_status)})"))
    if f.tasks is not None:
        fields.append(("Tasks", f"{f.tasks}" + (f" (limit: {f.tasks_limit})" if f.tasks_limit else "")))
    if f.memory:
        fields.append(("Memory", f.memory))
    if f.cpu:
        fields.append(("CPU", f.cpu))
    if f.processes or (f.cgroup and running):
        fields.append(("CGroup", f.cgroup or f"/system.slice/{f.unit}"))
    return fields


def render_service_status(f: ServiceFacts, now: datetime | None = None) -> Rendered:
    """`systemctl status UNIT`: exit 0 active, 3 not active, 4 no such unit."""
    if f.loaded == "not-found":
        return Rendered(f"Unit {f.unit} could not be found.\n", 4)
    now = _now(now)
    head = f"● {f.unit}" + (f" - {f.description}" if f.description else "")
    lines = [head] + [f"{label:>11}: {value}" for label, value in _service_fields(f, now)]
    for i, proc in enumerate(f.processes):
        branch = "└─" if i == len(f.processes) - 1 else "├─"
        lines.append(f"{'':13}{branch}{proc.pid} {proc.cmd}")
    if f.journal:
        lines.append("")
        lines.extend(f.journal)
    code = 0 if f.active in ("active", "reloading") else 3
    return Rendered("\n".join(lines) + "\n", code)


# ---------------------------------------------------------------- ss + ps -o lstart


def _is_v6(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).version == 6
    except ValueError:
        return False


def _ss_addr(addr: str) -> str:
    return f"[{addr}]" if _is_v6(addr) else addr


def _lstart(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%a %b %e %H:%M:%S %Y") if when else "-"


def _ps_user(user: str | None) -> str:
    """ps truncates user names wider than its 8-character column to 7 + '+'."""
    user = user or "?"
    return user if len(user) <= 8 else user[:7] + "+"


def _ss_groups(sockets: Sequence[SocketFacts]) -> list[tuple[SocketFacts, list[SocketFacts]]]:
    """One ss row per socket; processes sharing it (forked workers) go into one users:(...)."""
    groups: dict[tuple, list[SocketFacts]] = {}
    for s in sockets:
        key = (s.protocol, s.state, s.local_address, s.local_port, s.peer_address, s.peer_port)
        groups.setdefault(key, []).append(s)
    return [(members[0], members) for members in groups.values()]


def render_ss(sockets: Sequence[SocketFacts], port: int, protocol: str = "tcp") -> Rendered:
    """`ss -ltnp 'sport = :PORT'` (or -lunp), then `ps -o pid,user,lstart,cmd` for the owners."""
    groups = _ss_groups(sockets)
    rows = []
    for s, members in groups:
        users = ",".join(
            f'("{m.process or "?"}",pid={m.pid},fd={m.fd if m.fd is not None else "?"})'
            for m in members
            if m.pid is not None
        )
        peer_port = "*" if s.peer_port is None else str(s.peer_port)
        peer = s.peer_address or ("::" if _is_v6(s.local_address) else "0.0.0.0")
        rows.append(
            (
                s.state,
                str(s.recv_q),
                str(s.send_q),
                _ss_addr(s.local_address),
                str(s.local_port),
                _ss_addr(peer),
                peer_port,
                f"users:({users})" if users else "",
            )
        )
    w = [
        max([len(h) + (i == 0)] + [len(r[i]) for r in rows])
        for i, h in enumerate(("State", "Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address", "Port"))
    ]

    def line(r: Sequence[str]) -> str:
        return (
            f"{r[0]:<{w[0]}} {r[1]:<{w[1]}} {r[2]:<{w[2]}} {r[3]:>{w[3]}}:{r[4]:<{w[4]}} "
            f"{r[5]:>{w[5]}}:{r[6]:<{w[6]}} {r[7]}"
        ).rstrip()

    out = [line(("State", "Recv-Q", "Send-Q", "Local Address", "Port", "Peer Address", "Port", "Process"))]
    out += [line(r) for r in rows]
    if not rows:
        what = "listening on" if protocol == "tcp" else "bound to"
        out.append(f"# no process is {what} {protocol} port {port}")
        return Rendered("\n".join(out) + "\n", 1)
    owners: dict[int, SocketFacts] = {s.pid: s for s in sockets if s.pid is not None}
    if owners:
        out += ["", f"{'PID':>7} {'USER':<8} {'STARTED':>24} CMD"]
        out += [
            f"{pid:>7} {_ps_user(s.user):<8} {_lstart(s.started):>24} {s.cmdline or s.process or '?'}"
            for pid, s in owners.items()
        ]
    return Rendered("\n".join(out) + "\n", 0)


# ---------------------------------------------------------------- ps aux


def render_ps(processes: Sequence[ProcessFacts]) -> Rendered:
    """`ps aux`: USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND."""
    out = [
        (
            f"{'USER':<8} {'PID':>7} {'%CPU':>4} {'%MEM':>4} {'VSZ':>6} {'RSS':>5} {'TTY':<8} {'STAT':<4} "
            f"{'START':<5} {'TIME':>6} COMMAND"
        )
    ]
    for p in processes:
        command = p.cmdline or f"[{p.name or '?'}]"
        out.append(
            f"{_ps_user(p.user):<8} {p.pid:>7} {p.cpu_percent:>4.1f} {p.mem_percent:>4.1f} "
            f"{p.vsz_kb:>6} {p.rss_kb:>5} {p.tty:<8} {p.stat:<4} {p.start:<5} {p.time:>6} {command}"
        )
    return Rendered("\n".join(out) + "\n", 0)


# ---------------------------------------------------------------- uptime + free -m + top's CPU line


def _uptime_line(h: HostFacts) -> str:
    now = _now(h.now)
    up = int(h.uptime_s)
    days, hours, minutes = up // 86_400, up % 86_400 // 3600, up % 3600 // 60
    text = f" {now:%H:%M:%S} up "
    if days:
        text += f"{days} day{'s' if days != 1 else ''}, "
    text += f"{hours:2d}:{minutes:02d}, " if hours else f"{minutes} min, "
    text += f"{h.users:2d} user{'s' if h.users > 1 else ''}, "
    return text + " load average: " + ", ".join(f"{x:.2f}" for x in h.load)


def render_host_resources(h: HostFacts) -> Rendered:
    """`uptime`, `free -m` and top's `%Cpu(s):` line, plus the CPU count to read the load against."""
    mib = 1024 * 1024
    mem = (h.mem_total, h.mem_used, h.mem_free, h.mem_shared, h.mem_buff_cache, h.mem_available)
    c = h.cpu
    out = [
        _uptime_line(h),
        "",
        " " * 8 + "".join(f"{x:>12}" for x in ("total", "used", "free", "shared", "buff/cache", "available")),
        f"{'Mem:':<8}" + "".join(f"{v // mib:>12}" for v in mem),
        f"{'Swap:':<8}" + "".join(f"{v // mib:>12}" for v in (h.swap_total, h.swap_used, h.swap_free)),
        "",
        (
            f"%Cpu(s): {c.user:4.1f} us, {c.system:4.1f} sy, {c.nice:4.1f} ni, {c.idle:4.1f} id, {c.iowait:4.1f} wa, "
            f"{c.irq:4.1f} hi, {c.softirq:4.1f} si, {c.steal:4.1f} st"
        ),
        f"CPU(s): {h.cpu_count}",
    ]
    return Rendered("\n".join(out) + "\n", 0)


# ---------------------------------------------------------------- df -h / df -i


def human_size(n: int) -> str:
    """coreutils `-h`: powers of 1024, rounded up, one decimal below 10 (`3.0G`, `47G`, `0`). Exact integers."""
    if n < 1024:
        return str(n)
    suffix, exp = "KMGTPE", 1
    while exp < 6 and n >= 1024 ** (exp + 1):
        exp += 1
    base = 1024**exp
    tenths = -(-n * 10 // base)
    if tenths < 100:
        return f"{tenths // 10}.{tenths % 10}{suffix[exp - 1]}"
    whole = -(-n // base)
    if whole >= 1024 and exp < 6:
        return f"1.0{suffix[exp]}"
    return f"{whole}{suffix[exp - 1]}"


def _pct(used: int, total_for_pct: int, given: int | None) -> str:
    if given is not None:
        return f"{given}%"
    return "-" if total_for_pct <= 0 else f"{-(-used * 100 // total_for_pct)}%"


def _df_table(headers: Sequence[str], min_widths: Sequence[int], rows: list[Sequence[str]]) -> list[str]:
    """coreutils df layout: first column left, last left and unpadded, the rest right-aligned."""
    widths = [
        max([m, len(h)] + [len(r[i]) for r in rows])
        for i, (h, m) in enumerate(zip(headers, min_widths, strict=False))
    ]
    out = []
    for r in [headers, *rows]:
        cells = (
            [f"{r[0]:<{widths[0]}}"]
            + [f"{c:>{w}}" for c, w in zip(r[1:-1], widths[1:-1], strict=False)]
            + [r[-1]]
        )
        out.append(" ".join(cells))
    return out


def render_df(filesystems: Sequence[FilesystemFacts]) -> Rendered:
    """`df -h` then, after a blank line, `df -i` for the same filesystems."""
    space = [
        (
            f.filesystem,
            human_size(f.size),
            human_size(f.used),
            human_size(f.avail),
            _pct(f.used, f.used + f.avail, f.use_percent),
            f.mounted_on,
        )
        for f in filesystems
    ]
    inodes = [
        (
            f.filesystem,
            str(f.inodes_total),
            str(f.inodes_used),
            str(f.inodes_free),
            _pct(f.inodes_used, f.inodes_total, f.inodes_use_percent),
            f.mounted_on,
        )
        for f in filesystems
    ]
    out = _df_table(("Filesystem", "Size", "Used", "Avail", "Use%", "Mounted on"), (14, 5, 5, 5, 4, 0), space)
    out.append("")
    out += _df_table(
        ("Filesystem", "Inodes", "IUsed", "IFree", "IUse%", "Mounted on"), (14, 5, 5, 5, 5, 0), inodes
    )
    return Rendered("\n".join(out) + "\n", 0)


# ---------------------------------------------------------------- host NAME

_RCODES = {"NXDOMAIN": 3, "SERVFAIL": 2, "REFUSED": 5}


def _reverse_name(name: str) -> str | None:
    try:
        return ipaddress.ip_address(name).reverse_pointer
    except ValueError:
        return None


def render_dns(d: DnsFacts) -> Rendered:
    """`host NAME`: addresses, CNAMEs, PTRs for an IP, `not found: 3(NXDOMAIN)`, or the no-servers timeout."""
    if d.status == "TIMEOUT":
        return Rendered(";; connection timed out; no servers could be reached\n", 1)
    arpa = _reverse_name(d.name)
    if d.status != "NOERROR":
        shown = f"{arpa}." if arpa else d.name
        return Rendered(f"Host {shown} not found: {_RCODES[d.status]}({d.status})\n", 1)
    if arpa:
        lines = [f"{arpa} domain name pointer {n.rstrip('.')}." for n in d.ptr_names]
        return Rendered("\n".join(lines or [f"{arpa} has no PTR record"]) + "\n", 0)
    out = []
    owner = d.name
    if d.canonical_name and d.canonical_name.rstrip(".") != d.name.rstrip("."):
        owner = d.canonical_name.rstrip(".")
        out.append(f"{d.name} is an alias for {owner}.")
    for addr in d.addresses:
        kind = "IPv6 address" if ":" in addr else "address"
        out.append(f"{owner} has {kind} {addr}")
    if not d.addresses:
        out.append(f"{owner} has no A record")
    return Rendered("\n".join(out) + "\n", 0)


# ---------------------------------------------------------------- curl -sS -i -m 10 URL


def render_http(r: HttpFacts) -> Rendered:
    """`curl -sS -i -m 10 URL`: status line, headers, start of body, then `time_total=`."""
    timing = f"time_total={r.time_total_s:.3f}s"
    if r.curl_exit != 0 or r.status is None:
        code = r.curl_exit or 1
        return Rendered(f"curl: ({code}) {r.curl_error or 'request failed'}\n{timing}\n", code)
    status = f"HTTP/{r.http_version} {r.status}" + (
        f" {r.reason}" if r.reason and r.http_version != "2" else ""
    )
    out = [status] + [f"{k}: {v}" for k, v in r.headers] + [""]
    body = r.body[:BODY_LIMIT]
    if body:
        out.append(body.rstrip("\n"))
    total = r.body_bytes if r.body_bytes is not None else len(r.body.encode())
    if len(r.body) > BODY_LIMIT or total > len(body.encode()):
        out.append(f"# [body truncated: first {len(body)} characters of {total} bytes shown]")
    out.append(timing)
    return Rendered("\n".join(out) + "\n", 0)


# ---------------------------------------------------------------- openssl x509 -noout -subject -issuer -dates


def _openssl_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%b %e %H:%M:%S %Y GMT")


def tls_status(
    t: TlsFacts, now: datetime | None = None, warn_days: int = TLS_WARN_DAYS
) -> tuple[int | None, str]:
    """(days_left, EXPIRED | NOT YET VALID | EXPIRING SOON | OK | ERROR)."""
    now = _now(now)
    if t.error or t.not_after is None:
        return None, "ERROR"
    days_left = int((t.not_after - now).total_seconds() / 86_400)
    if t.not_after <= now:
        return days_left, "EXPIRED"
    if t.not_before is not None and t.not_before > now:
        return days_left, "NOT YET VALID"
    return days_left, "EXPIRING SOON" if days_left < warn_days else "OK"


def render_tls(t: TlsFacts, now: datetime | None = None, warn_days: int = TLS_WARN_DAYS) -> Rendered:
    """`openssl x509 -noout -subject -issuer -dates` of the peer certificate, plus days_left and status."""
    if t.error:
        return Rendered(f"error=connect to {t.host}:{t.port} failed: {t.error}\nstatus=ERROR\n", 1)
    days_left, status = tls_status(t, now, warn_days)
    out = [f"subject={t.subject}", f"issuer={t.issuer}"]
    if t.not_before:
        out.append(f"notBefore={_openssl_date(t.not_before)}")
    if t.not_after:
        out.append(f"notAfter={_openssl_date(t.not_after)}")
    if t.san:
        out.append(f"subjectAltName={', '.join(t.san)}")
    if t.verified is not None:
        out.append("verify=ok" if t.verified else f"verify=failed: {t.verify_error or 'unknown error'}")
    out += [f"days_left={days_left}", f"status={status}"]
    return Rendered("\n".join(out) + "\n", 0)
