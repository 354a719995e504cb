"""LLM-as-judge: a second model grades an answer 0-5 against the case's reference summary.

Regex expectations say whether the right words appear; the judge says whether the
answer as a whole is right, supported and safe. It is optional (`--judge MODEL`) and
only runs for cases that carry an `expect.summary`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel

from evals.format import Case

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_SCORE_RX = re.compile(r'"?score"?\s*[:=]\s*"?([0-5])\b', re.IGNORECASE)


class Verdict(BaseModel):
    score: int | None
    reason: str


def render_prompt(case: Case, answer: str) -> str:
    env = Environment(
        loader=FileSystemLoader(PROMPTS_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    return env.get_template("judge.md.j2").render(
        title=case.title or case.id,
        turns=case.turns,
        summary=case.expect.summary or "",
        answer=answer.strip() or "(no answer)",
        no_fault=case.expect.no_fault,
    )


def parse_verdict(text: str) -> Verdict:
    """Read `{"score": n, "reason": ...}`; tolerate prose around it; no score -> None, not a guess."""
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(text[start : end + 1])
            score = int(obj["score"])
            if 0 <= score <= 5:
                return Verdict(score=score, reason=str(obj.get("reason", "")).strip())
        except (ValueError, KeyError, TypeError):
            pass
    m = _SCORE_RX.search(text)
    if m:
        return Verdict(score=int(m.group(1)), reason=text.strip()[:500])
    return Verdict(score=None, reason=f"judge reply had no 0-5 score: {text.strip()[:200]!r}")


async def judge(
    model: str, case: Case, answer: str, *, api_base: str | None = None, timeout_s: float = 120.0
) -> Verdict:
    """Ask `model` to grade `answer`; any model/provider error becomes a Verdict without a score."""
    import litellm

    from assistant.llm import ensure_providers

    if not case.expect.summary:
        return Verdict(score=None, reason="case has no expect.summary to judge against")
    messages = [{"role": "user", "content": render_prompt(case, answer)}]
    try:
        ensure_providers(model)
        resp = await litellm.acompletion(
            model=model, messages=messages, temperature=0, api_base=api_base, timeout=timeout_s
        )
    except Exception as exc:  # noqa: BLE001 - a judge outage must not fail the eval run itself
        return Verdict(score=None, reason=f"judge call failed: {type(exc).__name__}: {exc}"[:300])
    text = resp.choices[0].message.content or ""
    return parse_verdict(text)
