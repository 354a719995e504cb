"""What the runbook knows of a conversation: its calls, what each showed, and the session's facts.

Plain records, so modules that compare calls (`crosscheck`) and the parser that builds them
(`conversation`) do not import each other."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant.attachments import PASTE_TOOL as PASTED
from assistant.events import Finding

_SOURCE_ERROR = re.compile(
    r"^(?:tail|cat|head|grep|zcat|less|journalctl|ls|sudo|kubectl): |^Error from server \(NotFound\)|"
    r"^-- No entries --$|^No journal files were found|^error: (?:container|pod) "
)
"""A reading tool's complaint about its own input (no such file, no such pod): the check could not look."""


@dataclass
class CallRecord:
    """One tool call the model asked for and, when it came back, what it showed."""

    id: str
    name: str
    args: dict[str, Any]
    turn: int
    step: int
    content: str | None = None
    output: str = ""
    command: str = ""
    exit_code: int | None = None
    error: str | None = None
    truncated: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.content is not None

    @property
    def failed(self) -> bool:
        """The call did not run (refused, invalid, unsupported, denied), or it ran but could not read its source
        (a log that does not exist): a gap in what was seen, never evidence about the system."""
        return (self.error is not None and self.exit_code is None) or self.unreadable_source

    @property
    def unreadable_source(self) -> bool:
        return (
            self.exit_code not in (0, None)
            and bool(_SOURCE_ERROR.match(self.output.strip()))
            and len(self.output.strip().splitlines()) <= 3
        )


@dataclass
class Conversation:
    target_name: str = ""
    target_kind: str = ""
    hosts: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    environment: str = ""
    users: list[str] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Offered tool name -> its function schema ({name, description, parameters})."""
    steps_this_turn: int = 0

    @property
    def turn(self) -> int:
        return len(self.users)

    @property
    def request(self) -> str:
        return self.users[-1] if self.users else ""

    def this_turn(self) -> list[CallRecord]:
        """This turn's calls, with a log pasted with its message (its evidence too)."""
        return [c for c in self.calls if c.turn == self.turn]

    def asked_this_turn(self) -> list[CallRecord]:
        """The calls the model asked for this turn: a pasted log is not one, so the opening checks still come."""
        return [c for c in self.this_turn() if c.name != PASTED]

    def findings_before_writes(self, write_names: set[str]) -> list[Finding]:
        """Findings from before the first write of this turn: what a fix plan may be based on."""
        out = []
        for c in self.calls:
            if c.turn == self.turn and c.name in write_names:
                break
            out.extend(c.findings)
        return out

    def findings(self, this_turn_only: bool = False) -> list[Finding]:
        calls = self.this_turn() if this_turn_only else self.calls
        return [f for c in calls for f in c.findings]
