"""Fixes: which write actions a diagnosis implies, and performing them only when asked.

The runbook never changes a system on its own initiative. It proposes the write calls
in its answer; it asks for them (one at a time, in order, each still gated by a
person's approval in the loop) only when the engineer's message requests the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.events import Finding
from assistant.findings import parse_calls, rank
from assistant.findings.signatures import SIGNATURES
from assistant.runbook.checks import Check, is_write, key
from assistant.runbook.conversation import Conversation
from assistant.runbook.entities import Entities, fix_requests, relevant
from assistant.runbook.followups import k8s_mode, namespace, tls_server

_PRONOUNS = {
    "it",
    "this",
    "that",
    "them",
    "service",
    "the",
    "process",
    "orphan",
    "culprit",
    "deployment",
    "pod",
}


@dataclass
class FixPlan:
    writes: list[Check]
    verify: list[Check]


def primary(
    findings: list[Finding], prefer: Callable[[Finding], int] | list[str] | None = None
) -> Finding | None:
    """The most causal preferred finding (about what was named); ties: the most confident, the most severe, the
    most specific line, then the earliest seen (a later error is more often a consequence of an earlier one)."""
    if prefer is None or isinstance(prefer, list):
        names = prefer or []

        def prefer(f):
            return relevant(f, names)

    best, best_score = None, None
    for f in findings:
        score = (prefer(f), rank(f), f.confidence, _severity(f), _specific(f), _known(f))
        if best_score is None or score > best_score:  # ties: the first seen, the earliest in the chain
            best, best_score = f, score
    return best


_SEVERITY = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
_LEVEL = {"fatal": 3, "error": 2, "failure": 1}


def _severity(f: Finding) -> int:
    return _SEVERITY.get(f.severity, 0)


def _specific(f: Finding) -> tuple[int, int]:
    """For generic error lines: the level word (fatal over error) and how specific the message is."""
    return _LEVEL.get(str(f.facts.get("level")), 0), int(f.facts.get("specific") or 0)


def _known(f: Finding) -> int:
    """How much a finding knows: of two sightings of one problem, the one with more facts tells more."""
    return len([v for v in f.facts.values() if v not in (None, "", [])])


def named(ents: Entities) -> list[str]:
    return list(dict.fromkeys([*ents.pods, *ents.deployments, *ents.services]))


def proposed_writes(conv: Conversation, finding: Finding | None) -> list[Check]:
    """Write calls the diagnosis implies (from the finding's remediation, plus the leaking client for DB)."""
    if finding is None:
        return []
    why = f"fix: {finding.title}"  # the approval card shows it as the reason: say what is being fixed
    typed = [(c.tool, dict(c.args)) for c in finding.fixes]
    out = [
        Check(n, a, why, "fix")
        for n, a in (typed or parse_calls(finding.remediation or ""))  # typed first; older analyzers: text
        if is_write(conv, n)
    ]
    then = getattr(SIGNATURES.get(finding.signature), "then_restart", None)
    if then == "tls-server" and (server := tls_server(conv)):
        out.append(Check("restart_service", {"service": server}, "load the renewed certificate", "fix"))
    if then == "pool-client" and (client := _pool_client(conv)):
        out.append(Check("restart_service", {"service": client}, "release the leaked sessions", "fix"))
    return out


def _pool_client(conv: Conversation) -> str | None:
    """The service whose own output showed its connection pool exhausted (it holds the sessions)."""
    for c in conv.calls:
        if any(f.signature == "connection-pool-exhausted" for f in c.findings):
            if c.name == "service_status" and c.args.get("service"):
                return str(c.args["service"])
            source = str(c.args.get("source", ""))
            if source.startswith("unit:"):
                return source[5:]
    return None


def _explicit(
    conv: Conversation, ents: Entities, action: str, obj: str, best: Finding | None
) -> Check | None:
    """One write the engineer named ('restart nginx', 'kill 2314', 'roll back web')."""
    k8s = k8s_mode(conv, ents)
    ns = namespace(conv, ents)
    facts = best.facts if best else {}
    if action == "kill":
        pid = (
            int(obj)
            if obj.isdigit()
            else facts.get("pid")
            if (obj in _PRONOUNS or obj == facts.get("process"))
            else None
        )
        return Check("kill_process", {"pid": pid}, f"kill pid {pid} as asked", "fix") if pid else None
    if obj in _PRONOUNS:
        obj = str(
            facts.get("service") or facts.get("deployment") or facts.get("unit") or (ents.services or [""])[0]
        )
    if not obj:
        return None
    if action == "rollback":
        return Check("rollout_undo", {"deployment": obj, "namespace": ns}, f"roll back {obj} as asked", "fix")
    if k8s:
        return Check(
            "rollout_restart", {"deployment": obj, "namespace": ns}, f"restart {obj} as asked", "fix"
        )
    return Check("restart_service", {"service": obj}, f"restart {obj} as asked", "fix")


def requested_fix(conv: Conversation, ents: Entities) -> FixPlan | None:
    """The writes the engineer's latest message asks for, in order, with the checks that verify them."""
    generic, actions = fix_requests(conv.request)
    if not generic and not actions:
        return None
    best = primary(conv.findings_before_writes({n for n in conv.tools if is_write(conv, n)}), named(ents))
    writes = [w for a, o in actions if (w := _explicit(conv, ents, a, o, best))]
    if generic and not writes:
        writes = proposed_writes(conv, best)
    writes = [w for w in writes if w.name in conv.tools]
    return FixPlan(writes, _verification(conv, ents, writes, best)) if writes else None


def _verification(
    conv: Conversation, ents: Entities, writes: list[Check], best: Finding | None
) -> list[Check]:
    out = []
    for w in writes:
        if w.name == "restart_service":
            out.append(
                Check("service_status", {"service": w.args["service"]}, "verify the restart", "verify")
            )
        elif w.name in ("rollout_restart", "rollout_undo"):
            out.append(
                Check(
                    "list_pods",
                    {"namespace": w.args.get("namespace", "default")},
                    "verify the pods",
                    "verify",
                )
            )
        elif w.name == "kill_process" and best and best.facts.get("port"):
            out.append(Check("port_owner", {"port": best.facts["port"]}, "verify the port is free", "verify"))
    return out


def next_fix_step(conv: Conversation, plan: FixPlan) -> tuple[list[Check], str | None]:
    """The next write (or the verification reads) to ask for; a reason to stop instead when a write failed."""
    made = {key(conv, c.name, c.args): c for c in conv.this_turn()}
    for w in plan.writes:
        record = made.get(key(conv, w.name, w.args))
        if record is None:
            return [w], None
        if not record.answered:
            return [], None
        if record.failed or (record.exit_code not in (0, None)):
            return [], f"{w.name} did not succeed"
    pending = [v for v in plan.verify if key(conv, v.name, v.args) not in made]
    return pending, None
