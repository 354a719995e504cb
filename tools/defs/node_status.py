"""node_status: the cluster's nodes, or one node described (read-only).

Pending, evicted and Terminating pods are often a node's fault (memory or disk pressure,
a NotReady kubelet, a cordon), which pod-level tools never show. With a name it prints
`kubectl describe node NAME` (conditions, taints, events); without, `kubectl get nodes
-o wide` plus every abnormal condition. A sandbox scenario simulates no nodes, so there
it answers as a cluster without them would.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from pydantic import Field

from tools.base import RawOutput, Scope, Tool, ToolArgs
from tools.render_k8s_node import Obj, node_facts, render_node_describe, render_node_list
from tools.targets.kube_client import KubeCallError
from tools.validate import ObjectName

if TYPE_CHECKING:
    from tools.targets.kubernetes import KubernetesTarget
    from tools.targets.sandbox import SandboxTarget


class NodeStatusArgs(ToolArgs):
    node: ObjectName | None = Field(default=None, description="node name; omit to list every node")


def _argv(a: NodeStatusArgs) -> list[str]:
    return ["kubectl", "describe", "node", a.node] if a.node else ["kubectl", "get", "nodes", "-o", "wide"]


TOOL: Tool[NodeStatusArgs] = Tool(
    name="node_status",
    args_model=NodeStatusArgs,
    description="Nodes with status, roles, version and abnormal conditions; or describe one node.",
    scopes=frozenset({Scope.KUBERNETES}),
    shows=lambda a: shlex.join(_argv(a)),
)


def _failed(command: str, err: KubeCallError) -> RawOutput:
    return RawOutput(
        exit_code=1,
        output=err.text + "\n",
        command=command,
        source="kubernetes-api",
        data={"error_reason": err.reason, "http_status": err.status},
    )


@TOOL.handler("kubernetes")
async def on_kubernetes(target: KubernetesTarget, args: NodeStatusArgs) -> RawOutput:
    conn, command = target.conn, shlex.join(_argv(args))
    try:
        if args.node is None:
            nodes = await conn.list_all(conn.core.list_node)
            text = render_node_list(nodes, target.now())
            data: Obj = {"nodes": [node_facts(n) for n in nodes]}
            return RawOutput(output=text, command=command, data=data, source="kubernetes-api")
        node = await conn.json(conn.core.read_node, args.node)
    except KubeCallError as err:
        return _failed(command, err)
    selector = f"involvedObject.kind=Node,involvedObject.name={args.node}"
    try:
        events: list[Obj] | None = await conn.list_all(
            conn.core.list_event_for_all_namespaces, field_selector=selector
        )
    except KubeCallError:
        events = None  # kubectl still describes the node, without its Events section
    facts: Obj = {"nodes": [node_facts(node)], "events": len(events or [])}
    return RawOutput(
        output=render_node_describe(node, events, target.now()),
        command=command,
        data=facts,
        source="kubernetes-api",
    )


@TOOL.handler("sandbox")
async def on_sandbox(target: SandboxTarget, args: NodeStatusArgs) -> RawOutput:
    target._need_cluster()
    command = shlex.join(_argv(args))
    if args.node is None:
        return RawOutput(output="No resources found\n", command=command, data={"nodes": []}, source="sandbox")
    return RawOutput(
        exit_code=1,
        output=f'Error from server (NotFound): nodes "{args.node}" not found\n',
        command=command,
        data={"nodes": []},
        source="sandbox",
    )
