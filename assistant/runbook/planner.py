"""One decision per model call: ask for the next checks, or answer.

Deterministic: the same messages and tools always give the same decision. It stops
as soon as a finding explains the symptom, when nothing useful is left to check, or
after MAX_STEPS steps in a turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.events import Finding
from assistant.findings import rank
from assistant.findings.k8s_text import deployment_of, parse_pod_list
from assistant.findings.signatures import answering, ends_investigation
from assistant.runbook.checks import RECHECK, Check, admissible, key
from assistant.runbook.conversation import Conversation
from assistant.runbook.entities import Entities, extract, fix_requests, k8s_name
from assistant.runbook.fixes import named, next_fix_step, relevant, requested_fix
from assistant.runbook.followups import (
    TROUBLE,
    _generic_triage,
    finding_checks,
    found_named_pods,
    initial_checks,
    k8s_mode,
    refinements,
    result_checks,
    triage_checks,
    wider_checks,
)
from assistant.runbook.questions import follow_up
from assistant.runbook.records import PASTED
from assistant.runbook.report import after_fix, diagnosis, no_fault

MAX_STEPS = 6
MAX_CALLS_PER_STEP = 4
MAX_CALLS_PER_TURN = 12
"""After this many checks in one turn, answer with what was seen (and say what was not)."""


@dataclass
class Decision:
    text: str
    calls: list[Check] = field(default_factory=list)


def entities(conv: Conversation) -> Entities:
    """Names from the latest message; earlier messages fill in what a follow-up leaves implicit."""
    now = extract(conv.request, conv.hosts, conv.namespaces)
    if len(conv.users) > 1:
        before = extract("\n".join(conv.users[:-1]), conv.hosts, conv.namespaces)
        for name in (
            "services",
            "pods",
            "deployments",
            "namespaces",
            "urls",
            "fqdns",
            "hosts",
            "ports",
            "paths",
            "quotes",
        ):
            if not getattr(now, name):
                setattr(now, name, getattr(before, name))
        now.k8s = now.k8s or before.k8s
        if not now.symptoms:
            now.symptoms = before.symptoms
    _seen_workloads(conv, now)
    _pasted_pods(conv, now)
    if k8s_mode(conv, now):  # in a cluster, 'docker' or 'crash-looping' names no workload
        now.services = [s for s in now.services if k8s_name(s) and not re.match(r"[a-z]-", s)]
    return now


def _pasted_pods(conv: Conversation, ents: Entities) -> None:
    """A pod listing the engineer pasted (`kubectl get pods -A` output): its namespaces and its unhealthy pods
    are named as surely as if typed."""
    for text in reversed(conv.users):
        rows = parse_pod_list(text)
        if not rows:
            continue
        pasted = [r.namespace for r in sorted(rows, key=lambda r: r.healthy) if r.namespace]
        ents.namespaces[:] = list(dict.fromkeys([*pasted, *ents.namespaces]))  # what was pasted is sure
        for r in sorted(rows, key=lambda r: r.healthy):
            if not r.healthy and r.status != "Completed" and r.name not in ents.pods:
                ents.pods.append(r.name)
        ents.k8s = True
        return


def _seen_workloads(conv: Conversation, ents: Entities) -> None:
    """Words of the message that are deployments seen in `kubectl get pods` output ('search is down')."""
    words = set(re.findall(r"[a-z0-9][a-z0-9-]*", " ".join(conv.users).lower()))
    for c in conv.calls:
        if c.name == "list_pods":
            for row in parse_pod_list(c.output):
                owner = deployment_of(row.name)
                if owner and owner in words and owner not in ents.deployments:
                    ents.deployments.append(owner)
                if row.name in words and row.name not in ents.pods:  # a StatefulSet pod named in full (db-0)
                    ents.pods.append(row.name)


def terminal(conv: Conversation, f: Finding, ents: Entities) -> bool:
    """Does this finding explain the incident well enough to stop and answer? The registry says, except where
    it depends on the conversation: a name the application cannot resolve, a certificate that is only expiring."""
    if f.signature == "dns-nxdomain":
        follow = [Check(c.tool, dict(c.args)) for c in f.checks]
        return f.facts.get("source") == "lookup" or not admissible(conv, follow)
    if f.signature == "tls-cert-expiring":
        return "cert" in ents.symptoms
    return ends_investigation(f.signature, f.facts)


_RECHECK = RECHECK


def follow_up_question(conv: Conversation) -> bool:
    """A later message that names nothing new and does not ask to look again: answer from the evidence seen."""
    if (
        conv.turn < 2
        or not any(f.severity != "info" for f in conv.findings())
        or _RECHECK.search(conv.request)
    ):
        return False
    now = extract(conv.request, conv.hosts, conv.namespaces)
    before = extract("\n".join(conv.users[:-1]), conv.hosts, conv.namespaces)
    fields = ("services", "pods", "deployments", "urls", "fqdns", "ports", "paths", "quotes", "logs_of")
    return not any(set(getattr(now, f)) - set(getattr(before, f)) for f in fields)


def _step_text(calls: list[Check]) -> str:
    reasons = list(dict.fromkeys(c.reason for c in calls if c.reason))
    text = "; ".join(reasons) if reasons else "next checks"
    return text[0].upper() + text[1:] + "."


def decide(conv: Conversation) -> Decision:
    ents = entities(conv)
    asked = follow_up(conv)
    if asked is not None:  # why / what changed / roll back / is it fixed / what else / the command
        return Decision(*asked)
    plan = requested_fix(conv, ents)
    if plan is not None:
        calls, stopped = next_fix_step(conv, plan)
        if calls:
            return Decision(_step_text(calls), calls)
        return Decision(after_fix(conv, plan.writes, stopped))
    names = named(ents)
    generic, actions = fix_requests(conv.request)
    note = (
        "You asked me to apply a fix, but no matching write tool is available in this session; "
        "the fix above is what to do by hand."
        if (generic or actions)
        else None
    )
    if note and conv.findings() and not conv.asked_this_turn():
        return Decision(
            diagnosis(conv, note, preference(conv, ents, names))
        )  # asked to fix what was already diagnosed, but cannot
    if not conv.asked_this_turn() and follow_up_question(conv):
        return Decision(
            diagnosis(conv, None, preference(conv, ents, names))
        )  # answered from what was already seen
    if conv.steps_this_turn >= MAX_STEPS:
        return Decision(
            diagnosis(
                conv,
                note or f"I stopped after {MAX_STEPS} steps; ask me to dig further.",
                preference(conv, ents, names),
            )
        )
    current = conv.findings(this_turn_only=True)
    prefer = preference(conv, ents, names)
    about = [f for f in current if prefer(f)]  # then only those can end the search
    conclusive = [f for f in current if terminal(conv, f, ents) and (f in about or not about)]
    if names and not about and current:  # something else is broken; look at what was named first
        named_calls = [c for c in _candidates(conv, ents, names) if _about(c, names)]
        if named_calls:
            return Decision(_step_text(named_calls[:MAX_CALLS_PER_STEP]), named_calls[:MAX_CALLS_PER_STEP])
        if k8s_mode(conv, ents) and _named_seen(conv, names) and not ents.symptoms & TROUBLE:
            return Decision(no_fault(conv, _others(current), subject=", ".join(names)))
    calls = (
        admissible(conv, refinements(conv, conclusive, ents))
        if conclusive
        else _candidates(conv, ents, names)
    )
    calls = in_cluster(conv, ents, calls)
    calls = calls[: max(0, MAX_CALLS_PER_TURN - len(conv.asked_this_turn()))]
    if not calls:
        return Decision(diagnosis(conv, note, preference(conv, ents, names), unfound(conv, ents)))
    batch = [c for c in calls if c.group == calls[0].group][:MAX_CALLS_PER_STEP]
    return Decision(_step_text(batch), batch)


HOST_ONLY = {"service_status", "host_resources", "disk_usage", "process_list", "port_owner", "open_files"}
"""Tools that look at one machine's units, disks and processes: in a cluster they would look at whatever machine
Firstline runs on, not at the pods."""


def in_cluster(conv: Conversation, ents: Entities, calls: list[Check]) -> list[Check]:
    """In a Kubernetes session no check looks at a host's units, disks or processes unless the engineer named a
    host (a finding's 'check redis-server' means the redis pod there, which the pod checks already cover)."""
    cluster = conv.target_kind == "kubernetes" or "kubernetes" in conv.environment
    if not cluster or not k8s_mode(conv, ents) or ents.hosts:
        return calls
    return [
        c
        for c in calls
        if c.name not in HOST_ONLY
        and not (c.name == "log_tail" and not str(c.args.get("source", "")).startswith("pod:"))
    ]


def unfound(conv: Conversation, ents: Entities) -> list[str]:
    """Workloads named in a cluster that no pod listing of the conversation showed (nor any describe or log)."""
    if not k8s_mode(conv, ents) or found_named_pods(conv, ents):
        return []
    looked = any(c.name in ("pod_describe", "pod_logs") and c.answered and not c.failed for c in conv.calls)
    return [] if looked else named(ents)


def pertinent(f: Finding, names: list[str], symptoms: set[str]) -> bool:
    """About something the engineer named, or exactly the kind of failure they described."""
    return relevant(f, names) or any(f.signature in answering(s) for s in symptoms)


def preference(conv: Conversation, ents: Entities, names: list[str]) -> Callable[[Finding], int]:
    """Findings about what was named or described, including those from checks of it (its logs, its pods)
    and from what the engineer pasted: their own log is the complaint's evidence, as named as it gets."""
    from_named = {
        f.finding_id
        for c in conv.calls
        if c.name == PASTED or _about(Check(c.name, c.args), names)
        for f in c.findings
    }

    def prefer(f: Finding) -> int:  # what was named beats what merely fits the complaint
        if f.finding_id in from_named or relevant(f, names):
            return 2
        return 1 if any(f.signature in answering(s) for s in ents.symptoms) else 0

    return prefer


def _named_seen(conv: Conversation, names: list[str]) -> bool:
    """Was a pod of every named workload looked at closely (described or its logs read)?"""
    looked = [str(c.args.get("pod", "")) for c in conv.this_turn() if c.name in ("pod_describe", "pod_logs")]
    return all(any(p == n or p.startswith(n + "-") for p in looked) for n in names)


def _others(findings: list[Finding]) -> str:
    titles = list(dict.fromkeys(f.title for f in sorted(findings, key=lambda f: -rank(f))))[:4]
    return "**Other problems I saw (not what you asked about)**\n" + "\n".join(f"- {t}" for t in titles)


def _candidates(conv: Conversation, ents: Entities, names: list[str]) -> list[Check]:
    if not conv.asked_this_turn():
        opening = admissible(conv, initial_checks(conv, ents))
        if k8s_mode(conv, ents):  # a cluster's conversation stays in the cluster in later turns
            return opening or admissible(conv, triage_checks(conv, ents) + wider_checks(conv))
        return opening or admissible(conv, _generic_triage(ents))
    implied = sorted(result_checks(conv, ents), key=lambda c: not _about(c, names))  # stable: named first
    calls = admissible(conv, finding_checks(conv, names=names) + implied)  # findings about the named lead
    if calls or _has_lead(conv) or _seen_enough(conv, ents):
        return calls
    triage = triage_checks(conv, ents)
    asked = {key(conv, c.name, c.args) for c in conv.this_turn()}
    shown = any(c.answered and not c.failed for c in conv.this_turn())
    if shown and sum(key(conv, c.name, c.args) in asked for c in triage) >= MAX_CALLS_PER_STEP + 1:
        return []  # one round of triage per turn: then answer with what was seen and what was not
    return admissible(conv, triage)  # nothing found yet: a gap, not an ending


TRIAGE_UNTIL = 3
"""Checks that must have shown something before an empty-handed answer (a failed or empty one does not count)."""


def _seen_enough(conv: Conversation, ents: Entities) -> bool:
    """Enough checks showed healthy output to answer: more of them when the engineer reports trouble."""
    answered = [c for c in conv.this_turn() if c.answered]
    shown = [c for c in answered if not c.failed and c.output.strip()]
    if ents.symptoms & TROUBLE:
        return len(shown) >= TRIAGE_UNTIL + 2
    return len(shown) == len(answered) or len(shown) >= TRIAGE_UNTIL  # a gap means: look further


def _has_lead(conv: Conversation) -> bool:
    """Did this turn find something abnormal to explain (then the answer can be written from it)?"""
    return any(f.severity in ("medium", "high", "critical") for f in conv.findings(this_turn_only=True))


def _about(check: Check, names: list[str]) -> bool:
    """Does the check look at something named? A journal (`unit:NAME`) or pod log source (`pod:NS/NAME`)
    is about its unit or pod just as `service=NAME` is."""
    values = [_subject(str(v)) for v in check.args.values() if isinstance(v, str)]
    return any(v == n or v.startswith((n + "-", n + "@", n + ".")) for v in values for n in names)


def _subject(value: str) -> str:
    if value.startswith("unit:"):
        return value[5:]
    if value.startswith("pod:"):
        return value[4:].split("/")[1] if value.count("/") else value[4:]
    return value
