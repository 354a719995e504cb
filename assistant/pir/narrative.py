"""Drafting the narrative sections: the session's model through prompts/pir_narrative.md.j2, or rules.

The model sees only stored facts (already redacted) and must answer with one JSON
object; the answer is validated and any garbage (prose, broken JSON, wrong shapes)
falls back to the rules draft, with a note saying why. The offline default model
`firstline/runbook` investigates but does not write prose: its PIRs use the rules.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from assistant.config import Settings
from assistant.pir.consistency import contradictions
from assistant.pir.data import PirFacts
from assistant.pir.derive import Derived
from assistant.pir.fmt import dur, ts
from assistant.pir.models import Narrative, NarrativeFields
from assistant.pir.rules import rules_narrative
from assistant.prompting import render
from assistant.redaction import Redactor, redactor_for

MAX_PROMPT_COMMANDS = 60
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


def prompt_messages(facts: PirFacts, d: Derived, redact: Redactor) -> list[dict[str, str]]:
    """The system and user messages for the model; every value is stored text, redacted once more."""
    values: dict[str, Any] = {
        "session": facts.session,
        "reported": [redact(t) for t in facts.reporter_words],
        "answers": [redact(s.text)[:1500] for s in facts.said if s.role == "assistant"][-2:],
        "commands": facts.commands[:MAX_PROMPT_COMMANDS],
        "findings": facts.findings,
        "approvals": facts.approvals,
        "d": d,
        "ts": ts,
        "dur": dur,
    }
    return [
        {"role": "system", "content": render("pir_narrative.md.j2", part="system", **values)},
        {"role": "user", "content": redact(render("pir_narrative.md.j2", part="user", **values))},
    ]


def parse_answer(text: str) -> NarrativeFields:
    """The model's JSON object, validated; ValueError says what was wrong (for the PIR's note)."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the answer")
    try:
        obj = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg} at position {exc.pos})") from None
    try:
        return NarrativeFields.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
        raise ValueError(f"{exc.error_count()} problem(s), first: {where}: {first.get('msg')}") from None


async def ask_model(model: str, messages: list[dict[str, str]], settings: Settings) -> str:
    """One tool-less call; the model answers through the same seam as the agent loop's."""
    from assistant.model import Completion
    from assistant.providers import Providers

    completion = Completion()
    async for item in Providers(settings).model(model).stream(messages, None):
        if isinstance(item, Completion):
            completion = item
    return completion.text


async def draft_narrative(facts: PirFacts, d: Derived, settings: Settings, model: str) -> Narrative:
    """The model's narrative when it gives a valid one; otherwise the rules', saying why."""
    if not model or model.startswith("firstline/"):
        return rules_narrative(
            facts,
            d,
            note=f"drafted by rules from the findings ({model or 'no model'} does not write narrative)",
        )
    from assistant.model import ModelError

    try:
        text = await ask_model(model, prompt_messages(facts, d, redactor_for(settings)), settings)
    except ModelError as exc:
        return rules_narrative(facts, d, note=f"drafted by rules: the call to {model} failed: {exc}")
    except Exception as exc:  # noqa: BLE001 - a PIR must still be drafted when a provider misbehaves
        note = f"drafted by rules: the call to {model} failed: {type(exc).__name__}"
        return rules_narrative(facts, d, note=note)
    try:
        fields = parse_answer(text)
    except ValueError as exc:
        return rules_narrative(facts, d, note=f"drafted by rules: {model}'s answer was rejected: {exc}")
    narrative = Narrative(**fields.model_dump(), source=model)
    problems = contradictions(facts, d, narrative)
    if problems:  # held to the same check as the rules: a narrative that contradicts its evidence is not used
        return rules_narrative(
            facts,
            d,
            note=f"drafted by rules: {model}'s narrative contradicted its evidence "
            f"({len(problems)} claim(s); first: {problems[0]})",
        )
    return narrative
