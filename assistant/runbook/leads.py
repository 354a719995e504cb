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
