"""What an engineer's message names: services, hosts, pods, namespaces, ports, URLs, symptoms, requests.

Plain pattern matching over the words, the way a runbook reader skims a page: no
scenario knowledge, only conventions (unit names, pod-name shapes, `-n ns`).
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from assistant.events import Finding

KNOWN_SERVICES = {
    "nginx",
    "apache2",
    "httpd",
    "haproxy",
    "caddy",
    "traefik",
    "envoy",
    "varnish",
    "postgresql",
    "mysql",
    "mariadb",
    "redis",
    "redis-server",
    "memcached",
    "mongod",
    "rabbitmq-server",
    "elasticsearch",
    "kafka",
    "zookeeper",
    "docker",
    "containerd",
    "kubelet",
    "sshd",
    "ssh",
    "cron",
    "php-fpm",
    "gunicorn",
    "uwsgi",
    "celery",
    "etcd",
    "consul",
    "vault",
    "prometheus",
    "grafana-server",
    "node-exporter",
    "jenkins",
    "tomcat",
    "keepalived",
    "certbot",
    "postfix",
    "dovecot",
    "bind9",
    "named",
    "chronyd",
    "ntpd",
    "rsyslog",
    "fail2ban",
    "squid",
    "opensearch",
}
ALIASES = {
    "postgres": "postgresql",
    "pg": "postgresql",
    "apache": "apache2",
    "redis": "redis-server",
    "mongodb": "mongod",
    "mongo": "mongod",
    "rabbitmq": "rabbitmq-server",
    "rabbit": "rabbitmq-server",
    "mysqld": "mysql",
    "es": "elasticsearch",
    "elastic": "elasticsearch",
    "zk": "zookeeper",
}
TECH_WORDS = [
    (
        "mysql",
        r"\b(?:sql|i/?o) thread\b|\bbinlog|seconds_behind_(?:master|source)|show (?:slave|replica) status|"
        r"\binnodb\b|\bmy\.cnf\b|\bduplicate entry\b",
    ),
    ("postgresql", r"\bpg_(?:wal|hba|xlog|stat\w*|basebackup)\b|\bpsql\b|\barchive_command\b|\bpostmaster\b"),
    ("redis-server", r"\bprotected[ -]mode\b|\bmaxmemory\b|\bredis\.conf\b"),
    (
        "elasticsearch",
        r"\bflood[- ]stage\b|\bdisk watermark\b|\bcluster_block\w*|read[_-]only[_-]allow[_-]delete|"
        r"\bshards?\b(?! of)",
    ),
    ("rabbitmq-server", r"\bamqp\b|\brabbit\b"),
]
"""Words that say which software is meant without naming it ('the SQL thread stopped' is MySQL's replica, a flood-stage
watermark is Elasticsearch's): that software's unit, process and log files are what to check."""
SYMPTOMS = {
    "5xx": r"\b50[0-4]s?\b|bad gateway|service unavailable|gateway timeout|internal server error",
    "error": r"\berrors?\b|exceptions?\b|too many|\bbroken\b|\bstops?\b|\bstopped\b|\bdrops?\b|\bdropping\b|"
    r"\bwrong\b(?! with)|\bwon'?t\b|\bcan'?t\b|\bcannot\b|\bunable\b|\blost\b|\blose\b",
    "gateway": r"\b50[234]s?\b|bad gateway|gateway time-?out|service unavailable|upstream",
    "web": r"\bbrowsers?\b|\buploads?\b|\bdownloads?\b|\bportal\b|\bwebsite\b|\bweb ?pages?\b|\bcheckout\b",
    "down": r"\bdown\b|\bfail(?:s|ing)?\b|not (?:start|starting|running|responding)|won'?t start|fails? to start|failed|outage|dead",
    "timeout": r"time[sd]? ?out|timing out|hangs?|hanging|\bstuck\b|\bblocked\b|\bfreez",
    "refused": r"refused|cannot connect|can'?t connect|unreachable|connection errors?|connection (?:failures|fails)",
    "evicted": r"\bevict",
    "crash": r"crash|restart(?:s|ing)|keeps? (?:dying|restarting)|exit(?:ed)? (?:code )?\d+",
    "slow": r"\bslow|latency|sluggish|high load|cpu",
    "disk": r"\bdisks?\b(?! (?:i/o|io|latency|read|write))|(?:filesystem|partition|volume|drive|mount|/[\w/-]*)\s+"
    r"(?:is\s+)?(?:\d+%\s+)?full\b|\bfull (?:disk|filesystem|partition)|\bis full\b(?! of)|no space|enospc|"
    r"inode|out of space|\bstorage\b",
    "cert": r"certificate|\bcert\b|\bssl\b|\btls\b|https? errors?|expired?|x509|err_cert|cert_",
    "memory": r"\boom|out of memory|memory|oomkilled|\bram\b|swap",
    "pending": r"\bpending\b|unschedul|not scheduled",
    "dns": r"\bdns\b|resolv|nxdomain|enotfound|name not known|no such host|outside world|outbound|"
    r"external (?:calls|services|apis|hosts)|third[- ]party (?:apis|services)",
    "database": r"\bdatabase|\bdb\b|postgres|mysql|too many (?:clients|connections)|connection pool|max_connections|"
    r"\breplica\b|replication|\bmigration|\bsql\b|\bqueries\b|deadlock|credentials",
    "cache": r"\bcache\b|memcache|\bredis\b",
    "image": r"imagepull|errimagepull|pull(?:ing)? (?:the )?image|image tag|manifest",
    "port": r"address already in use|eaddrinuse|bind\(\)|\bbind\b|port \d+ (?:is )?(?:in use|taken|busy)",
    "permission": r"permission denied|eacces|forbidden",
}
K8S_WORDS = re.compile(
    r"\b(?:pods?|deployments?|namespaces?|kubectl|k8s|kubernetes|crashloop\w*|imagepull\w*|"
    r"errimagepull|oomkilled|evicted|replicasets?|configmaps?|helm|statefulsets?|daemonsets?|"
    r"kubelet|nodes? (?:pool|selector))\b",
    re.IGNORECASE,
)
_COMMON_HYPHENATED = {
    "read-only",
    "e-mail",
    "follow-up",
    "non-stop",
    "real-time",
    "well-known",
    "up-to-date",
    "out-of-memory",
    "so-called",
    "built-in",
    "long-running",
    "third-party",
    "re-run",
    "self-signed",
    "end-to-end",
    "x-ray",
    "co-worker",
    "double-check",
    "sign-in",
    "log-in",
    "opt-in",
    "set-up",
    "check-in",
    "time-out",
    "time-outs",
    "on-call",
    "high-cpu",
    "in-flight",
    "half-open",
    "re-deploy",
    "roll-back",
    "per-request",
    "p95-latency",
    "user-facing",
    "auto-restart",
    "auto-renew",
}
_NOUNS = {
    "table",
    "tables",
    "autovacuum",
    "vacuum",
    "index",
    "indexes",
    "batch",
    "batches",
    "jobs",
    "job",
    "alert",
    "alerts",
    "portal",
    "uploads",
    "upload",
    "builds",
    "build",
    "deploy",
    "deploys",
    "requests",
    "request",
    "everything",
    "nothing",
    "something",
    "traffic",
    "disk",
    "memory",
    "cpu",
    "load",
    "latency",
    "errors",
    "timeouts",
    "connections",
    "queue",
    "queues",
    "box",
    "host",
    "machine",
    "instance",
    "node",
    "service",
    "server",
    "site",
    "page",
    "pages",
    "mail",
    "email",
    "users",
    "customers",
    "partners",
    "except",
    "only",
    "just",
    "also",
    "still",
    "every",
    "all",
    "each",
    "some",
    "most",
    "file",
    "files",
    "data",
    "backup",
    "backups",
    "cert",
    "certificate",
    "writes",
    "reads",
    "logins",
    "login",
    "ssh",
    "its",
    "their",
    "our",
    "your",
    "my",
    "this",
    "that",
    "the",
    "status",
    "health",
    "monitoring",
    "metrics",
    "dashboard",
    "namespace",
    "ns",
    "pod",
    "pods",
    "cluster",
    "deployment",
    "wrong",
    "broken",
    "slow",
    "down",
    "weird",
    "odd",
    "off",
    "up",
    "happening",
    "going",
    "running",
    "else",
    "loop",
    "cycle",
    "production",
    "prod",
    "staging",
}
"""Ordinary nouns and words that precede 'on HOST' or 'service' without being a unit's name."""
_LOG_PHRASE = re.compile(
    r"\b(nginx|apache2?|httpd|haproxy|mysql|mariadb|redis|mongod|mongodb|rabbitmq|kafka|"
    r"elasticsearch|kernel|kern|dmesg)(?:'s)? (?:error |access |server )?(?:logs?|ring buffer)\b|"
    r"\b(dmesg)\b"
)
_QUOTE = re.compile(
    r"(?<![\w])\"(.{6,300})\"(?=[\s.,;:!?)]|$)|`([^`\n]{6,300})`|“([^”\n]{6,300})”|"
    r"(?<![\w])'([^'\n]{12,300})'(?=[\s.,;:!?)]|$)"
)
"""Quoted error text: the widest quote on a line (an error may itself contain quoted names)."""
_STATED = re.compile(
    r"\b(?:logs?|errors?|it|journal|output)\s+(?:say|says|said|show|shows|report|reports|print|"
    r"prints)\s*:?\s+([^.\n\"'`“]{6,200})",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"\"[^\"\n]{3,300}\"|`[^`\n]{3,300}`|“[^”\n]{3,300}”|'[^'\n]{12,300}'")
_STEM_STOP = {
    "batch",
    "web",
    "app",
    "db",
    "api",
    "node",
    "host",
    "srv",
    "server",
    "prod",
    "edge",
    "ip",
    "vm",
    "box",
    "k8s",
    "worker",
    "proxy",
    "lb",
    "ci",
    "dev",
    "stg",
    "test",
}
HINTS = {"cache": ["memcached", "redis-server"], "dns": ["systemd-resolved"]}
_STOP = {
    "the",
    "a",
    "an",
    "this",
    "that",
    "my",
    "our",
    "web",
    "main",
    "whole",
    "new",
    "old",
    "same",
    "api",
    "app",
    "systemd",
    "which",
    "what",
    "any",
    "each",
    "every",
    "one",
    "its",
    "their",
    "your",
    "is",
    "was",
    "it",
    "and",
    "or",
    "of",
    "in",
    "on",
    "for",
    "to",
    "from",
    "with",
    "no",
    "not",
    "dns",
    "http",
    "https",
    "kubernetes",
    "k8s",
    "database",
    "db",
    "backend",
    "frontend",
    "other",
    "some",
    "all",
    "tls",
    "ssl",
    "site",
    "website",
    "pages",
    "page",
    "everything",
    "everyone",
    "nothing",
    "requests",
    "traffic",
    "users",
    "customers",
    "clients",
    "errors",
    "error",
    "logs",
    "things",
    "stuff",
    "running",
    "deployed",
    "hosted",
    "here",
    "there",
    "but",
    "so",
    "if",
    "as",
    "when",
    "then",
    "only",
    "because",
}
_HOSTLIKE = re.compile(r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)*-(?:\d{1,3}|prod|stg|staging|dev|test)\d*\b")
_FQDN = re.compile(r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}\b")
_POD = re.compile(r"\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[a-z0-9]{8,10}-[a-z0-9]{5}\b")
_KIND_POD = re.compile(r"(?<![\w/.-])pods?/[\"']?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\b(?![/.])")
"""A pod named the way kubectl names one: kind, slash, name (quoted in a drain's eviction error)."""
_FILE_EXT = re.compile(r"\.(?:log|conf|cfg|yaml|yml|json|js|py|sh|txt|service|pem|crt|key|sock|pid|html?)$")


_PATHS = re.compile(r"(?<![\w.:/])/(?:[\w.@-]+/)+[\w.@-]+|(?<=\s)/[\w@-]+\.[\w.-]+")
"""Absolute file paths in a message (not URLs: those were read first)."""


@dataclass
class Entities:
    services: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    fqdns: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    pods: list[str] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    logs_of: list[str] = field(default_factory=list)
    """Services whose own log the engineer names ('the nginx error log', 'the kernel log')."""
    quotes: list[str] = field(default_factory=list)
    """Error text the engineer quoted ("..." or `...`): what to look for in logs."""
    symptoms: set[str] = field(default_factory=set)
    k8s: bool = False
    guessed: bool = False
    """The services are a guess from a host's name or 'the api', not named by the engineer."""
    endpoints: list[tuple[str, int]] = field(default_factory=list)
    """host:port pairs named in the message whose host is a name, not this machine."""


def _add(items: list, value) -> None:
    if value is not None and value != "" and value not in items:
        items.append(value)


_VERBS_BEFORE_HOST = {
    "start",
    "stop",
    "run",
    "restart",
    "boot",
    "work",
    "respond",
    "connect",
    "load",
    "come",
    "up",
}
"""'won't start on db-04': what fails on the host, not a service's name."""


_EVENT_WORDS = {
    "upgrade",
    "upgrades",
    "update",
    "updates",
    "land",
    "lands",
    "landed",
    "hit",
    "hits",
    "go",
    "goes",
    "went",
    "deploy",
    "release",
    "rollout",
    "patch",
    "patches",
    "reboot",
    "reboots",
    "change",
    "changes",
    "install",
    "migration",
    "maintenance",
    "failover",
    "cutover",
    "switch",
    "move",
    "sync",
    "outage",
    "incident",
    "spike",
    "spikes",
    "problem",
    "problems",
    "issue",
    "issues",
    "alarm",
    "task",
    "tasks",
    "script",
    "scripts",
    "calls",
    "call",
    "fine",
    "ok",
    "okay",
    "well",
    "too",
    "both",
    "twice",
    "again",
    "now",
    "today",
    "yesterday",
    "first",
    "last",
    "later",
    "earlier",
    "before",
    "after",
    "since",
    "then",
    "once",
    "either",
    "neither",
    "them",
    "those",
    "these",
    "him",
    "her",
    "us",
    "me",
    "you",
    "we",
    "they",
    "he",
    "she",
    "who",
    "someone",
    "anything",
    "anyone",
    "primary",
    "secondary",
    "replica",
    "standby",
    "leader",
    "follower",
    "master",
    "slave",
    "instance",
    "cluster",
}
"""Words that come before 'on HOST' in a report of what happened ('after the upgrade on cache-02', 'requests that
land on auth-02'), never a unit's name."""
_WORD_SHAPE = re.compile(r"[a-z]+(?:ing|ed|ly|tion|sion|ment|ance|ence|ness|ity)")
"""English word forms (a verb's -ing/-ed, an abstract noun) that no daemon is called."""


def _service_names(text: str, low: str, hosts: list[str]) -> list[str]:
    out: list[str] = []
    for m in re.finditer(r"\b([a-z][\w@.-]*)\.service\b", low):
        _add(out, m.group(1))
    for m in re.finditer(r"(?<![\w./-])([a-z]+\d+(?:\.\d+)+-[a-z]+)\b", low):  # versioned units: php8.2-fpm
        _add(out, m.group(1))
    for m in re.finditer(
        r"(?<![\w.])([a-z][a-z0-9_-]*)[ -](api|worker|web|service|daemon|server|app|site|website|exporter|agent"
        r"|gateway|relay|collector|forwarder|shipper|consumer|scheduler|bridge|poller|indexer)\b",
        low,
    ):
        word, kind = m.group(1), m.group(2)
        if word in _STOP or word in hosts or (word, kind) == ("bad", "gateway"):  # '502 Bad Gateway'
            continue
        if word in _NOUNS:
            continue
        plain = kind in ("service", "daemon", "server", "site", "website")
        _add(out, ALIASES.get(word, word) if plain else f"{word}-{kind}")
    for m in re.finditer(
        r"\b(?:service|unit|daemon|restart|systemctl status|process)\s+([a-z][\w@.-]*)", low
    ):
        word = ALIASES.get(m.group(1).rstrip("."), m.group(1).rstrip("."))
        if (
            word not in _STOP
            and word not in hosts
            and (re.search(r"[-_.@\d]", word) or word in KNOWN_SERVICES)
        ):
            _add(out, word)
    for word in re.findall(r"\b[a-z][a-z0-9-]*\b", low):
        name = ALIASES.get(word, word)
        if name in KNOWN_SERVICES:
            _add(out, name)
    hostnames = "|".join(re.escape(h) for h in hosts if h) or "(?!)"
    for m in re.finditer(
        rf"(?<![\w.-])([a-z][a-z0-9_-]*[a-z0-9])\s+(?:on|at)\s+(?:host\s+)?(?:{hostnames})\b", low
    ):
        word = ALIASES.get(m.group(1), m.group(1))
        if (  # 'the upgrade on cache-02', 'requests that land on auth-02': words, not unit names
            word not in _STOP
            and word not in _NOUNS
            and word not in _VERBS_BEFORE_HOST
            and word not in _EVENT_WORDS
            and not _WORD_SHAPE.fullmatch(word)
        ):
            _add(out, word)
    unquoted = _QUOTED.sub(" ", low)  # quoted error text names errors, not services
    for m in re.finditer(r"(?<![\w./:-])([a-z][a-z0-9]*(?:[-_][a-z0-9]+)+)(?![\w./:-])", unquoted):
        if m.group(1) not in _COMMON_HYPHENATED:
            _add(out, m.group(1))
    out = [s for s in out if not any(o.endswith("-" + s) for o in out)]  # 'gateway' of 'websocket-gateway'
    return [s for s in out if not _HOSTLIKE.fullmatch(s) and s not in hosts and not _POD.fullmatch(s)]


def technologies(low: str) -> list[str]:
    """Services a message describes by their vocabulary (TECH_WORDS), in the order of the list."""
    return [svc for svc, rx in TECH_WORDS if re.search(rx, low)]


def _fallback_services(low: str, hosts: list[str]) -> list[str]:
    """When nothing is named: 'the API'/'the worker', then the role in a host name (search-01 -> search)."""
    out: list[str] = []
    for m in re.finditer(r"\bthe (api|worker|backend|frontend|app)\b", low):
        _add(out, m.group(1))
    for h in hosts:
        stem = re.sub(r"(?:-(?:\d+|prod|stg|staging|dev|test)\d*)+$", "", h.split(".")[0])
        machine_role = stem.rsplit("-", 1)[-1] in (
            "app",
            "web",
            "db",
            "host",
            "node",
            "srv",
            "server",
            "vm",
            "box",
        )
        if (
            stem and stem not in _STEM_STOP and stem != h and not machine_role
        ):  # orders-app-02: a machine's role
            _add(out, stem)
    return out


def extract(
    text: str, known_hosts: list[str] | None = None, known_namespaces: list[str] | None = None
) -> Entities:
    """Everything the message names, in order of appearance. A copy: callers may fill in what is left out."""
    return copy.deepcopy(_extract(text, tuple(known_hosts or ()), tuple(known_namespaces or ())))


@functools.lru_cache(maxsize=256)
def _extract(text: str, known_hosts: tuple[str, ...], known_namespaces: tuple[str, ...]) -> Entities:
    """Read once per message: every model step of a turn asks about the same words."""
    e = Entities()
    low = text.lower()
    for m in re.finditer(r"https?://[^\s\"'<>)\]]+", text):
        _add(e.urls, m.group(0).rstrip(".,;:"))
    url_hosts = [urlsplit(u).hostname or "" for u in e.urls]
    for h in known_hosts or []:
        if re.search(rf"\b{re.escape(h.lower())}\b", low):
            _add(e.hosts, h)
    bare = _PATHS.sub(" ", low)  # a file path's parts (libLLVM-17.so.1) are no host, domain or unit names
    for m in _HOSTLIKE.finditer(bare):
        if not _POD.fullmatch(m.group(0)):
            _add(e.hosts, m.group(0))
    for m in _FQDN.finditer(bare):
        if not _FILE_EXT.search(m.group(0)) and not re.fullmatch(r"[\d.]+", m.group(0)):
            _add(e.fqdns, m.group(0))
    for h in url_hosts:
        _add(e.fqdns, h)
    _ports(low, e)
    _k8s(low, e, list(known_namespaces))
    for m in re.finditer(
        r"(?<![\w.])(/(?:var|etc|srv|opt|home|data|tmp|usr|run|mnt|app|logs?)/[\w./@-]+)", text
    ):
        _add(e.paths, m.group(1).rstrip("."))
    for m in _LOG_PHRASE.finditer(low):
        _add(
            e.logs_of,
            "kernel" if m.group(1) in ("kernel", "dmesg", "kern") else ALIASES.get(m.group(1), m.group(1)),
        )
    for m in _QUOTE.finditer(text):
        _add(e.quotes, next(g for g in m.groups() if g).strip())
    for m in _STATED.finditer(text):  # 'the logs say connect ETIMEDOUT': the error, stated without quotes
        if not any(m.group(1) in q or q in m.group(1) for q in e.quotes):
            _add(e.quotes, m.group(1).strip())
    for m in re.finditer(r"\bpid\s*:?\s*(\d{2,7})\b|\bkill\s+(?:-\w+\s+)?(\d{2,7})\b", low):
        _add(e.pids, int(m.group(1) or m.group(2)))
    e.services = _service_names(text, bare, e.hosts + e.pods)
    if not K8S_WORDS.search(low):  # software the message describes without naming it
        for svc in technologies(bare):
            _add(e.services, svc)
    if not e.services:
        e.services, e.guessed = _fallback_services(bare, e.hosts), True
    e.services = [x for x in e.services if x not in e.fqdns and x not in e.namespaces]
    e.symptoms = {name for name, rx in SYMPTOMS.items() if re.search(rx, low)}
    _roles(e)
    return e


ROLE_OF = {
    "postgresql": "database",
    "mysql": "database",
    "mariadb": "database",
    "mongod": "database",
    "redis-server": "cache",
    "memcached": "cache",
}


def _roles(e: Entities) -> None:
    """A name made of a known service's name (pg-analytics, mysql-main-01, redis-cache): that service runs there."""
    for name in [*e.hosts, *e.services]:
        for part in re.split(r"[-_.]", name):
            svc = ALIASES.get(part, part)
            if svc in ROLE_OF and part != name:
                _add(e.services, svc)
                e.symptoms.add(ROLE_OF[svc])


_ENDPOINT = re.compile(r"(?<![\w.-])([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*):(\d{2,5})\b(?!\.\d)")
_LOCAL = {"localhost", "127.0.0.1", "0.0.0.0", "::1"}


def _endpoints(low: str, e: Entities) -> None:
    """host:port pairs whose host is a name (db-02:5432, payments.internal:8443): a dependency to resolve."""
    for m in _ENDPOINT.finditer(low):
        if m.group(1) not in _LOCAL and 0 < int(m.group(2)) < 65536:
            _add(e.endpoints, (m.group(1), int(m.group(2))))


def _ports(low: str, e: Entities) -> None:
    _endpoints(low, e)
    for m in re.finditer(
        r"\bport\s+(\d{1,5})\b|(?<![\w:/.])(?:0\.0\.0\.0|localhost|127\.0\.0\.1)?:(\d{2,5})\b|"
        r"\b[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*:(\d{2,5})\b(?!\.\d)",
        low,
    ):
        value = int(m.group(1) or m.group(2) or m.group(3))
        if 0 < value < 65536:
            _add(e.ports, value)


_K8S_NOUNS = {
    "namespace",
    "namespaces",
    "ns",
    "cluster",
    "node",
    "nodes",
    "completed",
    "running",
    "pending",
    "failed",
    "failing",
    "crashing",
    "evicted",
    "terminating",
    "ready",
    "new",
    "old",
    "these",
    "those",
    "many",
    "several",
    "two",
    "three",
    "both",
    "few",
    "more",
    "no",
    "k8s",
    "kubernetes",
    "my",
    "name",
    "status",
    "crashloopbackoff",
    "imagepullbackoff",
    "errimagepull",
    "oomkilled",
    "containercreating",
    "createcontainerconfigerror",
    "error",
    "events",
    "event",
    "init",
    "container",
    "containers",
    "probe",
    "probes",
    "selector",
    "affinity",
    "taint",
    "taints",
    "tolerations",
    "image",
    "images",
    "replicas",
    "manifest",
    "manifests",
    "evict",
    "evicting",
    "eviction",
    "evictions",
    "drain",
    "draining",
    "drained",
    "cordon",
    "cordoned",
    "uncordon",
    "selectors",
    "podselector",
    "matchlabels",
    "labels",
    "policy",
    "policies",
    "networkpolicy",
    "networkpolicies",
    "netpol",
    "pdb",
    "pdbs",
    "poddisruptionbudget",
    "disruption",
    "budget",
}
"""Words that stand before 'pods'/'deployment' or after 'pods in' without naming one (Kubernetes' own nouns:
'nothing in events' names no namespace)."""
_NOT_THE_NAMESPACE = {
    "wrong",
    "right",
    "correct",
    "whole",
    "entire",
    "every",
    "each",
    "one",
    "single",
    "target",
    "given",
    "specific",
    "separate",
    "dedicated",
    "different",
    "which",
    "any",
    "same",
    "own",
    "that",
    "this",
    "app's",
    "its",
    "their",
    "his",
    "her",
}
"""Adjectives that stand before 'namespace' without naming it ('the wrong namespace')."""
_NOT_A_NAME = {
    "own",
    "same",
    "other",
    "another",
    "new",
    "the",
    "a",
    "an",
    "this",
    "that",
    "is",
    "was",
    "it",
    "and",
    "or",
    "cannot",
    "can",
    "has",
    "have",
    "are",
    "were",
    "does",
    "did",
    "keeps",
    "shows",
    "gets",
    "will",
    "won",
    "isn",
    "doesn",
    "but",
    "which",
    "where",
    "when",
    "so",
    "get",
    "describe",
    "logs",
    "delete",
    "apply",
    "rollout",
    "scale",
    "exec",
    "create",
    "creating",
    "restart",
    "schedule",
    "nightly",
    "daily",
    "hourly",
    "weekly",
    "every",
    "last",
    "what",
    "some",
    "any",
    "all",
    "each",
    "our",
    "your",
    "their",
    "its",
    "with",
    "for",
    "from",
    "of",
    "to",
    "in",
    "on",
    "run",
    "runs",
    "ran",
    "failed",
}
"""Verbs and small words that follow 'namespace' or precede 'pods' in a sentence without being a name."""

_FUNCTION_WORDS = {
    "into",
    "onto",
    "at",
    "by",
    "as",
    "via",
    "after",
    "before",
    "since",
    "until",
    "while",
    "because",
    "if",
    "then",
    "than",
    "up",
    "down",
    "out",
    "over",
    "back",
    "never",
    "always",
    "still",
    "again",
    "now",
    "also",
    "just",
    "only",
    "yet",
    "already",
    "even",
    "suddenly",
    "randomly",
    "constantly",
    "repeatedly",
    "immediately",
    "not",
    "be",
    "been",
    "being",
    "keep",
    "kept",
    "start",
    "starts",
    "started",
    "stop",
    "stops",
    "stopped",
    "fail",
    "fails",
    "crash",
    "crashes",
    "crashed",
    "restarts",
    "restarted",
    "restarting",
    "seems",
    "seem",
    "looks",
    "look",
    "went",
    "goes",
    "moved",
    "moving",
    "switched",
    "migrated",
    "changed",
    "deployed",
    "upgraded",
    "updated",
    "pushed",
    "built",
    "should",
    "would",
    "could",
    "must",
    "there",
    "here",
    "why",
    "how",
    "who",
    "please",
    "help",
    "check",
    "see",
    "show",
}
"""Prepositions, adverbs and verbs that sit where a name could ('namespace into', 'app never starts')."""
_HOST_DAEMONS = {"docker", "containerd", "kubelet", "systemd", "kubectl", "cri-o", "crio", "dockerd"}
"""The machinery a cluster runs on: named in a Kubernetes message, they are never a workload or namespace."""
_STATE_WORD = re.compile(
    r"(?:crash-?loop\w*|crash\w*|restart\w*|pending|running|ready|not-ready|terminat\w*|evicted|oom-?killed|"
    r"image-?pull\w*|err-?image-?pull|back-?off|containercreating|completed|failing|failed|broken|flapping|"
    r"up-to-date|out-of-\w+|read-only|long-running|short-lived|\d[\w.-]*)"
)
"""States and numbers: what pods are doing ('crash-looping', 'OOMKilled'), never what they are called."""


def k8s_name(word: str, said: bool = False) -> bool:
    """Can this word name a namespace or workload? Not a verb, adverb or small word, not a pod state, not the
    machinery underneath (docker, the kubelet). `said`: the word stands where kubectl or the engineer puts a
    name ('-n web', 'namespace api'), so generic nouns such as 'web' or 'api' count there."""
    return not (
        word in _NOT_A_NAME
        or word in _K8S_NOUNS
        or word in _FUNCTION_WORDS
        or word in _HOST_DAEMONS
        or (word in _STOP and not said)
        or _STATE_WORD.fullmatch(word)
    )


def _k8s(low: str, e: Entities, known_namespaces: list[str]) -> None:
    e.k8s = bool(K8S_WORDS.search(low))
    for m in _POD.finditer(low):
        _add(e.pods, m.group(0))
    for m in _KIND_POD.finditer(low):  # kubectl's own `pods/"zk-2"` (a drain's eviction error), `pod/web-0`
        if k8s_name(m.group(1)) and m.group(1) not in e.pods:
            _add(e.pods, m.group(1))
    for m in re.finditer(
        r"\b(?:in|into|to|from|the|our|their|its|my|a)\s+[\"'`]?([a-z0-9][a-z0-9-]{0,62})[\"'`]?"
        r"(?=\s+(?:namespace|ns)\b)|"
        r"(?:^|[\s(,;:])[\"'`]?([a-z0-9][a-z0-9-]{0,62})[\"'`]?(?=\s+(?:namespace|ns)\b)|"
        r"\b(?:namespaces?|ns)(?:[\s:=]+|/)[\"'`]?([a-z0-9][a-z0-9-]{0,62})\b|"
        r"(?:^|\s)(?:-n|--namespace)(?:\s+|=)[\"']?([a-z0-9][a-z0-9-]{0,62})\b",
        low,
    ):
        name = m.group(1) or m.group(2) or m.group(3) or m.group(4)
        if (
            k8s_name(name, said=True) and name not in _NOT_THE_NAMESPACE
        ):  # 'billing namespace', not 'wrong ns'
            _add(e.namespaces, name)
    for m in re.finditer(  # 'moved from the apps namespace into billing': where the pods are now
        r"\b(?:namespaces?|ns)\s+(?:in)?to\s+(?:the\s+)?[\"'`]?([a-z0-9][a-z0-9-]{0,62})\b", low
    ):
        if k8s_name(m.group(1), said=True):
            _add(e.namespaces, m.group(1))
    for m in re.finditer(
        r"\bfrom\s+(?:the\s+)?[\"'`]?([a-z0-9][a-z0-9-]{0,62})[\"'`]?\s+(?:namespace|ns)\b", low
    ):
        if m.group(1) in e.namespaces and len(e.namespaces) > 1:  # where they were: looked at last
            e.namespaces.remove(m.group(1))
            e.namespaces.append(m.group(1))
    for m in re.finditer(
        r"\b(?:deployments?|pods?|services?|apps?|workloads?|jobs?)\s+in\s+(?:the\s+)?"
        r"([a-z0-9][a-z0-9-]{0,62})\b(?!\s+(?:cluster|node|region|zone))",
        low,
    ):
        if k8s_name(m.group(1)) and m.group(1) not in ("production", "prod", "staging"):
            _add(e.namespaces, m.group(1))
    for ns in known_namespaces:
        if re.search(rf"\b{re.escape(ns)}\b", low):
            _add(e.namespaces, ns)
    for m in re.finditer(
        r"\b(?:deployment|deploy|app|statefulset|sts|daemonset|ds)[/\s]+[\"'`]?([a-z0-9][a-z0-9-]{1,62})\b|"
        r"\b(?:cronjob|cj|job)(?:/|\s+[\"'`]?)"
        r"([a-z0-9]+[-\d][a-z0-9-]{0,60}|(?<=/)[a-z0-9][a-z0-9-]{1,62}|(?<=[\"'`])[a-z0-9][a-z0-9-]{1,62})\b|"
        r"\b([a-z0-9][a-z0-9-]{1,62})[\"'`]? (?:deployment|pods?|app|service|statefulset|daemonset|cronjob|job)s?\b"
        r"(?!/)",  # `for cronjob/report-gen`: kubectl's kind/name, whose name follows the slash
        low,
    ):
        name = m.group(1) or m.group(2) or m.group(3)
        if (
            k8s_name(name)
            and not _POD.fullmatch(name)
            and not re.fullmatch(r"\d+(?:st|nd|rd|th)?", name)
            and name not in e.namespaces
        ):
            _add(e.deployments, name)


_TIME_WORDS = re.compile(
    r"(?:morning|evening|afternoon|night|tonight|today|yesterday|minutes?|hours?|days?|weeks?|months?|prod|"
    r"production|staging|dev|test|qa|general|particular|total|parallel|place|time|order|front|progress|practice|"
    r"fact|turn|addition|case|use|response|memory|logs?|kubernetes|k8s|docker|loop|pending|running|terminating|"
    r"crashloopbackoff|containercreating|errors?|state|status|\d[\w.-]*)$"
)
"""Words that follow 'in' in a sentence without naming a place (times, states, environments said elsewhere)."""


def place_words(text: str) -> list[str]:
    """Names after 'in' in a Kubernetes message ('pods never start in billing'): where the engineer said it happens.
    Only a fallback for the namespace: tried when the namespaces named or seen show nothing."""
    out: list[str] = []
    for m in re.finditer(
        r"\bin\s+(?:the\s+)?[\"'`]?([a-z][a-z0-9-]{1,62})\b(?![.\w-]*[./:]\w)", text.lower()
    ):
        w = m.group(1)
        if not k8s_name(w) or _TIME_WORDS.match(w):
            continue
        _add(out, w)
    return out


_SVC_DNS = re.compile(r"\b[a-z0-9][a-z0-9-]{0,62}\.([a-z0-9][a-z0-9-]{0,62})\.svc(?:\.cluster\.local)?\b")


_RELEASED = re.compile(
    r"\b([a-z][a-z0-9-]{1,62})\s+v?\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?\b|"
    r"\b(?:deploy(?:ed|ing)?|roll(?:ed|ing)?\s+out|releas(?:ed|ing)|upgrad(?:ed|ing))\s+(?:of\s+)?(?:the\s+)?(?:new\s+)?"
    r"([a-z][a-z0-9-]{1,62})\b|"
    r"\b(?:wrong|problems?|issues?|up|going\s+on)\s+with\s+(?:the\s+)?([a-z][a-z0-9-]{1,62})\b"
)
_VERSION_WORDS = {"version", "release", "v", "to", "from", "at", "build", "chart", "tag", "image", "helm"}


def released(text: str) -> list[str]:
    """What a deploy names ('billing 5.0.3', 'rolled out checkout'): an application, often also its namespace;
    a last guess where its pods are when no namespace was named and none was seen."""
    out: list[str] = []
    for m in _RELEASED.finditer(text.lower()):
        w = m.group(1) or m.group(2) or m.group(3)
        if w not in _VERSION_WORDS and k8s_name(w) and not _TIME_WORDS.match(w):
            _add(out, w)
    return out


_NS_SLASH_NAME = re.compile(r"(?<![\w./:~-])([a-z0-9][a-z0-9-]{1,62})/([a-z][a-z0-9-]{1,62})\b(?![./:\w-])")
_KINDS = {
    "deployment",
    "deployments",
    "deploy",
    "pod",
    "pods",
    "po",
    "statefulset",
    "sts",
    "daemonset",
    "ds",
    "replicaset",
    "rs",
    "service",
    "svc",
    "cronjob",
    "cj",
    "job",
    "jobs",
    "node",
    "nodes",
    "configmap",
    "cm",
    "secret",
    "secrets",
    "ingress",
    "ing",
    "pvc",
    "pv",
    "hpa",
    "namespace",
    "ns",
    "and",
    "or",
    "tcp",
    "udp",
    "read",
    "http",
    "https",
    "apps",
    "api",
    "v1",
    "batch",
}
"""Words before a slash that are not a namespace: kubectl's kinds ('deploy/web') and usual pairs ('and/or')."""


def service_namespaces(text: str) -> list[str]:
    """Namespaces the message writes the way kubectl prints them (`billing/invoicer`, namespace/name) or a
    Service's cluster DNS name holds (`db.shop.svc.cluster.local`): where the workload most likely runs, tried
    when the namespaces named or seen show nothing."""
    low = text.lower()
    slashed = [m.group(1) for m in _NS_SLASH_NAME.finditer(low) if m.group(1) not in _KINDS]
    return list(dict.fromkeys([*slashed, *(m.group(1) for m in _SVC_DNS.finditer(low))]))


def log_subjects(text: str) -> list[str]:
    """Components whose logs the engineer quotes or points at ('CoreDNS logs', 'the fluent-bit pod logs',
    'logs of cert-manager'): in a cluster, their pods' logs are read."""
    out: list[str] = []
    for m in re.finditer(
        r"\b([a-z][a-z0-9-]{1,62})(?:'s)? (?:controller |container |pods? )?logs?\b|"
        r"\blogs? (?:of|from) (?:the )?([a-z][a-z0-9-]{1,62})\b",
        text.lower(),
    ):
        w = m.group(1) or m.group(2)
        if k8s_name(w) and not _TIME_WORDS.match(w):
            _add(out, w)
    return out


FIX_GENERIC = re.compile(
    r"\b(?:go ahead|do it|fix it|apply (?:the |your )?fix|please fix|proceed|make it so|"
    r"yes,? (?:please|do|go)|execute (?:the |your )?(?:fix|plan))\b",
    re.IGNORECASE,
)
_LEAD = r"(?:^|[.!?;,:]\s*|\b(?:please|can you|could you|would you|go ahead and|and|then|now|just|ok|okay|yes)\s+)"
FIX_ACTIONS = {
    "restart": re.compile(
        _LEAD + r"(?:rollout\s+)?restart\s+(?:the\s+)?(?:service\s+|unit\s+|deployment\s+)?"
        r"([a-z0-9][\w@.-]*)",
        re.IGNORECASE,
    ),
    "kill": re.compile(
        _LEAD + r"(?:kill|terminate)\s+(?:the\s+)?(?:pid\s+|process\s+)?([\w@./-]+)", re.IGNORECASE
    ),
    "rollback": re.compile(
        _LEAD + r"(?:roll\s*back|rollback|undo)\s+(?:the\s+)?(?:deployment\s+)?([a-z0-9][\w-]*)",
        re.IGNORECASE,
    ),
}


_ASKS_WHETHER = re.compile(
    r"\b(?:should|shall|must|do|does|did|is|are|would|will)\s+(?:i|we|it|that|this|they)\b|"
    r"\b(?:need|safe|worth|ok|okay|enough|help)\s+(?:to\b|if\b|restarting|rolling|killing)|\bwhether\b",
    re.IGNORECASE,
)
_ASKS_ME = re.compile(
    r"\b(?:can|could|would|will)\s+you\b|\bplease\b|\b(?:want|like|need)\s+you\s+to\b|\bgo ahead\b|"
    r"\blet'?s\b",
    re.IGNORECASE,
)
_ASKS_HOW = re.compile(r"\b(?:how|what|why|when|where)\b", re.IGNORECASE)
"""'How do I fix it?': the engineer wants to know the fix, not to have me apply it."""
_TELLS = re.compile(r"\b(?:i|we|they|someone|somebody|he|she|ops|the team)\b", re.IGNORECASE)
_NOT_OBJECT = {"of", "was", "is", "did", "does", "didn't", "helped", "and", "but", "it's", "too", "again"}


def _sentence(text: str, at: int) -> tuple[str, str]:
    """The part of the sentence before position `at`, and the whole sentence."""
    start = max(text.rfind(c, 0, at) for c in ".!?\n") + 1
    ends = [i for c in ".!?\n" if (i := text.find(c, at)) != -1]
    end = min(ends) + 1 if ends else len(text)
    return text[start:at], text[start:end]


def asked_to_act(text: str, at: int) -> bool:
    """Is the action word at `at` an instruction to me, not a question whether to do it ('should I restart
    it?'), nor a report of what someone did ('we ran X and restart Y but ...')?"""
    before, sentence = _sentence(text, at)
    if _ASKS_HOW.search(before):
        return False
    if _ASKS_ME.search(before):
        return True
    if sentence.rstrip().endswith("?") and _ASKS_WHETHER.search(before):
        return False
    return not _TELLS.search(before)


def fix_requests(text: str) -> tuple[bool, list[tuple[str, str]]]:
    """(generic 'go ahead', [(action, object)]) for fixes the engineer explicitly asked to perform."""
    found = []
    for action, rx in FIX_ACTIONS.items():
        for m in rx.finditer(text):
            obj = m.group(1).rstrip(".,").lower()
            if obj not in _NOT_OBJECT and asked_to_act(text, m.start(1)):
                found.append((m.start(1), action, obj))
    generic = any(asked_to_act(text, m.start()) for m in FIX_GENERIC.finditer(text))
    return generic, [(a, o) for _, a, o in sorted(found)]


def relevant(f: Finding, names: list[str]) -> bool:
    """Is the finding about something the engineer named (a pod, deployment, service, unit)?"""
    values = [str(f.facts.get(k) or "") for k in ("pod", "deployment", "service", "unit", "process", "name")]
    return any(v and (v == n or v.startswith((n + "-", n + "@"))) for v in values for n in names)
