"""Follow-up questions answered as asked, from the evidence already gathered; only what is new is run.

    why · what changed · how do I roll back · is it fixed now · what else could it be · show me the command

A follow-up that repeated the first answer word for word (issue 18) told the engineer nothing. Each
kind of question gets its own answer; only "is it fixed now" runs anything: the checks that showed
the fault, once more, to compare.
"""

from __future__ import annotations

import re

from assistant.change_words import is_change_line
from assistant.events import Finding
from assistant.findings import rank
from assistant.runbook.causes import cause_sentence
from assistant.runbook.checks import Check, admissible, is_write
from assistant.runbook.conversation import CallRecord, Conversation
from assistant.runbook.fixes import primary, proposed_writes
from assistant.runbook.manual import for_finding, for_write
from assistant.runbook.wording import flat, said, tidy
from tools.commands import command_line

KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("command", re.compile(r"\bcommands?\b|\bhow (?:do|can|would) i (?:run|do|check|verify)\b", re.I)),
    (
        "rollback",
        re.compile(
            r"\broll ?(?:it |this )?back\b|\brollback\b|\brevert\b|\bprevious (?:image|tag|version|"
            r"revision|release)\b|\bundo\b",
            re.I,
        ),
    ),
    (
        "fixed",
        re.compile(
            r"\b(?:is|are) (?:it|this|that|they|things?)\b[^?]*\b(?:fixed|ok|okay|fine|working|"
            r"resolved|back|healthy)\b|\bfixed now\b|\bstill (?:broken|failing|down)\b",
            re.I,
        ),
    ),
    (
        "alternatives",
        re.compile(
            r"\bwhat else\b|\bother (?:causes?|explanations?|possibilit\w+)\b|\bcould it be\b|"
            r"\banything else\b|\bsure\b",
            re.I,
        ),
    ),
    (
        "changed",
        re.compile(
            r"\bwhat (?:has |was |)changed\b|\bany (?:changes?|deploys?)\b|\bwhen did\b|"
            r"\bwhat happened\b",
            re.I,
        ),
    ),
    ("why", re.compile(r"\bwhy\b|\bhow come\b|\bexplain\b|\broot cause\b", re.I)),
]
_IMAGE = re.compile(r"(?:Image:\s+|image \\?\"|image=)(?P<ref>[\w.-]+(?:/[\w.-]+)+:[\w.-]+)")


def kind_of(text: str) -> str | None:
    return next((kind for kind, rx in KINDS if rx.search(text)), None)


def _main(conv: Conversation) -> tuple[Finding | None, list[Finding]]:
    """The finding the first answer was about: from the outputs, else from the error the engineer quoted."""
    from assistant.runbook.report import _quoted_cause

    real = [f for f in conv.findings() if f.severity != "info" and f.evidence]
    main = primary(real) or _quoted_cause(conv)
    return main, real or ([main] if main else [])


def names_nothing_new(conv: Conversation) -> bool:
    """The question is about what was already looked at (a new service, pod or path means: investigate)."""
    from assistant.runbook.entities import extract

    now = extract(conv.request, conv.hosts, conv.namespaces)
    before = extract("\n".join(conv.users[:-1]), conv.hosts, conv.namespaces)
    fields = ("services", "pods", "deployments", "urls", "fqdns", "ports", "paths", "quotes", "logs_of")
    return not any(set(getattr(now, f)) - set(getattr(before, f)) for f in fields)


def _quote(conv: Conversation, f: Finding) -> str:
    calls = {c.id: c for c in conv.calls}
    ev = f.evidence[0]
    call = calls.get(ev.call_id)
    cmd = call.command if call and call.command else ev.command or ev.tool
    line = flat(ev.lines[0]) if ev.lines else ""
    if ev.tool == "quote":
        return f"- you quoted `{line}`"
    return f"- `{cmd}` showed `{line}`" if line else f"- `{cmd}`"


def why(conv: Conversation, main: Finding, real: list[Finding]) -> str:
    chain = sorted({f.signature: f for f in real}.values(), key=rank)
    parts = [
        f"**Why** — {cause_sentence(conv, main, real)}",
        "",
        "**How one thing led to the next** (symptom first)",
    ]
    parts += [f"{i}. {f.title}" for i, f in enumerate(chain, start=1)]
    parts += ["", "**Evidence**", *[_quote(conv, f) for f in chain]]
    parts += [
        "",
        "What the evidence does not show is why this came about (who or what changed it); a deploy log or "
        "change record would.",
    ]
    return "\n".join(parts)


def _changes(conv: Conversation) -> list[tuple[str, CallRecord]]:
    out: dict[str, CallRecord] = {}
    for c in conv.calls:
        if is_write(conv, c.name):
            continue
        for line in c.output.splitlines():
            if is_change_line(line) and len(line.strip()) > 12:
                out.setdefault(flat(line), c)
    return list(out.items())[:6]


def changed(conv: Conversation, main: Finding, real: list[Finding]) -> str:
    found = _changes(conv)
    if not found:
        return (
            "**What changed** — Nothing in what I read records a change: no deploy, rollout, upgrade, "
            f"configuration or restart line. The failure itself is: {main.title}.\n\n"
            "To find the change, read the deploy history, e.g. `journalctl --since -2h` on the host or "
            "`kubectl rollout history deployment/<NAME>` in the cluster."
        )
    parts = [
        f"**What changed** — {len(found)} change(s) in what I read, oldest output first; the failure that "
        f"followed: {main.title}.",
        "",
        "**Evidence**",
    ]
    parts += [f"- `{c.command or c.name}` showed `{line}`" for line, c in found]
    return "\n".join(parts)


def _deployment(conv: Conversation, real: list[Finding]) -> tuple[str, str] | None:
    from assistant.findings.k8s_text import deployment_of

    for f in sorted(real, key=lambda f: -rank(f)):
        pod = str(f.facts.get("pod") or "")
        dep = f.facts.get("deployment") or (deployment_of(pod) if pod else None)
        if dep:
            return str(dep), str(f.facts.get("namespace") or "default")
    for c in conv.calls:
        if c.args.get("pod") and deployment_of(str(c.args["pod"])):
            return str(deployment_of(str(c.args["pod"]))), str(c.args.get("namespace") or "default")
    return None


def _images(conv: Conversation) -> list[str]:
    return list(dict.fromkeys(m.group("ref") for c in conv.calls for m in _IMAGE.finditer(c.output)))


def rollback(conv: Conversation, main: Finding, real: list[Finding]) -> str:
    target = _deployment(conv, real)
    if target is None:
        manual = for_finding(main, real)
        head = (
            "**Rolling back** — There is no deployment to roll back on this target; what undoes the failure here "
            f"({main.title}) is this fix."
        )
        if manual:
            return head + "\n\n" + manual.markdown()
        return (
            "**Rolling back** — There is no deployment to roll back on this target, and I know no by-hand fix for "
            f"this kind of failure ({main.title}). Tell me what was changed and I will give the commands to undo it."
        )
    dep, ns = target
    images = _images(conv)
    seen = f" The image(s) seen in this session: {', '.join(f'`{i}`' for i in images[:3])}." if images else ""
    if len(images) < 2:
        seen += (
            f" The previous revision's image is not in what I read; `kubectl -n {ns} rollout history "
            f"deployment/{dep} --revision=<N>` shows it."
        )
    offer = (
        ' I can do it with `rollout_undo` once you approve; say "roll back" or "go ahead".'
        if "rollout_undo" in conv.tools
        else " No rollback tool is available in this session; by hand:"
    )
    parts = [
        f"**Rolling back** — `kubectl rollout undo` returns deployment/{dep} in {ns} to its previous "
        f"revision (the pod template it ran before the last rollout).{seen}{offer}"
    ]
    manual = for_write("rollout_undo", {"deployment": dep, "namespace": ns})
    if manual:
        parts += ["", manual.markdown("**The commands**")]
    return "\n".join(parts)


def _culprit_calls(conv: Conversation, main: Finding) -> list[Check]:
    ids = {ev.call_id for f in conv.findings() if f.signature == main.signature for ev in f.evidence}
    calls = [
        Check(c.name, dict(c.args), "check again whether it still fails", "recheck")
        for c in conv.calls
        if c.id in ids and c.turn < conv.turn
    ]
    return admissible(conv, calls)[:3]


def fixed(conv: Conversation, main: Finding) -> str:
    again = [c for c in conv.this_turn() if c.answered]
    still = [f for c in again for f in c.findings if f.signature == main.signature]
    if not again:
        return (
            f"**Is it fixed?** — I could not check again (the checks that showed “{main.title}” cannot run now). "
            "Run them yourself:\n\n```sh\n"
            + "\n".join(c.command for c in conv.calls if c.command)[:800]
            + "\n```"
        )
    if still:
        return "\n".join(
            [
                f"**Not fixed yet** — checked again just now: {still[0].title}.",
                "",
                "**Evidence**",
                *[_quote(conv, f) for f in still[:3]],
            ]
        )
    shown = [
        f"- `{c.command or c.name}` now shows {said(flat(c.output.splitlines()[0]))}"
        if c.output.strip()
        else f"- `{c.command or c.name}` now shows nothing"
        for c in again
    ]
    return "\n".join(
        [
            f"**It looks fixed** — the checks that showed “{main.title}” no longer show it.",
            "",
            "**Evidence**",
            *shown,
        ]
    )


def alternatives(conv: Conversation, main: Finding, real: list[Finding]) -> str:
    others = [f for f in sorted(real, key=lambda f: -rank(f)) if f.signature != main.signature]
    parts = [f"**Other possibilities** — the evidence points to {main.title}; this is what else I weighed."]
    if others:
        parts += [
            "",
            "**Also seen (less likely the cause)**",
            *[_quote(conv, f) + f" — {f.title}" for f in others[:4]],
        ]
    clean = [
        c for c in conv.calls if c.answered and not c.failed and not c.findings and not is_write(conv, c.name)
    ]
    if clean:
        parts += [
            "",
            "**Looked normal**",
            *[f"- `{c.command or c.name}` showed nothing wrong" for c in clean[:5]],
        ]
    open_checks = [n for f in real for n in f.next_checks][:3]
    if open_checks:
        parts += ["", "**Not checked yet**", *[f"- `{n}`" for n in open_checks]]
    return "\n".join(parts)


def commands(conv: Conversation, main: Finding) -> str:
    ran = [
        c.command
        for c in conv.calls
        if c.command and c.answered and not c.failed and not is_write(conv, c.name)
    ]
    parts = [
        "**The commands** — what I ran to diagnose this, in order:",
        "",
        "```sh",
        *dict.fromkeys(ran),
        "```",
    ]
    writes = proposed_writes(conv, main)
    if writes:
        parts += [
            "",
            "The fix, as commands (each needs approval if I run it):",
            "",
            "```sh",
            *[command_line(w.name, w.args) for w in writes],
            "```",
        ]
    manual = for_finding(main, conv.findings()) or next(
        (m for w in writes if (m := for_write(w.name, w.args))), None
    )
    if manual:
        parts += ["", manual.markdown()]
    return "\n".join(parts)


def follow_up(conv: Conversation) -> tuple[str, list[Check]] | None:
    """(answer, no calls) or ("", the checks to run first) for a follow-up question; None for anything else."""
    kind = kind_of(conv.request) if conv.turn >= 2 else None
    if kind is None or not names_nothing_new(conv):
        return None
    main, real = _main(conv)
    if main is None:
        return None
    if kind == "fixed":
        if not conv.asked_this_turn():
            again = _culprit_calls(conv, main)
            if again:
                return "Checking again what showed the fault.", again
        return tidy(conv, fixed(conv, main)), []
    if conv.this_turn():
        return None
    text = {
        "why": lambda: why(conv, main, real),
        "changed": lambda: changed(conv, main, real),
        "rollback": lambda: rollback(conv, main, real),
        "alternatives": lambda: alternatives(conv, main, real),
        "command": lambda: commands(conv, main),
    }[kind]()
    return tidy(conv, text), []
