"""The simulated host of a sandbox scenario: its process table, sockets, services, files.

Every host tool's output is derived from one copy of these facts and rendered by
`tools.render_host`, so `ss`, `ps` and `systemctl status` always agree. Write tools
(kill, restart) change this copy only: the scenario file and other sessions never see it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import datetime, timedelta

from tools.facts import FilesystemFacts, HostFacts, ProcessFacts, ServiceFacts, ServiceProcess, SocketFacts
from tools.host import logs
from tools.render_host import Rendered
from tools.scenarios import HostSpec, ProcessSpec, ServiceSpec

_FHS_DIRS = (
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/opt",
    "/root",
    "/run",
    "/srv",
    "/tmp",
    "/usr",
    "/usr/local",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/tmp",
    "/var/spool",
)
STATUS_LINES = 10
"""Journal lines `systemctl status` shows by default."""
_WILD_V4, _WILD_V6 = {"0.0.0.0", "*"}, {"::", "[::]", "*"}


def ps_start(started: datetime | None, now: datetime) -> str:
    """ps's START column: HH:MM within a day, MmmDD within the year, else the year."""
    if started is None:
        return ""
    if now - started < timedelta(hours=24):
        return started.strftime("%H:%M")
    return started.strftime("%b%d") if started.year == now.year else started.strftime("%Y")


def comm(cmdline: str) -> str:
    """The short process name ps/ss show: `nginx: master process ...` -> nginx, `-bash` -> bash."""
    first = cmdline.split()[0] if cmdline.split() else "?"
    return posixpath.basename(first).rstrip(":").lstrip("-")[:15] or "?"


def _addr_family(addr: str) -> set[int]:
    a = addr.strip("[]").split("%")[0]
    if a == "*":
        return {4, 6}
    return {6} if ":" in a else {4}


def addresses_clash(a: str, b: str) -> bool:
    """Would binding `a` fail because `b` is bound (same port)? Wildcards overlap their family."""
    a0, b0 = a.strip("[]").split("%")[0], b.strip("[]").split("%")[0]
    if not _addr_family(a) & _addr_family(b):
        return False
    return a0 == b0 or a0 in _WILD_V4 | _WILD_V6 or b0 in _WILD_V4 | _WILD_V6


def _split_bind(bind: str) -> tuple[str, int]:
    addr, _, port = bind.rpartition(":")
    return addr, int(port)


class HostState:
    """Mutable per-target copy of a scenario host."""

    def __init__(self, spec: HostSpec, clock: Callable[[], datetime]) -> None:
        self.spec = spec
        self.clock = clock
        self.next_pid = max([p.pid for p in spec.processes] + [1000]) + 211

    # ------------------------------------------------------------ lookups

    @property
    def hostname(self) -> str:
        return self.spec.hostname

    def local_names(self) -> set[str]:
        return {self.spec.hostname.lower(), "localhost", "127.0.0.1", "::1", *self.spec.addresses}

    def process(self, pid: int | None) -> ProcessSpec | None:
        return next((p for p in self.spec.processes if p.pid == pid), None)

    def service(self, name: str) -> ServiceSpec | None:
        base = name.removesuffix(".service")
        for svc in self.spec.services:
            if base == svc.name.removesuffix(".service") or base in svc.aliases:
                return svc
        return None

    def process_facts(self, p: ProcessSpec) -> ProcessFacts:
        data = p.model_dump(exclude={"started", "session_of", "own_cgroup", "tool_facts"})
        data["start"] = p.start or ps_start(p.started, self.clock())
        data["name"] = p.name or comm(p.cmdline)
        return ProcessFacts(**data)

    def service_facts(self, svc: ServiceSpec) -> ServiceFacts:
        procs = [ServiceProcess(pid=p.pid, cmd=p.cmdline) for p in map(self.process, svc.pids) if p]
        data = svc.model_dump(exclude={"pids", "binds", "bind_error", "spawn", "aliases", "processes"})
        data["host"] = self.hostname
        data["journal"] = svc.journal[-STATUS_LINES:]
        if data.get("tasks") is None and procs:
            data["tasks"] = len(procs)
        return ServiceFacts(**data, processes=procs)

    def sockets(self, port: int | None = None, protocol: str | None = None) -> list[SocketFacts]:
        """Sockets with their owner's name, user, command line and start time filled from ps."""
        out = []
        for s in self.spec.sockets:
            if (port is not None and s.local_port != port) or (protocol and s.protocol != protocol):
                continue
            p = self.process(s.pid)
            extra = {}
            if p is not None:
                extra = {
                    "process": self.process_facts(p).name[:15],
                    "user": p.user,
                    "cmdline": p.cmdline,
                    "started": p.started,
                }
            if s.local_address == "*" and s.peer_address is None:
                extra["peer_address"] = "*"
            out.append(s.model_copy(update=extra))
        return out

    def listeners(self, port: int, protocol: str = "tcp") -> list[SocketFacts]:
        state = "LISTEN" if protocol == "tcp" else "UNCONN"
        return [s for s in self.sockets(port, protocol) if s.state == state]

    def owner_name(self, port: int) -> str | None:
        found = self.listeners(port)
        return found[0].process if found else None

    def host_facts(self) -> HostFacts:
        return self.spec.resources.model_copy(update={"hostname": self.hostname, "now": self.clock()})

    def processes(self, match: str | None = None) -> list[ProcessFacts]:
        return [
            self.process_facts(p)
            for p in sorted(self.spec.processes, key=lambda p: p.pid)
            if match is None or match in p.cmdline
        ]

    def file(self, path: str) -> str | None:
        norm = posixpath.normpath(path)
        return next((f.content for f in self.spec.files if f.path == norm), None)

    def path_exists(self, path: str) -> bool:
        """Declared files and dirs, their parents, and the usual FHS directories exist."""
        norm = posixpath.normpath(path)
        known = (
            {f.path for f in self.spec.files}
            | set(self.spec.dirs)
            | set(_FHS_DIRS)
            | {f.mounted_on for f in self.spec.filesystems}
        )
        return any(k == norm or k.startswith(norm.rstrip("/") + "/") for k in known)

    def filesystem_for(self, path: str) -> FilesystemFacts | None:
        norm = posixpath.normpath(path)
        mounts = [
            f
            for f in self.spec.filesystems
            if norm == f.mounted_on or norm.startswith(f.mounted_on.rstrip("/") + "/")
        ]
        return max(mounts, key=lambda f: len(f.mounted_on), default=None)

    def journal(self, unit: str) -> list[str] | None:
        svc = self.service(unit)
        return None if svc is None else svc.journal

    # ------------------------------------------------------------ writes

    def _stamp(self) -> str:
        return self.clock().strftime("%b %d %H:%M:%S")

    def _log(self, svc: ServiceSpec, ident: str, message: str) -> None:
        svc.journal.append(f"{self._stamp()} {self.hostname} {ident}: {message}")

    def _remove(self, pids: set[int]) -> None:
        self.spec.processes = [p for p in self.spec.processes if p.pid not in pids]
        self.spec.sockets = [s for s in self.spec.sockets if s.pid not in pids]

    def _service_of(self, pid: int) -> ServiceSpec | None:
        return next((s for s in self.spec.services if pid in s.pids), None)

    def kill(self, pid: int, signal: str) -> Rendered:
        """`kill -SIG PID`: HUP keeps the process (reload); TERM/INT/KILL end it and its service's cgroup."""
        proc = self.process(pid)
        if proc is None:
            return Rendered(f"kill: ({pid}) - No such process\n", 1)
        note = f"sent SIG{signal} to {pid} ({proc.cmdline})\n"  # what the local target prints
        if signal == "HUP":
            return Rendered(note + f"process {pid} is still running (SIGHUP: reload)\n", 0)
        svc = self._service_of(pid)
        gone = {pid}
        if svc is not None and pid == svc.main_pid:
            gone |= set(svc.pids) | {p.pid for p in self.spec.processes if p.session_of == svc.name}
            self._stopped(svc, signal)
        elif svc is not None:
            svc.pids = [p for p in svc.pids if p != pid]
        self._remove(gone)
        return Rendered(note + f"process {pid} has exited\n", 0)

    def _stopped(self, svc: ServiceSpec, signal: str) -> None:
        unit = svc.unit
        svc.pids, svc.since = [], self.clock()
        if signal == "KILL":
            svc.active, svc.sub, svc.result = "failed", "failed", "signal"
            svc.exit_code, svc.exit_status, svc.exec_pid = "killed", 9, svc.main_pid
            self._log(svc, "systemd[1]", f"{unit}: Main process exited, code=killed, status=9/KILL")
            self._log(svc, "systemd[1]", f"{unit}: Failed with result 'signal'.")
        else:
            svc.active, svc.sub, svc.result = "inactive", "dead", "success"
            self._log(svc, "systemd[1]", f"{unit}: Deactivated successfully.")
        svc.main_pid = None
        svc.tasks = svc.memory = None

    def _conflicts(self, svc: ServiceSpec) -> list[tuple[str, int]]:
        clashes = []
        for bind in svc.binds:
            addr, port = _split_bind(bind)
            if any(addresses_clash(addr, s.local_address) for s in self.listeners(port)):
                clashes.append((addr, port))
        return clashes

    def _spawn(self, svc: ServiceSpec, templates: list[ProcessSpec]) -> None:
        now, new_pids = self.clock(), []
        if svc.exec_cmd:  # the ExecStart process that forked the daemon and exited
            svc.exec_pid, self.next_pid = self.next_pid, self.next_pid + 1
            svc.exit_code, svc.exit_status = "exited", 0
        for i, tmpl in enumerate(templates):
            pid, self.next_pid = self.next_pid, self.next_pid + 1
            ppid = 1 if i == 0 else new_pids[0]
            self.spec.processes.append(
                tmpl.model_copy(
                    update={
                        "pid": pid,
                        "ppid": ppid,
                        "started": now,
                        "start": "",
                        "time": "0:00",
                        "cpu_percent": 0.0,
                    }
                )
            )
            new_pids.append(pid)
        svc.pids, svc.main_pid = new_pids, new_pids[0] if new_pids else None
        svc.tasks = len(new_pids) or None
        svc.memory, svc.cpu = systemd_size(sum(t.rss_kb for t in templates) * 1024), None
        for j, bind in enumerate(svc.binds):
            addr, port = _split_bind(bind)
            self.spec.sockets.append(_socket(addr.strip("[]"), port, new_pids[0], 6 + j))

    def restart(self, name: str) -> Rendered:
        """`systemctl restart NAME`: stop its cgroup, then start unless a bind is taken (then it fails)."""
        svc = self.service(name)
        if svc is None:
            unit = name if "." in name else f"{name}.service"
            return Rendered(f"Failed to restart {unit}: Unit {unit} not found.\n", 5)
        unit, desc = svc.unit, svc.description or svc.unit
        running = [p for p in map(self.process, svc.pids) if p is not None]
        # A new process: nothing leaked by the old one (descriptors and the like) carries over.
        fresh = [p.model_copy(update={"tool_facts": {}}) for p in running]
        templates = fresh or list(svc.spawn) or [ProcessSpec(pid=0, cmdline=svc.exec_cmd or unit)]
        held = [(running.index(p), s) for p in running for s in self.spec.sockets if s.pid == p.pid]
        if svc.pids:
            self._log(svc, "systemd[1]", f"Stopping {unit} - {desc}...")
            self._remove(set(svc.pids) | {p.pid for p in self.spec.processes if p.session_of == svc.name})
            self._log(svc, "systemd[1]", f"{unit}: Deactivated successfully.")
            self._log(svc, "systemd[1]", f"Stopped {unit} - {desc}.")
        self._log(svc, "systemd[1]", f"Starting {unit} - {desc}...")
        svc.since, svc.pids = self.clock(), []
        clashes = self._conflicts(svc)
        if clashes:
            return self._failed_start(svc, clashes)
        svc.exit_code = svc.exit_status = svc.exec_pid = None
        self._spawn(svc, templates)
        for index, sock in held if not svc.binds else []:
            self.spec.sockets.append(sock.model_copy(update={"pid": svc.pids[index]}))
        svc.active, svc.sub, svc.result = "active", "running", None
        svc.main_cmd = svc.main_cmd or comm(templates[0].cmdline)
        self._log(svc, "systemd[1]", f"Started {unit} - {desc}.")
        return Rendered(f"# systemctl is-active {svc.name}: active\n", 0)

    def _failed_start(self, svc: ServiceSpec, clashes: list[tuple[str, int]]) -> Rendered:
        unit, desc = svc.unit, svc.description or svc.unit
        pid, self.next_pid = self.next_pid, self.next_pid + 1
        ident = f"{svc.name.removesuffix('.service')}[{pid}]"
        template = svc.bind_error or "bind() to {address}:{port} failed (98: Address already in use)"
        for addr, port in clashes:
            self._log(svc, ident, template.format(address=addr, port=port))
        self._log(svc, "systemd[1]", f"{unit}: Control process exited, code=exited, status=1/FAILURE")
        self._log(svc, "systemd[1]", f"{unit}: Failed with result 'exit-code'.")
        self._log(svc, "systemd[1]", f"Failed to start {unit} - {desc}.")
        svc.active, svc.sub, svc.result, svc.main_pid = "failed", "failed", "exit-code", None
        svc.exit_code, svc.exit_status, svc.exec_pid, svc.tasks = "exited", 1, pid, None
        text = (
            f"Job for {unit} failed because the control process exited with error code.\n"
            f'See "systemctl status {unit}" and "journalctl -xeu {unit}" for details.\n'
            f"# systemctl is-active {svc.name}: failed\n"
        )
        return Rendered(text, 1)


def systemd_size(n: int) -> str | None:
    """systemd's memory format: `812.0K`, `88.4M`, `1.2G`."""
    if n <= 0:
        return None
    value, unit = float(n), "B"
    for unit in ("K", "M", "G", "T"):  # noqa: B007 - the unit reached is used after the loop
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f}{unit}"


def _socket(addr: str, port: int, pid: int, fd: int) -> SocketFacts:
    return SocketFacts(local_address=addr, local_port=port, send_q=511, pid=pid, fd=fd)


def grep_lines(lines: list[str], pattern: str | None) -> list[str]:
    """The same RE2 matching as a real host's log_tail (tools/host/logs.py), so a scenario behaves alike."""
    if not pattern:
        return lines
    return logs.grep_lines(lines, logs.compile_grep(pattern))
