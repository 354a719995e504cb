"""Every shipped case and sandbox scenario, investigated by the offline model and stored like a real session.

The PIR and answer tests read the same stored sessions the CLI and the API read: each case's turns
are replayed through the agent loop (evals' `converse`, recorded tool outputs, every write denied)
and each sandbox scenario is investigated through the turn driver; the events land in one SQLite
file, so `assistant.pir` drafts from it exactly as it does for a live session.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from assistant import store
from assistant.config import Settings
from assistant.events import ApprovalDecided, ApprovalRequired, Event, EventType
from assistant.turns import drive_turn
from evals.format import Case, load_cases
from evals.suite import converse

ROOT = Path(__file__).resolve().parent.parent
CASES_DIR = ROOT / "evals" / "cases"
FOLLOW_UPS = [
    "why did this happen?",
    "what changed?",
    "how do I roll back?",
    "is it fixed now?",
    "what else could it be?",
    "show me the command",
]
"""A second turn of each of these, in a copy of the session, must answer what was asked."""


@dataclass
class Stored:
    name: str
    session_id: str
    answers: list[str] = field(default_factory=list)
    """The assistant's final message of each turn, in order."""


def _answers(events: list[Event]) -> list[str]:
    return [e.data.text for e in events if e.type is EventType.MESSAGE]


async def replay_case(settings: Settings, engine, case: Case, more: list[str] | None = None) -> Stored:
    """A shipped case through the loop (then `more` turns), its events appended to the store as one session."""
    if more:
        case = case.model_copy(update={"turns": [*case.turns, *more]})
    events, _target, _approver = await converse(case, settings.model, settings)
    with store.writing(engine) as db:
        row = store.create_session(db, target=f"replay:{case.id}", model=settings.model)
    store.append_many(engine, session_id=row.id, events=events)
    return Stored(case.id, row.id, _answers(events))


async def _deny(request: ApprovalRequired) -> ApprovalDecided:
    return ApprovalDecided(approval_id=request.approval_id, decision="deny", by="bob", comment="not now")


async def investigate(
    settings: Settings, engine, scenario: str, messages: list[str], approver=_deny
) -> Stored:
    """A sandbox scenario through the real turn driver, one turn per message."""
    with store.writing(engine) as db:
        row = store.create_session(db, target=f"sandbox:{scenario}", model=settings.model)
    texts: list[str] = []
    for text in messages:
        with store.writing(engine) as db:
            turn = store.begin_turn(db, session_id=row.id, owner=store.current_owner())
        seen: list[Event] = []
        status = await drive_turn(settings, engine, row.id, turn.id, text, approver, on_event=seen.append)
        assert status == "completed", (scenario, text, status)
        texts += _answers(seen)
    return Stored(scenario, row.id, texts)


def scenarios(settings: Settings) -> list[tuple[str, str]]:
    """Every sandbox scenario with the report its author wrote (what `firstline demo` sends)."""
    from tools.targets.sandbox import list_scenarios

    return [(s.id, getattr(s, "report", None) or s.summary) for s in list_scenarios(settings.targets)]


def shipped_cases() -> list[Case]:
    loaded = load_cases([CASES_DIR])
    assert not loaded.errors, loaded.errors
    return loaded.cases


async def store_all(settings: Settings, engine, more: list[str] | None = None) -> list[Stored]:
    """Every shipped case and every sandbox scenario, stored, each followed by the `more` turns."""
    out: list[Stored] = []
    for case in shipped_cases():
        out.append(await replay_case(settings, engine, case, more))
    for scenario, report in scenarios(settings):
        out.append(await investigate(settings, engine, scenario, [report, *(more or [])]))
    return out


def run(coro):
    return asyncio.run(coro)


@functools.cache
def built() -> tuple[Settings, object, list[Stored]]:
    """Every case and scenario with the follow-up set, stored once per test process (the answer and the PIR
    tests read the same sessions)."""
    tmp = Path(tempfile.mkdtemp(prefix="firstline-corpus-"))
    settings = Settings(
        home=tmp / "home", database_url=f"sqlite:///{tmp / 'corpus.db'}", model="firstline/runbook"
    )
    engine = store.open_store(settings.db_url)
    return settings, engine, asyncio.run(store_all(settings, engine, FOLLOW_UPS))
