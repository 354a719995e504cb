"""`systemctl status` facts for an SSH host without systemd, from its `ps` and log files.

The same rules as the local fallback (`tools.host.services`): which processes are the
service, the tree under them, the totals, the logs named after it; only the observing
is done with commands on the host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.facts import ServiceFacts
from tools.host import argv as templates
from tools.host.parse import PsRow, parse_ps
from tools.host.services import (
    JOURNAL_LINES,
    Member,
    idle_facts,
    main_member,
    matching_pids,
    running_facts,
    service_key,
    service_tree,
)
from tools.render_host import render_service_status
from tools.targets.base import TargetError

if TYPE_CHECKING:
    from tools.targets.ssh import SshTarget


def _member(row: PsRow) -> Member:
    f = row.facts
    return Member(
        pid=f.pid,
        cmd=f.cmdline,
        name=f.name,
        started=row.started,
        rss=f.rss_kb * 1024,
        threads=row.threads,
        cpu_s=row.cpu_s,
    )


def _running(key: str, rows: list[PsRow]) -> ServiceFacts | None:
    rows = [r for r in rows if templates.PS_MARK not in r.facts.cmdline]  # not our own ps and its shell
    table = [(r.facts.pid, r.facts.name, r.facts.cmdline.split()) for r in rows]
    matched = matching_pids(key, table)
    if not matched:
        return None
    roots, pids = service_tree(matched, {r.facts.pid: r.facts.ppid for r in rows})
    wanted = set(pids)
    members = {r.facts.pid: _member(r) for r in rows if r.facts.pid in wanted}
    return running_facts(key, main_member([members[p] for p in roots]), [members[p] for p in pids], None)


async def _journal(target: SshTarget, key: str) -> list[str]:
    lines = []
    for path in await target.logs.named(key, 2, "service_status"):
        try:
            tail = await target.logs.read(path, JOURNAL_LINES, "service_status")
        except TargetError:
            continue
        lines += [f"==> {path} <==", *tail]
    return lines


async def remote_service_facts(
    target: SshTarget, service: str, hostname: str
) -> tuple[ServiceFacts, int, str]:
    """(facts, exit code, `systemctl status`-style text) for `service` on the host."""
    key = service_key(service)
    rows = parse_ps((await target.exec(templates.ps(), "service_status")).output)
    init_script = f"/etc/init.d/{key}"
    has_init = (await target.exec(["test", "-e", init_script], "service_status")).returncode == 0
    journal = await _journal(target, key)
    facts = _running(key, rows) or idle_facts(key, known=has_init or bool(journal))
    if facts.loaded != "not-found":
        facts = facts.model_copy(
            update={"host": hostname, "unit_path": init_script if has_init else None, "journal": journal}
        )
    text, code = render_service_status(facts)
    return facts, code, text
