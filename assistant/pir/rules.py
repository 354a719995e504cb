"""The narrative sections drafted by rules from the findings (offline model, or a model that failed).

Rules state only what the stored facts support and cite them ([out-N], finding ids);
whatever needs a person's knowledge (why the orphan was there, who owns the fix, where
we got lucky) is a visible `TODO(owner): ...`, never a guess.
"""

from __future__ import annotations

import re
import string
from typing import Any

from assistant.pir.data import FindingFacts, PirFacts
from assistant.pir.derive import Derived
from assistant.pir.fmt import code, dur, first_sentence, flat, ts
from assistant.pir.models import ActionItem, Narrative, WhyStep
from assistant.pir.timeline import ranked

# signature -> (prevent, detect); {fact} placeholders are filled from the finding's facts.
PLAYBOOK: dict[str, tuple[str, str]] = {
    "port-in-use": (
        "Make the deploy fail fast when port {port} is already held by another process "
        "(pre-flight check), and run every long-lived process under a service manager so a "
        "deploy can find and stop it",
        "Alert when nothing healthy answers on port {port} after a deploy",
    ),
    "config-test-failed": (
        "Run the configuration test in CI and before every reload",
        "Alert when a configuration reload fails",
    ),
    "dns-nxdomain": (
        "Manage the DNS record for {name} as code, with a check that required names resolve",
        "Probe resolution of {name} from the affected environment",
    ),
    "dns-timeout": ("Review resolver redundancy for lookups of {name}", "Alert on resolver timeouts"),
    "tls-cert-expired": (
        "Automate renewal of the certificate for {host}",
        "Alert 30 and 7 days before any certificate expires (including {host})",
    ),
    "tls-cert-expiring": (
        "Automate renewal of the certificate for {host}",
        "Alert 30 and 7 days before any certificate expires (including {host})",
    ),
    "disk-full": (
        "Set log rotation, retention and capacity headroom for {mount}",
        "Alert when {mount} passes 80% of space or inodes",
    ),
    "oom-killed": (
        "Set memory requests and limits from measured usage, and fix the leak if usage keeps growing",
        "Alert on OOMKilled containers and on memory near its limit",
    ),
    "image-pull-failed": (
        "Check in CI that image {image} exists and is pullable before a rollout",
        "Alert on ImagePullBackOff / ErrImagePull",
    ),
    "db-max-connections": (
        "Size connection pools so their total stays under the server's max_connections (or add a pooler)",
        "Alert when connections pass 80% of max_connections",
    ),
    "db-idle-in-transaction": (
        "Set idle_in_transaction_session_timeout and fix the code path that leaves transactions open",
        "Alert on sessions idle in transaction for over a minute",
    ),
    "connection-pool-exhausted": (
        "Right-size pool {pool} and set an acquisition timeout",
        "Export pool usage and alert near exhaustion",
    ),
    "permission-denied": (
        "Manage ownership and permissions of {path} in configuration management",
        "Alert on permission errors in the service's log",
    ),
    "pod-unschedulable": (
        "Review resource requests against cluster capacity and quotas (or autoscale)",
        "Alert on pods Pending for more than 5 minutes",
    ),
    "crash-loop": (
        "Find why the container exits (previous logs) and add a startup smoke test in CI",
        "Alert on CrashLoopBackOff",
    ),
    "connection-refused": (
        "Make dependents fail clearly and retry with backoff when {host}:{port} is down",
        "Alert when {host}:{port} stops accepting connections",
    ),
    "connection-timeout": (
        "Review network paths and timeouts to {host}:{port}",
        "Alert on connection timeouts to {host}:{port}",
    ),
    "probe-failing": (
        "Align the {probe} probe with the application's real startup and health behaviour",
        "Alert on failing {probe} probes",
    ),
    "unit-failed": (
        "Make the deploy verify {unit} is active before it reports success",
        "Alert when {unit} enters the failed state",
    ),
    "http-error-status": (
        "Add a post-deploy smoke test of {url}",
        "Synthetic check on {url} alerting on errors",
    ),
}
MAX_ACTIONS = 8
MAX_LINES = 12
"""A narrative list holds at most this many lines (NarrativeFields' limit)."""


class _Facts(dict):
    def __missing__(self, key: str) -> str:
        return f"the affected {key}"


def fill(template: str, facts: dict[str, Any]) -> str:
    values = _Facts({k: v for k, v in facts.items() if v not in (None, "")})
    return string.Formatter().vformat(template, (), values)


def cites(f: FindingFacts) -> str:
    refs = list(dict.fromkeys(e.ref for e in f.evidence if e.ref))
    return f"{f.finding_id}" + (f", [{'], ['.join(refs)}]" if refs else "")


def summary(facts: PirFacts, d: Derived) -> str:
    first = next((s for s in facts.said if s.role == "user"), None)
    said = f"The engineer reported “{first_sentence(first.text)}”" if first else "No report is recorded"
    when = f" at {first.at:%Y-%m-%d %H:%M}Z" if first else ""
    n = len(facts.commands)
    if d.root_cause is not None:
        found = (
            f"Firstline ran {n} command(s) on {facts.session.target}; the evidence points to: "
            f"{flat(d.root_cause.title)} ({cites(d.root_cause)})."
        )
    else:
        found = (
            f"Firstline ran {n} command(s) on {facts.session.target}; no finding explains the symptom "
            "yet (root cause unknown)."
        )
    if d.executed:
        fix = "Mitigation: " + "; then ".join(d.executed) + "."
    elif d.proposed:
        fix = f"No fix was executed during the session; proposed: {d.proposed[0].what.rstrip('.')}."
    else:
        fix = "No fix was executed or proposed during the session."
    return f"{said}{when}. {found} {fix}"


def five_whys(facts: PirFacts, d: Derived) -> list[WhyStep]:
    """From the reported symptom down the findings, least to most causal, then on along whatever the
    outputs say about the root cause's own subject; past the evidence, a TODO."""
    first = next((s.text for s in facts.said if s.role == "user"), "the reported problem")
    kinds: dict[str, list[FindingFacts]] = {}
    for f in ranked(facts.findings):  # one step per kind of failure: two crash-looping pods are one cause
        kinds.setdefault(f.signature, []).append(f)
    chain = list(reversed(list(kinds.values())))[-4:]
    out, asked = [], f"did “{first_sentence(first)}” happen"
    for group in chain:
        f, also = group[0], [g.finding_id for g in group[1:]]
        more = f"; also {', '.join(also)}" if also else ""
        out.append(
            WhyStep(
                why=f"Why {asked}?",
                because=f"{flat(f.title)} ({cites(f)}{more}).",
                refs=[e.ref for g in group for e in g.evidence if e.ref],
            )
        )
        asked = f"did this happen: {flat(f.title)}"
    for ref, line in deeper(facts, d)[: 4 - len(out)]:
        out.append(
            WhyStep(
                why=f"Why {asked}?", because=f"The evidence goes on: [{ref}] shows {code(line)}.", refs=[ref]
            )
        )
        asked = "was that so"
    out.append(
        WhyStep(
            why=f"Why {asked}?",
            because="TODO(owner): not established by the evidence collected in this session.",
        )
    )
    return out[:5]


_WHY_LINE = re.compile(
    r"level=|--[\w-]+=|\b(?:debug|temporary|config\w*|enabled|set to|changed|deploy\w*|"
    r"version|image|limit\w*|cron|schedul\w*|started|owner|user=|INC-\d+)\b",
    re.IGNORECASE,
)


def deeper(facts: PirFacts, d: Derived, limit: int = 2) -> list[tuple[str, str]]:
    """(ref, line): output lines about the root cause's subject (its path, process, image...) that no finding
    quoted and that say how it came to be (a flag, a setting, a start, a deploy), earliest output first."""
    if d.root_cause is None:
        return []
    subjects = {
        str(v)
        for v in d.root_cause.facts.values()
        if isinstance(v, (str, int)) and len(str(v)) >= 4 and not str(v).isdigit()
    }
    quoted = {flat(ln) for f in facts.findings for e in f.evidence for ln in e.lines}
    found: list[tuple[str, str]] = []
    for ref, text in facts.outputs().items():
        for line in text.splitlines():
            line = flat(line).lstrip("└├│─ ")  # a systemd CGroup tree's branches are not evidence
            if (
                line
                and line not in quoted
                and any(s in line for s in subjects)
                and _WHY_LINE.search(line)
                and len(line) <= 400
                and line not in {x for _, x in found}
            ):
                found.append((ref, line))
    return found[:limit]


def action_items(facts: PirFacts, d: Derived) -> list[ActionItem]:
    """One mitigation (when nothing ran), one prevention, one detection per kind of failure; no repeats."""
    items: list[ActionItem] = []
    if not d.executed and d.root_cause is not None and d.root_cause.remediation:
        items.append(
            ActionItem(
                title=flat(d.root_cause.remediation), priority="mitigate", refs=[d.root_cause.finding_id]
            )
        )
    detected: set[str] = set()
    for i, f in enumerate(ranked(facts.findings)):
        prevent, detect = PLAYBOOK.get(f.signature, (None, None))
        if i == 0:
            items.append(
                ActionItem(
                    title=fill(prevent, f.facts)
                    if prevent
                    else f"TODO(owner): decide how to prevent “{flat(f.title)}” from recurring",
                    priority="prevent",
                    refs=[f.finding_id],
                )
            )
        if detect and f.signature not in detected:
            detected.add(f.signature)
            items.append(ActionItem(title=fill(detect, f.facts), priority="detect", refs=[f.finding_id]))
    if not facts.findings:
        items.append(
            ActionItem(title="TODO(owner): find the root cause (see open questions)", priority="prevent")
        )
    unique = list({i.title.lower(): i for i in items}.values())
    return unique[:MAX_ACTIONS]


def went_well(facts: PirFacts, d: Derived) -> list[str]:
    out = []
    if d.root_cause is not None:
        total = len(facts.commands)
        n = next((c.n for c in facts.commands if d.root_cause.finding_id in c.finding_ids), total)
        out.append(f"The root cause evidence ({cites(d.root_cause)}) came from command {n} of {total}.")
    if facts.approvals:
        yes = sum(a.status == "approved" for a in facts.approvals)
        out.append(
            f"Every write action waited for a person's decision ({yes} approved, "
            f"{len(facts.approvals) - yes} not)."
        )
    if d.incident.metrics.mitigated_at is not None:
        out.append(
            f"Mitigation came {dur(d.incident.metrics.time_to_mitigate_s)} after the first error "
            "(incident timeline)."
        )
    return [*out, "TODO(owner): what else went well (detection, paging, communication)?"]


def went_poorly(facts: PirFacts, d: Derived) -> list[str]:
    out = []
    for c in facts.commands:
        if c.error and c.risk != "write":
            out.append(f"{code(c.command or c.tool)} did not give an answer: {c.status} [{c.ref}].")
    out += [f"The assistant hit an error: {flat(e.message)[:200]}" for e in facts.errors]
    if d.root_cause is None:
        out.append("The session ended without a finding that explains the symptom.")
    if not d.executed:
        out.append("No fix was executed through Firstline; impact may have continued after the session.")
    return [*out[: MAX_LINES - 1], "TODO(owner): what else went poorly?"]


def leadup(facts: PirFacts, d: Derived) -> list[str]:
    out = []
    start = d.incident.metrics.started_at
    for e in d.incident.events:  # changes the evidence dates before the first error
        if e.kind in ("deploy", "change") and (start is None or e.at <= start):
            out.append(f"{e.kind.capitalize()} at {ts(e.at)}: {code(e.text)} [{e.ref}]")
    for clue in d.clues:
        said = f"The reporter said: “{flat(clue.text)}”"
        item = f"{code(clue.text)} [{clue.ref}]" if clue.ref else said
        if not any(flat(clue.text)[:60] in x for x in out):
            out.append(item)
    if not out:
        out.append(
            "TODO(owner): no change (deploy, config, upgrade) is mentioned in the conversation or the "
            "evidence; what changed before the incident?"
        )
    return out[:MAX_LINES]


def rules_narrative(facts: PirFacts, d: Derived, note: str | None = None) -> Narrative:
    return Narrative(
        summary=summary(facts, d),
        leadup=leadup(facts, d),
        five_whys=five_whys(facts, d),
        went_well=went_well(facts, d),
        went_poorly=went_poorly(facts, d),
        lucky=["TODO(owner): where did we get lucky?"],
        lessons=["TODO(owner): what should the team learn from this incident?"],
        action_items=action_items(facts, d),
        source="rules",
        note=note,
    )
