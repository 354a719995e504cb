"""The one registry of failure signatures: what each one is, how sure it makes us, and what it means.

Analyzers recognise a signature in output; the runbook reads everything else from here:
its rank (cause over symptom), its key facts (one problem, one finding), when it ends an
investigation, which complaints it answers, and (for the plain ones) its cause sentence.
Signatures whose sentence needs the conversation (a ConfigMap line, the process holding
a port) have a refiner in assistant/runbook/causes.py under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Signature:
    key: tuple[str, ...]
    """Facts that identify one occurrence (the loop deduplicates on signature + these)."""
    rank: int
    """Higher = closer to a root cause than a symptom; the runbook leads with the highest."""
    ends: bool | tuple[str, ...] = False
    """Does a finding of this kind end the investigation? True, or only when all these facts are known."""
    about: frozenset[str] = field(default_factory=frozenset)
    """The kinds of complaint (assistant.runbook.entities.SYMPTOMS) it answers."""
    cause: str | None = None
    """The root-cause sentence ({title} and facts); None when a refiner in the runbook words it."""
    situational: bool = False
    """Normal on its own (found as `info`), the cause when the engineer complains of what it answers."""
    fix: str | None = None
    """The fix in words, when the finding brings no remediation of its own."""
    then_restart: str | None = None
    """Whose restart completes the fix: 'tls-server' (the process serving TLS) or 'pool-client' (the service
    whose connection pool showed the leak)."""


def _s(
    key: tuple[str, ...],
    rank: int,
    ends: bool | tuple[str, ...] = False,
    about: str = "",
    cause: str | None = None,
    situational: bool = False,
    fix: str | None = None,
    then_restart: str | None = None,
) -> Signature:
    return Signature(key, rank, ends, frozenset(about.split()), cause, situational, fix, then_restart)


SIGNATURES: dict[str, Signature] = {
    # -- specific causes
    "port-in-use": _s(("port", "pid"), 90, ("pid",), "port"),
    "config-test-failed": _s(("file", "line"), 88, True),
    "tls-cert-not-reloaded": _s(("certificate",), 87, True, "cert", then_restart="tls-server"),
    "tls-cert-expired": _s(("host",), 86, True, "cert", then_restart="tls-server"),
    "unit-environment-missing": _s(
        ("unit",), 86, True, "down crash", "{title}, so systemd refuses to start it."
    ),
    "image-pull-failed": _s(("image",), 85, ("cause",), "image"),
    "db-replication-broken": _s(
        ("server",),
        85,
        True,
        "database",
        "The replica has stopped applying changes: {title}; it serves stale data until it is re-seeded.",
    ),
    "fs-read-only": _s(
        ("path", "device"),
        85,
        ("device",),
        "disk down 5xx",
        "The filesystem is read-only: {title}. Writes fail until it is checked and remounted.",
    ),
    "disk-full": _s(("mount", "path"), 84, ("mount",), "disk"),
    "conntrack-full": _s(
        ("kind",),
        84,
        True,
        "timeout refused slow 5xx",
        "The kernel's connection-tracking table is full, so new connections are dropped: {title}.",
    ),
    "instance-lock-held": _s(
        ("path",),
        84,
        True,
        "down crash",
        "The service cannot start because another instance holds its lock: {title}.",
    ),
    "db-auth-failed": _s(
        ("user",),
        83,
        True,
        "database",
        "The database rejects the application's login: {title}. The credentials it uses are not the "
        "current ones.",
    ),
    "missing-config": _s(("name",), 83, True, "crash"),
    "queue-resource-alarm": _s(
        ("resource",),
        83,
        True,
        "down slow timeout",
        "The broker blocks publishers because a resource alarm is set: {title}.",
    ),
    "oom-killed": _s(("pod", "container", "process"), 82, True, "crash memory"),
    "fd-exhausted": _s(
        ("process",), 82, True, "down refused crash 5xx", "{title}: it cannot open new connections or files."
    ),
    "cache-maxmemory": _s(
        ("server",),
        82,
        True,
        "cache memory 5xx",
        "The cache refuses writes: {title}. Keys without a TTL fill it and nothing can be evicted.",
    ),
    "cache-protected-mode": _s(
        ("server",),
        85,
        True,
        "cache refused error 5xx",
        "Redis refuses the application's connections because it runs in protected mode: {title}.",
    ),
    "clock-skew": _s(
        ("kind",),
        84,
        True,
        "error cert",
        "This host's clock is off, so fresh tokens look not yet valid: {title}.",
    ),
    "selinux-denied": _s(
        ("process", "perm"),
        86,
        True,
        "permission 5xx gateway refused",
        "SELinux blocks it, not the file or network permissions: {title}.",
    ),
    "tls-key-mismatch": _s(
        ("path",),
        88,
        True,
        "cert",
        "The renewed certificate is not served because the server cannot load it: {title}.",
        then_restart="tls-server",
    ),
    "wal-archive-failing": _s(
        ("server",), 86, True, "disk database", "WAL files pile up because archiving fails: {title}."
    ),
    "db-lock-wait": _s(("relation", "holder_pid"), 81, ("holder_pid",), "database timeout slow"),
    "heap-exhausted": _s(
        ("process", "filler"),
        80,
        True,
        "crash memory",
        "The service dies because {title}; it restarts and dies again while the load lasts.",
    ),
    "dns-nxdomain": _s(("name", "source"), 80, False, "dns crash"),
    "hosts-file-override": _s(
        ("name", "address"),
        86,
        True,
        "dns refused timeout",
        "{title}: programs resolve through the system resolver, which reads /etc/hosts before DNS, so they "
        "connect to {address} while `host`/`dig` show the DNS answer.",
    ),
    "tasks-exhausted": _s(("unit",), 80, True, "down crash", "{title}."),
    "ports-exhausted": _s(
        ("kind",),
        80,
        True,
        "5xx timeout refused",
        "The host has run out of local ports for outgoing connections: {title}.",
    ),
    "unit-not-loadable": _s(
        ("unit",), 84, ("state",), "down", "{title}; systemd will not start it in this state."
    ),
    "unit-start-timeout": _s(
        ("unit",),
        78,
        True,
        "down crash",
        "{title}: systemd waits for the unit to report that it started (READY=1 via sd_notify "
        "for Type=notify, a PID file for Type=forking) and kills it when that does not come "
        "within TimeoutStartSec.",
    ),
    "process-killed": _s(
        ("kind",), 60, False, "crash database", "{title}; the kernel log shows whether the OOM killer did it."
    ),
    "db-backend-crashed": _s(
        ("kind",),
        56,
        False,
        "database crash",
        "{title}; the kernel log or the database's log says which process died and why.",
    ),
    "disk-watermark": _s(
        ("kind",),
        84,
        True,
        "disk",
        "The disk passed the flood-stage watermark, so the cluster blocked writes (indices are "
        "read-only-allow-delete): {title}.",
    ),
    "exec-format-error": _s(
        ("kind",),
        86,
        True,
        "crash",
        "The container's binary cannot run on the node's CPU: {title}. The image was built for "
        "another architecture (arm64 vs amd64).",
    ),
    "shm-exhausted": _s(
        ("kind",),
        85,
        True,
        "database memory disk",
        "The process runs out of shared memory, not disk: {title}. A container's /dev/shm is 64M "
        "unless a larger memory-backed emptyDir is mounted there.",
    ),
    "kafka-poll-interval-exceeded": _s(
        ("kind",),
        81,
        True,
        "error slow timeout",
        "{title}. The consumer's processing between polls is too slow for max.poll.interval.ms.",
    ),
    "jvm-heap-exhausted": _s(
        ("kind", "filled_by"),
        81,
        True,
        "slow timeout memory down",
        "{title}. The heap is exhausted: the garbage collector runs back to back and frees almost nothing.",
    ),
    "tls-verify-failed": _s(
        ("host", "reason"), 80, True, "cert", "Clients cannot verify the TLS certificate: {title}."
    ),
    "request-too-large": _s(
        ("server",),
        79,
        True,
        "5xx",
        "Requests are rejected as too large: {title}. The server's body-size limit is below "
        "what clients send.",
    ),
    "db-idle-in-transaction": _s(("server",), 79, True, "database", then_restart="pool-client"),
    "db-long-transaction": _s(
        ("pid",),
        80,
        False,
        "database slow timeout",
        "{title}: its open transaction holds back the xmin horizon, so (auto)vacuum cannot remove dead rows "
        "(tables bloat, queries slow down) and its locks stay held.",
    ),
    "db-wraparound-vacuum": _s(
        ("server",),
        60,
        False,
        "database slow",
        "{title}: the table's transaction IDs are close to wraparound, so PostgreSQL must freeze it now.",
    ),
    "db-max-connections": _s(("server",), 78, False, "database", then_restart="pool-client"),
    "pod-evicted": _s(("pod",), 76, ("resource",), "evicted disk"),
    "pod-unschedulable": _s(("pod",), 75, ("described",), "pending", "{title}."),
    "node-condition": _s(
        ("node",),
        74,
        False,
        "pending evicted down",
        "The node is unhealthy: {title}; pods on it are evicted or cannot run.",
    ),
    "memory-exhausted": _s(("host",), 72, False, "memory slow", "The host is out of memory: {title}."),
    "loopback-only": _s(
        ("port",),
        66,
        True,
        "refused down timeout",
        "The service listens only on loopback, so connections from other hosts are refused while "
        "it works from the box itself: {title}.",
        situational=True,
    ),
    "workers-exhausted": _s(
        ("server",),
        70,
        False,
        "slow timeout 5xx",
        "All of the server's workers are busy: {title}; new requests wait in the queue.",
    ),
    "permission-denied": _s(("path",), 70, ("path",), "permission", "The service is denied access: {title}."),
    "container-not-running": _s(("pod", "container"), 62, False, "crash down"),
    "init-container-waiting": _s(("pod", "container"), 63, False, "pending down"),
    "connection-pool-exhausted": _s(("pool",), 60, False, "database", then_restart="pool-client"),
    # -- symptoms: what failed, the cause is further along
    "k8s-warning": _s(
        ("object", "reason"),
        58,
        fix="Fix what the Warning event's message names, then watch the events again.",
    ),
    "crash-loop": _s(
        ("pod", "container"),
        55,
        False,
        "crash",
        fix="Fix what its last logs (`previous=true`) report, then let the pod restart; a rollback to the last "
        "good revision stops the loop meanwhile.",
    ),
    "dns-timeout": _s(("name",), 50, False, "dns", "{title}."),
    "connection-refused": _s(("host", "port"), 45, False, "refused cache"),
    "connection-timeout": _s(("host", "port"), 44, False, "timeout cache"),
    "tls-cert-expiring": _s(("host",), 40, False, "cert", "{title}; it is not expired yet."),
    "cpu-overloaded": _s(("host",), 38, False, "slow", "The host is overloaded: {title}."),
    "probe-failing": _s(("pod", "probe"), 35),
    "unit-dependency-failed": _s(
        ("unit", "dependency"),
        84,
        ("dependency",),
        "down error",
        "{title}: the dependency's failure, not the unit itself, is the cause.",
    ),
    "unit-failed": _s(
        ("unit",), 30, fix="Fix what the unit's journal reports, then start it again (`systemctl start`)."
    ),
    "k8s-warning-symptom": _s(("object", "reason"), 30),
    "error-lines": _s(
        ("source", "shape"),
        25,
        fix="Fix what the quoted line reports (the file, host, permission or limit it names), then confirm "
        "the line stops appearing.",
    ),
    "http-error-status": _s(
        ("url", "status"), 20, False, "", "{title}; the cause behind it was not found in what I could check."
    ),
    "pod-not-running": _s(
        ("pod",), 18, False, "crash down", "{title}; the listing alone does not say why (describe the pod)."
    ),
    "condition-false": _s(
        ("object",), 16, False, "", "{title}; nothing more specific explains it in what I could check."
    ),
    "memory-limit-near": _s(
        ("unit",), 61, False, "crash slow", "{title}: the kernel kills it at the limit.", situational=True
    ),
    "pvc-not-bound": _s(("claim", "namespace"), 73, False, "pending", "{title}."),
    "http-check-failed": _s(
        ("url",), 21, False, "", "{title}; the cause behind it was not found in what I could check."
    ),
    "pod-condition-false": _s(
        ("pod",), 15, False, "", "{title}; nothing more specific explains it in what I could check."
    ),
    # -- known-benign states (benign_states.py), always info: what looked like a fault and why it is over
    "container-restarted": _s(("pod", "container"), 5),
}


def ends_investigation(signature: str, facts: dict) -> bool:
    """Does a finding with these facts explain enough to stop looking (as the registry declares)?"""
    sig = SIGNATURES.get(signature)
    if sig is None or sig.ends is False:
        return False
    return sig.ends is True or all(facts.get(k) for k in sig.ends)


def answering(symptom: str) -> set[str]:
    """Signatures that answer this kind of complaint."""
    return {name for name, sig in SIGNATURES.items() if symptom in sig.about}
