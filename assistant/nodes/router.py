"""One way for targets to reach a node, wherever its connection is."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from assistant.nodes.hub import NodeCallError, NodeHub
from assistant.nodes.relay import Relay, new_call_id
from tools.node import protocol as p


class NodeRouter:
    """This process's hub when the node is connected here; otherwise the PostgreSQL relay (other replicas)."""

    def __init__(self, engine: Engine, hub: NodeHub | None = None, relay: Relay | None = None) -> None:
        self.engine, self.hub, self.relay = engine, hub, relay

    async def call(
        self, node: str, tool: str, args: dict[str, Any], approval: p.Approval | None, timeout_s: float
    ) -> tuple[dict[str, Any], str]:
        """The node's ToolResult as JSON, and which replica's link carried it; NodeCallError otherwise."""
        call = p.Call(id=new_call_id(), tool=tool, args=args, approval=approval)
        if self.hub is not None and (link := self.hub.links.get(node)) is not None:
            return await link.call(call, timeout_s), self.hub.replica
        if self.relay is not None:
            return await self.relay.call(node, call, timeout_s), "relay"
        raise NodeCallError(f"node {node} is not connected to this server")
