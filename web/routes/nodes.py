"""Nodes: the agents' WebSocket, enrolment (token shown once), revocation, and the list the UI shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Request, WebSocket, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator

from assistant import store
from assistant.nodes import registry
from assistant.nodes.relay import announce_revoked
from assistant.nodes.signing import public_key
from tools.node.protocol import PATH
from web.deps import EngineDep, RuntimeDep, SettingsDep
from web.errors import ERROR_RESPONSES, InvalidField

router = APIRouter(tags=["nodes"], responses=ERROR_RESPONSES)


class NodeOut(BaseModel):
    name: str
    labels: dict[str, str]
    connected: bool
    last_seen: str | None
    facts: dict
    version: str
    token_id: str
    policy: dict
    revoked: bool
    created_at: str


class EnrollIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return registry.parse_labels([f"{k}={v}" for k, v in value.items()])


class Enrollment(BaseModel):
    node: NodeOut
    token: str
    """Shown once: only a hash is stored."""
    server_key: str
    """The approval-signing public key the node pins (server_key in its config)."""
    config: str
    """A node.toml for the host, with everything filled in but the server's URL if unknown."""


templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


@router.get("/nodes", response_class=HTMLResponse, include_in_schema=False)
def nodes_page(request: Request) -> HTMLResponse:
    """The Nodes page (web/static/js/nodes.js talks to the API below)."""
    return templates.TemplateResponse(request, "nodes.html", {})


@router.websocket(PATH)
async def node_connect(websocket: WebSocket) -> None:
    """A node's link (tools/node/protocol.py); it authenticates with its own token, not the UI's."""
    await websocket.app.state.runtime.node_hub.serve(websocket)


@router.get("/api/nodes", response_model=list[NodeOut])
def list_nodes(engine: EngineDep) -> list[NodeOut]:
    """Enrolled nodes: connected or not, last seen, labels, facts, version."""
    with store.reading(engine) as db:
        return [NodeOut(**registry.node_json(r)) for r in registry.list_nodes(db, include_revoked=True)]


@router.post("/api/nodes", status_code=status.HTTP_201_CREATED, response_model=Enrollment)
def enroll(body: EnrollIn, request: Request, settings: SettingsDep, engine: EngineDep) -> Enrollment:
    """Enrol a node (or re-issue its token): the token is in this answer only."""
    try:
        registry.check_name(body.name)
    except ValueError as exc:
        raise InvalidField("name", str(exc)) from None
    with store.writing(engine) as db:
        done = registry.enroll(db, name=body.name, labels=body.labels)
        node = NodeOut(**registry.node_json(done.node))
    key = public_key(settings)
    return Enrollment(
        node=node,
        token=done.token,
        server_key=key,
        config=registry.node_config_text(
            str(request.base_url).rstrip("/"), body.name, done.token, key, body.labels
        ),
    )


@router.post("/api/nodes/{name}/revoke", response_model=NodeOut)
async def revoke(name: str, engine: EngineDep, runtime: RuntimeDep) -> NodeOut:
    """Refuse the node's token from now on and close its link at once (on whichever replica holds it)."""
    row = await asyncio.to_thread(_revoke, engine, name)
    await runtime.node_hub.revoke(name)
    await asyncio.to_thread(announce_revoked, engine, name)
    return NodeOut(**registry.node_json(row))


def _revoke(engine, name: str):
    with store.writing(engine) as db:
        return registry.revoke(db, name=name)
