"""Next checks that an error line names by itself, whatever analyzer read it.

A proxy's error names the socket of the backend that failed (`upstream: "fastcgi://unix:/run/php/php8.2-fpm
.sock:"`): that backend's state and its own log are next. A process that ran out of file descriptors
(EMFILE, "Too many open files") is next counted against its limit with open_files.
"""

from __future__ import annotations

import re

from assistant.runbook.checks import Check
from assistant.runbook.conversation import CallRecord, Conversation
from assistant.runbook.entities import ALIASES
from assistant.runbook.logplaces import process_name

_ERRORISH = re.compile(
    r"\[(?:error|crit|alert|emerg|warn)\]|\berror\b|failed|timed out|refused|reset by peer|denied",
    re.IGNORECASE,
)
_SOCKET = re.compile(r"unix:(/[\w./@-]+?\.sock)\b")
_EMFILE = re.compile(r"Too many open files|\bEMFILE\b|\(24: ", re.IGNORECASE)
_PROGRAM = re.compile(r"^(?:\S+\s+){2,4}(?P<prog>[a-zA-Z][\w.@-]*)\[\d+\]:", re.MULTILINE)
_LOG_DIR = re.compile(r"^/var/log/(?P<name>[a-z][\w-]*?)(?:[/.]|$)")


def socket_service(path: str) -> str:
    """The service behind a unix socket path: `/run/php/php8.2-fpm.sock` → php8.2-fpm, `mysqld.sock` → mysql."""
    name = path.rsplit("/", 1)[-1].removesuffix(".sock")
    return ALIASES.get(name, name)


def upstream_services(conv: Conversation) -> list[str]:
    """Services whose unix socket an error line names this turn (at most two)."""
    services: list[str] = []
    for c in conv.this_turn():
        for line in c.output.splitlines():
            if _ERRORISH.search(line):
                services += [socket_service(m.group(1)) for m in _SOCKET.finditer(line)]
    return list(dict.fromkeys(services))[:2]


def process_of_call(c: CallRecord) -> str | None:
    """The process a call was about: the unit it checked, the journal or service log it read, the name it
    matched."""
    service = c.args.get("service") or c.args.get("match")
    source = str(c.args.get("source") or "")
    if service:
        return process_name(ALIASES.get(str(service), str(service)))
    if source.startswith("unit:"):
        return process_name(ALIASES.get(source[5:], source[5:]))
    m = _LOG_DIR.match(source)
    if m and m.group("name") not in ("syslog", "messages", "kern", "daemon", "user", "auth"):
        return process_name(ALIASES.get(m.group("name"), m.group("name")))
    return None


_MAIN_PID = re.compile(r"Main PID: \d+ \((?P<comm>[^)\s]+)\)")


def _unit_comm(conv: Conversation, c: CallRecord) -> str | None:
    """The executable of the unit a call was about, from `Main PID: 812 (node)` in its status this turn."""
    unit = str(c.args.get("service") or str(c.args.get("source") or "").removeprefix("unit:"))
    for x in [c, *conv.this_turn()]:
        if x.name == "service_status" and str(x.args.get("service")) == unit:
            m = _MAIN_PID.search(x.output)
            if m:
                return m.group("comm")
    return None


def fd_checks(conv: Conversation) -> list[Check]:
    """EMFILE in an output: count that process's descriptors against its limit (open_files). The process is
    the program that logged the line (`node[812]:`), else the unit's main executable, else the unit's name."""
    names: list[str] = []
    for c in conv.this_turn():
        if c.name == "open_files" or c.name.startswith("pod_") or not _EMFILE.search(c.output):
            continue
        logged = [
            m.group("prog")
            for line in c.output.splitlines()
            if _EMFILE.search(line)
            for m in [_PROGRAM.match(line)]
            if m and m.group("prog") != "systemd"
        ]
        own = logged or [n for n in (_unit_comm(conv, c) or process_of_call(c),) if n]
        names += own
    return [
        Check(
            "open_files",
            {"process": n},
            f"{n} ran out of file descriptors: count them against its limit",
            "fds",
        )
        for n in list(dict.fromkeys(names))[:2]
        if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,127}", n)
    ]


# ------------------------------------------------------------------ a service described in words

ABBREVIATIONS = {
    "ws": "websocket",
    "gw": "gateway",
    "db": "database",
    "mq": "queue",
    "svc": "service",
    "mgr": "manager",
    "sched": "scheduler",
    "notif": "notification",
    "notify": "notification",
    "auth": "authentication",
    "cfg": "config",
    "conf": "config",
    "repl": "replication",
    "lb": "balancer",
    "px": "proxy",
    "msg": "message",
    "img": "image",
    "pg": "postgres",
    "mon": "monitoring",
    "sync": "synchronization",
}
"""Common short forms in unit names: `ws-gw` is a websocket gateway."""
_UNIT_SEEN = re.compile(r"(?<![\w./-])([a-z][\w@.-]*?)\.service\b")
_NAME_TOKEN = re.compile(r"(?<![\w.])([a-z][a-z0-9]*(?:[-_][a-z0-9]+)*)(?![\w])")
_EXT = re.compile(r"\.(?:py|js|mjs|jar|sh|rb|pl|bin|service|toml|ya?ml|conf|cfg|json|ini)$")
_WORD_STOP = {
    "the",
    "and",
    "for",
    "our",
    "its",
    "with",
    "from",
    "since",
    "after",
    "before",
    "this",
    "that",
    "has",
    "have",
    "was",
    "were",
    "not",
    "can",
    "you",
    "check",
    "please",
    "into",
    "keeps",
    "again",
    "down",
    "host",
    "server",
    "service",
    "status",
    "error",
    "errors",
    "failed",
    "fails",
    "failing",
    "running",
    "start",
    "started",
    "log",
    "logs",
    "bin",
    "usr",
    "local",
    "sbin",
    "opt",
    "etc",
    "lib",
    "var",
    "run",
    "python3",
    "python",
    "java",
    "node",
    "config",
    "conf",
    "toml",
    "yaml",
    "yml",
    "json",
}


_ROLE_NOUNS = {
    "worker",
    "workers",
    "server",
    "service",
    "daemon",
    "agent",
    "gateway",
    "proxy",
    "client",
    "master",
    "manager",
    "scheduler",
    "exporter",
    "consumer",
    "producer",
    "queue",
    "cache",
    "relay",
    "backend",
    "frontend",
    "runner",
    "listener",
    "monitor",
    "metrics",
    "export",
    "import",
    "report",
    "reports",
    "backup",
}
"""Words that say what a program does, not which one: alone they name no unit (`celery … worker`)."""


_SYSTEM_PARTS = {
    "systemd",
    "dbus",
    "polkit",
    "snapd",
    "cloud",
    "getty",
    "user",
    "init",
    "kworker",
    "ksoftirqd",
}
"""The operating system's own programs: never the service an engineer describes."""


def message_words(conv: Conversation) -> set[str]:
    """The engineer's words (host names taken out: a host's name is not a description of its service)."""
    text = " ".join(conv.users).lower()
    for h in [conv.target_name, *conv.hosts]:
        if h:
            text = text.replace(h.lower(), " ")
    return {w for w in re.findall(r"[a-z][a-z0-9]+", text) if w not in _WORD_STOP}


def _part_fits(part: str, words: set[str]) -> bool:
    if part in words or ABBREVIATIONS.get(part) in words:
        return True
    return len(part) >= 4 and any(len(w) >= 4 and (w.startswith(part) or part.startswith(w)) for w in words)


def _fit(name: str, words: set[str]) -> float:
    """How well a unit or program name spells the engineer's words: every part that is one of them (or its
    abbreviation, or a stem of it) counts, a part that is not costs a little."""
    parts = [p for p in re.split(r"[-_.@]+", name) if p and not p.isdigit()]
    if not parts:
        return 0.0
    hits = sum(_part_fits(p, words) for p in parts)
    if len(parts) == 1:  # a one-word program must be a distinctive word of the message itself
        return 1.0 if parts[0] in words and len(parts[0]) >= 5 and parts[0] not in _ROLE_NOUNS else 0.0
    if hits >= 2:
        return hits - 0.1 * (len(parts) - hits)
    distinctive = [
        p for p in parts if _part_fits(p, words) and (ABBREVIATIONS.get(p) or p) not in _ROLE_NOUNS
    ]
    return 0.5 if distinctive and parts[0] not in _SYSTEM_PARTS else 0.0  # 'websocket' alone: ws-gateway


def seen_names(conv: Conversation) -> list[str]:
    """Unit names (`foo.service`) and program names (the process table's commands) shown this turn."""
    names: list[str] = []
    for c in conv.this_turn():
        if not c.answered or c.failed:
            continue
        names += [m.group(1) for m in _UNIT_SEEN.finditer(c.output)]
        if c.name == "process_list":
            for line in c.output.splitlines():
                cols = line.split(None, 10)
                if len(cols) < 11 or not cols[1].isdigit():
                    continue
                for tok in re.split(r"[\s/=:,]+", cols[10].lower()):
                    n = _NAME_TOKEN.fullmatch(_EXT.sub("", tok))
                    if n:
                        names.append(n.group(1))
    return list(dict.fromkeys(names))


def described_units(conv: Conversation, checked: set[str]) -> list[str]:
    """Units or programs seen this turn whose names spell what the engineer described in words ('the
    websocket gateway' → ws-gateway, 'pgbouncer exporter' → pgbouncer_exporter): the best fits, at most two."""
    words = message_words(conv)
    hosts = {h.lower() for h in [conv.target_name, *conv.hosts] if h}
    scored = [(s, n) for n in seen_names(conv) if n not in hosts and (s := _fit(n, words)) > 0]
    if not scored:
        return []
    best = max(s for s, _ in scored)
    top = [n for s, n in sorted(scored, key=lambda x: -x[0]) if s == best]
    return [n for n in dict.fromkeys(top) if n not in checked][:2]


# ------------------------------------------------------------------ where an application says it listens

LISTEN_LINE = re.compile(
    r"(?:\blistening(?: at| on)?|\brunning on|\bbound to|\bserving (?:on|at)|\bstarted (?:server |http server )?on"
    r"|\bbinding (?:to|on))\s*:?\s*(?:https?://)?(?:\[[\da-f:]*\]|[\w.-]*)?:(?P<port>\d{2,5})\b"
    r"|\blistening on port (?P<port2>\d{2,5})\b",
    re.IGNORECASE,
)
"""An application's own startup line naming its address: gunicorn's 'Listening at: http://127.0.0.1:8001',
uvicorn's 'running on http://…:8001', Go's 'listening on :8001'."""


def listen_lines(conv: Conversation) -> list[tuple[int, str]]:
    """(port, line) of every startup line in the conversation's outputs that says where something listens
    (a proxy's own error lines, which name its upstream, are not such lines)."""
    out: list[tuple[int, str]] = []
    for c in conv.calls:
        if not c.answered or c.failed or c.name in ("port_owner", "http_check"):
            continue
        for line in c.output.splitlines():
            if "upstream" in line or "connect() failed" in line:
                continue
            m = LISTEN_LINE.search(line)
            if m:
                out.append((int(m.group("port") or m.group("port2")), line.strip()))
    return list(dict.fromkeys(out))


_REFUSED_UPSTREAM = re.compile(
    r"\(111: Connection refused\) while connecting to upstream.*?upstream: \"\w+://[^\"/]*?:(\d+)"
)
"""nginx's refused upstream: `connect() failed (111: Connection refused) while connecting to upstream, …,
upstream: "http://127.0.0.1:8081/"`."""


def refused_upstream_ports(conv: Conversation) -> list[int]:
    """Ports a proxy's error lines (in the messages or any log read) say its upstream refused."""
    texts = [*conv.users, *(c.output for c in conv.calls if c.answered and not c.failed)]
    return list(dict.fromkeys(int(m.group(1)) for t in texts for m in _REFUSED_UPSTREAM.finditer(t)))
