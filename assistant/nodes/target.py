"""`node:NAME` and `nodes:KEY=VALUE,...`: targets whose tools run on enrolled nodes.

A node target is the local target's tools, run by the node itself (tools/node/agent.py);
here a call becomes a protocol call routed to the node, and the node's ToolResult comes
back as the target's raw output. A write call carries an approval signed for that exact
call. A group is a `Fleet` of node targets: host tools take a `host` argument naming one
member (tools/targets/fleet.py), the same mechanism as a multi-host sandbox.
"""

from __future__ import annotations

from typing import Any

from assistant import store
from assistant.config import Settings
from assistant.nodes import registry
from assistant.nodes.hub import NodeCallError
from assistant.nodes.router import NodeRouter
from assistant.nodes.signing import Signer
from assistant.store.models import NodeRow
from tools.base import RawOutput, Tool, ToolArgs
from tools.catalog import HOST_TOOLS, TOOLS
from tools.targets.base import Target, TargetError
from tools.targets.fleet import Fleet


class NodeTarget(Target):
    kind = "node"

    def __init__(self, row: NodeRow, router: NodeRouter, signer: Signer, settings: Settings) -> None:
        super().__init__(f"node:{row.name}", settings.targets)
        self.node, self.router, self.signer, self.settings = row.name, router, signer, settings
        self.timeout_grace_s = settings.nodes.call_grace_s + 1.0
        self.labels, self.facts, self.token_id = dict(row.labels), dict(row.facts), row.token_id
        self.allowed = set(
            row.policy.get("allow_tools") or [t for t in HOST_TOOLS if TOOLS[t].risk.value == "read"]
        )

    def supports(self, tool_name: str) -> bool:
        return tool_name in HOST_TOOLS and tool_name in self.allowed

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "hosts": [self.node],
            "labels": ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items())),
            "os": str(self.facts.get("os") or ""),
            "systemd": "yes" if self.facts.get("systemd") else "no",
        }

    async def run(self, tool: Tool, args: ToolArgs) -> RawOutput:
        return await self._call(tool, args, None)

    async def run_approved(self, tool: Tool, args: ToolArgs, approval_id: str) -> RawOutput:
        signed = self.signer.sign(self.node, tool.name, args.model_dump(exclude_none=True), approval_id)
        return await self._call(tool, args, signed)

    async def _call(self, tool: Tool, args: ToolArgs, approval) -> RawOutput:
        timeout = (
            tool.timeout_s + self.settings.nodes.call_grace_s
        )  # the node stops the tool itself at timeout_s
        try:
            res, via = await self.router.call(
                self.node, tool.name, args.model_dump(exclude_none=True), approval, timeout
            )
        except NodeCallError as exc:
            raise TargetError(f"{tool.name} on node {self.node}: {exc}") from None
        remote = {"node": self.node, "token_id": self.token_id, "via": via}
        if res.get("exit_code") is None and res.get("error") and not res.get("output"):
            return RawOutput(
                exit_code=None,
                ok=False,
                command=res.get("command") or "",
                error=res["error"],
                source=f"node:{self.node}",
                remote=remote,
            )
        return RawOutput(
            exit_code=res.get("exit_code"),
            output=res.get("output") or "",
            ok=res.get("ok"),
            command=res.get("command") or "",
            data=res.get("data"),
            error=res.get("error"),
            source=f"{res.get('source') or 'node'}@{self.node}",
            remote=remote,
        )


class NodeGroup(Fleet):
    kind = "nodes"

    def __init__(self, name: str, selector: dict[str, str], members: dict[str, Target]) -> None:
        super().__init__(name, members)
        self.selector = selector

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "labels": ", ".join(f"{k}={v}" for k, v in sorted(self.selector.items())),
        }


def open_node_target(spec: str, settings: Settings, router: NodeRouter | None) -> Target:
    """`node:NAME` or `nodes:role=web,env=prod`; TargetError when the node(s) cannot be used."""
    if router is None:
        raise TargetError(
            f"{spec}: on SQLite only the server process (`firstline serve`) holding the nodes' "
            "connections can reach them; start the session there, or use PostgreSQL"
        )
    kind, _, rest = spec.partition(":")
    signer = Signer(settings)
    with store.reading(router.engine) as db:
        if kind == "node":
            try:
                row = registry.get_node(db, name=rest)
            except store.NotFound:
                raise TargetError(
                    f"unknown node {rest!r}; enrol it with `firstline node enroll {rest}`"
                ) from None
            if row.revoked_at is not None:
                raise TargetError(f"node {rest!r} has been revoked")
            return NodeTarget(row, router, signer, settings)
        try:
            selector = registry.parse_labels(rest)
        except ValueError as exc:
            raise TargetError(f"{spec}: {exc}") from None
        if not selector:
            raise TargetError(f"{spec}: give labels, e.g. nodes:role=web,env=prod")
        rows = registry.matching(db, selector)
    if not rows:
        raise TargetError(f"no enrolled node has the labels {rest}")
    return NodeGroup(
        f"nodes:{rest}", selector, {r.name: NodeTarget(r, router, signer, settings) for r in rows}
    )


def node_targets(engine) -> list[dict[str, Any]]:
    """Every node and every label group, for the new-session dialog and `firstline targets`."""
    with store.reading(engine) as db:
        rows = registry.list_nodes(db)
    out = [
        {
            "name": f"node:{r.name}",
            "kind": "node",
            "title": f"{r.name} ({'connected' if r.connected else 'offline'})",
        }
        for r in rows
    ]
    groups: dict[str, list[str]] = {}
    for r in rows:
        for k, v in sorted(r.labels.items()):
            groups.setdefault(f"{k}={v}", []).append(r.name)
    for label, names in sorted(groups.items()):
        out.append(
            {"name": f"nodes:{label}", "kind": "nodes", "title": f"{len(names)} node(s): {', '.join(names)}"}
        )
    return out


def check_node_target(engine, spec: str) -> str | None:
    """Why `spec` names no enrolled node (or no group member), or None when a session may use it."""
    kind, _, rest = spec.partition(":")
    with store.reading(engine) as db:
        if kind == "node":
            try:
                row = registry.get_node(db, name=rest)
            except store.NotFound:
                return f"unknown node {rest!r}; enrol it with `firstline node enroll {rest}`"
            return f"node {rest!r} has been revoked" if row.revoked_at is not None else None
        try:
            selector = registry.parse_labels(rest)
        except ValueError as exc:
            return str(exc)
        if not selector:
            return "give labels, e.g. nodes:role=web,env=prod"
        return None if registry.matching(db, selector) else f"no enrolled node has the labels {rest}"
