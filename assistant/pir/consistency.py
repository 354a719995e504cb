"""A PIR must never contradict its evidence: every claim that cites `[out-N]` is checked against that output.

    problems = contradictions(facts, derived, narrative)     # [] when every claim holds

A claim contradicts its output when it calls the output clean ("showed nothing abnormal",
"healthy", "ruled out") while the analyzers find a fault in it, quotes text the output does not
contain, cites an output or a finding that does not exist, or cites a finding whose evidence
came from none of the outputs it names. The rules draft is built to pass; a model's narrative
that fails is rejected (assistant/pir/narrative.py) and the rules' is used instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pydantic import BaseModel

from assistant.pir.data import PirFacts
from assistant.pir.derive import Derived
from assistant.pir.fmt import flat
from assistant.pir.models import Narrative

_REF = re.compile(r"\[?\b(out-\d+)\b\]?")
_FINDING = re.compile(r"\b(F\d+)\b")
_SPAN = re.compile(r"(`+)\s?(.+?)\s?\1")
_CLEAN = re.compile(
    r"(?<![\w:/.-])(?:nothing abnormal|no (?:error|fault|problem|issue|anomal\w*)s?\b|\bhealthy\b|ruled out|"
    r"(?:was|looked|is|were) (?:fine|normal|ok|okay)\b|not the cause|no finding)",
    re.IGNORECASE,
)
_UNHEALTHY = re.compile(r"\bun-?healthy|not healthy", re.IGNORECASE)
QUOTE_MIN = 12
"""Shorter code spans are names (a unit, a path), not quotations of output."""


class Contradiction(BaseModel):
    section: str
    claim: str
    ref: str
    why: str

    def __str__(self) -> str:
        return f"{self.section}: “{self.claim[:160]}” — {self.ref}: {self.why}"


def claims(derived: Derived, narrative: Narrative) -> Iterator[tuple[str, str]]:
    """(section, sentence) for every drafted sentence that could cite evidence."""
    for line in derived.ruled_out:
        yield "ruled out", line
    for line in derived.executed:
        yield "executed", line
    lists = {
        "summary": [narrative.summary],
        "leadup": narrative.leadup,
        "went well": narrative.went_well,
        "went poorly": narrative.went_poorly,
        "lucky": narrative.lucky,
        "lessons": narrative.lessons,
    }
    lists["five whys"] = [f"{w.why} {w.because}" for w in narrative.five_whys]
    lists["action items"] = [a.title for a in narrative.action_items]
    for section, lines in lists.items():
        for line in lines:
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z`])", line):
                yield section, sentence


def _quotes(sentence: str, commands: set[str]) -> list[str]:
    spans = [flat(m.group(2)) for m in _SPAN.finditer(sentence)]
    return [s for s in spans if len(s) >= QUOTE_MIN and s not in commands and not s.startswith("TODO")]


def _check(section: str, sentence: str, facts: PirFacts) -> list[Contradiction]:
    refs = list(dict.fromkeys(_REF.findall(sentence)))
    if not refs:
        return []
    out: list[Contradiction] = []
    by_ref = {c.ref: c for c in facts.commands}
    findings = {f.finding_id: f for f in facts.findings}
    outputs = facts.outputs()

    def bad(ref: str, why: str) -> None:
        out.append(Contradiction(section=section, claim=sentence, ref=ref, why=why))

    for ref in refs:
        cmd = by_ref.get(ref)
        if cmd is None:
            bad(ref, "no such output in the command trail")
        elif _CLEAN.search(sentence) and not _UNHEALTHY.search(sentence) and cmd.abnormal:
            bad(ref, f"called clean, but the output shows {', '.join(cmd.abnormal)}")
    known = [r for r in refs if r in by_ref]
    texts = [flat(outputs.get(r) or by_ref[r].excerpt) for r in known]
    for quote in _quotes(sentence, {flat(by_ref[r].command) for r in known}):
        if texts and not any(quote.rstrip("…") in t for t in texts):
            bad(", ".join(known), f"quotes “{quote[:80]}”, which that output does not contain")
    cited = list(dict.fromkeys(_FINDING.findall(sentence)))
    for fid in cited:
        if fid not in findings:
            bad(fid, "no such finding")
    sources = {e.ref for fid in cited if fid in findings for e in findings[fid].evidence if e.ref}
    if cited and sources and known and not sources & set(known):
        bad(
            ", ".join(known),
            f"cites {', '.join(cited)}, whose evidence came from {', '.join(sorted(sources))}",
        )
    return out


def contradictions(facts: PirFacts, derived: Derived, narrative: Narrative) -> list[Contradiction]:
    """Every drafted claim that its own cited evidence contradicts; [] for a consistent PIR."""
    return [c for section, sentence in claims(derived, narrative) for c in _check(section, sentence, facts)]
