"""One decision per model call: ask for the next checks, or answer.

Deterministic: the same messages and tools always give the same decision. It stops
as soon as a finding explains the symptom, when nothing useful is left to check, or
after MAX_STEPS steps in a turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.events import Finding
from assistant.findings import parse_calls
from assistant.runbook.checks import Check, admissible
from assistant.runbook.conversation import Conversation
from assistant.runbook.entities import Entities, extract, fix_requests
from assistant.runbook.fixes import next_fix_step, requested_fix
from assistant.runbook.followups import (
    _generic_triage,
    finding_checks,
    initial_checks,
    refinements,
    result_checks,
)
from assistant.runbook.report import after_fix, diagnosis

MAX_STEPS = 6
MAX_CALLS_PER_STEP = 4


@dataclass
class Decision:
    text: str
    calls: list[Check] = field(default_factory=list)


def entities(conv: Conversation) -> Entities:
    """Names from the latest message; earlier messages fill in what a follow-up leaves implicit."""
    now = extract(conv.request, conv.hosts, conv.namespaces)
    if len(conv.users) > 1:
        before = extract("\n".join(conv.users[:-1]), conv.hosts, conv.namespaces)
        for name in ("services", "pods", "deployments", "namespaces", "urls", "fqdns", "hosts", "ports", "paths"):
            if not getattr(now, name):
                setattr(now, name, getattr(before, name))
        now.k8s = now.k8s or before.k8s
        if not now.symptoms:
            now.symptoms = before.symptoms
    return now


def terminal(conv: Conversation, f: Finding, ents: Entities) -> bool:
    """Does this finding explain the incident well enough to stop and answer?"""
    x = f.facts
    s = f.signature
    if s in ("config-test-failed", "tls-cert-expired", "tls-cert-not-reloaded", "pod-unschedulable",
             "db-idle-in-transaction", "db-auth-failed", "db-replication-broken", "missing-config",
             "heap-exhausted"):
        return True
    if s == "pod-evicted":
        return bool(x.get("resource"))
    if s == "port-in-use":
        return bool(x.get("pid"))
    if s == "db-lock-wait":
        return bool(x.get("holder_pid")) or x.get("statements") is not None
    if s == "dns-nxdomain":
        follow = [Check(n, a) for c in f.next_checks for n, a in parse_calls(c)]
        return x.get("source") == "lookup" or not admissible(conv, follow)
    if s == "disk-full":
        return bool(x.get("mount"))
    if s == "oom-killed":
        return bool(x.get("container") or x.get("process"))
    if s == "image-pull-failed":
        return bool(x.get("cause"))
    if s == "permission-denied":
        return bool(x.get("path"))
    return s == "tls-cert-expiring" and "cert" in ents.symptoms


def _step_text(calls: list[Check]) -> str:
    reasons = list(dict.fromkeys(c.reason for c in calls if c.reason))
    text = "; ".join(reasons) if reasons else "next checks"
    return text[0].upper() + text[1:] + "."


def decide(conv: Conversation) -> Decision:
    ents = entities(conv)
    plan = requested_fix(conv, ents)
    if plan is not None:
        calls, stopped = next_fix_step(conv, plan)
        if calls:
            return Decision(_step_text(calls), calls)
        return Decision(after_fix(conv, plan.writes, stopped))
    generic, actions = fix_requests(conv.request)
    note = "You asked me to apply a fix, but no matching write tool is available in this session; " \
           "here is what I would do instead." if (generic or actions) else None
    if note and conv.findings() and not conv.this_turn():
        return Decision(diagnosis(conv, note))  # asked to fix what was already diagnosed, but cannot
    if conv.steps_this_turn >= MAX_STEPS:
        return Decision(diagnosis(conv, note or f"I stopped after {MAX_STEPS} steps; ask me to dig further."))
    current = conv.findings(this_turn_only=True)
    conclusive = [f for f in current if terminal(conv, f, ents)]
    calls = admissible(conv, refinements(conv, conclusive)) if conclusive else _candidates(conv, ents)
    if not calls:
        return Decision(diagnosis(conv, note))
    batch = [c for c in calls if c.group == calls[0].group][:MAX_CALLS_PER_STEP]
    return Decision(_step_text(batch), batch)


def _candidates(conv: Conversation, ents: Entities) -> list[Check]:
    if not conv.this_turn():
        opening = admissible(conv, initial_checks(conv, ents))
        return opening or admissible(conv, _generic_triage(ents))
    return admissible(conv, finding_checks(conv) + result_checks(conv, ents))
