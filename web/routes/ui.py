"""The browser UI: one Jinja2 page; everything else is static JS/CSS talking to the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from assistant.events import EventType

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


@router.get("/", response_class=HTMLResponse)
@router.get("/s/{session_id}", response_class=HTMLResponse)
def index(request: Request, session_id: str | None = None) -> HTMLResponse:
    settings = request.app.state.runtime.settings
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "session_id": session_id or "",
            "default_target": settings.default_target,
            "default_model": settings.model,
            "event_types": " ".join(t.value for t in EventType),
            "max_message_chars": settings.max_message_chars,
            "max_attachment_chars": settings.max_attachment_chars,
            "approval_timeout_s": settings.approval_timeout_s,
        },
    )
