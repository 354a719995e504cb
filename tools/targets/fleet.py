"""Targets of several hosts: a node group, a multi-host sandbox, later a set of SSH hosts.

A fleet holds one target per host. Its host tools take one more argument, `host`, whose
JSON schema is the enum of its members, so the model can only name a member; the runner
takes `host` off, runs the call on that member, and stamps the result with it. Checks of
several hosts are several calls in one step, which the loop runs concurrently.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import Field, create_model

from tools.base import RawOutput, Tool, ToolArgs
from tools.catalog import HOST_TOOLS, TOOLS
from tools.targets.base import Target, TargetError


class Fleet(Target):
    kind = "fleet"

    def __init__(self, name: str, members: dict[str, Target]) -> None:
        super().__init__(name, next(iter(members.values())).config if members else None)
        self.members = members

    def supports(self, tool_name: str) -> bool:
        return tool_name in HOST_TOOLS and any(m.supports(tool_name) for m in self.members.values())

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "hosts": list(self.members)}

    def pick(
        self, tool_name: str, raw_args: dict[str, Any] | None
    ) -> tuple[Target | None, str, dict[str, Any], str | None]:
        """(member, host, remaining args, problem): the member named by `host`, or why there is none."""
        args = dict(raw_args or {}) if isinstance(raw_args, dict) else {}
        key = member_arg(tool_name)
        host = args.pop(key, None)
        hosts = ", ".join(self.members)
        if not isinstance(host, str) or not host:
            return None, "", args, f"this target has several hosts: give `{key}`, one of {hosts}"
        member = self.members.get(host.strip())
        if member is None:
            return None, host, args, f"host {host!r} is not in {self.name}; hosts: {hosts}"
        return member, host.strip(), args, None

    async def run(self, tool: Tool[Any], args: ToolArgs) -> RawOutput:
        raise TargetError(f"{tool.name}: {self.name} has several hosts; the call must name one with `host`")

    async def aclose(self) -> None:
        for member in self.members.values():
            await member.aclose()


def member_arg(tool_name: str) -> str:
    """`host`, or `from_host` for the one tool whose own arguments already have a `host` (tls_certificate)."""
    tool = TOOLS.get(tool_name)
    return "from_host" if tool is not None and "host" in tool.args_model.model_fields else "host"


@functools.lru_cache(maxsize=512)
def with_host(tool: Tool[Any], hosts: tuple[str, ...]) -> Tool[Any]:
    """`tool` with a required `host` argument restricted to `hosts` (cached: schemas are built once per group)."""
    field = (Literal[hosts], Field(description="which host of this target to run on (one call per host)"))
    model = create_model(
        f"{tool.args_model.__name__}OnHost",
        __base__=tool.args_model,  # type: ignore[call-overload]  # a Literal made at run time
        **{member_arg(tool.name): field},
    )
    return tool.model_copy(update={"args_model": model})
