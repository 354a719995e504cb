"""Drafting, storing and fetching a session's PIR: the one entry point for the CLI and the API.

    draft = await regenerate(settings, engine, session_id, edits)   # a new version, older ones kept
    draft = await latest_or_create(settings, engine, session_id)    # what GET /pir and `firstline pir` show
    text = pir_for_cli(settings, session_id, as_json=False)         # `firstline pir SESSION [--json]`

The Markdown is rendered once, when a version is created, and stored; the CLI, the API
and the .md download all hand out that stored text, so they never disagree.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from assistant import store
from assistant.config import Settings
from assistant.pir import drafts
from assistant.pir.data import PirFacts, gather
from assistant.pir.derive import Derived, derive
from assistant.pir.fmt import clip, flat
from assistant.pir.models import Narrative, PirEdits
from assistant.pir.narrative import draft_narrative
from assistant.pir.render import render_markdown
from assistant.pir.words import Severity, edited_severity
from assistant.redaction import redact_value, redactor_for
from assistant.store.models import PirDraftRow

FORMAT = "firstline-pir/1"


class Meta(BaseModel):
    title: str
    status: str = "draft"
    incident_id: str
    version: int = 0
    generated_at: datetime | None = None
    authors: list[str] = Field(default_factory=list)
    severity: Severity
    session_id: str
    target: str
    model: str
    narrative_source: str = "rules"
    narrative_note: str | None = None


class PirDocument(BaseModel):
    """Everything a layout renders; stored as the draft's `data` (what `--json` prints)."""

    format: str = FORMAT
    meta: Meta
    facts: PirFacts
    derived: Derived
    narrative: Narrative
    edits: PirEdits = Field(default_factory=PirEdits)


class UnknownSession(store.NotFound, LookupError):
    """No such session: the API answers 404 (store.NotFound), the CLI prints it (LookupError)."""

    def __init__(self, session_id: str) -> None:
        super().__init__("session", session_id)
        self.args = (f"no session {session_id!r} in this database (`firstline sessions` lists them)",)


def _title(facts: PirFacts, d: Derived) -> str:
    """The session's title, unless it is a cut copy of the first message: then that message, cut at a word."""
    first = flat(next((s.text for s in facts.said if s.role == "user"), ""))
    title = flat(facts.session.title)
    if title and not (title.endswith("…") and first.startswith(title.rstrip("…").rstrip())):
        return clip(title, 120)
    if first:
        return clip(first, 120)
    if d.root_cause is not None:
        return clip(d.root_cause.title, 120)
    return f"session {facts.session.id}"


def _authors(facts: PirFacts) -> list[str]:
    deciders = [a.decided_by for a in facts.approvals if a.decided_by and a.decided_by != "firstline"]
    return list(dict.fromkeys(deciders)) or ["TODO(author): the on-call engineer"]


def build_document(facts: PirFacts, d: Derived, narrative: Narrative, edits: PirEdits) -> PirDocument:
    severity = edited_severity(edits.severity, d.severity) if edits.severity else d.severity
    meta = Meta(
        title=edits.title or _title(facts, d),
        status=edits.status or "draft",
        incident_id=edits.incident_id or facts.session.id,
        authors=edits.authors or _authors(facts),
        severity=severity,
        session_id=facts.session.id,
        target=facts.session.target,
        model=facts.session.model,
        narrative_source=narrative.source,
        narrative_note=narrative.note,
    )
    return PirDocument(meta=meta, facts=facts, derived=d, narrative=narrative, edits=edits)


def _previous_edits(engine: Engine, session_id: str) -> PirEdits | None:
    with store.reading(engine) as db:
        row = drafts.latest(db, session_id=session_id)
    if row is None or not isinstance(row.data, dict):
        return None
    try:
        return PirEdits.model_validate(row.data.get("edits") or {})
    except ValueError:
        return None


def _gather(engine: Engine, session_id: str) -> PirFacts:
    try:
        return gather(engine, session_id)
    except store.NotFound:
        raise UnknownSession(session_id) from None


async def regenerate(
    settings: Settings,
    engine: Engine,
    session_id: str,
    edits: PirEdits | None = None,
    model: str | None = None,
    *,
    first_only: bool = False,
) -> PirDraftRow:
    """Draft a new version from the stored session (edits carried over from the last version).
    `first_only`: only if the session has no draft yet (else the latest is returned)."""
    facts = await asyncio.to_thread(_gather, engine, session_id)
    merged = (edits or PirEdits()).merged_over(await asyncio.to_thread(_previous_edits, engine, session_id))
    d = derive(facts)
    narrative = await draft_narrative(facts, d, settings, model or facts.session.model)
    doc = build_document(facts, d, narrative, merged)
    redactor = redactor_for(settings)

    def render(version: int, created: datetime) -> tuple[str, dict[str, Any]]:
        """Called inside the storing transaction; a broken layout raises and nothing is stored."""
        final = doc.model_copy(
            update={"meta": doc.meta.model_copy(update={"version": version, "generated_at": created})}
        )
        markdown = render_markdown(_context(final), settings.pir_template, redactor)
        return markdown, redact_value(final.model_dump(mode="json"), redactor)

    return await asyncio.to_thread(
        drafts.save,
        engine,
        session_id=session_id,
        model=narrative.source,
        render=render,
        first_only=first_only,
    )


def _context(doc: PirDocument) -> dict[str, Any]:
    return {"pir": doc}


async def latest_or_create(settings: Settings, engine: Engine, session_id: str) -> PirDraftRow:
    """The newest stored draft; the first one is drafted on demand."""
    row = await asyncio.to_thread(_latest, engine, session_id)
    return row if row is not None else await regenerate(settings, engine, session_id, first_only=True)


def _latest(engine: Engine, session_id: str) -> PirDraftRow | None:
    with store.reading(engine) as db:
        try:
            store.get_session(db, session_id=session_id)
        except store.NotFound:
            raise UnknownSession(session_id) from None
        return drafts.latest(db, session_id=session_id)


def get_draft(engine: Engine, session_id: str, version: int) -> PirDraftRow:
    """One stored version; NotFound (404) for an unknown session or version. Blocking."""
    with store.reading(engine) as db:
        if db.get(store.SessionRow, session_id) is None:
            raise UnknownSession(session_id)
        return drafts.get_version(db, session_id=session_id, version=version)


def list_drafts(engine: Engine, session_id: str) -> list[PirDraftRow]:
    """Every stored version, oldest first. Blocking."""
    with store.reading(engine) as db:
        if db.get(store.SessionRow, session_id) is None:
            raise UnknownSession(session_id)
        return drafts.list_versions(db, session_id=session_id)


def draft_json(row: PirDraftRow) -> str:
    """A stored draft as JSON: its version, Markdown and the data it was rendered from."""
    return (
        json.dumps(
            {
                "session_id": row.session_id,
                "version": row.version,
                "created_at": store.as_utc(row.created_at).isoformat(),
                "model": row.model,
                "markdown": row.markdown,
                "data": row.data,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def pir_for_cli(settings: Settings, session_id: str, as_json: bool = False, regenerate: bool = False) -> str:
    """`firstline pir SESSION [--json] [--regenerate]`: the latest draft (drafted if there is none),
    as Markdown or JSON. LookupError for an unknown session."""
    engine = store.open_store(settings.db_url)
    try:
        row = asyncio.run(_for_cli(settings, engine, session_id, regenerate))
    finally:
        engine.dispose()
    return draft_json(row) if as_json else row.markdown


async def _for_cli(settings: Settings, engine: Engine, session_id: str, fresh: bool) -> PirDraftRow:
    if fresh:
        return await regenerate(settings, engine, session_id)
    return await latest_or_create(settings, engine, session_id)
