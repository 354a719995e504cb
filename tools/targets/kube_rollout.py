"""The two write actions on a Deployment, done against the API the way kubectl does them.

`rollout restart` patches the pod template's `kubectl.kubernetes.io/restartedAt`
annotation (the controller then replaces pods). `rollout undo` finds the previous
revision's ReplicaSet and patches its pod template back into the Deployment. The
runner only calls these after a person approved the action.
"""

from __future__ import annotations

import copy
import shlex
from datetime import UTC, datetime
from typing import Any

from tools.base import RawOutput
from tools.targets.kube_client import KubeCallError, KubeConnection

FIELD_MANAGER = "firstline"
"""Shown in the Deployment's managedFields, so the change is traceable to Firstline."""
_HASH_LABEL = "pod-template-hash"
_REVISION = "deployment.kubernetes.io/revision"
_SKIP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    _REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
}


def _result(command: str, text: str, exit_code: int = 0, **data: Any) -> RawOutput:
    return RawOutput(
        exit_code=exit_code, output=text + "\n", command=command, data=data, source="kubernetes-api"
    )


def _images(template: dict) -> list[str]:
    return [c.get("image", "") for c in (template.get("spec") or {}).get("containers") or []]


def label_selector(selector: dict | None) -> str:
    """A LabelSelector object as the string the API's labelSelector parameter takes."""
    selector = selector or {}
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op in ("In", "NotIn"):
            terms.append(f"{key} {op.lower()} ({','.join(values)})")
        elif op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


async def rollout_restart(conn: KubeConnection, name: str, namespace: str, now: datetime) -> RawOutput:
    """`kubectl rollout restart deployment/NAME`: a new restartedAt annotation on the pod template."""
    command = shlex.join(["kubectl", "rollout", "restart", f"deployment/{name}", "-n", namespace])
    try:
        deploy = await conn.json(conn.apps.read_namespaced_deployment, name, namespace)
        if (deploy.get("spec") or {}).get("paused"):
            return _result(
                command,
                f'error: deployments.apps "{name}" can\'t restart paused deployment '
                "(run rollout resume first)",
                1,
                deployment=name,
                namespace=namespace,
            )
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {
            "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}
        }
        updated = await conn.json(
            conn.apps.patch_namespaced_deployment,
            name,
            namespace,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type="application/strategic-merge-patch+json",
        )
    except KubeCallError as err:
        return _result(command, err.text, 1, deployment=name, namespace=namespace, error_reason=err.reason)
    generation = (updated.get("metadata") or {}).get("generation")
    return _result(
        command,
        f"deployment.apps/{name} restarted",
        deployment=name,
        namespace=namespace,
        restarted_at=stamp,
        generation=generation,
    )


def _previous_revision(deploy: dict, replicasets: list[dict]) -> tuple[dict | None, int]:
    """The second-newest revision's ReplicaSet owned by this Deployment (kubectl's undo target)."""
    uid = (deploy.get("metadata") or {}).get("uid")
    latest, previous = (-1, None), (-1, None)
    for rs in replicasets:
        owners = (rs.get("metadata") or {}).get("ownerReferences") or []
        if not any(o.get("controller") and o.get("uid") == uid for o in owners):
            continue
        try:
            rev = int(((rs.get("metadata") or {}).get("annotations") or {}).get(_REVISION, ""))
        except ValueError:
            continue
        if rev > latest[0]:
            latest, previous = (rev, rs), latest
        elif rev > previous[0]:
            previous = (rev, rs)
    return previous[1], previous[0]


def _without_hash(template: dict) -> dict:
    t = copy.deepcopy(template)
    ((t.get("metadata") or {}).get("labels") or {}).pop(_HASH_LABEL, None)
    return t


async def rollout_undo(conn: KubeConnection, name: str, namespace: str) -> RawOutput:
    """`kubectl rollout undo deployment/NAME`: restore the previous revision's pod template."""
    command = shlex.join(["kubectl", "rollout", "undo", f"deployment/{name}", "-n", namespace])
    base = {"deployment": name, "namespace": namespace}
    try:
        deploy = await conn.json(conn.apps.read_namespaced_deployment, name, namespace)
        spec = deploy.get("spec") or {}
        if spec.get("paused"):
            return _result(
                command,
                "error: you cannot rollback a paused deployment; resume it first with "
                "'kubectl rollout resume' and try again",
                1,
                **base,
            )
        replicasets = await conn.list_all(
            conn.apps.list_namespaced_replica_set,
            namespace,
            label_selector=label_selector(spec.get("selector")),
        )
        target, revision = _previous_revision(deploy, replicasets)
        if target is None:
            return _result(command, f'error: no rollout history found for deployment "{name}"', 1, **base)
        template = _without_hash(target["spec"]["template"])
        current_rev = ((deploy.get("metadata") or {}).get("annotations") or {}).get(_REVISION)
        facts = {
            **base,
            "from_revision": current_rev,
            "to_revision": revision,
            "replicaset": target["metadata"]["name"],
            "images_before": _images(spec.get("template") or {}),
            "images_after": _images(template),
        }
        if template == _without_hash(spec.get("template") or {}):
            return _result(
                command,
                f"deployment.apps/{name} skipped rollback (current template already matches "
                f"revision {revision})",
                **facts,
            )
        annotations = {
            k: v
            for k, v in ((deploy.get("metadata") or {}).get("annotations") or {}).items()
            if k in _SKIP_ANNOTATIONS
        }
        annotations.update(
            {
                k: v
                for k, v in ((target.get("metadata") or {}).get("annotations") or {}).items()
                if k not in _SKIP_ANNOTATIONS
            }
        )
        patch = [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]
        await conn.json(
            conn.apps.patch_namespaced_deployment,
            name,
            namespace,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type="application/json-patch+json",
        )
    except KubeCallError as err:
        return _result(command, err.text, 1, error_reason=err.reason, **base)
    return _result(command, f"deployment.apps/{name} rolled back", **facts)
