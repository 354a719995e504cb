"""The node protocol: JSON text frames over one WebSocket, each a typed message.

    node -> server   hello      who I am (name, labels, facts, version, policy)
    server -> node   welcome    accepted; the node's name as enrolled
    server -> node   call       run this tool with these arguments (+ a signed approval for writes)
    node -> server   result     the ToolResult of a call, by call id
    node -> server   heartbeat  still here (besides WebSocket pings), so `last seen` stays fresh

The token travels in the handshake's Authorization header, never in a frame. A refused
token is an HTTP 403 at the handshake; a token revoked while connected closes the
socket with REVOKED.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PROTOCOL = 1
PATH = "/api/nodes/connect"
REVOKED = 4003
"""Close code: the node's token was revoked; reconnecting is pointless."""
REPLACED = 4009
"""Close code: another process connected with the same node's token."""
MAX_FRAME = 4 * 1024 * 1024
"""Largest frame either side accepts (a capped tool output is far smaller)."""


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Hello(_Msg):
    type: Literal["hello"] = "hello"
    protocol: int = PROTOCOL
    name: str
    version: str
    labels: dict[str, str] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)
    """os, kernel, systemd, hostname, python."""
    policy: dict[str, Any] = Field(default_factory=dict)
    """What this node allows (tools, read_only), so the server offers the model only those."""


class Welcome(_Msg):
    type: Literal["welcome"] = "welcome"
    node: str
    heartbeat_s: float = 10.0


class Approval(_Msg):
    """A person's approval of one write call, signed by the server's key (see tools/node/approval.py)."""

    approval_id: str = Field(min_length=1, max_length=128)
    expires_at: int
    """Unix seconds; the node refuses it afterwards."""
    signature: str
    """Base64 Ed25519 signature over `approval_message(node, tool, args, approval_id, expires_at)`."""


class Call(_Msg):
    type: Literal["call"] = "call"
    id: str = Field(min_length=1, max_length=128)
    tool: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    approval: Approval | None = None


class Result(_Msg):
    type: Literal["result"] = "result"
    id: str
    result: dict[str, Any]
    """A `tools.base.ToolResult` as JSON."""


class Heartbeat(_Msg):
    type: Literal["heartbeat"] = "heartbeat"


Message = Hello | Welcome | Call | Result | Heartbeat
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Message)


class ProtocolError(ValueError):
    """A frame that is not one of the messages above."""


def parse(frame: str | bytes) -> Message:
    try:
        msg: Message = _ADAPTER.validate_json(frame)
        return msg
    except ValueError as exc:
        raise ProtocolError(f"bad frame: {str(exc).splitlines()[0][:200]}") from None


def dump(msg: _Msg) -> str:
    return msg.model_dump_json()
