"""Simulated `kubectl rollout restart` / `rollout undo` on a sandbox's namespaces.

Pods are replaced as the deployment controller would: a restart keeps the template,
so a broken image or a low memory limit stays broken; an undo returns to the previous
ReplicaSet's template, which fixes a bad template but not a bad ConfigMap (listed in
the namespace's `persistent_faults`). Events record what happened, as the API would.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from tools.render_host import Rendered
from tools.render_k8s import pod_status
from tools.scenarios import Namespace, _uid
from tools.targets.sandbox_k8s import ClusterState, not_found

REVISION = "deployment.kubernetes.io/revision"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def _rand(seed: str, n: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:n])


def _rev(obj: dict) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


def _owner(obj: dict) -> str | None:
    refs = obj["metadata"].get("ownerReferences") or []
    return refs[0]["name"] if refs else None


class Rollouts:
    """Rollout write tools over a ClusterState (one per sandbox target)."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.serial = 0

    def _iso(self) -> str:
        return self.cluster.clock().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{_rand(f'{prefix}/{self.serial}', 5)}"

    def _sets(self, ns: Namespace, dep: str) -> list[dict]:
        return sorted((rs for rs in ns.replicasets if _owner(rs) == dep), key=_rev)

    def _pods_of(self, ns: Namespace, rs_name: str) -> list[dict]:
        return [p for p in ns.pods if _owner(p) == rs_name]

    def _event(
        self,
        ns: Namespace,
        kind: str,
        name: str,
        reason: str,
        message: str,
        etype: str = "Normal",
        component: str = "deployment-controller",
    ) -> None:
        ns.events.append(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "type": etype,
                "reason": reason,
                "message": message,
                "count": 1,
                "metadata": {
                    "name": f"{name}.{_rand(name + reason + str(len(ns.events)), 16)}",
                    "namespace": ns.name,
                    "creationTimestamp": self._iso(),
                },
                "involvedObject": {
                    "kind": kind,
                    "name": name,
                    "namespace": ns.name,
                    "apiVersion": "v1" if kind == "Pod" else "apps/v1",
                },
                "source": {"component": component},
                "reportingComponent": component,
                "firstTimestamp": self._iso(),
                "lastTimestamp": self._iso(),
            }
        )

    # ------------------------------------------------------------ pods

    def _fresh(self, ns: Namespace, src: dict, rs: dict, healthy: bool) -> dict:
        """A new pod for `rs` like `src`: running and ready when healthy, else failing the same way."""
        pod = copy.deepcopy(src)
        name, now = self._name(rs["metadata"]["name"]), self._iso()
        meta = pod["metadata"]
        meta.update(
            name=name,
            uid=_uid(ns.name, "Pod", name),
            creationTimestamp=now,
            generateName=rs["metadata"]["name"] + "-",
        )
        meta["labels"] = {
            **(meta.get("labels") or {}),
            "pod-template-hash": rs["metadata"]["name"].rsplit("-", 1)[-1],
        }
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs["metadata"]["name"],
                "uid": rs["metadata"].get("uid", ""),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        tmpl = rs["spec"]["template"]["spec"]
        pod["spec"]["containers"] = copy.deepcopy(tmpl["containers"])
        status = pod.setdefault("status", {})
        status["startTime"] = now
        if healthy:
            status["phase"] = "Running"
            status.pop("reason", None)
            status.pop("message", None)
            status["conditions"] = [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ]
            status["containerStatuses"] = [_running(c, now) for c in tmpl["containers"]]
        else:
            for st in status.get("containerStatuses") or []:
                term = (st.get("lastState") or {}).get("terminated")
                st["restartCount"] = 1 if term else 0
                if term:
                    term.update(startedAt=now, finishedAt=now)
        logs = ns.logs.get(src["metadata"]["name"], {})
        ns.logs[name] = {
            c: ({"current": t["current"]} if healthy and "current" in t else dict(t) if not healthy else {})
            for c, t in logs.items()
        }
        return pod

    def _start_events(self, ns: Namespace, pod: dict, healthy: bool, src_name: str) -> None:
        name, node = pod["metadata"]["name"], pod["spec"].get("nodeName", "")
        self._event(
            ns,
            "Pod",
            name,
            "Scheduled",
            f"Successfully assigned {ns.name}/{name} to {node}",
            component="default-scheduler",
        )
        if healthy:
            for c in pod["spec"]["containers"]:
                self._event(
                    ns,
                    "Pod",
                    name,
                    "Pulled",
                    f'Container image "{c["image"]}" already present on machine',
                    component="kubelet",
                )
                self._event(ns, "Pod", name, "Created", f"Created container {c['name']}", component="kubelet")
                self._event(ns, "Pod", name, "Started", f"Started container {c['name']}", component="kubelet")
            return
        for ev in [e for e in self.cluster.events_for(ns.name, src_name) if e.get("type") == "Warning"]:
            self._event(
                ns,
                "Pod",
                name,
                ev["reason"],
                ev["message"],
                "Warning",
                (ev.get("source") or {}).get("component", "kubelet"),
            )

    def _replace(
        self, ns: Namespace, old: list[dict], rs: dict, count: int, healthy: bool, sources: list[dict]
    ) -> list[str]:
        """Delete `old` pods and create `count` pods for `rs` modelled on `sources`."""
        for p in old:
            ns.pods.remove(p)
            for c in p["spec"]["containers"]:
                self._event(
                    ns,
                    "Pod",
                    p["metadata"]["name"],
                    "Killing",
                    f"Stopping container {c['name']}",
                    component="kubelet",
                )
        created = []
        for i in range(count):
            src = sources[i % len(sources)]
            pod = self._fresh(ns, src, rs, healthy)
            ns.pods.append(pod)
            self._start_events(ns, pod, healthy, src["metadata"]["name"])
            created.append(pod["metadata"]["name"])
        return created

    # ------------------------------------------------------------ tools

    def restart(self, namespace: str, dep_name: str) -> Rendered:
        """Same template, new ReplicaSet: healthy pods come back healthy, failing ones fail again."""
        ns, dep = self.cluster.ns(namespace), self.cluster.deployment(namespace, dep_name)
        if dep is None:
            return not_found("deployments.apps", dep_name)
        sets = self._sets(ns, dep_name)
        current = next((rs for rs in sets if _rev(rs) == _rev(dep)), sets[-1] if sets else None)
        if current is None:
            return Rendered(f'error: deployment "{dep_name}" has no ReplicaSet\n', 1)
        revision = max(_rev(rs) for rs in sets) + 1
        new_rs = copy.deepcopy(current)
        new_rs["metadata"].update(
            name=f"{dep_name}-{_rand(f'{dep_name}@{revision}', 10)}",
            annotations={**current["metadata"].get("annotations", {}), REVISION: str(revision)},
        )
        new_rs["metadata"]["uid"] = _uid(namespace, "ReplicaSet", new_rs["metadata"]["name"])
        tmpl_meta = dep["spec"]["template"].setdefault("metadata", {})
        tmpl_meta.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = self._iso()
        dep["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        ns.replicasets.append(new_rs)
        old = self._pods_of(ns, current["metadata"]["name"])
        groups = [[p for p in old if _healthy(p)], [p for p in old if not _healthy(p)]]
        self._event(
            ns,
            "Deployment",
            dep_name,
            "ScalingReplicaSet",
            f"Scaled up replica set {new_rs['metadata']['name']} to {len(old)}",
        )
        for pods, healthy in zip(groups, (True, False), strict=False):
            if pods:
                self._replace(ns, pods, new_rs, len(pods), healthy, pods)
        self._event(
            ns,
            "Deployment",
            dep_name,
            "ScalingReplicaSet",
            f"Scaled down replica set {current['metadata']['name']} to 0 from {len(old)}",
        )
        return Rendered(f"deployment.apps/{dep_name} restarted\n", 0)

    def undo(self, namespace: str, dep_name: str) -> Rendered:
        """Back to the previous ReplicaSet's template (fixes the pods unless the fault is elsewhere)."""
        ns, dep = self.cluster.ns(namespace), self.cluster.deployment(namespace, dep_name)
        if dep is None:
            return not_found("deployments.apps", dep_name)
        sets = self._sets(ns, dep_name)
        current = next((rs for rs in sets if _rev(rs) == _rev(dep)), sets[-1] if sets else None)
        older = [rs for rs in sets if current is not None and _rev(rs) < _rev(current)]
        if current is None or not older:
            return Rendered(f'error: no rollout history found for deployment "{dep_name}"\n', 1)
        prev, revision = older[-1], max(_rev(rs) for rs in sets) + 1
        back_to = _rev(prev)
        prev["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        dep["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        dep["spec"]["template"] = copy.deepcopy(prev["spec"]["template"])
        replicas = int(dep["spec"].get("replicas", 1))
        old = self._pods_of(ns, current["metadata"]["name"])
        kept = self._pods_of(ns, prev["metadata"]["name"])
        healthy = dep_name not in ns.persistent_faults
        running = [p for p in kept if _healthy(p)]
        sources = (running or old or kept) if healthy else (old or kept)
        self._event(
            ns,
            "Deployment",
            dep_name,
            "DeploymentRollback",
            f'Rolled back deployment "{dep_name}" to revision {back_to}',
        )
        missing = max(0, replicas - len(kept))
        if sources:
            self._replace(ns, old, prev, missing, healthy, sources)
        self._event(
            ns,
            "Deployment",
            dep_name,
            "ScalingReplicaSet",
            f"Scaled up replica set {prev['metadata']['name']} to {replicas}",
        )
        return Rendered(f"deployment.apps/{dep_name} rolled back\n", 0)


def _healthy(pod: dict) -> bool:
    reason, ready, total, _, _ = pod_status(pod)
    return reason == "Running" and ready == total


def _running(container: dict, now: str) -> dict[str, Any]:
    image = container.get("image", "")
    digest = hashlib.sha256(image.encode()).hexdigest()
    return {
        "name": container["name"],
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{digest}",
        "containerID": f"containerd://{hashlib.sha256((image + now).encode()).hexdigest()}",
        "ready": True,
        "started": True,
        "restartCount": 0,
        "lastState": {},
        "state": {"running": {"startedAt": now}},
    }
