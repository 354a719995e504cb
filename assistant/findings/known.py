"""Failure classes recognised by their message alone, declared as data: the pattern, the facts it yields,
the title, what to check next and the fix.

Each class is stated generally (any program that prints the kernel's or a library's
standard message) and tested on real-shaped lines in tests/test_findings_known.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.events import Finding
from assistant.findings.base import Call, Observation, analyzer, call, make_finding

Checks = Callable[[dict[str, Any], Observation], list[Call]]


def _none(facts: dict[str, Any], obs: Observation) -> list[Call]:
    return []


@dataclass(frozen=True)
class Known:
    signature: str
    cues: tuple[str, ...]
    """Lowercase words one of which the output must contain before the pattern is tried (keeps it cheap)."""
    pattern: re.Pattern[str]
    title: str
    """Formatted with the first match's named groups (missing ones read '?')."""
    fix: str
    checks: Checks = _none
    severity: str = "critical"
    facts: dict[str, Any] = field(default_factory=dict)
    keep: Callable[[list[re.Match[str]]], list[re.Match[str]]] | None = None
    """Which of the matches count (e.g. only back-to-back full collections that free nothing)."""


def _kernel_log(grep: str) -> Checks:
    return lambda facts, obs: (
        [call("log_tail", source="/var/log/kern.log", grep=grep, lines=200)]
        if obs.args.get("source") != "/var/log/kern.log"
        else []
    )


def _data_dir(obs: Observation) -> str:
    """The data directory of the service whose output this is (/var/lib/<name>), else the root filesystem."""
    source = str(obs.args.get("service") or obs.args.get("source") or "")
    m = re.search(
        r"(?:unit:|/var/log/)?([a-z][a-z0-9]*)", source.removeprefix("unit:").removeprefix("/var/log/")
    )
    return f"/var/lib/{m.group(1)}" if m and source else "/"


def _disk_of(facts: dict[str, Any], obs: Observation) -> list[Call]:
    path = facts.get("path")
    return (
        [call("disk_usage", path=str(path).rsplit("/", 1)[0] or "/")]
        if path and obs.tool != "disk_usage"
        else []
    )


def _time_sync(facts: dict[str, Any], obs: Observation) -> list[Call]:
    """A clock that is off: the time-sync daemon's state says why (chrony on most distributions)."""
    return [
        call("service_status", service="chrony"),
        call("service_status", service="chronyd"),
        call("service_status", service="systemd-timesyncd"),
    ]


def _audit_log(facts: dict[str, Any], obs: Observation) -> list[Call]:
    return (
        [call("log_tail", source="/var/log/audit/audit.log", grep="avc", lines=200)]
        if obs.args.get("source") != "/var/log/audit/audit.log"
        else []
    )


KNOWN: list[Known] = [
    Known(
        "fs-read-only",
        ("read-only", "erofs", "errno 30", "ext4-fs", "i/o error", "aborting journal"),
        re.compile(
            r"Read-only file system(?: \(os error 30\))?(?::? '?(?P<path>/[^'\s:]+))?|\[Errno 30\]|\bEROFS\b|"
            r"Remounting filesystem read-only|remounted? (?:filesystem )?read-only|"
            r"EXT4-fs (?:error|warning) \(device (?P<device>\w+)\)|Aborting journal on device (?P<device2>[\w-]+)|"
            r"I/O error, dev (?P<device3>\w+)|Buffer I/O error on dev(?:ice)? (?P<device4>\w+)"
        ),
        "the filesystem{path_in} is read-only{device_on}",
        "Find why the kernel remounted it (I/O errors in the kernel log: check the disk), repair it (fsck) and "
        "remount it read-write, then restart the services that failed writing (restart_service, needs approval).",
        checks=lambda facts, obs: (
            _kernel_log("EXT4-fs|I/O error|read-only|remount|XFS")(facts, obs) + _disk_of(facts, obs)
        ),
    ),
    Known(
        "conntrack-full",
        ("conntrack",),
        re.compile(r"nf_conntrack: table full, dropping packet|conntrack table full"),
        "the connection-tracking table is full and the kernel drops packets",
        "Raise net.netfilter.nf_conntrack_max (sysctl) and shorten conntrack timeouts, or stop tracking the busy "
        "traffic (NOTRACK); the drops stop at once.",
        facts={"kind": "conntrack"},
    ),
    Known(
        "ports-exhausted",
        ("assign requested", "eaddrnotavail", "(99:"),
        re.compile(r"Cannot assign requested address|EADDRNOTAVAIL|\(99: "),
        "outgoing connections fail with 'Cannot assign requested address': no free local ports",
        "Reuse connections (keepalive to the upstream), widen net.ipv4.ip_local_port_range and allow "
        "tcp_tw_reuse; then the errors stop without a restart.",
        facts={"kind": "ephemeral"},
    ),
    Known(
        "workers-exhausted",
        ("maxrequestworkers", "maxclients", "worker_connections", "max_children"),
        re.compile(
            r"server reached (?P<setting>MaxRequestWorkers|MaxClients) setting|"
            r"(?P<setting2>worker_connections) are not enough|reached (?P<setting3>pm\.max_children|max_children)|"
            r"(?P<setting4>max_children) setting"
        ),
        "the server reached its {setting} limit",
        severity="high",
        fix="Find what holds the workers (slow upstream calls, locks) and fix that; raising the limit only helps "
        "if the host has the memory for more workers.",
    ),
    Known(
        "cache-maxmemory",
        ("maxmemory",),
        re.compile(r"OOM command not allowed when used memory > 'maxmemory'"),
        "the cache is at maxmemory and refuses writes (OOM command not allowed)",
        "Set TTLs on the keys that have none or an eviction policy (maxmemory-policy allkeys-lru / volatile-lru), "
        "or raise maxmemory; writes resume at once.",
        facts={"server": "cache"},
    ),
    Known(
        "cache-protected-mode",
        ("protected mode",),
        re.compile(r"DENIED Redis is running in protected mode"),
        "Redis refuses remote clients: it runs in protected mode (no bind address or password configured)",
        "Give Redis an explicit `bind` address for the app network and a password (`requirepass`), or set "
        "`protected-mode no` only on a firewalled network, in redis.conf (a package upgrade may have replaced it); "
        "then restart redis-server (restart_service, needs approval).",
        facts={"server": "redis"},
    ),
    Known(
        "clock-skew",
        ("before issued", "not yet valid", "nbf", "iat", "clock skew", "in the future"),
        re.compile(
            r"token used before issued|token is not (?:yet )?valid yet|(?:token|jwt)[^\n]{0,40}not yet valid|"
            r"\bnbf\b[^\n]{0,40}(?:in the future|not (?:yet )?valid)|\biat\b[^\n]{0,40}in the future|"
            r"clock skew (?:detected|too (?:great|large))",
            re.IGNORECASE,
        ),
        "tokens are rejected as issued in the future ({match}): this host's clock is behind",
        "Bring the clock back in sync: start and enable the time-sync daemon (chrony / systemd-timesyncd), check "
        "it reaches its servers (`chronyc sources`), then step the clock (`chronyc makestep`).",
        checks=_time_sync,
        severity="high",
        facts={"kind": "clock"},
    ),
    Known(
        "selinux-denied",
        ("avc:",),
        re.compile(
            r"avc:\s+denied\s+\{ (?P<perm>[\w ]+?) \}[^\n]*?comm=\"(?P<process>[^\"]+)\"[^\n]*?"
            r"scontext=\S*?:(?P<domain>\w+_t):"
        ),
        "SELinux denies {process} ({domain}) the {perm} permission",
        "Allow it the SELinux way, not by disabling SELinux: for a web server connecting to a backend, "
        "`setsebool -P httpd_can_network_connect 1`; otherwise label the port/file for the domain (semanage port "
        "/ fcontext) or build a module with audit2allow.",
        severity="high",
    ),
    Known(
        "tls-key-mismatch",
        ("mismatch", "does not match"),
        re.compile(
            r"key values mismatch|private key does not match (?:the )?(?:public key|certificate)|"
            r"SSL_CTX_use_PrivateKey(?:_file)?\(\"?(?P<path>[^\"\s)]+)\"?\) failed",
        ),
        "the private key does not match the certificate{path_in}, so the server cannot load the new certificate",
        "Install the key that belongs to the renewed certificate (compare `openssl x509 -noout -modulus` and "
        "`openssl rsa -noout -modulus`), test the configuration (nginx -t) and reload (restart_service, needs "
        "approval).",
        severity="high",
    ),
    Known(
        "db-replication-broken",
        ("sql thread", "replica sql", "slave sql", "error_code", "last_sql_error"),
        re.compile(
            r"(?:Replica|Slave) SQL(?: thread)?(?: for channel '[^']*')?:[^\n]*?(?P<error>Duplicate entry[^\n]*?|"
            r"Could not execute \w+ event[^\n]*?|[^\n]*?)Error_code: (?P<code>(?:MY-)?\d+)|"
            r"Last_SQL_Error: (?P<error2>[^\n]*?Error_code: (?P<code2>(?:MY-)?\d+)|\S[^\n]*)",
        ),
        "the replica's SQL thread stopped on error {code}",
        "Find why the row already exists on the replica (a write made there directly?), make the replica "
        "consistent (re-clone it, or skip the one transaction only if you are sure), set it read_only, then START "
        "REPLICA.",
        facts={"server": "replica"},
    ),
    Known(
        "queue-resource-alarm",
        ("alarm", "insufficient", "blocked"),
        re.compile(
            r"(?P<resource>disk|memory) resource limit alarm set|Free disk space is insufficient|"
            r"(?P<resource2>disk|memory) alarm (?:set|is set)|publishers (?:are )?blocked",
            re.IGNORECASE,
        ),
        "the broker's {resource} alarm is set, so it blocks publishers",
        checks=lambda facts, obs: (
            [call("disk_usage", path=_data_dir(obs))]
            if str(facts.get("resource", "")).lower() == "disk"
            or "disk" in str(facts.get("match", "")).lower()
            else []
        ),
        fix="Free the resource (drain or purge the queue that grows, free disk) or adjust disk_free_limit / "
        "vm_memory_high_watermark; publishers resume when the alarm clears.",
    ),
    Known(
        "request-too-large",
        ("too large", "limitrequestbody"),
        re.compile(
            r"client intended to send too large body|413 Request Entity Too Large|"
            r"Request Entity Too Large|LimitRequestBody|request body (?:is )?too large",
            re.IGNORECASE,
        ),
        "requests are rejected as too large (HTTP 413)",
        "Raise the web server's body-size limit (nginx client_max_body_size, Apache LimitRequestBody) to what "
        "clients upload, test the configuration and reload it (restart_service, needs approval).",
        severity="high",
        facts={"server": "web"},
    ),
    Known(
        "wal-archive-failing",
        ("archiv",),
        re.compile(
            r"archive command failed|archiver process .*failed|"
            r"archiving write-ahead log file \"?(?P<segment>\w+)\"? failed"
        ),
        "the WAL archive command keeps failing",
        "Fix the archive command (its credentials or target), then the archiver catches up and frees pg_wal; "
        "do not delete WAL files by hand.",
        facts={"server": "postgresql"},
    ),
    Known(
        "instance-lock-held",
        ("lock", "another"),
        re.compile(
            r"DBPathInUse|Unable to lock file:? (?P<path>\S+)|Another mongod instance|"
            r"lock file \"?(?P<path2>[^\"\s]+)\"? already exists|Is another postmaster|"
            r"another instance (?:is )?(?:already )?running",
            re.IGNORECASE,
        ),
        "another instance already holds the lock{path_in}",
        "Stop the other instance that holds the lock (started by hand?), then start the service through systemd "
        "(restart_service, needs approval).",
    ),
    Known(
        "unit-start-timeout",
        ("timed out", "'timeout'"),
        re.compile(
            r"(?P<unit>[\w@.-]+)\.service: start(?:-post)? operation timed out|"
            r"(?P<unit2>[\w@.-]+)\.service: Failed with result 'timeout'"
        ),
        "{unit} did not report that it started within its start timeout, so systemd killed it",
        "Make the unit's Type= match what the program does (Type=notify needs the program to send READY=1 via "
        "sd_notify; otherwise use Type=simple/exec), or raise TimeoutStartSec if it is only slow; then "
        "restart_service (needs approval).",
        severity="high",
    ),
    Known(
        "process-killed",
        ("signal 9", "terminated by signal"),
        re.compile(
            r"(?:was )?terminated by signal 9|killed by signal 9|signal 9: Killed|"
            r"(?:server|worker|child) process \(PID (?P<pid>\d+)\) was terminated by signal"
        ),
        "a process was killed by signal 9 (SIGKILL)",
        "Find who killed it: the kernel's OOM killer logs it in the kernel log; if memory, lower the process's "
        "memory use (e.g. work_mem x connections) or give the host more.",
        checks=lambda facts, obs: _kernel_log("Out of memory|oom|Killed process")(facts, obs),
        severity="high",
        facts={"kind": "sigkill"},
    ),
    Known(
        "db-backend-crashed",
        ("closed the connection", "crash of another", "recovery mode"),
        re.compile(
            r"server closed the connection unexpectedly|terminating connection because of crash of another "
            r"server process|the database system is in recovery mode|all server processes terminated"
        ),
        "database connections were cut because a server process crashed",
        "Find which backend died and why (the kernel's OOM killer, a crash in the database log); then lower the "
        "memory each query may take or give the host more.",
        checks=lambda facts, obs: _kernel_log("Out of memory|oom|Killed process")(facts, obs),
        severity="high",
        facts={"kind": "backend-crash"},
    ),
    Known(
        "disk-watermark",
        ("watermark", "read-only-allow-delete"),
        re.compile(r"flood[- ]stage (?:disk )?watermark|high disk watermark|read-only-allow-delete"),
        "the search cluster hit its disk watermark and made indices read-only",
        "Free disk on the data nodes (delete old indices, add disk), then clear the block "
        "(index.blocks.read_only_allow_delete: null); recent versions clear it when usage drops.",
        facts={"kind": "watermark"},
    ),
    Known(
        "kafka-poll-interval-exceeded",
        ("max.poll", "poll timeout", "poll expired", "rebalanc", "commitfailed"),
        re.compile(
            r"max\.poll\.interval\.ms|poll timeout has expired|[Hh]eartbeat poll expired|"
            r"CommitFailed(?:Error|Exception)[^\n]*rebalanc|[Cc]ommit cannot be completed since the group has "
            r"already rebalanced"
        ),
        "the Kafka consumer spends longer than max.poll.interval.ms between polls, so the group coordinator "
        "kicks it out and rebalances ({match}){took}",
        "Make each poll's work fit the interval: lower max.poll.records (smaller batches) or speed up the "
        "per-batch processing, or raise max.poll.interval.ms above the real batch time; then the rebalance "
        "loop stops and the lag drains.",
        severity="high",
        facts={"kind": "kafka-poll"},
    ),
    Known(
        "jvm-heap-exhausted",
        ("gc overhead", "full gc", "pause full", "java heap space"),
        re.compile(
            r"GC overhead limit exceeded|OutOfMemoryError: Java heap space|"
            r"(?P<full>Full GC|Pause Full)[^\n]*?(?:ParOldGen|PSOldGen|Tenured|CMS|Old|G1 Old)[^\n]*?"
            r"\d+[KMG]->(?P<after>\d+)[KMG]\((?P<cap>\d+)[KMG]\)|"
            r"(?P<g1full>Pause Full) \([^)\n]*\) \d+(?:\.\d+)?[KMG]->\d+(?:\.\d+)?[KMG]\(\d+(?:\.\d+)?[KMG]\)"
        ),
        "the JVM heap is exhausted: {match}{filler}",
        "Give the JVM a heap that fits its live data (raise -Xmx, within the host's or container's memory) or "
        "shrink what fills it (bound the cache / batch size); then restart the service (restart_service, needs "
        "approval).",
        facts={"kind": "jvm-heap"},
        keep=lambda ms: _heap_full(ms),
    ),
    Known(
        "exec-format-error",
        ("exec format", "cannot execute binary"),
        re.compile(r"exec format error|cannot execute binary file|Exec format error"),
        "the program cannot run on this CPU: exec format error (built for another architecture)",
        "Build or pull the image for the node's architecture (a multi-arch image, or --platform linux/amd64 vs "
        "linux/arm64), or roll back to the previous image (needs approval).",
        facts={"kind": "architecture"},
    ),
    Known(
        "shm-exhausted",
        ("shared memory", "/dev/shm", "shm_open"),
        re.compile(
            r"could not resize shared memory segment|/dev/shm[^\n]*No space left|"
            r"shm_open[^\n]*failed|No space left on device[^\n]*shared memory"
        ),
        "shared memory (/dev/shm) is too small for the process",
        "Give the container a larger /dev/shm (an emptyDir with medium: Memory and a sizeLimit mounted at /dev/shm; "
        "the container default is 64M) or lower the process's parallel memory use.",
        facts={"kind": "shm"},
    ),
    Known(
        "tls-verify-failed",
        ("certificate", "mismatch", "match", "err_cert", "issuer", "not valid"),
        re.compile(
            r"certificate is not yet valid|(?P<reason>unable to get local issuer certificate)|"
            r"unable to verify the first certificate|"
            r"(?P<reason2>[Hh]ostname mismatch|(?:certificate|host ?name|subject\w*)[^\n]{0,60}(?:doesn't|does not) "
            r"match|no alternative certificate subject name matches|ERR_CERT_COMMON_NAME_INVALID|"
            r"certificate is not valid for)"
        ),
        "certificate verification fails: {match}{clock}",
        "Serve a certificate that verifies: the full chain (fullchain.pem) with the intermediate, a name in its "
        "subjectAltName that matches the host, and a correct clock on the client (timesync).",
        checks=lambda facts, obs: (
            _time_sync(facts, obs) if facts.get("clock") and obs.tool != "quote" else []
        ),
        severity="high",
    ),
]


def _format(title: str, facts: dict[str, Any]) -> str:
    values = {k: v for k, v in facts.items() if v is not None}
    values["path_in"] = f" ({values['path']})" if values.get("path") else ""
    values["device_on"] = f" (device {values['device']})" if values.get("device") else ""
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "?")), title)


_TOOK = re.compile(
    r"(?:batch|processing|processed|handled|poll loop|records?)[^\n]{0,80}?\b(?:in|took|takes|after)\s+"
    r"\d+(?:\.\d+)?\s?(?:ms|s|sec|secs|seconds|min|minutes)\b",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"(?:cache|\bmap\b|\bqueue\b|\bbuffer\b|\bsessions?\b)[^\n]{0,80}?(?:\b\d{4,}\b|maximumSize|entries|size=|loaded)|"
    r"(?:\b\d{4,}\b|maximumSize|max[_-]?size)[^\n]{0,80}?(?:cache|\bsessions\b|\bqueue\b)",
    re.IGNORECASE,
)


_GEN = re.compile(
    r"(?:(?P<gen>ParOldGen|PSOldGen|Tenured|CMS|G1 Old|Old)[^\d\n]{0,24})?\d+(?:\.\d+)?(?P<u1>[KMG])B?->"
    r"(?P<after>\d+(?:\.\d+)?)(?P<u2>[KMG])B?\((?P<cap>\d+(?:\.\d+)?)(?P<u3>[KMG])B?\)"
)
_OLD_PCT = re.compile(r"old gen(?:eration)?\W{0,3}(?P<pct>\d{2,3}(?:\.\d+)?)%", re.IGNORECASE)
_UNIT = {"K": 1, "M": 1024, "G": 1024 * 1024}


def _old_gen_full(line: str) -> bool:
    """After the collection the old generation (or, when the line does not split it, the whole heap) is still
    at least 95% full."""
    pct = _OLD_PCT.search(line)
    if pct:
        return float(pct.group("pct")) >= 95
    sizes = list(_GEN.finditer(line))
    old = [m for m in sizes if m.group("gen")] or sizes[-1:]
    if not old:
        return False
    m = old[0]
    after, cap = float(m.group("after")) * _UNIT[m.group("u2")], float(m.group("cap")) * _UNIT[m.group("u3")]
    return after >= 0.95 * max(cap, 1)


def _heap_full(matches: list[re.Match[str]]) -> list[re.Match[str]]:
    """An OOM/overhead message counts alone; full collections only when two or more leave the old
    generation at least 95% full (back to back, freeing nothing)."""
    full = [m for m in matches if (m.group("full") or m.group("g1full")) and _old_gen_full(m.string)]
    plain = [m for m in matches if not (m.group("full") or m.group("g1full"))]
    return plain + (full if len(full) >= 2 else [])


def _measured(obs: Observation) -> str | None:
    """The line that says how long one batch's processing took (the last one)."""
    lines = obs.grep(_TOOK)
    return lines[-1].strip()[-200:] if lines else None


def heap_filler(obs: Observation) -> str | None:
    """A log line naming what grows on the heap (a cache and its size), when the log has one."""
    lines = [ln for ln in obs.grep(_FILLER) if "GC" not in ln]
    return lines[-1].strip()[-200:] if lines else None


def _facts(k: Known, m: re.Match[str], lines: list[str], obs: Observation) -> dict[str, Any]:
    groups = {re.sub(r"\d+$", "", name): v for name, v in m.groupdict().items() if v}
    facts: dict[str, Any] = {**k.facts, **groups, "match": m.group(0), "count": len(lines)}
    if k.signature == "kafka-poll-interval-exceeded":
        took = _measured(obs)
        facts["took"] = (
            f"; processing is too slow between polls: {took!r}"
            if took
            else ("; processing between polls is too slow")
        )
    if k.signature == "jvm-heap-exhausted":
        filler = heap_filler(obs)
        facts["filler"] = f"; the log says what fills it: {filler!r}" if filler else ""
        facts["filled_by"] = filler
    if k.signature == "tls-verify-failed":
        not_yet = "not yet valid" in m.group(0)
        facts["clock"] = (
            " (a certificate 'not yet valid' means this host's clock is wrong, behind: check chrony / "
            "systemd-timesyncd)"
            if not_yet
            else ""
        )
        facts.setdefault("host", obs.args.get("host") or obs.args.get("url"))
        facts.setdefault("reason", "not yet valid" if "not yet valid" in m.group(0) else m.group(0))
    facts.setdefault("path", None)
    return facts


@analyzer
def known_failures(obs: Observation) -> list[Finding]:
    """Every declared failure class whose message appears in the output, once per class."""
    out = []
    low = obs.output.lower()
    for k in KNOWN:
        if k.cues and not any(c in low for c in k.cues):
            continue
        lines = obs.grep(k.pattern)
        if not lines:
            continue
        matches = [m for ln in lines if (m := k.pattern.search(ln))]
        if k.keep:
            matches = k.keep(matches)
            if not matches:
                continue
            lines = [m.string.strip() for m in matches]
        best = max(matches, key=lambda m: sum(1 for v in m.groupdict().values() if v))
        facts = _facts(k, best, lines, obs)
        if k.signature == "jvm-heap-exhausted" and not facts.get("filled_by"):
            if all("OutOfMemoryError" in m.string for m in matches):
                continue  # a bare OutOfMemoryError is apps.heap_exhausted's; this one adds what fills the heap
        for m in matches:  # facts the best line lacks, from the others (e.g. the device of a remount)
            for name, v in m.groupdict().items():
                if v and not facts.get(re.sub(r"\d+$", "", name)):
                    facts[re.sub(r"\d+$", "", name)] = v
        out.append(
            make_finding(
                obs,
                k.signature,
                _format(k.title, facts),
                [lines[0], *lines[1:][-2:]],
                facts,
                severity=k.severity,
                confidence=0.85,
                next_checks=k.checks(facts, obs),
                remediation=k.fix,
            )
        )
    return out
