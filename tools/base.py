"""The one declaration every tool is made of, and the one result every run returns.

A tool is data: a name, a one-line description, a pydantic argument model, a risk
level, its scopes, the command line it shows, a timeout and an output cap. The JSON
schema the model sees, the validation at the edge, the CLI flags, the docs and which
targets offer it all derive from that declaration. How a tool actually runs depends
on the target (this host, a cluster, a sandbox, a recording): each target kind
registers a handler with `@TOOL.handler(kind)`, in one registry keyed by the tool.
"""

from __future__ import annotations

import copy
import enum
import functools
import shlex
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Risk(str, enum.Enum):
    """Read tools observe; write tools change a system and need a person's approval."""

    READ = "read"
    WRITE = "write"


class Scope(str, enum.Enum):
    """What a tool looks at, so which targets can offer it is derived, never listed by hand."""

    HOST = "host"
    """A machine's processes, services, files and resources: local, ssh, node, a sandbox with a host."""
    NETWORK = "network"
    """A probe sent from wherever the target runs (DNS, HTTP, TLS): every host-like target and sandbox."""
    KUBERNETES = "kubernetes"
    """A cluster's API: a kubernetes target, a sandbox with namespaces."""
    DATABASE = "database"
    METRICS = "metrics"


class ToolArgs(BaseModel):
    """Base for every tool's arguments: unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


A = TypeVar("A", bound=ToolArgs)


class ToolArgError(ValueError):
    """Arguments failed validation; nothing was executed."""


@functools.cache
def _parameters_schema(args_model: type[ToolArgs]) -> dict[str, Any]:
    """Built once per argument model: pydantic's schema generation costs ~1 ms and every model step asks."""
    schema = args_model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    return schema


Handler = Callable[[Any, Any], Awaitable["RawOutput"]]
"""`async def handler(target, args) -> RawOutput`: how one target kind runs one tool."""
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])

_HANDLERS: dict[tuple[str, str], Handler] = {}
"""(tool name, target kind) -> handler. Keyed by name: a fleet's copy of a tool (with `host`) is the same tool."""


def registered_handler(tool_name: str, kind: str) -> Handler | None:
    """How targets of `kind` run `tool_name`, or None when that kind does not offer it."""
    return _HANDLERS.get((tool_name, kind))


def generic_command(name: str, args: dict[str, Any]) -> str:
    """`tool k=v ...`: the command shown for a tool that declares none (or arguments it cannot show)."""
    return f"{name} " + " ".join(f"{k}={shlex.quote(str(v))}" for k, v in sorted(args.items()))


class Tool(BaseModel, Generic[A]):
    """A tool declaration: everything about one tool, in one object (see tools/catalog.py)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str
    description: str
    """One line, shown to the model and in `firstline tools list`."""
    args_model: type[ToolArgs]
    risk: Risk = Risk.READ
    timeout_s: float = 15.0
    """A run still going after this is killed and reported as a timeout."""
    output_cap: int = 64_000
    """Characters kept from the output (head and tail) before the marker."""
    scopes: frozenset[Scope] = frozenset({Scope.HOST})
    """What it looks at; a target offers it when it has a handler and one of these scopes is present."""
    shows: Callable[[A], str] | None = None
    """The command line an engineer would type for these arguments (display only, never run)."""
    prints_logs: bool = False
    """Its output is (or ends in) log lines, which the findings read as logs."""

    def command(self, args: A) -> str:
        """The equivalent shell command for validated arguments, for approval prompts and the command trail."""
        if self.shows is None:
            return generic_command(self.name, args.model_dump(exclude_none=True))
        return self.shows(args)

    def handler(self, kind: str) -> Callable[[H], H]:
        """Register `async def fn(target, args) -> RawOutput` as how targets of `kind` run this tool."""

        def register(fn: H) -> H:
            key = (self.name, kind)
            old = _HANDLERS.get(key)
            if old is not None and old.__qualname__ != fn.__qualname__:
                raise ValueError(f"{self.name} already has a {kind} handler: {old.__qualname__}")
            _HANDLERS[key] = fn
            return fn

        return register

    def handler_for(self, kind: str) -> Handler | None:
        return registered_handler(self.name, kind)

    def target_kinds(self) -> set[str]:
        """The target kinds that registered a handler for this tool."""
        return {kind for name, kind in _HANDLERS if name == self.name}

    def parameters_schema(self) -> dict[str, Any]:
        return copy.deepcopy(_parameters_schema(self.args_model))  # a copy: callers may edit theirs

    def function_schema(self) -> dict[str, Any]:
        """OpenAI-style function-calling schema (what litellm passes as `tools=`)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters_schema(),
            },
        }

    def validate_args(self, raw: dict[str, Any] | None) -> ToolArgs:
        """Validate raw (model- or user-supplied) arguments, raising ToolArgError with a readable reason."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ToolArgError(f"{self.name}: arguments must be a JSON object, got {type(raw).__name__}")
        try:
            return self.args_model.model_validate(raw)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{where}: {msg}")
            raise ToolArgError(f"{self.name}: invalid arguments: " + "; ".join(problems)) from None


ToolStatus = Literal["ok", "error", "refused", "timeout", "unsupported", "needs_approval", "no_data"]
"""How a tool call ended, so callers (UI, evals, planner) never read prose to tell a timeout from a refusal:
ok (ran, succeeded) · error (ran and failed, or the target failed) · refused (not run: bad arguments, policy,
a person said no) · timeout (stopped at its limit) · unsupported (not on this target) · needs_approval (a
write without approval) · no_data (ran, or was looked up, and there is nothing to show)."""


class RawOutput(BaseModel):
    """What a target's handler returns: before timing, capping and cleaning."""

    exit_code: int | None = 0
    output: str = ""
    command: str
    """The equivalent command line an engineer would type, for the command trail."""
    data: dict[str, Any] | None = None
    source: str | None = None
    """Where the facts came from when a target has several ways (systemd, psutil, /proc, file)."""
    ok: bool | None = None
    """Override; by default ok means exit code 0."""
    error: str | None = None
    remote: dict[str, Any] | None = None
    """Which remote agent ran it (node name, token id, replica), for the audit trail."""


class ToolResult(BaseModel):
    """The single envelope every tool run returns, on every target."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    status: ToolStatus = "ok"
    exit_code: int | None = None
    output: str = ""
    """The text an engineer would see, cleaned (no ANSI), redacted, capped."""
    data: dict[str, Any] | None = None
    command: str = ""
    target: str = ""
    started_at: datetime
    duration_ms: float = 0.0
    truncated: bool = False
    source: str | None = None
    error: str | None = None
    """Why the tool did not (fully) run: validation, timeout, refused, unsupported."""
    output_sha256: str | None = None
    """SHA-256 of the full cleaned output before capping (for the audit trail)."""
    host: str | None = None
    """The member of a multi-host target (a node group, a fleet sandbox) it ran on."""
    remote: dict[str, Any] | None = None
    """Which remote agent ran it (node name, token id, replica), for the audit trail."""

    def excerpt(self, limit: int = 300) -> str:
        text = self.output if self.output else (self.error or "")
        return text if len(text) <= limit else text[: limit - 1] + "…"
