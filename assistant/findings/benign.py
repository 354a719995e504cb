"""Known-benign output: lines that look like failures but are printed by healthy systems.

Data, not code paths: each entry names the class of noise and why it is harmless (and, for a
start-up message, what later line shows it passed), and tests/test_findings_generic.py and
tests/test_findings_variations.py prove each one on real-shaped lines. Structural
benign states (a oneshot unit that exited 0, probe failures during start-up that end
in Ready) are decided where the structure is read (services.py, kubernetes.py) and
tested there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Benign:
    name: str
    why: str
    pattern: re.Pattern[str]
    resolved_by: re.Pattern[str] | Callable[[re.Match[str]], re.Pattern[str]] | None = None
    """Benign only when a later line of the same output matches this (a start-up that then completed);
    alone, the line is a failure like any other. A function builds the pattern from the line's match (the
    name a lookup failed for, to find the later answer for that same name)."""


def _answered(m: re.Match[str]) -> re.Pattern[str]:
    """A later NOERROR answer to an A query for the failed name or for a name it was built from by appending
    a search domain (`api.example.com.payments.svc.cluster.local` was tried for `api.example.com`)."""
    labels = m.group("name").rstrip(".").split(".")
    names = "|".join(re.escape(".".join(labels[:k])) for k in range(len(labels), 1, -1))
    return re.compile(rf'"A IN (?:{names})\.? (?:udp|tcp) [^"]*" NOERROR\b')


BENIGN: list[Benign] = [
    Benign(
        "web-404-probe",
        "a web server logging a client's request for a file that does not exist (scanners, "
        "old links): a 404, not a server fault",
        re.compile(
            r"open\(\) \"[^\"]+\" failed \(2: No such file or directory\), client:|"
            r"File does not exist: |AH01276: Cannot serve directory|AH01630: client denied by server",
            re.IGNORECASE,
        ),
    ),
    Benign(
        "client-went-away",
        "the client closed the connection or sent garbage; the server is fine",
        re.compile(
            r"client (?:closed|prematurely closed) (?:keepalive )?connection|"
            r"client sent (?:invalid|too long|too large) \w+|broken pipe\) while sending|"
            r"SSL_do_handshake\(\) failed .*while SSL handshaking, client:|"
            r"peer closed connection in SSL handshake|connection reset by peer\) while reading client",
            re.IGNORECASE,
        ),
    ),
    Benign(
        "ssh-internet-noise",
        "password guessing from the internet against sshd: noise on any public host",
        re.compile(
            r"sshd(?:-session)?\[\d+\]: (?:Invalid user|input_userauth_request: invalid user|Failed password for|"
            r"Connection closed by|Disconnected from (?:invalid|authenticating) user|error: kex_exchange_identification|"
            r"banner exchange|Received disconnect from|pam_unix\(sshd:auth\): (?:authentication failure|check pass; "
            r"user unknown)|error: maximum authentication attempts exceeded for invalid user|"
            r"Unable to negotiate with \S+ port \d+: no matching)",
            re.IGNORECASE,
        ),
    ),
    Benign(
        "unit-success",
        "systemd reporting a unit that finished successfully",
        re.compile(
            r"Deactivated successfully|: Succeeded\.|status=0/SUCCESS|Finished [^\n]*\.$|"
            r"Consumed [\d.]+\w* CPU time"
        ),
    ),
    Benign(
        "journal-rotated",
        "systemctl status printing that the journal rotated since the unit started",
        re.compile(
            r"^Warning: (?:journal has been rotated|The unit file, source configuration file or drop-ins)|"
            r"^Hint: Some lines were ellipsized",
            re.IGNORECASE,
        ),
    ),
    Benign(
        "kubectl-notice",
        "kubectl's notices printed on every healthy run (deprecations, defaulted container)",
        re.compile(
            r"^(?:Warning: [\w./-]+ is deprecated|Defaulted container \"[^\"]+\" out of:|"
            r"Warning: spec\.template\.|I\d{4} \d\d:\d\d:\d\d\.\d+ .*(?:cached|throttling)|"
            r"Unable to use a TTY - input is not a terminal|Warning: Use tokens from the TokenRequest API|"
            r"Warning: resource \S+ is missing the kubectl\.kubernetes\.io/last-applied-configuration annotation)"
        ),
    ),
    Benign(
        "zero-count",
        "a counter that says nothing failed",
        re.compile(
            r"(?:^|[\s,(:])(?:0|no) (?:errors|failures)\b|\b(?:errors?|failures?|failed)[=:]\s*0\b|"
            r"[,(]\s*0 failed\b",
            re.IGNORECASE,
        ),
    ),
    Benign(
        "self-healed-retry",
        "a retry that is followed in the same line by success",
        re.compile(r"(?:retry|retrying|attempt \d+)[^\n]*\b(?:succeeded|success|ok)\b", re.IGNORECASE),
    ),
    Benign(
        "mount-permission-noise",
        "df reporting a per-user FUSE mount it may not read",
        re.compile(r"^df: /run/user/\d+/\S+: (?:Permission denied|Operation not permitted)"),
    ),
    Benign(
        "tls-handshake-probe",
        "a TCP health check (a load balancer, kubelet tcpSocket probe) that connects to a TLS port and closes "
        "without a handshake: Go's net/http logs it on every probe",
        re.compile(
            r"http: TLS handshake error from \S+: (?:EOF|read tcp \S+: (?:read: )?connection reset by peer)"
        ),
    ),
    Benign(
        "firmware-noise",
        "ACPI/firmware complaints the kernel prints on every boot of many (virtual) machines (and NVMe drives "
        "whose firmware reports no subsystem NQN)",
        re.compile(
            r"\bACPI (?:BIOS )?Error\b|\bACPI Error: |\[Firmware Bug\]:|\bACPI: \\?_\w+: failed|"
            r"nvme nvme\d+: missing or invalid SUBNQN field"
        ),
    ),
    Benign(
        "grpc-transport-closing",
        "gRPC logging that a connection it was done with is closing (a client or a deploy went away)",
        re.compile(r"loopyWriter\.run returning\. connection error: desc = \"transport is closing\""),
    ),
    Benign(
        "kubectl-discovery-noise",
        "kubectl's discovery cache complaining about an aggregated API (often metrics.k8s.io) on every command: "
        "not about the workload being investigated",
        re.compile(
            r"memcache\.go:\d+\] (?:couldn't get (?:current server API group list|resource list for)|"
            r"\"Unhandled Error\" err=\"couldn't get)"
        ),
    ),
    Benign(
        "kubelet-cgroup-stats-noise",
        "a kubelet/cAdvisor message printed every few seconds on distributions whose cgroup layout it does "
        "not expect; harmless to the pods",
        re.compile(r"Failed to get system container stats\b"),
    ),
    Benign(
        "apparmor-snap-noise",
        "AppArmor denials from snap packages' own confinement profiles (snap.*): printed continuously on "
        "Ubuntu hosts and unrelated to the services being investigated",
        re.compile(r'apparmor="DENIED"[^\n]*profile="snap[.-]'),
    ),
    Benign(
        "apparmor-capability-noise",
        "an AppArmor profile refusing a program an extra capability it asks for opportunistically (cupsd asking "
        "for net_admin, a daemon probing sys_module): the program carries on without it. A denied file or "
        'network operation (operation="open", "connect", ...) is what breaks a service, and stays a failure',
        re.compile(r'apparmor="DENIED" operation="capable"'),
    ),
    Benign(
        "db-starting-up",
        "clients connecting while the database was (re)starting, and it finished starting afterwards",
        re.compile(
            r"the database system is (?:starting up|shutting down|in recovery mode)|"
            r"LOADING Redis is loading the dataset in memory",
            re.IGNORECASE,
        ),
        resolved_by=re.compile(
            r"database system is ready to accept connections|Ready to accept connections|DB loaded from disk",
            re.IGNORECASE,
        ),
    ),
    Benign(
        "http-request-record",
        "an access-log record of a request the server answered (2xx/3xx) or that the client got wrong (401, 403, "
        "404): a request served, not a server failure, whatever words its URL holds",
        re.compile(
            r"^(?!.*\b(?:ERROR|FATAL|PANIC|CRIT(?:ICAL)?|EMERG)\b)"
            r'.*\b(?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (?:/|https?://)\S*(?: HTTP/[\d.]+)?"?\s+'
            r"(?:[23]\d\d|40[134])\b"
        ),
    ),
    Benign(
        "dns-search-path-nxdomain",
        "a DNS query log (CoreDNS, dnsmasq in log-queries mode) recording NXDOMAIN for a name built by appending "
        "a search domain (ndots), or for the AAAA of a name, and the resolver then got the name's A record: "
        "every lookup from a pod does this",
        re.compile(r'"(?:A|AAAA) IN (?P<name>[\w.-]+?)\.? (?:udp|tcp) \d+ [^"]*" NXDOMAIN\b'),
        resolved_by=_answered,
    ),
    Benign(
        "deprecation-notice",
        "a deprecation notice (Python's warnings module printing a DeprecationWarning/FutureWarning with its "
        "file:line, an API or flag marked deprecated): printed on every healthy start until the code changes; "
        "it breaks nothing today. Raised as an exception (no file:line prefix) or already removed, it is a failure",
        re.compile(
            r"\.py:\d+: \w*(?:Deprecation|Future)Warning: |"
            r"^(?!.*\b(?:ERROR|FATAL|PANIC|CRIT(?:ICAL)?)\b)"
            r".*\bis deprecated\b(?![^\n]*\b(?:has been removed|no longer (?:supported|available|served))\b)"
        ),
    ),
    Benign(
        "dns-no-data",
        "a lookup tool saying a name has no record of one type (busybox nslookup's `Can't find NAME: No answer` "
        "for the AAAA it asks after the A, `has no AAAA record`): the name exists, only that type is absent",
        re.compile(r"\*\*\* Can't find \S+: No answer\b|\bhas no AAAA record\b"),
    ),
    Benign(
        "journald-file-replaced",
        "systemd-journald setting aside a journal file left open by an unclean shutdown and starting a new one: "
        "it recovers by itself; the reboot, if unexpected, is the thing to look at",
        re.compile(
            r"systemd-journald\[\d+\]: File \S+\.journal corrupted or uncleanly shut down, renaming and replacing"
        ),
    ),
    Benign(
        "kubelet-invalid-disk-capacity",
        "the kubelet's `invalid capacity 0 on image filesystem` warning, printed at every kubelet start before "
        "its stats of the image filesystem are first collected",
        re.compile(r"\bInvalidDiskCapacity\b.*invalid capacity 0 on image filesystem"),
    ),
    Benign(
        "alert-resolved",
        "an alert notification saying the alert resolved (Alertmanager's [RESOLVED] subject, status=resolved): "
        "the condition it names has ended (RabbitMQ's `resource limit alarm cleared`)",
        re.compile(
            r"\[RESOLVED\]|\bstatus[=:]\s*\"?resolved\b|\bresource limit alarm cleared\b", re.IGNORECASE
        ),
    ),
    Benign(
        "dns-config-forming",
        "the kubelet warning that the node's resolv.conf lists more than three nameservers and it applied the "
        "first three: printed for every pod on such a node, and pods resolve through the ones applied",
        re.compile(r"\bDNSConfigForming\b.*Nameserver limits were exceeded"),
    ),
    Benign(
        "kube-root-ca-not-registered",
        "the kubelet's first attempt to mount a pod's service-account token volume (kube-api-access-*) before "
        "its informer cache has the namespace's kube-root-ca.crt; it retries and mounts, the pod starts",
        re.compile(
            r'MountVolume\.SetUp failed for volume "kube-api-access-\w+" : '
            r'object "[^"]+"/"kube-root-ca\.crt" not registered'
        ),
    ),
    Benign(
        "output-cut-marker",
        "the mark a tool or recorder leaves where it cut a long output (`… [2048 characters truncated] …`, "
        "`[body truncated: ...]`): a note about the reading, not something the system said",
        re.compile(
            r"\[(?:\d+ (?:characters|chars|bytes|lines) truncated|(?:output |body |log )?truncated\b[^\]\n]{0,120})\]|"
            r"<truncated>|^\W{0,4}\(?(?:output )?truncated\)?\W{0,4}$",
            re.IGNORECASE,
        ),
    ),
    Benign(
        "redis-startup-advice",
        "Redis's tuning advice printed at `#` (its warning level) on every start of a healthy server on a stock "
        "kernel (overcommit_memory, somaxconn, transparent huge pages, no config file): advice, not a failure; "
        "a background save that then fails says so in its own line",
        re.compile(
            r"# WARNING:? (?:overcommit_memory is set to 0|Memory overcommit must be enabled|"
            r"The TCP backlog setting of \d+ cannot be enforced|you have Transparent Huge Pages)|"
            r"# Warning: no config file specified",
            re.IGNORECASE,
        ),
    ),
    Benign(
        "startup-wait-resolved",
        "a component saying what it depends on is not ready yet while it starts (`waiting for db: not ready`), "
        "and a later line of the same output says it became ready: a start-up wait that ended",
        re.compile(
            r"^(?!.*\b(?:ERROR|FATAL|PANIC|CRIT(?:ICAL)?|fail\w*|refused|timed? ?out|denied)\b).*\bnot (?:yet )?ready\b",
            re.IGNORECASE,
        ),
        resolved_by=re.compile(
            r"(?<!not )(?<!yet )(?<!n't )\bready\b(?!\s*[=:]\s*(?:false|0|no)\b)", re.IGNORECASE
        ),
    ),
    Benign(
        "lb-maintenance",
        "a load balancer taking a server out for maintenance on purpose (HAProxy's `is going DOWN for "
        "maintenance`, a server set to MAINT/drain by the operator): planned, not a failed check",
        re.compile(
            r"\bis going DOWN for maintenance\b|\bis (?:DOWN|down) for maintenance\b|\bto (?:MAINT|DRAIN)\b"
        ),
    ),
    Benign(
        "pid-file-not-yet",
        "systemd noting that a forking service had not yet written its PID file when it first looked (`Can't open "
        "PID file ... (yet?) after start`): printed on healthy starts of PostgreSQL, nginx and others that write "
        "it a moment later; a start that then fails says so in its own lines",
        re.compile(r"Can't open PID file \S+ \(yet\?\) after start"),
    ),
    Benign(
        "retry-policy",
        "a program describing its retry policy when it starts (`will retry 5 times before giving up`): how it "
        "would react to a failure, not one",
        re.compile(
            r"\b(?:will|would|configured to) (?:retry|try|attempt)\b[^\n]{0,60}\bbefore giving up\b", re.I
        ),
    ),
    Benign(
        "error-level-config",
        "a configuration or command line that only mentions an error log or level",
        re.compile(r"error_log|errorlog|--log-level[= ]error|log_level\s*=\s*error|ErrorLog ", re.IGNORECASE),
    ),
]


class LaterLines:
    """One output's lines, asked 'does a line after line i match this pattern?': each pattern is scanned once
    (from the end), so asking for every line of a long output stays linear."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._last: dict[re.Pattern[str], int] = {}

    def _last_match(self, rx: re.Pattern[str]) -> int:
        if rx not in self._last:
            self._last[rx] = next(
                (j for j in range(len(self._lines) - 1, -1, -1) if rx.search(self._lines[j])), -1
            )
        return self._last[rx]

    def after(self, i: int) -> Callable[[re.Pattern[str]], bool]:
        return lambda rx: self._last_match(rx) > i


def benign(
    line: str,
    after: Callable[[], str] | None = None,
    *,
    later: Callable[[re.Pattern[str]], bool] | None = None,
) -> Benign | None:
    """The known-benign class this line belongs to, if any. `after` gives the output that follows the line, or
    `later` says whether a following line matches a pattern (asked only for a class with `resolved_by`):
    without either, such a start-up message is not benign."""
    for b in BENIGN:
        m = b.pattern.search(line)
        if m is None:
            continue
        if b.resolved_by is None:
            return b
        if after is None and later is None:
            continue
        rx = b.resolved_by if isinstance(b.resolved_by, re.Pattern) else b.resolved_by(m)
        if later(rx) if later is not None else rx.search(after()) if after is not None else False:
            return b
    return None
