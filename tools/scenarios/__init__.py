"""Sandbox incident scenarios: the YAML format, its validation and loading.

A scenario states each fact once (a process, a socket's owner pid, a pod's
restart count); the sandbox target derives every tool's output from these facts,
so `ss`, `ps` and `systemctl status` can never disagree. `root_cause` and
`evidence` exist for tests and docs only and are never shown to tools or models.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.facts import (
    FilesystemFacts,
    HostFacts,
    ProcessFacts,
    ServiceFacts,
    SocketFacts,
    TlsFacts,
    UtcDatetime,
)

SHIPPED_DIR = Path(__file__).parent
SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or inconsistent."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProcessSpec(ProcessFacts):
    """A `ps aux` row plus when it started and which service's sessions it serves."""

    started: UtcDatetime | None = None
    """Start time; `start` (ps's START column) is derived from it when not given."""
    session_of: str | None = None
    """A backend serving that service's connections (e.g. a postgres backend): gone when it restarts."""
    own_cgroup: bool = False
    """Not in its parent's service cgroup (e.g. an ssh login session's scope)."""
    tool_facts: dict[str, Any] = Field(default_factory=dict)
    """Facts only a tool declared in its own module reads, by tool name (e.g. `open_files: {soft_limit: 1024,
    kinds: {socket: 1019}}`); that tool validates them, so a new tool needs no field here."""


class ServiceSpec(ServiceFacts):
    """`systemctl status` facts; the CGroup processes come from the host's process table via `pids`."""

    pids: list[int] = Field(default_factory=list)
    """The cgroup's processes; their descendants are added (unless `own_cgroup`), so the main pid is enough."""
    binds: list[str] = Field(default_factory=list)
    """Addresses the service binds when it starts, e.g. `0.0.0.0:80`, `[::]:80`."""
    bind_error: str | None = None
    """Journal message when a bind fails, with {address} and {port}, e.g. nginx's `bind() ... (98: ...)`."""
    spawn: list[ProcessSpec] = Field(default_factory=list)
    """Processes a (re)start creates when the service has none running (pids are reassigned)."""
    aliases: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_stated_processes(self) -> ServiceSpec:
        if self.processes:
            raise ValueError(
                f"service {self.name}: list `pids`, not `processes` (derived from the process table)"
            )
        return self


class LogFile(_Spec):
    path: str
    content: str = ""
    size: int | None = None
    """Bytes on disk when `content` is only the tail of a much larger file."""


class HostSpec(_Spec):
    hostname: str
    addresses: list[str] = Field(default_factory=list)
    resources: HostFacts
    filesystems: list[FilesystemFacts] = Field(default_factory=list)
    processes: list[ProcessSpec] = Field(default_factory=list)
    sockets: list[SocketFacts] = Field(default_factory=list)
    services: list[ServiceSpec] = Field(default_factory=list)
    files: list[LogFile] = Field(default_factory=list)
    dirs: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> HostSpec:
        pids = [p.pid for p in self.processes]
        dupes = {p for p in pids if pids.count(p) > 1}
        if dupes:
            raise ValueError(f"duplicate pids in processes: {sorted(dupes)}")
        known = set(pids)
        for s in self.sockets:
            if s.process or s.user or s.cmdline:
                raise ValueError(
                    f"socket :{s.local_port}: state only `pid`; process/user/cmdline are derived"
                )
            if s.pid is not None and s.pid not in known:
                raise ValueError(f"socket :{s.local_port} owned by pid {s.pid}, which is not in processes")
        for svc in self.services:
            missing = [p for p in [*svc.pids, *([svc.main_pid] if svc.main_pid else [])] if p not in known]
            if missing:
                raise ValueError(f"service {svc.name}: pids {missing} are not in processes")
            if svc.main_pid and svc.main_pid not in svc.pids:
                raise ValueError(f"service {svc.name}: main_pid {svc.main_pid} must be listed in its pids")
            svc.pids = self._with_descendants(svc.pids)
        return self

    def _with_descendants(self, pids: list[int]) -> list[int]:
        children: dict[int, list[int]] = {}
        for p in self.processes:
            if p.ppid is not None and not p.own_cgroup:
                children.setdefault(p.ppid, []).append(p.pid)
        out, queue = list(pids), list(pids)
        while queue:
            for child in children.get(queue.pop(0), []):
                if child not in out:
                    out.append(child)
                    queue.append(child)
        return out


class DnsRecord(_Spec):
    addresses: list[str] = Field(default_factory=list)
    canonical_name: str | None = None
    status: Literal["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "TIMEOUT"] = "NOERROR"
    elapsed_ms: float | None = None


class DnsSpec(_Spec):
    resolver: str = "127.0.0.53"
    records: dict[str, DnsRecord] = Field(default_factory=dict)
    """Names not listed here (nor hosts' own names) answer NXDOMAIN, like a real resolver."""


class HttpResponse(_Spec):
    http_version: str = "1.1"
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = Field(default_factory=list)
    body: str = ""
    body_bytes: int | None = None
    time_total_s: float = 0.05
    curl_exit: int = 0
    curl_error: str | None = None


class HttpEndpoint(HttpResponse):
    url: str
    port: int | None = None
    """When the URL lands on the scenario host: answered only if something listens on this port."""
    by_owner: dict[str, HttpResponse] = Field(default_factory=dict)
    """Response by the listening process's name (e.g. node vs nginx), overriding the default."""
    unbound: HttpResponse | None = None
    """Response when nothing listens on `port` (default: curl's connection refused)."""
    served_by: str | None = None
    after_restart: HttpResponse | None = None
    """Response once `served_by` has been restarted in this session (e.g. leaked connections freed)."""


class TlsSpec(TlsFacts):
    served_by: str | None = None
    """Service that loaded this certificate; restarting it loads `renewed`."""
    renewed: TlsFacts | None = None


class Namespace(_Spec):
    name: str
    pods: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    deployments: list[dict[str, Any]] = Field(default_factory=list)
    replicasets: list[dict[str, Any]] = Field(default_factory=list)
    configmaps: list[dict[str, Any]] = Field(default_factory=list)
    logs: dict[str, dict[str, dict[str, str]]] = Field(default_factory=dict)
    """pod -> container -> {"current": text, "previous": text}."""
    persistent_faults: list[str] = Field(default_factory=list)
    """Deployments whose fault lives outside the pod template (e.g. a ConfigMap): new pods fail alike."""


class Evidence(_Spec):
    """A tool call and lines its output must contain (tests only)."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    contains: list[str]


class Scenario(_Spec):
    id: str
    title: str
    kind: Literal["host", "kubernetes", "both"]
    summary: str
    root_cause: str
    report: str = ""
    """What the on-call engineer first types (symptoms, never the cause); defaults to `summary`."""
    expect: list[str] = Field(default_factory=list)
    """Regexes a correct diagnosis matches (tests, demo and evals only, like `root_cause`)."""
    now: UtcDatetime
    host: HostSpec | None = None
    hosts: list[HostSpec] = Field(default_factory=list)
    """Several hosts instead of one (a fleet): host tools then take `host`, one of their hostnames."""
    dns: DnsSpec = Field(default_factory=DnsSpec)
    http: list[HttpEndpoint] = Field(default_factory=list)
    tls: list[TlsSpec] = Field(default_factory=list)
    namespaces: list[Namespace] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    source_path: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Scenario:
        if not SCENARIO_ID.match(self.id):
            raise ValueError(f"id {self.id!r} must match [a-z0-9-]")
        self.report = self.report or self.summary
        for pattern in self.expect:
            re.compile(pattern)
        if self.host is not None and self.hosts:
            raise ValueError("give `host` (one) or `hosts` (a fleet), not both")
        if self.kind in ("host", "both") and self.host is None and not self.hosts:
            raise ValueError(f"kind {self.kind} needs a `host` (or `hosts`)")
        names = [h.hostname for h in self.hosts]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate hostnames in hosts: {names}")
        if self.kind in ("kubernetes", "both") and not self.namespaces:
            raise ValueError(f"kind {self.kind} needs `namespaces`")
        for ns in self.namespaces:
            _complete_namespace(ns, self.now)
        return self


def _uid(*parts: str) -> str:
    """A stable uid for objects the file did not give one (same scenario, same uid)."""
    h = hashlib.sha1("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _complete_namespace(ns: Namespace, now: datetime) -> None:
    """Fill the API metadata the file left out, so objects look like what the API returns."""
    for kind, objs in (
        ("Pod", ns.pods),
        ("Deployment", ns.deployments),
        ("ReplicaSet", ns.replicasets),
        ("ConfigMap", ns.configmaps),
    ):
        for obj in objs:
            obj.setdefault("apiVersion", "apps/v1" if kind in ("Deployment", "ReplicaSet") else "v1")
            obj.setdefault("kind", kind)
            meta = obj.setdefault("metadata", {})
            meta.setdefault("namespace", ns.name)
            meta.setdefault("uid", _uid(ns.name, kind, meta.get("name", "")))
            meta.setdefault("resourceVersion", str(int(_uid(kind, meta.get("name", ""))[:6], 16)))
    for i, ev in enumerate(ns.events):
        inv = ev.setdefault("involvedObject", {})
        inv.setdefault("namespace", ns.name)
        inv.setdefault("apiVersion", "v1" if inv.get("kind", "Pod") == "Pod" else "apps/v1")
        inv.setdefault("uid", _uid(ns.name, inv.get("kind", "Pod"), inv.get("name", "")))
        ev.setdefault("apiVersion", "v1")
        ev.setdefault("kind", "Event")
        meta = ev.setdefault("metadata", {})
        meta.setdefault("name", f"{inv.get('name', 'x')}.{_uid(ns.name, str(i))[:16].replace('-', '')}")
        meta.setdefault("namespace", ns.name)
        meta.setdefault("uid", _uid(ns.name, "Event", str(i)))
        meta.setdefault("creationTimestamp", ev.get("firstTimestamp") or ev.get("lastTimestamp"))
        ev.setdefault("count", 1)
        ev.setdefault("type", "Normal")
        ev.setdefault("reportingComponent", (ev.get("source") or {}).get("component", ""))
        ev.setdefault("reportingInstance", (ev.get("source") or {}).get("host", ""))


def _scenario_files(extra_dir: Path | None) -> list[Path]:
    files = sorted(SHIPPED_DIR.glob("*.yaml"))
    if extra_dir is not None and Path(extra_dir).is_dir():
        files += sorted(Path(extra_dir).glob("*.yaml"))
    return files


def _expand(items: list[Any]) -> list[Any]:
    """Expand `{repeat: N, template: {...}, vars: {name: [start, step]}}` into N items.

    Each template string is formatted with the vars (`{port}`) and `{n}` (0-based);
    `pid` steps by `pid_step`, `started` by `started_step_s`, so a hundred backends
    are stated once instead of a hundred times.
    """
    out: list[Any] = []
    for item in items:
        if not (isinstance(item, dict) and "repeat" in item):
            out.append(item)
            continue
        tmpl, vars_ = item["template"], item.get("vars", {})
        for n in range(int(item["repeat"])):
            values = {k: start + n * step for k, (start, step) in vars_.items()}
            obj = {k: v.format(n=n, **values) if isinstance(v, str) else v for k, v in tmpl.items()}
            obj["pid"] = item["pid"] + n * item.get("pid_step", 1)
            if "started" in tmpl and item.get("started_step_s"):
                start = tmpl["started"]
                if not isinstance(start, datetime):
                    start = datetime.fromisoformat(str(start))
                obj["started"] = start + timedelta(seconds=n * item["started_step_s"])
            out.append(obj)
    return out


def _api_json(obj: Any) -> Any:
    """Rebuild YAML data as the API would send it: no shared (anchored) objects, timestamps as strings."""
    if isinstance(obj, dict):
        return {str(k): _api_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_api_json(v) for v in obj]
    if isinstance(obj, datetime):
        stamp = obj if obj.tzinfo else obj.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return obj


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_scenario_file(path: Path) -> Scenario:
    """Parse and validate one file (cached until it changes); treat the result as read-only.

    ScenarioError says which file and what is wrong.
    """
    try:
        st = Path(path).stat()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from None
    return _load_cached(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, _mtime_ns: int, _size: int) -> Scenario:
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario file must be a YAML mapping")
    raw = {k: v for k, v in raw.items() if not str(k).startswith("x-")}  # x-*: YAML anchor holders
    if isinstance(raw.get("namespaces"), list):
        raw["namespaces"] = _api_json(raw["namespaces"])
    for host in [raw.get("host"), *(raw.get("hosts") or [])]:
        if isinstance(host, dict) and isinstance(host.get("processes"), list):
            try:
                host["processes"] = _expand(host["processes"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ScenarioError(f"{path}: host.processes: bad repeat block: {exc!r}") from None
    try:
        scenario = Scenario.model_validate({**raw, "source_path": str(path)})
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:6]]
        raise ScenarioError(f"{path}: invalid scenario: " + "; ".join(problems)) from None
    if scenario.id != Path(path).stem:
        raise ScenarioError(f"{path}: id {scenario.id!r} must equal the file name")
    return scenario


def list_scenario_files(extra_dir: Path | None = None) -> dict[str, Path]:
    """Scenario id -> file; a file in `extra_dir` overrides a shipped one of the same id."""
    out: dict[str, Path] = {}
    for path in _scenario_files(extra_dir):
        if SCENARIO_ID.match(path.stem):
            out[path.stem] = path
    return out


def load_all(extra_dir: Path | None = None) -> list[Scenario]:
    """Every valid scenario, shipped first; a broken extra file is skipped, not fatal."""
    out = []
    for _sid, path in sorted(list_scenario_files(extra_dir).items()):
        try:
            out.append(load_scenario_file(path))
        except ScenarioError:
            if path.parent == SHIPPED_DIR:
                raise
    return out
