"""Findings that only two outputs together show: a name DNS resolves one way and /etc/hosts pins another.

Analyzers read one output at a time; this compares the answers of calls already made, so
the runbook can say what neither output says alone. Each finding quotes its lines exactly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

from assistant.events import Evidence, Finding, NextCheck
from assistant.runbook.records import CallRecord, Conversation

_HAS_ADDRESS = re.compile(r"^(?P<name>\S+?)\.? has (?:IPv6 )?address (?P<ip>\S+)$", re.MULTILINE)
HOSTS_FILE = "/etc/hosts"


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def hosts_entries(output: str) -> list[tuple[str, list[str], str]]:
    """(address, names, the exact line) for each mapping line of an /etc/hosts file."""
    out = []
    for line in output.splitlines():
        body = line.split("#", 1)[0].split()
        if len(body) >= 2 and _ip(body[0]):
            out.append((body[0], [n.lower().rstrip(".") for n in body[1:]], line.rstrip()))
    return out


def resolved(conv: Conversation) -> dict[str, tuple[set[str], CallRecord]]:
    """name -> (addresses DNS gave, the lookup call), from answered dns_lookup calls."""
    out: dict[str, tuple[set[str], CallRecord]] = {}
    for c in conv.calls:
        if c.name != "dns_lookup" or not c.answered or c.failed:
            continue
        for m in _HAS_ADDRESS.finditer(c.output):
            name = m.group("name").lower()
            out.setdefault(name, (set(), c))[0].add(m.group("ip"))
    return out


def hosts_override(conv: Conversation) -> list[tuple[CallRecord, Finding]]:
    """A name /etc/hosts maps to an address DNS does not give: programs that resolve through the system
    (getaddrinfo, nsswitch 'files' first) use the pinned one, while `host`/`dig` show the DNS answer."""
    dns = resolved(conv)
    out = []
    for c in conv.calls:
        if c.name != "log_tail" or c.args.get("source") != HOSTS_FILE or not c.answered or c.failed:
            continue
        for address, names, line in hosts_entries(c.output):
            for name in names:
                if name not in dns or address in dns[name][0]:
                    continue
                answers, lookup = dns[name]
                dns_line = next(
                    ln for ln in lookup.output.splitlines() if ln.strip().lower().startswith(name)
                )
                title = f"/etc/hosts pins {name} to {address}, but DNS answers {', '.join(sorted(answers))}"
                digest = hashlib.blake2b(f"{c.id}{name}{address}".encode(), digest_size=6).hexdigest()
                out.append(
                    (
                        c,
                        Finding(
                            finding_id=f"f-hosts-{digest}",
                            signature="hosts-file-override",
                            title=title,
                            severity="high",
                            confidence=0.85,
                            evidence=[
                                Evidence(call_id=c.id, tool=c.name, command=c.command, lines=[line]),
                                Evidence(
                                    call_id=lookup.id,
                                    tool=lookup.name,
                                    command=lookup.command,
                                    lines=[dns_line],
                                ),
                            ],
                            remediation=(
                                f"Remove or correct the `{line.strip()}` line in /etc/hosts, then check with "
                                f"`getent hosts {name}` (it honours /etc/hosts, unlike host/dig) and restart "
                                "the services that connect to it."
                            ),
                            facts={"name": name, "address": address, "dns": sorted(answers)},
                            checks=[],
                        ),
                    )
                )
    return out


def resolver_checks(conv: Conversation, names: list[str]) -> list[NextCheck]:
    """DNS answered for a name that cannot be reached: the host's own override (/etc/hosts) is read next."""
    dns = resolved(conv)
    read = any(c.name == "log_tail" and c.args.get("source") == HOSTS_FILE for c in conv.calls)
    if read or not any(n.lower() in dns for n in names):
        return []
    return [NextCheck(tool="log_tail", args={"source": HOSTS_FILE})]
