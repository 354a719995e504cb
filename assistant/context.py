"""The one typed object a turn depends on: settings, target, model, approver.

The CLI, the server and the eval runner each build one and hand it to the loop;
the loop reads nothing global.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assistant.config import Settings
from assistant.events import ApprovalDecided, ApprovalRequired
from assistant.model import Model
from assistant.providers import Providers
from tools.base import Risk, Tool
from tools.catalog import ALL_TOOLS
from tools.targets import Target, open_target
from tools.targets.fleet import Fleet, with_host

if TYPE_CHECKING:
    from assistant.nodes.router import NodeRouter

Approver = Callable[[ApprovalRequired], Awaitable[ApprovalDecided]]


async def deny_all(request: ApprovalRequired) -> ApprovalDecided:
    """For unattended runs (evals, demo): write actions are proposed, never executed."""
    return ApprovalDecided(
        approval_id=request.approval_id,
        decision="deny",
        by="firstline",
        comment="unattended run: write actions are never executed",
    )


@dataclass
class TurnContext:
    settings: Settings
    target: Target
    model: str
    session_id: str
    turn_id: str
    approver: Approver = deny_all
    tools: list[Tool] = field(default_factory=list)
    """The tools this session may use, after policy; the model sees exactly these."""
    llm: Model | None = None
    """What answers `model`; by default the one `Providers` picks in-process (the CLI's and evals' choice)."""
    offload: bool = False
    """Run the turn's CPU work in threads (the server), or inline (CLI, evals)."""

    def __post_init__(self) -> None:
        if not self.tools:
            self.tools = allowed_tools(self.settings, self.target)
        if self.llm is None:
            self.llm = Providers(self.settings, offload=self.offload).model(self.model)

    @property
    def chat_model(self) -> Model:
        assert self.llm is not None  # set in __post_init__
        return self.llm

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)


def allowed_tools(settings: Settings, target: Target) -> list[Tool]:
    """Tools the target supports, minus what the policy removes (read-only, per-target allow-lists)."""
    policy = settings.policy
    allow: set[str] | None = None
    for prefix, names in policy.target_tools.items():
        if target.name == prefix or target.name.startswith(prefix.rstrip(":") + ":") or target.kind == prefix:
            allow = set(names) if allow is None else allow & set(names)
    tools = []
    for tool in ALL_TOOLS:
        if not target.supports(tool.name):
            continue
        if policy.read_only and tool.risk is Risk.WRITE:
            continue
        if allow is not None and tool.name not in allow:
            continue
        tools.append(tool)
    if isinstance(target, Fleet):  # every host tool names its host, one of the members
        hosts = tuple(target.members)
        tools = [with_host(t, hosts) for t in tools]
    return tools


def arg_limit_violation(settings: Settings, tool_name: str, args: dict) -> str | None:
    """Per-tool argument limits from the policy, e.g. which services may be restarted."""
    limits = settings.policy.arg_limits.get(tool_name, {})
    for (
        key,
        allowed,
    ) in limits.items():  # `args` are validated, defaults filled in: leaving one out is no way around
        if key in args and args[key] not in allowed:
            return (
                f"policy forbids {tool_name} with {key}={args[key]!r}; allowed: "
                f"{', '.join(map(str, allowed))}"
            )
    return None


def open_session_target(spec: str, settings: Settings, nodes: NodeRouter | None = None) -> Target:
    """Node targets (`node:NAME`, `nodes:LABELS`) need the server's router; the rest open in tools/."""
    if spec.startswith(("node:", "nodes:")):
        from assistant.nodes.target import open_node_target

        return open_node_target(spec, settings, nodes)
    return open_target(spec, settings.targets)


def open_context(
    settings: Settings,
    *,
    target: str,
    model: str,
    session_id: str,
    turn_id: str,
    approver: Approver = deny_all,
    providers: Providers | None = None,
    nodes: NodeRouter | None = None,
) -> TurnContext:
    providers = providers or Providers(settings)
    return TurnContext(
        settings=settings,
        target=open_session_target(target, settings, nodes),
        model=model,
        session_id=session_id,
        turn_id=turn_id,
        approver=approver,
        llm=providers.model(model),
        offload=providers.offload,
    )
