"""The node's own configuration: where to connect, who it is, and its policy.

Read from a TOML file (`firstline node run --config /etc/firstline/node.toml`), with
command-line flags and FIRSTLINE_NODE_TOKEN on top. The policy lives here, on the host,
so a compromised server cannot widen it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tools.base import Risk
from tools.catalog import HOST_TOOLS, TOOLS

DEFAULT_TOOLS = sorted(t for t in HOST_TOOLS if TOOLS[t].risk is Risk.READ)


class NodeConfigError(ValueError):
    """The configuration is missing something or names something invalid."""


class NodePolicy(BaseModel):
    """What this host lets the server do. Enforced by the node on every call."""

    model_config = ConfigDict(extra="forbid")

    allow_tools: list[str] = Field(default_factory=lambda: list(DEFAULT_TOOLS))
    """Tools this node runs; write tools must be listed here explicitly (default: the read host tools)."""
    read_only: bool = False
    """Refuse every write tool, signed or not."""
    log_roots: list[Path] = Field(default_factory=lambda: [Path("/var/log")])
    http_allow: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1", "::1"])
    max_concurrent_calls: int = Field(default=8, ge=1, le=64)
    arg_limits: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    """Per-tool argument limits, e.g. {"restart_service": {"service": ["nginx"]}}: anything else is refused."""

    def arg_violation(self, tool: str, args: dict[str, Any]) -> str | None:
        for key, allowed in self.arg_limits.get(tool, {}).items():
            if key in args and args[key] not in allowed:
                return f"{tool} with {key}={args[key]!r} is outside this node's limits ({', '.join(map(str, allowed))})"
        return None

    @field_validator("allow_tools")
    @classmethod
    def _host_tools(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in HOST_TOOLS]
        if unknown:
            raise ValueError(
                f"not host tools: {', '.join(unknown)} (host tools: {', '.join(sorted(HOST_TOOLS))})"
            )
        return value

    def allows_writes(self) -> bool:
        return not self.read_only and any(TOOLS[t].risk is Risk.WRITE for t in self.allow_tools)


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str
    """ws://, wss://, http:// or https:// URL of the Firstline server (the path is added)."""
    token: str = Field(repr=False)
    name: str = Field(min_length=1, max_length=64)
    """This node's name as enrolled; the server must agree, and approvals are signed for it."""
    server_key: str
    """The server's approval-signing public key, printed by `firstline node enroll` (base64)."""
    labels: dict[str, str] = Field(default_factory=dict)
    ca_file: Path | None = None
    """CA bundle for a wss:// server with a private CA (default: the system's)."""
    heartbeat_s: float = Field(default=10.0, gt=0.05, le=300)
    backoff_max_s: float = Field(default=15.0, gt=0, le=600)
    policy: NodePolicy = Field(default_factory=NodePolicy)

    @field_validator("server")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://", "http://", "https://")):
            raise ValueError("must start with ws://, wss://, http:// or https://")
        return value.rstrip("/")

    def ws_url(self) -> str:
        from tools.node.protocol import PATH

        url = self.server.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return url if url.endswith(PATH) else url + PATH


def load_node_config(path: Path | None, **overrides: Any) -> NodeConfig:
    """The file (if any), then FIRSTLINE_NODE_TOKEN, then flags given on the command line."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise NodeConfigError(f"cannot read {path}: {exc}") from None
    if os.environ.get("FIRSTLINE_NODE_TOKEN"):
        values["token"] = os.environ["FIRSTLINE_NODE_TOKEN"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return NodeConfig.model_validate(values)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or '(config)'}: {e['msg']}" for e in exc.errors()]
        raise NodeConfigError("invalid node configuration: " + "; ".join(problems)) from None
