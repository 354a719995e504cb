"""What every target offers: run a declared tool with validated arguments."""

from __future__ import annotations

import abc
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.base import RawOutput, Tool, ToolArgs, ToolStatus, registered_handler


class TargetError(RuntimeError):
    """The target cannot run this call (unsupported tool, unreachable cluster, refused path).
    `status` is the ToolResult status the runner reports for it."""

    def __init__(self, message: str, status: ToolStatus = "error") -> None:
        super().__init__(message)
        self.status: ToolStatus = status


class SshConfig(BaseModel):
    """How `ssh:[user@]host[:port]` targets connect (FIRSTLINE_TARGETS__SSH__*)."""

    known_hosts: Path | None = None
    """The only host keys trusted (OpenSSH format); default ~/.ssh/known_hosts. Unknown keys are refused."""
    key_file: Path | None = None
    """A private key to log in with; default: the agent (SSH_AUTH_SOCK) and ~/.ssh/id_*."""
    user: str | None = None
    """Login name when the target names none; default: the local user."""
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120)
    command_timeout_s: float = Field(default=20.0, gt=0, le=600)
    """Each remote command is stopped after this (or the tool's own timeout, if shorter)."""
    hosts: list[str] = Field(default_factory=list)
    """`[user@]host[:port]` entries listed by `firstline targets` and the UI's target picker."""


class TargetConfig(BaseModel):
    """Per-target limits, set from Firstline's settings. Tools never read settings themselves."""

    log_roots: list[Path] = Field(default_factory=lambda: [Path("/var/log")])
    """log_tail reads files only under these directories (after resolving symlinks)."""
    log_owners: list[str] = Field(default_factory=list)
    """When set, log_tail reads only files owned by these users (names or uids); empty: any owner."""
    http_allow: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1", "::1"])
    """http_check/tls_certificate only reach these hosts (exact names or '*.suffix'); a name resolving to a
    loopback, private or link-local address also needs that address (or a network like 10.0.0.0/8) listed."""
    deny_ports: list[int] = Field(default_factory=list)
    """Ports http_check/tls_certificate never reach on this host: `firstline serve` adds its own."""
    kubeconfig: Path | None = None
    kube_context: str | None = None
    scenarios_dir: Path | None = None
    """Extra directory of sandbox scenario files besides the shipped ones."""
    ssh: SshConfig = Field(default_factory=SshConfig)


class Target(abc.ABC):
    """A place tools run. One instance per session; a tool's handler for this kind is looked up in its
    registry (`@TOOL.handler(kind)`), so `kind` names the handlers a target class uses."""

    kind: str = "abstract"
    timeout_grace_s: float = 0.0
    """Extra time the runner allows beyond a tool's timeout (a remote agent enforces the timeout itself)."""

    def __init__(self, name: str, config: TargetConfig | None = None) -> None:
        self.name = name
        self.config = config or TargetConfig()

    @abc.abstractmethod
    def supports(self, tool_name: str) -> bool: ...

    @abc.abstractmethod
    async def run(self, tool: Tool, args: ToolArgs) -> RawOutput:
        """Run the tool; raise TargetError for a call this target refuses or cannot make."""

    async def run_approved(self, tool: Tool, args: ToolArgs, approval_id: str) -> RawOutput:
        """Run a write tool a person approved; remote targets pass the approval on (signed), others just run."""
        return await self.run(tool, args)

    def describe(self) -> dict[str, Any]:
        """Facts about the target for the system prompt (kind, hosts, namespaces)."""
        return {"name": self.name, "kind": self.kind}

    async def aclose(self) -> None:  # noqa: B027 - an optional hook: most targets hold no connection
        """Release what the target holds open (an SSH connection, a node link)."""

    def has_handler(self, tool_name: str) -> bool:
        """Whether a handler for this target's kind is registered for the tool."""
        return registered_handler(tool_name, self.kind) is not None

    def handler(self, tool_name: str) -> Callable[[ToolArgs], Awaitable[RawOutput]]:
        """The registered handler of `tool_name` for this target's kind, bound to this target."""
        fn = registered_handler(tool_name, self.kind)
        if fn is None:
            raise TargetError(f"{tool_name} is not available on target {self.name} ({self.kind})")
        if any(vars(cls).get(fn.__name__) is fn for cls in type(self).__mro__):
            bound: Callable[[ToolArgs], Awaitable[RawOutput]] = getattr(self, fn.__name__)
            return bound  # a registered method: a subclass's override of it wins, as for any method
        return functools.partial(fn, self)
