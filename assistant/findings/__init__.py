"""Findings: failure signatures recognised in a tool run's output, with exact evidence lines.

    analyze(result, call_id, prior=()) -> list[Finding]      after every tool result (the loop)
    analyze_text(tool, text, ...) -> list[Finding]           when only the text is known (the runbook model)
    dedup_key(finding) -> tuple                              (signature, key facts) for de-duplication

Every analyzer runs on every result; each is a small function in a module per
family (ports, network, services, database, kubernetes, resources). They never
raise: a broken analyzer is skipped, never the turn.

The text they read is parsed by tolerant readers kept apart: logtext (log lines in
every shape), k8s_text and k8s_structured (kubectl tables, describe, -o yaml/json),
host_text (df, free, meminfo); readable says when an output of a known shape could
not be read, so the answer reports a gap instead of "nothing there".
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from assistant.events import Finding
from assistant.findings import (  # noqa: F401 - register
    apps,
    database,
    descriptors,
    generic,
    k8s_generic,
    known,
    kubernetes,
    network,
    ports,
    resources,
    services,
)
from assistant.findings.base import (
    ANALYZERS,
    FALLBACKS,
    SIGNATURES,
    Observation,
    call,
    dedup_key,
    parse_calls,
    rank,
)
from tools.base import ToolResult

__all__ = [
    "SIGNATURES",
    "Observation",
    "analyze",
    "analyze_observation",
    "analyze_text",
    "call",
    "dedup_key",
    "parse_calls",
    "rank",
]

log = logging.getLogger(__name__)


_MEMO: OrderedDict[bytes, list[Finding]] = OrderedDict()
_MEMO_MAX = 2048
_MEMO_LOCK = threading.Lock()


def analyze_observation(obs: Observation) -> list[Finding]:
    """Run every registered analyzer on one observation; findings unique by id, most causal first.

    The loop analyzes each tool result for its events and the offline model re-reads the same output
    from its messages: the second reading of the same output (same call, same earlier findings) is
    answered from memory."""
    key = hashlib.blake2b(
        json.dumps(
            [
                obs.tool,
                obs.output,
                obs.call_id,
                obs.command,
                obs.args,
                obs.exit_code,
                obs.did_not_run,
                sorted({f.finding_id for f in obs.prior}),
            ],
            sort_keys=True,
            default=str,
        ).encode(),
        digest_size=16,
    ).digest()
    with _MEMO_LOCK:
        hit = _MEMO.get(key)
    if hit is not None:
        return list(hit)
    found = _analyze(obs)
    with _MEMO_LOCK:
        _MEMO[key] = found
        if len(_MEMO) > _MEMO_MAX:
            _MEMO.popitem(last=False)
    return list(found)


def _analyze(obs: Observation) -> list[Finding]:
    found: dict[str, Finding] = {}
    for fn in ANALYZERS:
        try:
            results = fn(obs)
        except Exception:  # an analyzer bug must never break a turn
            log.exception("findings analyzer %s failed on %s output", fn.__name__, obs.tool)
            continue
        for f in results:
            found.setdefault(f.finding_id, f)
    covered = {ln for f in found.values() for ev in f.evidence for ln in ev.lines}
    for fb in FALLBACKS:
        try:
            results = fb(obs, covered)
        except Exception:  # an analyzer bug must never break a turn
            log.exception("findings analyzer %s failed on %s output", fb.__name__, obs.tool)
            continue
        for f in results:
            found.setdefault(f.finding_id, f)
    return sorted(found.values(), key=lambda f: -rank(f))


def analyze(result: ToolResult, call_id: str, prior: Iterable[Finding] = ()) -> list[Finding]:
    """Findings in one tool result. Pass the session's earlier findings as `prior` so that, e.g.,
    the owner of a port becomes a finding once a bind error on that port was seen."""
    text = result.output or (result.error or "")
    return analyze_observation(
        Observation(
            tool=result.tool,
            output=text,
            call_id=call_id,
            command=result.command,
            args=dict(result.args or {}),
            exit_code=result.exit_code,
            prior=tuple(prior),
            did_not_run=not result.output and bool(result.error),
        )
    )


def analyze_text(
    tool: str,
    text: str,
    *,
    call_id: str = "",
    command: str = "",
    args: dict[str, Any] | None = None,
    exit_code: int | None = None,
    prior: Iterable[Finding] = (),
) -> list[Finding]:
    """Findings in output known only as text (a tool message the model was sent)."""
    return analyze_observation(
        Observation(
            tool=tool,
            output=text or "",
            call_id=call_id,
            command=command,
            args=dict(args or {}),
            exit_code=exit_code,
            prior=tuple(prior),
        )
    )
