"""Post-incident review drafts over HTTP: latest (drafted on first request), regenerate, versions,
the Markdown download, and the "Draft PIR" page. All logic lives in assistant/pir/service.py."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from assistant import store
from assistant.pir import service
from assistant.pir.models import PirEdits
from assistant.store.models import PirDraftRow
from web.deps import EngineDep, SettingsDep
from web.errors import ERROR_RESPONSES

router = APIRouter(tags=["pir"], responses=ERROR_RESPONSES)
VersionQuery = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="a stored version; default the latest")
]
EditsBody = Annotated[PirEdits | None, Body(examples=[{"severity": "SEV2", "authors": ["alice"]}])]
PAGE = Path(__file__).resolve().parent / "templates" / "pir.html"
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


class PirOut(BaseModel):
    session_id: str
    version: int
    created_at: str
    model: str
    """Who drafted the narrative sections: a model name, or 'rules'."""
    title: str
    severity: str
    markdown: str
    """Exactly what `firstline pir SESSION` prints and the .md download serves."""
    download_url: str

    @classmethod
    def of(cls, row: PirDraftRow) -> PirOut:
        meta = (row.data or {}).get("meta") or {}
        return cls(
            session_id=row.session_id,
            version=row.version,
            created_at=store.as_utc(row.created_at).isoformat(),
            model=row.model,
            title=str(meta.get("title", "")),
            severity=_severity(meta),
            markdown=row.markdown,
            download_url=f"/api/sessions/{row.session_id}/pir.md?version={row.version}",
        )


class PirVersionOut(BaseModel):
    version: int
    created_at: str
    model: str
    title: str
    severity: str


def _severity(meta: dict[str, Any]) -> str:
    return str((meta.get("severity") or {}).get("level", "unknown"))


async def _draft(settings: Any, engine: Any, session_id: str, version: int | None) -> PirDraftRow:
    """A stored version, or the latest draft (created on first request). A broken layout raises
    PirTemplateError, which the app's handler turns into a 500 naming file and line."""
    if version is not None:
        return await asyncio.to_thread(service.get_draft, engine, session_id, version)
    return await service.latest_or_create(settings, engine, session_id)


@router.get("/api/sessions/{session_id}/pir", response_model=PirOut)
async def get_pir(
    session_id: str, settings: SettingsDep, engine: EngineDep, version: VersionQuery = None
) -> Any:
    """The latest draft (or `version`); the first draft is created on demand."""
    return PirOut.of(await _draft(settings, engine, session_id, version))


@router.post("/api/sessions/{session_id}/pir", response_model=PirOut, status_code=status.HTTP_201_CREATED)
async def regenerate_pir(
    session_id: str, settings: SettingsDep, engine: EngineDep, edits: EditsBody = None
) -> Any:
    """Draft a new version from the session as stored now; older versions are kept. Edits (title,
    severity, authors, status, incident_id) apply to this and later versions."""
    return PirOut.of(await service.regenerate(settings, engine, session_id, edits))


@router.get("/api/sessions/{session_id}/pir/versions", response_model=list[PirVersionOut])
async def pir_versions(session_id: str, engine: EngineDep) -> list[PirVersionOut]:
    rows = await asyncio.to_thread(service.list_drafts, engine, session_id)
    out = []
    for r in rows:
        meta = (r.data or {}).get("meta") or {}
        out.append(
            PirVersionOut(
                version=r.version,
                created_at=store.as_utc(r.created_at).isoformat(),
                model=r.model,
                title=str(meta.get("title", "")),
                severity=_severity(meta),
            )
        )
    return out


@router.get(
    "/api/sessions/{session_id}/pir.md",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}, "description": "The PIR as a Markdown file"}},
)
async def download_pir(
    session_id: str, settings: SettingsDep, engine: EngineDep, version: VersionQuery = None
) -> Response:
    """The Markdown as an attachment (the same bytes `firstline pir SESSION` prints for that version)."""
    row = await _draft(settings, engine, session_id, version)
    name = f"pir-{_SAFE_ID.sub('_', row.session_id)}-v{row.version}.md"
    return Response(
        row.markdown.encode("utf-8"),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/s/{session_id}/pir", response_class=HTMLResponse, include_in_schema=False)
async def pir_page(session_id: str, request: Request, engine: EngineDep) -> HTMLResponse:
    """The "Draft PIR" view on its own page (the chat page links here); the data comes from the API."""
    await asyncio.to_thread(_exists, engine, session_id)
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-store"})


def _exists(engine: Any, session_id: str) -> None:
    with store.reading(engine) as db:
        store.get_session(db, session_id=session_id)
