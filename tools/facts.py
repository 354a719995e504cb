"""What each host tool observes, as data.

The local target gathers these facts from this machine; the sandbox target loads
them from scenario YAML. Both render them with `tools.render_host`, so an engineer
(and the findings analyzers) see the same familiar command output either way.
Times are timezone-aware UTC; sizes are bytes unless a field says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class _Facts(BaseModel):
    """Base: unknown keys in a scenario file are a mistake worth hearing about."""

    model_config = ConfigDict(extra="forbid")


def _utc(v: datetime) -> datetime:
    """Naive datetimes (common in hand-written YAML) are taken as UTC."""
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class ServiceProcess(_Facts):
    """One process in the service's cgroup (systemctl's CGroup: tree)."""

    pid: int
    cmd: str


class ServiceFacts(_Facts):
    """What `systemctl status NAME` shows about a unit."""

    name: str
    """Unit name with or without the `.service` suffix."""
    host: str = "localhost"
    description: str = ""
    loaded: Literal["loaded", "not-found", "masked", "error"] = "loaded"
    unit_path: str | None = None
    enabled: str | None = "enabled"
    """enabled / disabled / static / masked; None hides it."""
    vendor_preset: str | None = "enabled"
    active: Literal["active", "inactive", "failed", "activating", "deactivating", "reloading"] = "active"
    sub: str = "running"
    """running, dead, failed, exited, auto-restart, start-pre, ..."""
    since: UtcDatetime | None = None
    result: str | None = None
    """Why it stopped: exit-code, signal, core-dump, timeout, oom-kill, start-limit-hit, success."""
    main_pid: int | None = None
    main_cmd: str | None = None
    """Short command name shown after Main PID (e.g. `nginx`)."""
    exec_kind: str = "ExecStart"
    """Which Exec line the last process line is (ExecStart, ExecStartPre, ...)."""
    exec_pid: int | None = None
    exec_cmd: str | None = None
    """Full command line of the last exec'd process (the `Process:` line)."""
    exit_code: str | None = None
    """systemd's code=: exited, killed, dumped."""
    exit_status: int | None = None
    """Exit status or signal number."""
    restarts: int | None = None
    tasks: int | None = None
    tasks_limit: int | None = None
    memory: str | None = None
    """As systemctl prints it, e.g. `12.3M`."""
    cpu: str | None = None
    """Total CPU time as systemctl prints it, e.g. `1.234s`."""
    cgroup: str | None = None
    processes: list[ServiceProcess] = Field(default_factory=list)
    journal: list[str] = Field(default_factory=list)
    """Recent lines in `journalctl` short format: `Nov 23 03:12:01 web-prod-01 nginx[812]: ...`."""

    @property
    def unit(self) -> str:
        return self.name if "." in self.name else f"{self.name}.service"


class SocketFacts(_Facts):
    """One socket as `ss -tunap` reports it, with its owning process."""

    protocol: Literal["tcp", "udp"] = "tcp"
    state: str = "LISTEN"
    """LISTEN, ESTAB, UNCONN, TIME-WAIT, ..."""
    recv_q: int = 0
    send_q: int = 0
    local_address: str = "0.0.0.0"
    local_port: int
    peer_address: str | None = None
    """None: the wildcard of the local address's family (`0.0.0.0` / `[::]`)."""
    peer_port: int | None = None
    """None renders as `*` (unconnected / listening)."""
    pid: int | None = None
    process: str | None = None
    """Short process name (comm), as ss shows it."""
    fd: int | None = None
    user: str | None = None
    cmdline: str | None = None
    started: UtcDatetime | None = None
    """Process start time (ps lstart)."""


class ProcessFacts(_Facts):
    """One row of `ps aux`."""

    pid: int
    ppid: int | None = None
    user: str = "root"
    cpu_percent: float = 0.0
    mem_percent: float = 0.0
    vsz_kb: int = 0
    rss_kb: int = 0
    tty: str = "?"
    stat: str = "S"
    start: str = ""
    """As ps prints it: `03:12` today, `Nov19` this year, `2023` older."""
    time: str = "0:00"
    """Accumulated CPU time as ps prints it (`MMM:SS`)."""
    cmdline: str
    name: str = ""
    """comm (short name); defaults to the first word of cmdline's basename."""


class CpuPercent(_Facts):
    """Where CPU time went, in percent, like top's `%Cpu(s):` line."""

    user: float = 0.0
    system: float = 0.0
    nice: float = 0.0
    idle: float = 100.0
    iowait: float = 0.0
    irq: float = 0.0
    softirq: float = 0.0
    steal: float = 0.0


class HostFacts(_Facts):
    """Load, CPU, memory and swap: `uptime`, top's CPU line and `free -m`."""

    hostname: str = "localhost"
    now: UtcDatetime | None = None
    """Wall-clock time the facts were taken (the uptime line's clock); None means now."""
    uptime_s: float = 0.0
    users: int = 0
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cpu_count: int = 1
    cpu: CpuPercent = Field(default_factory=CpuPercent)
    mem_total: int = 0
    mem_used: int = 0
    mem_free: int = 0
    mem_shared: int = 0
    mem_buff_cache: int = 0
    mem_available: int = 0
    swap_total: int = 0
    swap_used: int = 0
    swap_free: int = 0


class FilesystemFacts(_Facts):
    """One mounted filesystem: a `df -h` row and a `df -i` row."""

    filesystem: str
    """Device or source, e.g. /dev/sda1, overlay, tmpfs."""
    fstype: str = ""
    size: int = 0
    used: int = 0
    avail: int = 0
    use_percent: int | None = None
    """None: computed like df (ceil of used / (used + avail))."""
    mounted_on: str = "/"
    inodes_total: int = 0
    inodes_used: int = 0
    inodes_free: int = 0
    inodes_use_percent: int | None = None


DnsStatus = Literal["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "TIMEOUT"]


class DnsFacts(_Facts):
    """The answer to resolving a name, as the `host` command reports it."""

    name: str
    status: DnsStatus = "NOERROR"
    canonical_name: str | None = None
    """Where a CNAME led (`NAME is an alias for CANONICAL.`)."""
    addresses: list[str] = Field(default_factory=list)
    """IPv4 and IPv6 addresses, in resolver order."""
    ptr_names: list[str] = Field(default_factory=list)
    """Reverse lookups (when `name` is an IP address): the names it points to."""
    resolver: str | None = None
    elapsed_ms: float | None = None


class HttpFacts(_Facts):
    """One HTTP GET as `curl -sS -i -m 10 URL` shows it."""

    url: str
    http_version: str = "1.1"
    """1.0, 1.1 or 2."""
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = Field(default_factory=list)
    body: str = ""
    body_bytes: int | None = None
    """Full body length when `body` holds only its start."""
    time_total_s: float = 0.0
    curl_exit: int = 0
    """0, or curl's error code: 6 resolve, 7 connect, 28 timeout, 35 TLS, 52 empty reply, 56 recv, 60 cert."""
    curl_error: str | None = None
    """curl's message after `curl: (N) `, e.g. `Failed to connect to ... Connection refused`."""


class TlsFacts(_Facts):
    """A server certificate as `openssl x509 -noout -subject -issuer -dates` shows it."""

    host: str
    port: int = 443
    subject: str = ""
    """OpenSSL one-line form: `CN = api.example.com` or `C = US, O = Let's Encrypt, CN = R3`."""
    issuer: str = ""
    not_before: UtcDatetime | None = None
    not_after: UtcDatetime | None = None
    san: list[str] = Field(default_factory=list)
    """subjectAltName entries, e.g. `DNS:api.example.com`."""
    serial: str | None = None
    verified: bool | None = None
    """Whether the chain verified against the system trust store (None: not checked)."""
    verify_error: str | None = None
    error: str | None = None
    """The handshake never happened: `connect: Connection refused` etc."""
