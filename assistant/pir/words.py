"""What the engineer's own words say: severity, impact and the changes they mention.

A PIR must not invent impact. Severity comes from impact × urgency as the reporter
described them ("503 for everyone" is not "slow for some users"); every level cites
the phrases it was read from, and anything not said stays unknown for a person to fill.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from assistant.change_words import CHANGE as _CHANGE

Level = Literal["high", "medium", "low", "unknown"]
_SCORE = {"high": 3, "medium": 2, "low": 1}
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")


def _any(*alternatives: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of the (regex) phrases as whole words."""
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


_PEOPLE = r"(?:customers?|users?|requests?|clients?|traffic|regions?|tenants?)"
_SERVICE = r"(?:site|website|shop|store|app|service|prod(?:uction)?|api|checkout)"
_NONPROD = r"(?:staging|dev(?:elopment)?|test(?:ing)?|qa|sandbox)"

# Impact: how many are affected. Urgency: how broken it is right now. The first level that matches wins.
_IMPACT: list[tuple[str, re.Pattern[str]]] = [
    (
        "high",
        _any(
            rf"(?:all|every|most)\s+(?:of\s+(?:our|the)\s+)?{_PEOPLE}",
            r"everyone",
            r"every\s*body",
            r"nobody\s+can",
            r"no\s+one\s+can",
            rf"{_SERVICE}\s+(?:is\s+)?(?:completely\s+|totally\s+)?down",
            r"(?:full|total|complete|major)\s+outage",
            r"data\s+loss",
            r"security\s+(?:breach|incident)",
        ),
    ),
    (
        "low",
        _any(
            r"(?:one|a\s+single|a\s+couple\s+of|a\s+few|few)\s+(?:customers?|users?|requests?)",
            rf"{_NONPROD}\s+(?:env(?:ironment)?|cluster|server|host|box)",
            r"no\s+(?:customer|user)\s+impact",
            r"internal\s+(?:only|tool)",
            r"cosmetic",
        ),
    ),
    (
        "medium",
        _any(
            r"(?:some|many|several|a\s+lot\s+of|lots\s+of|half\s+(?:of\s+)?(?:the|our)?)\s*"
            r"(?:customers?|users?|requests?|clients?|pages?|pods?|hosts?)",
            r"partial(?:ly)?",
            r"5\d\ds?",
            r"5xx",
            r"errors?",
            r"failing",
            r"fails?",
            r"down",
            r"unavailable",
            r"unreachable",
            r"outage",
            r"time?outs?",
            r"slow(?:ness)?",
            r"latency",
        ),
    ),
]
_URGENCY: list[tuple[str, re.Pattern[str]]] = [
    (
        "high",
        _any(
            r"down",
            r"outage",
            r"unavailable",
            r"unreachable",
            r"dead",
            r"broken",
            r"crash(?:ing|ed|es)?",
            r"won'?t\s+start",
            r"will\s+not\s+start",
            r"can(?:no|')t\s+(?:start|connect|log\s*in|reach|access|buy|pay|check\s*out)",
            r"not\s+(?:starting|responding|working)",
            r"5\d\ds?",
            r"5xx",
            r"failing",
            r"fails",
            r"failed",
            r"urgent",
            r"asap",
            r"right\s+now",
            r"emergency",
            r"data\s+loss",
            r"oom\s*killed",
            r"crashloop\w*",
        ),
    ),
    (
        "low",
        _any(
            r"no\s+(?:customer|user)\s+impact",
            r"cosmetic",
            r"expir(?:es|ing)\s+(?:in|next)",
            r"next\s+(?:week|month)",
            r"when\s+you\s+(?:can|have\s+time)",
            r"not\s+urgent",
            r"low\s+priority",
            r"warning",
            r"staging",
            r"dev(?:elopment)?\s+env",
        ),
    ),
    (
        "medium",
        _any(
            r"slow(?:ness|er)?",
            r"latency",
            r"degraded",
            r"intermittent(?:ly)?",
            r"sometimes",
            r"occasional(?:ly)?",
            r"flaky",
            r"sporadic",
            r"errors?",
            r"time?outs?",
            r"high\s+(?:cpu|memory|load)",
            r"filling\s+up",
            r"retr(?:y|ies)",
            r"stuck",
            r"hang(?:s|ing)?",
            r"pending",
            r"not\s+ready",
            r"keep\s+restarting",
            r"never\s+(?:become|becomes|get|gets)\s+ready",
            r"restart(?:s|ing)",
        ),
    ),
]
_CLOCK = r"\d{1,2}[:h.]\d\d(?:\s*(?:am|pm|utc|z|[a-z]{3,4})\b)?|\d{1,2}\s*(?:am|pm)"
_SPAN = r"\d+\s*(?:min(?:ute)?s?|h(?:ours?|rs?)?|days?)|yesterday|last\s+night|this\s+morning|midnight|noon"
_FROM = r"since|from|starting(?:\s+at)?|began(?:\s+at)?|started(?:\s+at)?|after|for\s+the\s+(?:last|past)|for"
_SINCE = _any(
    rf"(?:{_FROM})\s+(?:about\s+|around\s+|~)?(?:the\s+)?(?:{_CLOCK}|{_SPAN})"
    r"(?:\s+(?:deploy(?:ment)?|release|rollout|change|upgrade|restart))?"
)
_WHO = _any(
    r"(?:all|every|most|some|many|several|a\s+few|few|one|no)\s+(?:of\s+(?:our|the)\s+)?"
    r"(?:customers?|users?|clients?|tenants?|regions?|requests?)",
    r"everyone",
    r"nobody",
    r"no\s+one",
)
_WHAT = _any(
    r"return(?:s|ing|ed)?\s+(?:an?\s+)?\d{3}s?",
    r"will\s+not\s+start",
    r"\d{3}s?\s+(?:errors?|for\s+\w+)",
    r"5xx",
    r"(?:is|are|went|goes)\s+down",
    r"outage",
    r"slow\w*",
    r"time?outs?",
    r"timing\s+out",
    r"errors?",
    r"fail\w*",
    r"won'?t\s+start",
    r"crash\w*",
    r"unavailable",
    r"unreachable",
    r"cannot\s+\w+",
    r"can'?t\s+\w+",
)
_NAMES = re.compile(
    r"\bhttps?://[^\s\"'<>)]+|\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|dev|app|internal|local|cloud|co|"
    r"uk|de|eu)\b|\b[a-z][a-z0-9]*(?:-[a-z0-9]+)+\b",
    re.IGNORECASE,
)


class Severity(BaseModel):
    level: str = "unknown"
    """SEV1..SEV4, or 'unknown' when the words say nothing about impact or urgency."""
    priority: str = "unknown"
    impact: Level = "unknown"
    urgency: Level = "unknown"
    reasons: list[str] = Field(default_factory=list)
    """The reporter's phrases each level was read from."""
    source: Literal["reporter's words", "edited", "unknown"] = "unknown"
    assumed: list[str] = Field(default_factory=list)
    """Dimensions not stated and assumed 'medium' to compute a level (a person should confirm)."""


class Impact(BaseModel):
    who: list[str] = Field(default_factory=list)
    what: list[str] = Field(default_factory=list)
    since: list[str] = Field(default_factory=list)
    mentioned: list[str] = Field(default_factory=list)
    """Hosts, URLs and service names the reporter named."""


def _classify(text: str, rules: list[tuple[str, re.Pattern[str]]]) -> tuple[Level, list[str]]:
    for level, rx in rules:
        hits = list(dict.fromkeys(m.group(0).strip() for m in rx.finditer(text)))
        if hits:
            return level, hits  # type: ignore[return-value] - levels are the Literal values
    return "unknown", []


def _without(text: str, phrases: list[str]) -> str:
    """`text` with these phrases blanked, so one phrase never justifies both impact and urgency."""
    for phrase in phrases:
        text = re.sub(r"\b" + re.escape(phrase) + r"\b", " ", text, flags=re.IGNORECASE)
    return text


def _level(score: int) -> str:
    return {6: "SEV1", 5: "SEV2", 4: "SEV3"}.get(score, "SEV4")


def assess_severity(texts: list[str]) -> Severity:
    """SEV from impact × urgency (PagerDuty-style matrix) read from the reporter's messages."""
    text = "\n".join(texts)
    impact, impact_hits = _classify(text, _IMPACT)
    urgency, urgency_hits = _classify(text, _URGENCY)
    low = [h.lower() for h in impact_hits]
    shared = [h for h in urgency_hits if any(h.lower() in x or x in h.lower() for x in low)]
    if shared:  # one phrase never justifies both levels: the dimension it says more about keeps it
        overlapping = [
            x for x in impact_hits if any(x.lower() in h.lower() or h.lower() in x.lower() for h in shared)
        ]
        impact_rest = [x for x in impact_hits if x not in overlapping]
        urgency_rest = [h for h in urgency_hits if h not in shared]
        if impact_rest or (not urgency_rest and _SCORE.get(urgency, 0) > _SCORE.get(impact, 0)):
            impact, impact_hits = _classify(_without(text, overlapping), _IMPACT)
        else:
            urgency, urgency_hits = _classify(_without(text, shared + overlapping), _URGENCY)
    if impact == "unknown" and urgency == "unknown":
        return Severity()
    assumed = [name for name, lvl in (("impact", impact), ("urgency", urgency)) if lvl == "unknown"]
    score = _SCORE.get(impact, 2) + _SCORE.get(urgency, 2)
    level = _level(score)
    reasons = [f"impact {impact}: “{h}”" for h in impact_hits[:3]]
    reasons += [f"urgency {urgency}: “{h}”" for h in urgency_hits[:3]]
    return Severity(
        level=level,
        priority="P" + level[-1],
        impact=impact,
        urgency=urgency,
        reasons=reasons,
        source="reporter's words",
        assumed=assumed,
    )


def edited_severity(value: str, base: Severity) -> Severity:
    """A person's choice (SEV1..4 or P1..4) replaces the computed level; the evidence for it is kept."""
    value = value.strip().upper()
    number = value[-1]
    return base.model_copy(
        update={"level": f"SEV{number}", "priority": f"P{number}", "source": "edited", "assumed": []}
    )


def valid_severity(value: str) -> bool:
    return bool(re.fullmatch(r"(?:SEV|P)[1-4]", value.strip().upper()))


def impact_of(texts: list[str]) -> Impact:
    text = "\n".join(texts)

    def uniq(rx: re.Pattern[str], limit: int = 6) -> list[str]:
        return list(dict.fromkeys(m.group(0).strip() for m in rx.finditer(text)))[:limit]

    return Impact(who=uniq(_WHO), what=uniq(_WHAT), since=uniq(_SINCE), mentioned=uniq(_NAMES, 10))


def change_clues(text: str) -> list[str]:
    """Sentences of `text` that mention a change (deploy, upgrade, config...) or when trouble began."""
    out = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        sentence = sentence.strip()
        if sentence and (_CHANGE.search(sentence) or _SINCE.search(sentence)):
            out.append(sentence)
    return out
