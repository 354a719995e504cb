"""rollout_status: where a Deployment's rollout stands, and what changed (read-only).

A stuck or failed rollout (ProgressDeadlineExceeded, new pods never Ready) is told by the
Deployment, not its pods: `kubectl rollout status --watch=false` for the verdict, then
the parts of `kubectl describe deployment` that matter (replicas, strategy, conditions
with reasons, old and new ReplicaSets) and the image of each ReplicaSet, newest revision
first, so the current and previous images sit side by side.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from tools.base import RawOutput, Scope, Tool, ToolArgs
from tools.k8s_text import parse_time, tabwrite
from tools.render_k8s import _annotations, _multiline_map, _ts, _Writer
from tools.targets.kube_client import KubeCallError
from tools.targets.kube_rollout import label_selector
from tools.validate import Namespace, ObjectName

if TYPE_CHECKING:
    from tools.targets.kubernetes import KubernetesTarget
    from tools.targets.sandbox import SandboxTarget

Obj = dict[str, Any]
_REVISION = "deployment.kubernetes.io/revision"
_HASH = "pod-template-hash"


class RolloutStatusArgs(ToolArgs):
    deployment: ObjectName
    namespace: Namespace = "default"


def _shows(a: RolloutStatusArgs) -> str:
    ns = shlex.quote(a.namespace)
    return (
        f"kubectl rollout status deployment/{a.deployment} -n {ns} --watch=false; "
        f"kubectl describe deployment {a.deployment} -n {ns}"
    )


TOOL: Tool[RolloutStatusArgs] = Tool(
    name="rollout_status",
    args_model=RolloutStatusArgs,
    description="A deployment's rollout: status verdict, replicas, conditions, current vs previous images.",
    scopes=frozenset({Scope.KUBERNETES}),
    shows=_shows,
)


def status_line(d: Obj) -> tuple[str, bool]:
    """`kubectl rollout status --watch=false` (its DeploymentStatusViewer): (text, failed)."""
    meta, spec, st = d.get("metadata") or {}, d.get("spec") or {}, d.get("status") or {}
    name = meta.get("name", "")
    if meta.get("generation", 0) > st.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    progressing: Obj = next((c for c in st.get("conditions") or [] if c.get("type") == "Progressing"), {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return f'error: deployment "{name}" exceeded its progress deadline', True
    want, updated = spec.get("replicas", 1), st.get("updatedReplicas", 0)
    total, available = st.get("replicas", 0), st.get("availableReplicas", 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < want:
        return waiting + f"{updated} out of {want} new replicas have been updated...", False
    if total > updated:
        return waiting + f"{total - updated} old replicas are pending termination...", False
    if available < updated:
        return waiting + f"{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', False


def _revision(obj: Obj) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(_REVISION, ""))
    except ValueError:
        return 0


def _template(obj: Obj) -> Obj:
    t = dict((obj.get("spec") or {}).get("template") or {})
    meta = dict(t.get("metadata") or {})
    meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k != _HASH}
    meta.pop("creationTimestamp", None)
    t["metadata"] = meta
    return t


def _owned(d: Obj, replicasets: list[Obj]) -> list[Obj]:
    uid = (d.get("metadata") or {}).get("uid")
    return [
        rs
        for rs in replicasets
        if not uid
        or any(o.get("uid") == uid for o in (rs.get("metadata") or {}).get("ownerReferences") or [])
    ]


def _created(rs: Obj) -> str:
    rs_spec, rs_status = rs.get("spec") or {}, rs.get("status") or {}
    return f"{rs['metadata']['name']} ({rs_status.get('replicas', 0)}/{rs_spec.get('replicas', 0)} replicas created)"


def _images(obj: Obj) -> list[str]:
    return [c.get("image", "") for c in ((_template(obj).get("spec") or {}).get("containers") or [])]


def render(d: Obj, replicasets: list[Obj]) -> tuple[str, bool, Obj]:
    """The verdict, the describe-deployment parts, and the ReplicaSets' images: (text, failed, facts)."""
    meta, spec, st = d.get("metadata") or {}, d.get("spec") or {}, d.get("status") or {}
    verdict, failed = status_line(d)
    owned = _owned(d, replicasets)
    new = next((rs for rs in owned if _template(rs) == _template(d)), None)
    old = sorted(
        (rs for rs in owned if rs is not new),
        key=lambda r: (r["metadata"].get("creationTimestamp") or "", r["metadata"]["name"]),
    )
    out = _Writer()
    out.w(0, f"Name:\t{meta.get('name', '')}\n")
    out.w(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    out.w(0, f"CreationTimestamp:\t{_ts(meta.get('creationTimestamp'))}\n")
    _multiline_map(out, "Labels", meta.get("labels"))
    _annotations(out, meta.get("annotations"))
    out.w(0, f"Selector:\t{label_selector(spec.get('selector'))}\n")
    desired, updated, total = spec.get("replicas", 1), st.get("updatedReplicas", 0), st.get("replicas", 0)
    available, unavailable = st.get("availableReplicas", 0), st.get("unavailableReplicas", 0)
    out.w(
        0,
        f"Replicas:\t{desired} desired | {updated} updated | {total} total | "
        f"{available} available | {unavailable} unavailable\n",
    )
    strategy = spec.get("strategy") or {}
    out.w(0, f"StrategyType:\t{strategy.get('type', '')}\n")
    out.w(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}\n")
    if rolling := strategy.get("rollingUpdate"):
        out.w(
            0,
            f"RollingUpdateStrategy:\t{rolling.get('maxUnavailable')} max unavailable, "
            f"{rolling.get('maxSurge')} max surge\n",
        )
    conditions = st.get("conditions") or []
    if conditions:
        out.w(0, "Conditions:\n  Type\tStatus\tReason\n")
        out.w(1, "----\t------\t------\n")
        for c in conditions:
            out.w(1, f"{c.get('type', '')} \t{c.get('status', '')}\t{c.get('reason', '')}\n")
    out.w(0, f"OldReplicaSets:\t{', '.join(_created(r) for r in old) or '<none>'}\n")
    out.w(0, f"NewReplicaSet:\t{_created(new) if new else '<none>'}\n")
    rows = ["REPLICASET\tREVISION\tDESIRED\tREADY\tIMAGES\n"]
    for rs in sorted(owned, key=_revision, reverse=True):
        rs_spec, rs_status = rs.get("spec") or {}, rs.get("status") or {}
        rows.append(
            f"{rs['metadata']['name']}\t{_revision(rs)}\t{rs_spec.get('replicas', 0)}\t"
            f"{rs_status.get('readyReplicas', 0)}\t{','.join(_images(rs))}\n"
        )
    text = f"{verdict}\n\n{out.text()}"
    if owned:
        text += "\n# kubectl get rs -l SELECTOR (newest revision first)\n" + tabwrite("".join(rows), 6, 3)
    previous = next((rs for rs in sorted(old, key=_revision, reverse=True)), None)
    facts: Obj = {
        "deployment": meta.get("name"),
        "namespace": meta.get("namespace"),
        "verdict": verdict,
        "rolled_out": verdict.endswith("successfully rolled out"),
        "replicas": {
            "desired": desired,
            "updated": updated,
            "ready": st.get("readyReplicas", 0),
            "available": available,
        },
        "conditions": [
            {
                "type": c.get("type"),
                "status": c.get("status"),
                "reason": c.get("reason"),
                "message": c.get("message"),
            }
            for c in conditions
        ],
        "current_images": _images(d),
        "previous_images": _images(previous) if previous else [],
        "last_update": max(
            (str(c.get("lastUpdateTime")) for c in conditions if parse_time(c.get("lastUpdateTime"))),
            default=None,
        ),
    }
    return text, failed, facts


@TOOL.handler("kubernetes")
async def on_kubernetes(target: KubernetesTarget, args: RolloutStatusArgs) -> RawOutput:
    conn, command = target.conn, _shows(args)
    try:
        d = await conn.json(conn.apps.read_namespaced_deployment, args.deployment, args.namespace)
        selector = label_selector((d.get("spec") or {}).get("selector"))
        replicasets = await conn.list_all(
            conn.apps.list_namespaced_replica_set, args.namespace, label_selector=selector
        )
    except KubeCallError as err:
        return RawOutput(
            exit_code=1,
            output=err.text + "\n",
            command=command,
            source="kubernetes-api",
            data={"error_reason": err.reason, "http_status": err.status},
        )
    text, failed, facts = render(d, replicasets)
    return RawOutput(
        exit_code=1 if failed else 0, output=text, command=command, data=facts, source="kubernetes-api"
    )


@TOOL.handler("sandbox")
async def on_sandbox(target: SandboxTarget, args: RolloutStatusArgs) -> RawOutput:
    cluster = target._need_cluster()
    command = _shows(args)
    d = cluster.deployment(args.namespace, args.deployment)
    if d is None:
        return RawOutput(
            exit_code=1,
            output=f'Error from server (NotFound): deployments.apps "{args.deployment}" not found\n',
            command=command,
            source="sandbox",
        )
    text, failed, facts = render(d, cluster.ns(args.namespace).replicasets)
    return RawOutput(exit_code=1 if failed else 0, output=text, command=command, data=facts, source="sandbox")
