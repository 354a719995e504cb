"""Scoring one run of a case: each expectation becomes a named check that passes or says why not.

Scoring reads only the events the agent loop emitted (the same ones the UI shows),
so what is scored is exactly what an engineer would have seen.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from assistant.events import Event, EventType, Finding
from evals.format import Case

NO_FAULT_PHRASES = re.compile(
    r"\bno (?:obvious |clear |apparent )?(?:fault|problem|issue|error|failure|root cause)s?\b"
    r"|\bnothing (?:looks |seems |appears )?(?:wrong|abnormal|unusual|broken)"
    r"|\b(?:all|everything) (?:\w+ ){0,3}(?:looks?|is|are|appears?|seems?) (?:healthy|fine|ok|okay|normal)"
    r"|\bhealthy\b|\bcould ?n[o']t find\b|\bcannot find\b|\bdid ?n[o']t find\b|\bfound no\b",
    re.IGNORECASE,
)
"""An answer to a no-fault case must say so in words like these."""

ROOT_CAUSE_CLAIM = re.compile(
    r"\broot cause\b[*_\s]*[:\u2014\u2013-][*_\s]*"
    r"(?!none\b|no\b|not\b|nothing\b|unknown\b|unclear\b|undetermined\b|n/a\b|not found\b)\w",
    re.IGNORECASE,
)
"""`Root cause: <something>` is a claim; `Root cause: none found` / `unknown` is not."""

PROBLEM_SEVERITIES = {"critical", "high", "medium", "low"}
"""Findings above `info`: on a no-fault case each one is a false positive."""


class Check(BaseModel):
    name: str
    passed: bool
    detail: str = ""


def _of(events: list[Event], etype: EventType) -> list[Any]:
    return [e.data for e in events if e.type is etype]


def answer_text(events: list[Event]) -> str:
    """The assistant's answers: every `message` event of every turn, in order."""
    return "\n\n".join(m.text for m in _of(events, EventType.MESSAGE))


def finding_text(f: Finding) -> str:
    lines = [f.title] + [line for ev in f.evidence for line in ev.lines]
    return "\n".join(lines)


def requested_tools(events: list[Event]) -> list[str]:
    """Every tool the model asked for, including write calls that were refused or denied."""
    names = [c.tool for c in _of(events, EventType.TOOL_CALL)]
    call_ids = {c.call_id for c in _of(events, EventType.TOOL_CALL)}
    names += [a.tool for a in _of(events, EventType.APPROVAL_REQUIRED) if a.call_id not in call_ids]
    return names


def _root_cause(case: Case, events: list[Event]) -> list[Check]:
    haystack = answer_text(events) + "\n" + "\n".join(finding_text(f) for f in _of(events, EventType.FINDING))
    checks = []
    for rx in case.expect.root_cause:
        hit = re.search(rx, haystack, re.IGNORECASE | re.MULTILINE)
        checks.append(
            Check(
                name=f"root_cause /{rx}/",
                passed=hit is not None,
                detail="" if hit else f"/{rx}/ matches neither the answer nor any finding",
            )
        )
    return checks


def _no_fault(events: list[Event]) -> Check:
    problems = [f for f in _of(events, EventType.FINDING) if f.severity in PROBLEM_SEVERITIES]
    answer = answer_text(events)
    if problems:
        titles = "; ".join(f"{f.severity}: {f.title}" for f in problems[:3])
        return Check(name="no_fault", passed=False, detail=f"false positive finding(s): {titles}")
    claim = ROOT_CAUSE_CLAIM.search(answer)
    if claim:
        return Check(
            name="no_fault",
            passed=False,
            detail=f"answer claims a root cause: {answer[claim.start() : claim.start() + 80]!r}",
        )
    if not NO_FAULT_PHRASES.search(answer):
        return Check(name="no_fault", passed=False, detail="answer does not say that no fault was found")
    return Check(name="no_fault", passed=True)


def _tool_checks(case: Case, events: list[Event]) -> list[Check]:
    requested = requested_tools(events)
    calls = len(_of(events, EventType.TOOL_CALL))
    checks = []
    for name in case.expect.tools_called:
        checks.append(
            Check(
                name=f"tools_called {name}",
                passed=name in requested,
                detail="" if name in requested else f"{name} was never called",
            )
        )
    for name in case.expect.tools_not_called:
        n = requested.count(name)
        checks.append(
            Check(
                name=f"tools_not_called {name}",
                passed=n == 0,
                detail=f"{name} was requested {n}x" if n else "",
            )
        )
    if case.expect.max_tool_calls is not None:
        ok = calls <= case.expect.max_tool_calls
        checks.append(
            Check(
                name="max_tool_calls",
                passed=ok,
                detail="" if ok else f"{calls} tool calls > {case.expect.max_tool_calls}",
            )
        )
    return checks


def _turns_finished(case: Case, events: list[Event]) -> Check:
    finished = _of(events, EventType.TURN_FINISHED)
    bad = [
        f"turn {i + 1}: {t.status}" for i, t in enumerate(finished) if t.status not in ("completed", "budget")
    ]
    errors = [e.message for e in _of(events, EventType.ERROR)]
    if len(finished) < len(case.turns):
        bad.append(f"{len(case.turns) - len(finished)} turn(s) never finished")
    if not answer_text(events).strip():
        bad.append("no answer message")
    detail = "; ".join(bad + [f"error: {m}" for m in errors[:2]]) if bad else ""
    return Check(name="finished", passed=not bad, detail=detail)


def score(case: Case, events: list[Event]) -> list[Check]:
    """Every check for this run; the run passes when all of them pass."""
    checks = [_turns_finished(case, events)]
    checks += _root_cause(case, events)
    if case.expect.no_fault:
        checks.append(_no_fault(events))
    checks += _tool_checks(case, events)
    return checks
