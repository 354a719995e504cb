"""Verified fixes: a finding is resolved once, after an approved write, the same check no longer shows it.

Deliberately general: no analyzer knows about fixes. A finding remembers the checks that produced it
(the tool and command line of its evidence). When a write action succeeds, every open finding waits
for verification; the next run of one of its checks that completes and whose analysis no longer yields
the finding's signature resolves it. A check that still shows the signature (even with other facts,
say another pid on the port) leaves it open. Rebuilt from the event log, so a fix approved in one turn
is verified in the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.events import Event, Finding, FindingResolved, ToolCall, ToolResultEvent
from tools.base import ToolResult

Check = tuple[str, str]
"""(tool, command line): what "the same check" means."""


@dataclass
class _Open:
    finding: Finding
    checks: set[Check]
    fix: Check | None = None
    """(call id, command) of the write that ran after the finding; None until one succeeds."""


@dataclass
class Verifier:
    open: dict[str, _Open] = field(default_factory=dict)

    def add(self, finding: Finding) -> None:
        checks = {(ev.tool, ev.command) for ev in finding.evidence}
        self.open[finding.finding_id] = _Open(finding, checks)

    def fixed(self, call_id: str, command: str) -> None:
        """A write action succeeded: every open finding now awaits its re-check."""
        for item in self.open.values():
            item.fix = (call_id, command)

    def check(self, call_id: str, result: ToolResult, found: list[Finding]) -> list[FindingResolved]:
        """Findings this read resolves: it re-ran one of their checks after a fix and no longer shows them."""
        if result.error or result.status in ("refused", "timeout", "unsupported", "needs_approval"):
            return []  # a check that did not run proves nothing (an empty output that ran is an answer)
        seen = {f.signature for f in found}
        resolved = []
        for fid, item in list(self.open.items()):
            if (
                item.fix is None
                or (result.tool, result.command) not in item.checks
                or item.finding.signature in seen
            ):
                continue
            del self.open[fid]
            resolved.append(
                FindingResolved(
                    finding_id=fid,
                    signature=item.finding.signature,
                    title=item.finding.title,
                    fix_call_id=item.fix[0],
                    fix_command=item.fix[1],
                    verify_call_id=call_id,
                    verify_command=result.command,
                )
            )
        return resolved

    def remember(self, history: list[Event]) -> None:
        """Replay earlier turns: their findings, the writes that succeeded, what was already resolved."""
        writes: dict[str, str] = {}
        for ev in history:
            d = ev.data
            if isinstance(d, Finding):
                self.add(d)
            elif isinstance(d, ToolCall) and d.risk == "write":
                writes[d.call_id] = d.command
            elif isinstance(d, ToolResultEvent) and d.call_id in writes and d.ok:
                self.fixed(d.call_id, d.command or writes[d.call_id])
            elif isinstance(d, FindingResolved):
                self.open.pop(d.finding_id, None)
