"""The runbook's final answer: root cause, evidence quoted from tool output, a fix that needs approval.

Every claim cites the call that showed it and quotes the exact line. When nothing is
wrong, or the evidence is thin, the answer says that, and what was and was not seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.events import Finding
from assistant.findings import call, dedup_key, parse_calls, rank
from assistant.findings.readable import cut_off
from assistant.findings.readable import unreadable as unreadable_output
from assistant.findings.signatures import SIGNATURES
from assistant.runbook.causes import cause_sentence
from assistant.runbook.checks import Check, is_write, key
from assistant.runbook.conversation import CallRecord, Conversation
from assistant.runbook.fixes import primary, proposed_writes
from assistant.runbook.leads import listen_lines, refused_upstream_ports
from assistant.runbook.manual import for_finding, for_write
from assistant.runbook.wording import tidy

_HEALTHY = [
    ("service_status", re.compile(r"^\s*Active:.*$", re.MULTILINE)),
    ("http_check", re.compile(r"^HTTP/[\d.]+ \d{3}.*$", re.MULTILINE)),
    ("dns_lookup", re.compile(r"^.*(?:has address|has IPv6 address|not found|timed out).*$", re.MULTILINE)),
    ("tls_certificate", re.compile(r"^(?:notAfter=.*|days_left=.*|status=.*)$", re.MULTILINE)),
    ("port_owner", re.compile(r"^(?:LISTEN|UNCONN).*$", re.MULTILINE)),
    ("host_resources", re.compile(r"^.*load average.*$|^Mem:.*$|^%Cpu.*$", re.MULTILINE)),
    ("disk_usage", re.compile(r"^\S+\s+\S+\s+\S+\s+\S+\s+\d+%\s+/\S*$", re.MULTILINE)),
]
_PS_ROW = re.compile(
    r"^\S+\s+\d+\s+(?P<cpu>[\d.]+)\s+(?P<mem>[\d.]+)\s+\d+\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+(?P<cmd>.+)$"
)


def _busiest(c: CallRecord) -> str | None:
    rows = [
        (float(m.group("cpu")), ln.strip())
        for ln in c.output.splitlines()
        if (m := _PS_ROW.match(ln.strip()))
    ]
    if not rows:
        return None
    top = max(rows)
    return f"`{_cmd(c)}` → {len(rows)} processes; busiest: {_code(top[1], 140)}"


def _cmd(c: CallRecord) -> str:
    return c.command or f"{c.name}({', '.join(f'{k}={v}' for k, v in c.args.items())})"


def _code(line: str, limit: int = 220) -> str:
    """An output line as a Markdown code span; a long line keeps its exact head, the ellipsis stays outside."""
    line = line.strip()
    cut = line if len(line) <= limit else line[:limit].rstrip()
    more = "…" if cut != line else ""
    return (f"`` {cut} ``" if "`" in cut else f"`{cut}`") + more


def _quote(line: str, limit: int = 220) -> str:
    line = line.strip().replace("`", "'")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def observed(c: CallRecord) -> str:
    """One line on what a call showed, quoting it (used when it found nothing wrong)."""
    if c.unreadable_source:
        return f"`{_cmd(c)}` could not read its source: {_quote(c.output.strip(), 160)}"
    if c.failed:
        return f"`{c.name}` could not run: {_quote(c.error or '', 160)}"
    if c.name == "process_list" and (busy := _busiest(c)):
        return busy
    if c.name == "pod_describe":
        lines = [
            m.group(0) for m in re.finditer(r"^\s*(?:Status|Ready|Restart Count):.*$", c.output, re.MULTILINE)
        ]
        if lines:
            return f"`{_cmd(c)}` → " + "; ".join(_code(ln, 60) for ln in lines[:3])
    for tool, rx in _HEALTHY:
        if tool == c.name:
            lines = [m.group(0) for m in rx.finditer(c.output)][:3]
            if lines:
                return f"`{_cmd(c)}` → " + "; ".join(f"{_code(ln, 120)}" for ln in lines)
    if c.name == "list_pods":
        from assistant.findings.k8s_text import parse_pod_list

        rows = parse_pod_list(c.output)
        ok = sum(r.healthy for r in rows)
        return f"`{_cmd(c)}` → {ok} of {len(rows)} pods running and ready"
    first = next((ln for ln in c.output.splitlines() if ln.strip()), "(no output)")
    more = len([ln for ln in c.output.splitlines() if ln.strip()])
    return f"`{_cmd(c)}` → {_code(first, 120)}" + (f" (+{more - 1} lines)" if more > 1 else "")


def _evidence(conv: Conversation, findings: list[Finding]) -> list[str]:
    by_id = {c.id: c for c in conv.calls}
    out = []
    for f in findings:
        for ev in f.evidence[:1]:
            call = by_id.get(ev.call_id)
            cmd = _cmd(call) if call else ev.command or ev.tool
            quotes = " / ".join(f"{_code(ln)}" for ln in ev.lines[:2])
            out.append(f"- `{cmd}` showed {quotes} — {f.title}.")
    return out


_LAST_WORDS = re.compile(
    r"\b(?:error|err|fatal|panic|critical|crit|warn(?:ing)?|exception|failed|failure|cannot|can't|unable|"
    r"refus\w*|bad|corrupt\w*|truncat\w*|invalid|denied|abort\w*|killed)\b|\s#\s",
    re.IGNORECASE,
)
"""A log line that says something went wrong (levels, verbs of failure; redis marks its warnings with '#')."""


def crash_last_words(conv: Conversation, main: Finding) -> list[str]:
    """A crash loop no finding explains: the last error or warning lines the crashed container printed before it
    died (`kubectl logs --previous`) are quoted, the cause is usually there in the program's own words."""
    if main.signature != "crash-loop" or not main.facts.get("pod"):
        return []
    quoted = {ln.strip() for f in conv.findings() for ev in f.evidence for ln in ev.lines}
    for c in conv.calls:
        if not (
            c.name == "pod_logs"
            and c.args.get("previous")
            and c.args.get("pod") == main.facts["pod"]
            and c.answered
            and not c.failed
        ):
            continue
        lines = [ln for ln in c.output.splitlines()[-200:] if ln.strip() and _LAST_WORDS.search(ln)]
        lines = [ln for ln in lines if ln.strip() not in quoted][-3:]
        if lines:
            said = " / ".join(_code(ln) for ln in lines)
            return [f"- `{_cmd(c)}` (the crashed container's last words) ended with {said}."]
    return []


def _supporting(findings: list[Finding], main: Finding) -> list[Finding]:
    seen = {dedup_key(main)}
    out = [main]
    for f in sorted(findings, key=lambda x: -rank(x)):
        if dedup_key(f) not in seen and f.evidence:
            seen.add(dedup_key(f))
            out.append(f)
    return out[:4]


def _fix_text(conv: Conversation, main: Finding, writes: list[Check]) -> str:
    offered = [w for w in writes if w.name in conv.tools]
    fallback = getattr(SIGNATURES.get(main.signature), "fix", None) or ""
    remediation = re.sub(r"\s*\(needs approval\)", "", main.remediation or fallback).strip()
    remediation = re.sub(
        r"\b[a-z_]+\((?:[a-z_]+=[^,)]+(?:, )?)*\)",
        lambda m: f"`{m.group(0)}`" if parse_calls(m.group(0)) else m.group(0),
        remediation,
    )
    in_text = {(n, tuple(sorted(a.items()))) for n, a in parse_calls(main.remediation or "")}
    extra = [w for w in offered if (w.name, tuple(sorted(w.args.items()))) not in in_text]
    made = {key(conv, c.name, c.args) for c in conv.calls}
    checks = [  # typed next checks not yet made, written as calls
        call(c.tool, **c.args)
        for c in main.checks
        if not is_write(conv, c.tool) and key(conv, c.tool, dict(c.args)) not in made
    ]
    if not remediation:
        remediation = (
            (
                "No single write action fixes this; these checks narrow it down: "
                + ", ".join(f"`{c}`" for c in checks[:2])
                + "."
            )
            if checks
            else "No write action of mine fixes this."
        )
        checks = []
    text = remediation
    if extra:
        text += " Proposed: " + " then ".join(f"`{_call_text(w)}`" for w in extra) + "."
    if offered:
        text += (
            ' Each write action needs your approval; I have not run anything. Say "go ahead" and I will '
            "request them."
        )
    elif any(is_write(conv, n) for n, _ in parse_calls(main.remediation or "")):
        text += " The write tools for this are not available in this session: the commands to do it by hand follow."
    if checks:
        text += " Further checks: " + ", ".join(f"`{c}`" for c in checks[:2]) + "."
    return text.strip()


def _by_hand(conv: Conversation, main: Finding, writes: list[Check]) -> list[str]:
    """The manual fix (commands, verify, undo) when none of my write tools can apply the fix here."""
    if any(w.name in conv.tools for w in writes):
        return []
    fix = for_finding(main, conv.findings())
    return ["", fix.markdown()] if fix else []


def _call_text(c: Check) -> str:
    from assistant.findings import call

    return call(c.name, **c.args)


def diagnosis(
    conv: Conversation,
    note: str | None = None,
    prefer: Callable[[Finding], int] | None = None,
    unfound: list[str] | None = None,
) -> str:
    """The final Markdown answer for this turn; `prefer` (about what the engineer named) leads the choice."""
    findings = conv.findings(this_turn_only=True) or conv.findings()
    main = primary([f for f in findings if f.evidence and f.severity != "info"], prefer)
    if main is None and prefer is not None:  # normal on its own, the cause of what the engineer describes
        fits = [
            f
            for f in findings
            if f.evidence
            and f.severity == "info"
            and prefer(f)
            and getattr(SIGNATURES.get(f.signature), "situational", False)
        ]
        main = primary(fits, prefer)
    if main is None:
        quoted = _quoted_cause(conv)
        return quoted_answer(conv, quoted, note) if quoted else no_fault(conv, note, unfound=unfound)
    real = [f for f in findings if f.severity != "info" or f is main]
    cause = cause_sentence(conv, main, real)
    budget = budget_block(conv)
    if budget:
        cause = f"{budget[0]} Why it is not Ready: {cause}"
    cause += port_mismatch(conv, real, cause) + failed_health_check(conv, cause)
    parts = [f"**Root cause** — {cause}", "", "**Evidence**"]
    parts += _evidence(conv, _supporting(real, main))
    parts += crash_last_words(conv, main)
    rival = rival_cause(conv, main, real, prefer)
    if rival is not None:
        parts += ["", rival]
    gaps = unseen(conv) + budget[1:]
    gaps += policy_gap(conv)
    if gaps:
        parts += ["", "**What I could not see**", *gaps]
    writes = proposed_writes(conv, main)
    parts += ["", "**Suggested fix** — " + _fix_text(conv, main, writes)]
    parts += _by_hand(conv, main, writes)
    if note:
        parts += ["", note]
    return tidy(conv, "\n".join(parts))


_CHECK_DOWN = re.compile(
    r"(?:Server (?P<server>\S+) is DOWN|Health check for (?:backup )?server (?P<server2>\S+) failed), "
    r"reason: Layer7 (?:wrong status|invalid response|timeout)(?:, code: (?P<code>\d{3}))?"
)


def failed_health_check(conv: Conversation, said: str) -> str:
    """Backends a load balancer marks DOWN because its HTTP health check fails (haproxy's Layer7 wrong status):
    the servers may be up; the check's request (option httpchk's path) no longer gets the status it expects."""
    if "health check" in said.lower():
        return ""
    hits = [
        (m, ln.strip())
        for c in conv.calls
        if c.answered
        for ln in c.output.splitlines()
        if (m := _CHECK_DOWN.search(ln))
    ]
    if not hits:
        return ""
    servers = list(dict.fromkeys(m.group("server") or m.group("server2") for m, _ in hits))
    code = next((m.group("code") for m, _ in hits if m.group("code")), None)
    got = f" answers {code}" if code else " does not answer as expected"
    return (
        f" The backends ({', '.join(servers[:4])}) are marked DOWN by the HTTP health check, not because they "
        f"stopped: the health check path (endpoint){got} (`{hits[-1][1][:200]}`). Compare the health check "
        "path and expected status (haproxy `option httpchk` / `http-check expect`) with what the application "
        "now serves."
    )


def port_mismatch(conv: Conversation, findings: list[Finding], said: str) -> str:
    """A port that refuses (or that nothing holds) while an application's own startup line says it listens on
    another one: the two addresses disagree, and the answer names both."""
    unheld = [
        str(f.facts["port"]) for f in findings if f.signature == "connection-refused" and f.facts.get("port")
    ]
    unheld += [
        str(c.args.get("port"))
        for c in conv.calls
        if c.name == "port_owner"
        and c.answered
        and not c.failed
        and "users:((" not in c.output
        and not re.search(r"\bLISTEN\b", c.output)
    ]
    upstream = {str(p) for p in refused_upstream_ports(conv)}  # only a proxy's upstream, not any dependency
    unheld = [p for p in unheld if p in upstream]
    if not unheld:
        return ""
    elsewhere = [(p, ln) for p, ln in listen_lines(conv) if str(p) not in unheld]
    if not elsewhere or str(elsewhere[-1][0]) in said:
        return ""
    port, line = elsewhere[-1]
    return (
        f" Nothing listens on port {unheld[0]}, but the application says it listens on port {port} "
        f"(`{line[:200]}`): the caller's port ({unheld[0]}) and the application's bind address ({port}) disagree."
    )


RIVAL_WITHIN = 4
"""Two specific causes this close in rank, unrelated to each other: the answer says it is unsure."""


def rival_cause(
    conv: Conversation, main: Finding, findings: list[Finding], prefer: Callable[[Finding], int] | None
) -> str | None:
    """A second specific cause as likely as the main one (not its symptom, not the same problem): say so,
    quote it, and name the check that would decide between them."""
    from assistant.runbook.causes import explained_by

    if rank(main) < 60:
        return None
    level = prefer(main) if prefer else 0
    candidates = [
        f
        for f in findings
        if f is not main
        and f.evidence
        and f.severity in ("critical", "high", "medium")
        and f.signature != main.signature
        and rank(f) >= 60
        and rank(main) - rank(f) <= RIVAL_WITHIN
        and (prefer(f) if prefer else 0) >= level
        and explained_by(main, [f]) is None
        and explained_by(f, [main]) is None
        and not _related(main, f)
    ]
    if not candidates:
        return None
    other = max(candidates, key=lambda f: (rank(f), f.confidence))
    line = other.evidence[0].lines[0] if other.evidence[0].lines else other.title
    made = {key(conv, c.name, c.args) for c in conv.calls}
    decide = next(
        (
            call(n.tool, **n.args)
            for n in [*other.checks, *main.checks]
            if not is_write(conv, n.tool) and key(conv, n.tool, n.args) not in made
        ),
        None,
    )
    how = (
        f"`{decide}` would tell them apart."
        if decide
        else "Both are faults; the one that started when your symptom did is the likelier cause: compare their "
        "times."
    )
    return (
        f"**Also possible** — I am not sure this is the only cause: {cause_sentence(conv, other, findings)} "
        f"({_code(line, 160)}). {how}"
    )


def _related(a: Finding, b: Finding) -> bool:
    """One problem seen twice, or a cause and its consequence: they answer the same kind of complaint
    (the registry's `about`), or quote the same line."""
    about_a: frozenset[str] = getattr(SIGNATURES.get(a.signature), "about", frozenset())
    about_b: frozenset[str] = getattr(SIGNATURES.get(b.signature), "about", frozenset())
    lines_a = {ln for ev in a.evidence for ln in ev.lines}
    return bool(about_a & about_b) or any(ln in lines_a for ev in b.evidence for ln in ev.lines)


def _quoted_cause(conv: Conversation) -> Finding | None:
    """The failure stated by the error text the engineer quoted, when no tool output showed one."""
    from assistant.findings import analyze_text
    from assistant.runbook.entities import extract

    quotes = extract("\n".join(conv.users), conv.hosts, conv.namespaces).quotes
    found = [f for q in quotes[:3] for f in analyze_text("quote", q) if f.severity != "info"]
    return primary(found) if found else None


def quoted_answer(conv: Conversation, f: Finding, note: str | None) -> str:
    """Never 'no fault' when the engineer quoted a failure: explain it, and say the checks did not show it."""
    line = f.evidence[0].lines[0] if f.evidence else f.title
    parts = [
        f"**Root cause** — Not confirmed by my checks: they found no fault now, but the error you quoted, "
        f"{_code(line, 200)}, means: {cause_sentence(conv, f, [f])} It may be intermittent, or on a part I "
        "could not see.",
        "",
        "**What I checked**",
    ]
    parts += [f"- {observed(c)}" for c in conv.this_turn() if c.answered and not c.failed][:6] or [
        "- nothing I could run"
    ]
    gaps = unseen(conv) + policy_gap(conv)
    if gaps:
        parts += ["", "**What I could not see**", *gaps]
    parts += ["", "**Suggested fix** — " + _fix_text(conv, f, [])]
    parts += _by_hand(conv, f, [])
    if note:
        parts += ["", note]
    return tidy(conv, "\n".join(parts))


_BUDGET_BLOCK = re.compile(r"violate the pod'?s disruption budget|disruption budget|\bpdb\b", re.IGNORECASE)
_EVICTING = re.compile(r"evicting pods?[/ ]\"?(?:[a-z0-9-]+/)?([a-z0-9][a-z0-9.-]*[a-z0-9])\"?")


def _workload(pod: str) -> str:
    from assistant.findings.k8s_text import deployment_of

    return deployment_of(pod) or re.sub(r"-\d+$", "", pod)


def budget_block(conv: Conversation) -> list[str]:
    """A drain or eviction refused by a PodDisruptionBudget: the budget allows 0 disruptions while a pod it
    covers is not Ready, so that pod (not the one being evicted) is what blocks it. Returns the sentence that
    says so, then the gap (no tool here shows PDB objects); empty when the conversation shows no such pod."""
    from assistant.findings.k8s_text import parse_pod_list

    said = " ".join(conv.users)
    if not _BUDGET_BLOCK.search(said):
        return []
    evicted = [m.group(1) for m in _EVICTING.finditer(said)]
    listings = [c for c in conv.calls if c.name == "list_pods" and c.answered and not c.failed]
    sick = [
        (r, c)
        for c in listings
        for r in parse_pod_list(c.output)
        if not r.healthy and r.status != "Completed" and r.name not in evicted
    ]
    kin = [(r, c) for r, c in sick if any(_workload(r.name) == _workload(e) for e in evicted)]
    if not (kin or sick):
        return []
    row, c = (kin or sick)[0]
    ns = row.namespace or str(c.args.get("namespace") or "default")
    group = _workload(row.name)
    return [
        f"The eviction is refused by the PodDisruptionBudget covering {group} (`Cannot evict pod as it would "
        f"violate the pod's disruption budget`): its member `{row.name}` is not Ready ({row.status}, "
        f"{row.restarts} restarts), so the budget's disruptionsAllowed is 0 and no other {group} pod may be "
        f"evicted until `{row.name}` is healthy again.",
        f"- The PodDisruptionBudget itself (no tool here shows it): `kubectl -n {ns} get pdb` shows its "
        "ALLOWED DISRUPTIONS; `kubectl -n {ns} describe pdb` its selector and minAvailable/maxUnavailable.".replace(
            "{ns}", ns
        ),
    ]


def unseen(conv: Conversation) -> list[str]:
    """This turn's gaps: checks that could not run, and outputs that were cut or could not be read."""
    out = []
    for c in conv.this_turn():
        if not c.answered:
            continue
        if c.failed:
            out.append(f"- {observed(c)}")
        elif unreadable(c):
            out.append(
                f"- `{_cmd(c)}` printed output I could not read as {c.name} output: "
                f"{_code(c.output.strip().splitlines()[0], 100)}"
            )
        elif cut_off(c.name, c.output) or c.truncated:
            out.append(f"- `{_cmd(c)}` was cut off; what followed is not visible.")
    return out[:6]


_GATEWAY_ERROR = re.compile(
    r"\b50[234]\b|bad gateway|service unavailable|no healthy upstream|upstream connect error|no endpoints",
    re.IGNORECASE,
)
_POD_LABEL = re.compile(r"^(?:Labels:\s+|\s{10,})([\w./-]+=[\w.-]+)\s*$", re.MULTILINE)


def _carried_labels(pods: list[CallRecord]) -> tuple[str, str]:
    """The labels the described pods carry (controller hashes left out), and their namespace."""
    labels = [
        m.group(1)
        for c in pods
        if c.name == "pod_describe"
        for m in _POD_LABEL.finditer(c.output)
        if not m.group(1).startswith(("pod-template-hash=", "controller-revision-hash="))
    ]
    carried = ", ".join(f"`{x}`" for x in dict.fromkeys(labels[:4]))
    return carried, next((str(c.args["namespace"]) for c in pods if c.args.get("namespace")), "NAMESPACE")


def service_gap(conv: Conversation) -> list[str]:
    """A 502/503 in front of pods that are all Ready: what sits between (the Service and its Endpoints) is what no
    tool here shows, and a selector that matches none of the pods' labels is the usual reason."""
    pods = [c for c in conv.calls if c.name in ("list_pods", "pod_describe") and c.answered and not c.failed]
    if not pods or not _GATEWAY_ERROR.search(" ".join(conv.users)) or "endpoints" in conv.tools:
        return []
    carried, ns = _carried_labels(pods)
    return [
        "- The Service in front of the pods and its Endpoints (no tool here shows them): Ready pods behind a "
        "502/503 most often mean the Service selects none of them, its selector no longer matching the pods' "
        "labels" + (f" (these pods carry {carried})" if carried else "") + f". Compare `kubectl -n {ns} get "
        "endpoints` and the Service's `spec.selector` with those labels."
    ]


_POLICY_WORDS = re.compile(
    r"network ?polic|netpol|default[- ]deny|deny[- ]all|pod ?selector|ingress rule|egress rule|calico|cilium",
    re.IGNORECASE,
)
_IN_CLUSTER_TIMEOUT = re.compile(
    r"i/o timeout|timed? ?out|deadline exceeded|connection timeout|no route to host", re.IGNORECASE
)


def policy_gap(conv: Conversation) -> list[str]:
    """Connections inside the cluster that time out while the pods run and nothing restarts, after a
    network policy was named: what decides it (the NetworkPolicy objects and the labels they select) is what no
    tool here shows, and a podSelector that no longer matches relabelled pods is the usual reason."""
    from assistant.findings.k8s_text import parse_pod_list

    said = " ".join(conv.users)
    if "network_policy" in conv.tools or not _POLICY_WORDS.search(said):
        return []
    pods = [c for c in conv.calls if c.name in ("list_pods", "pod_describe") and c.answered and not c.failed]
    rows = [r for c in pods if c.name == "list_pods" for r in parse_pod_list(c.output)]
    if not rows or any(r.restarts or r.status not in ("Running", "Completed") for r in rows):
        return []  # a pod that crashes or never starts has its own cause; not Ready while running may be this
    seen = said + " ".join(c.output[:4000] for c in conv.calls if c.name == "pod_logs" and c.answered)
    if not _IN_CLUSTER_TIMEOUT.search(seen):
        return []
    carried, ns = _carried_labels(pods)
    return [
        "- The NetworkPolicies (no tool here shows them): connections that time out while every pod runs "
        "and nothing restarts are most likely dropped by a network policy, typically a default-deny whose "
        "allow rule's podSelector no longer matches the pods' labels"
        + (f" (these pods carry {carried})" if carried else "")
        + f". Check `kubectl -n {ns} get networkpolicy -o yaml` and `kubectl -n {ns} describe networkpolicy` "
        "against those labels, on both the client's and the server's side."
    ]


def unreadable(c: CallRecord) -> bool:
    """An output of a known shape that the parsers could not read: never to be taken as 'nothing there'."""
    return unreadable_output(c.name, c.output)


def no_fault(
    conv: Conversation, note: str | None = None, subject: str | None = None, unfound: list[str] | None = None
) -> str:
    """Nothing abnormal seen. `unfound`: workloads the engineer named that no pod listing showed; then nothing
    was looked at, and the answer says so instead of calling them healthy."""
    calls = [c for c in conv.this_turn() if c.answered] or [c for c in conv.calls if c.answered]
    ran = [c for c in calls if not c.failed]
    failed = [c for c in calls if c.failed]
    if not ran:  # nothing could run this turn: what earlier turns saw is still evidence
        ran = [c for c in conv.calls if c.answered and not c.failed]
    if not calls:
        head = (
            "**Root cause** — Not determined: I could not run any check for this (no suitable tool was "
            "available or nothing in the message pointed to a service, pod, host or URL)."
        )
        return head + "\n\nTell me which service, host, pod or URL is affected and I will check it."
    verdict = "No fault found in what I checked" if ran else "Not determined: none of my checks could run"
    if subject and ran:
        verdict = f"No fault found in {subject}"
    policy = policy_gap(conv)
    if policy and ran and not unfound:
        verdict = (
            "Not confirmed, but the likely cause is a NetworkPolicy dropping the connections: every pod "
            "runs and nothing restarts, yet connections time out, and no tool here shows the policies "
            "(see below)"
        )
    if unfound:
        where = ", ".join(f"`{w}`" for w in unfound[:3])
        verdict = (
            f"Not determined: no pod listing I could run showed the pods of {where}, so I could not look at them "
            "(tell me their namespace)"
        )
    hedge = "." if verdict.startswith("Not confirmed, but") else "; I will not guess beyond the evidence."
    parts = [f"**Root cause** — {verdict}{hedge}", "", "**What I checked**"]
    parts += [f"- {observed(c)}" for c in ran[:8] if not unreadable(c)]
    missing = [f"- {observed(c)}" for c in failed[:5]]
    missing += [g for g in unseen(conv) if g not in missing]
    missing += service_gap(conv) + policy
    missing.append(
        "- The past: these checks show the state now; a problem that has already cleared may only be "
        "visible in the logs of the affected service."
    )
    parts += ["", "**What I could not see**", *missing]
    parts += [
        "",
        (
            "**Suggested fix** — none needed from this evidence. If the problem persists, tell me the exact "
            "symptom (error message, URL, time) or a log to read, and I will look there."
        ),
    ]
    if note:
        parts += ["", note]
    return tidy(conv, "\n".join(parts))


def after_fix(conv: Conversation, writes: list[Check], stopped: str | None) -> str:
    """What was done (each write's outcome) and what the verification shows."""
    made = {key(conv, c.name, c.args): c for c in conv.this_turn()}
    lines, instead = ["**Actions**"], []
    for w in writes:
        rec = made.get(key(conv, w.name, w.args))
        if rec is None:
            lines.append(f"- `{_call_text(w)}` — not run.")
        elif rec.failed or rec.exit_code not in (0, None):
            lines.append(f"- `{_call_text(w)}` — did not succeed: {_quote(_plain_error(rec), 200)}")
            if (alt := for_write(w.name, w.args)) is not None:
                instead.append(alt.markdown(f"**Instead, by hand** (`{_call_text(w)}` did not run)"))
        else:
            first = next((ln for ln in rec.output.splitlines() if ln.strip()), "done")
            lines.append(f"- `{_call_text(w)}` — done ({_code(first, 120)}).")
    verify = [c for c in conv.this_turn() if c.answered and not is_write(conv, c.name)]
    if verify:
        lines += ["", "**Verification**"] + [f"- {observed(c)}" for c in verify[-3:]]
        still = [f for c in verify for f in c.findings]
        lines += [
            "",
            "Still failing: " + "; ".join(f.title for f in still[:3])
            if still
            else "The checks after the fix show no remaining fault.",
        ]
    if stopped:
        lines += ["", f"I stopped because {stopped}; nothing further was changed."]
    for alt in instead:
        lines += ["", alt]
    return tidy(conv, "\n".join(lines))


def _plain_error(rec: CallRecord) -> str:
    """The error as people should read it (a note meant for the model stays out)."""
    text = rec.error or rec.output
    return text.split("(For the assistant", 1)[0].strip()
