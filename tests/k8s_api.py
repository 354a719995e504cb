"""A small Kubernetes API server on 127.0.0.1 that serves recorded API JSON (tests only).

It answers the real API paths (discovery, pods, pod logs, events, deployments and
replica sets; nodes and their events; pods and events across namespaces) from
tests/fixtures/k8s, honours label and field selectors, reports
errors as `Status` objects like the API server, picks the container a log request
reads the way the kubelet does, and applies PATCHes to deployments in memory so
write tools can be checked. Both the Python client and the real kubectl talk to it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
from asyncio.subprocess import PIPE
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import yaml

FIXTURES = Path(__file__).parent / "fixtures" / "k8s"
_DISCOVERY = {
    "/version": "version.json",
    "/api": "api.json",
    "/apis": "apis.json",
    "/api/v1": "api_v1.json",
    "/apis/apps/v1": "apis_apps_v1.json",
    "/apis/events.k8s.io/v1": "apis_events.k8s.io_v1.json",
    "/apis/batch/v1": "apis_batch_v1.json",
}
_NS = r"/namespaces/(?P<ns>[a-z0-9-]+)"
_ROUTES = [
    ("pods", re.compile(rf"^/api/v1{_NS}/pods$")),
    ("pod", re.compile(rf"^/api/v1{_NS}/pods/(?P<name>[a-z0-9.-]+)$")),
    ("log", re.compile(rf"^/api/v1{_NS}/pods/(?P<name>[a-z0-9.-]+)/log$")),
    ("events", re.compile(rf"^/api/v1{_NS}/events$")),
    ("events_v1", re.compile(rf"^/apis/events.k8s.io/v1{_NS}/events$")),
    ("namespaces", re.compile(r"^/api/v1/namespaces$")),
    ("namespace", re.compile(rf"^/api/v1{_NS}$")),
    ("deployment", re.compile(rf"^/apis/apps/v1{_NS}/deployments/(?P<name>[a-z0-9.-]+)$")),
    ("replicasets", re.compile(rf"^/apis/apps/v1{_NS}/replicasets$")),
    ("nodes", re.compile(r"^/api/v1/nodes$")),
    ("node", re.compile(r"^/api/v1/nodes/(?P<name>[a-z0-9.-]+)$")),
    ("all_pods", re.compile(r"^/api/v1/pods$")),
    ("all_events", re.compile(r"^/api/v1/events$")),
]


class ApiError(Exception):
    """An API error answered as a v1 Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def not_found(kind: str, name: str, group: str = "") -> ApiError:
    what = f"{kind}.{group}" if group else kind
    details = {"name": name, "kind": kind, **({"group": group} if group else {})}
    return ApiError(404, "NotFound", f'{what} "{name}" not found', details)


# ---------------------------------------------------------------- selectors


def _label_match(labels: dict[str, str], selector: str) -> bool:
    """Equality-, inequality-, existence- and set-based label selectors."""
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", selector or ""):
        term = term.strip()
        if not term:
            continue
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if (labels.get(key) in values) != (op == "in"):
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field(obj: dict, dotted: str) -> str:
    cur: Any = obj
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def _field_match(obj: dict, selector: str) -> bool:
    for term in filter(None, (s.strip() for s in (selector or "").split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if _field(obj, key) == value:
                return False
        else:
            key, value = term.replace("==", "=").split("=", 1)
            if _field(obj, key) != value:
                return False
    return True


# ---------------------------------------------------------------- state


class ClusterState:
    """The recorded objects, copied into memory so PATCHes never touch the fixture files."""

    def __init__(self, root: Path = FIXTURES) -> None:
        self.root = root
        self.pods: dict[str, dict[str, dict]] = {}
        self.events: dict[str, list[dict]] = {}
        self.deployments: dict[str, dict[str, dict]] = {}
        self.replicasets: dict[str, dict[str, dict]] = {}
        self.logs: dict[str, str] = {}
        self.nodes = self._load_dir(root / "nodes")
        node_events = root / "node_events.json"
        for ns_dir in sorted((root / "namespaces").iterdir()):
            ns = ns_dir.name
            self.pods[ns] = self._load_dir(ns_dir / "pods")
            self.deployments[ns] = self._load_dir(ns_dir / "deployments")
            self.replicasets[ns] = self._load_dir(ns_dir / "replicasets")
            events = ns_dir / "events.json"
            self.events[ns] = json.loads(events.read_text())["items"] if events.exists() else []
            for log in (ns_dir / "logs").glob("*.log") if (ns_dir / "logs").is_dir() else []:
                self.logs[log.stem] = log.read_text()
        if node_events.exists():  # node events live in the default namespace, as on a real cluster
            self.events.setdefault("default", []).extend(json.loads(node_events.read_text())["items"])

    @staticmethod
    def _load_dir(path: Path) -> dict[str, dict]:
        objs = [json.loads(p.read_text()) for p in sorted(path.glob("*.json"))] if path.is_dir() else []
        return {o["metadata"]["name"]: o for o in objs}

    def discovery(self, name: str) -> dict:
        return json.loads((self.root / "discovery" / name).read_text())


def _container_log_id(pod: dict, container: str, previous: bool) -> str:
    """Which container instance a log request reads, following the kubelet's validateContainerLogStatus."""
    name, pod_name = container, pod["metadata"]["name"]
    status = next(
        (s for s in pod.get("status", {}).get("containerStatuses") or [] if s.get("name") == name), None
    )
    if status is None:
        raise ApiError(400, "BadRequest", f'container "{name}" in pod "{pod_name}" is not available')
    state, last = status.get("state") or {}, (status.get("lastState") or {}).get("terminated")
    if previous:
        if not last or not last.get("containerID"):
            raise ApiError(
                400, "BadRequest", f'previous terminated container "{name}" in pod "{pod_name}" not found'
            )
        return last["containerID"]
    if state.get("running") is not None:
        return status.get("containerID", "")
    if (term := state.get("terminated")) is not None:
        if term.get("containerID"):
            return term["containerID"]
        if last and last.get("containerID"):
            return last["containerID"]
        raise ApiError(400, "BadRequest", f'container "{name}" in pod "{pod_name}" is terminated')
    if last is not None:
        return last.get("containerID", "")
    reason = (state.get("waiting") or {}).get("reason", "")
    detail = {"ErrImagePull": "image can't be pulled", "ImagePullBackOff": "trying and failing to pull image"}
    raise ApiError(
        400,
        "BadRequest",
        f'container "{name}" in pod "{pod_name}" is waiting to start: {detail.get(reason, reason)}',
    )


def _to_events_v1(e: dict) -> dict:
    """The events.k8s.io/v1 view of a core/v1 Event."""
    out = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": e["metadata"],
        "eventTime": e.get("eventTime"),
        "reportingController": e.get("reportingComponent", ""),
        "reportingInstance": e.get("reportingInstance", ""),
        "action": e.get("action", ""),
        "reason": e.get("reason"),
        "regarding": e.get("involvedObject"),
        "note": e.get("message"),
        "type": e.get("type"),
        "deprecatedSource": e.get("source"),
        "deprecatedFirstTimestamp": e.get("firstTimestamp"),
        "deprecatedLastTimestamp": e.get("lastTimestamp"),
        "deprecatedCount": e.get("count"),
    }
    if e.get("series"):
        out["series"] = e["series"]
    return out


def _merge(dst: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            dst.pop(key, None)
        elif isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)
    return dst


def _json_patch(obj: dict, ops: list[dict]) -> dict:
    for op in ops:
        *parents, leaf = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target = obj
        for p in parents:
            target = target.setdefault(p, {})
        if op["op"] in ("replace", "add"):
            target[leaf] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            target.pop(leaf, None)
        elif op["op"] == "test" and target.get(leaf) != op["value"]:
            raise ApiError(
                422, "Invalid", f"the server rejected our request due to an error in our request: {op}"
            )
    return obj


# ---------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    server: KubeApiServer

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.server.requests.append((method, self.path))
        try:
            body = self._route(method, url.path.rstrip("/") or "/", query)
        except ApiError as err:
            self._send(err.code, err.status())
            return
        if isinstance(body, str):
            self._send(200, body, "text/plain")
        else:
            self._send(200, body)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _route(self, method: str, path: str, query: dict[str, str]) -> Any:
        state = self.server.state
        if method == "GET" and path in _DISCOVERY:
            return state.discovery(_DISCOVERY[path])
        for name, pattern in _ROUTES:
            if m := pattern.match(path):
                ns = m.groupdict().get("ns")
                if ns in self.server.forbidden_namespaces:
                    raise self._forbidden(name, ns, method)
                return getattr(self, f"_{name}")(method, state, query, **m.groupdict())
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _forbidden(self, route: str, ns: str, method: str) -> ApiError:
        resource = {
            "pod": "pods",
            "log": "pods/log",
            "events_v1": "events",
            "deployment": "deployments",
            "namespace": "namespaces",
        }.get(route, route)
        verb = "get" if route in ("pod", "log", "deployment", "namespace") else "list"
        verb = "patch" if method == "PATCH" else verb
        user = "system:serviceaccount:firstline:reader"
        group = {"deployment": "apps", "replicasets": "apps", "events_v1": "events.k8s.io"}.get(route, "")
        return ApiError(
            403,
            "Forbidden",
            f'{resource} is forbidden: User "{user}" cannot {verb} resource '
            f'"{resource}" in API group "{group}" in the namespace "{ns}"',
            {"kind": resource},
        )

    @staticmethod
    def _list(kind: str, api_version: str, items: list[dict]) -> dict:
        return {
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": "4813540"},
            "items": items,
        }

    def _pods(self, method: str, state: ClusterState, q: dict, ns: str) -> dict:
        pods = [
            p
            for p in state.pods.get(ns, {}).values()
            if _label_match(p["metadata"].get("labels") or {}, q.get("labelSelector", ""))
            and _field_match(p, q.get("fieldSelector", ""))
        ]
        return self._list("PodList", "v1", sorted(pods, key=lambda p: p["metadata"]["name"]))

    def _pod(self, method: str, state: ClusterState, q: dict, ns: str, name: str) -> dict:
        if name not in state.pods.get(ns, {}):
            raise not_found("pods", name)
        return state.pods[ns][name]

    def _log(self, method: str, state: ClusterState, q: dict, ns: str, name: str) -> str:
        pod = self._pod(method, state, q, ns, name)
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = q.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]",
            )
        cid = _container_log_id(pod, container, q.get("previous") == "true")
        lines = state.logs.get(cid.partition("://")[2], "").splitlines(keepends=True)
        if "tailLines" in q:
            lines = lines[-int(q["tailLines"]) :] if int(q["tailLines"]) > 0 else []
        return "".join(lines)

    def _events(self, method: str, state: ClusterState, q: dict, ns: str) -> dict:
        items = [e for e in state.events.get(ns, []) if _field_match(e, q.get("fieldSelector", ""))]
        return self._list("EventList", "v1", items)

    def _events_v1(self, method: str, state: ClusterState, q: dict, ns: str) -> dict:
        items = [_to_events_v1(e) for e in state.events.get(ns, [])]
        items = [e for e in items if _field_match(e, q.get("fieldSelector", ""))]
        return self._list("EventList", "events.k8s.io/v1", items)

    @staticmethod
    def _namespace_obj(name: str) -> dict:
        return {
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def _namespaces(self, method: str, state: ClusterState, q: dict) -> dict:
        names = sorted(set(state.pods) | {"default", "kube-system"})
        return self._list("NamespaceList", "v1", [self._namespace_obj(n) for n in names])

    def _namespace(self, method: str, state: ClusterState, q: dict, ns: str) -> dict:
        if ns not in set(state.pods) | {"default", "kube-system"}:
            raise not_found("namespaces", ns)
        return self._namespace_obj(ns)

    def _deployment(self, method: str, state: ClusterState, q: dict, ns: str, name: str) -> dict:
        deploy = state.deployments.get(ns, {}).get(name)
        if deploy is None:
            raise not_found("deployments", name, "apps")
        if method == "PATCH":
            patch = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
            ctype = self.headers.get("Content-Type", "")
            self.server.patches.append((ctype, patch))
            _json_patch(deploy, patch) if "json-patch" in ctype else _merge(deploy, patch)
            deploy["metadata"]["generation"] = deploy["metadata"].get("generation", 1) + 1
            deploy["metadata"]["resourceVersion"] = str(int(deploy["metadata"]["resourceVersion"]) + 1)
        return deploy

    def _replicasets(self, method: str, state: ClusterState, q: dict, ns: str) -> dict:
        items = [
            r
            for r in state.replicasets.get(ns, {}).values()
            if _label_match(r["metadata"].get("labels") or {}, q.get("labelSelector", ""))
        ]
        return self._list("ReplicaSetList", "apps/v1", items)

    def _nodes(self, method: str, state: ClusterState, q: dict) -> dict:
        nodes = [
            n
            for n in state.nodes.values()
            if _label_match(n["metadata"]["labels"], q.get("labelSelector", ""))
        ]
        return self._list("NodeList", "v1", sorted(nodes, key=lambda n: n["metadata"]["name"]))

    def _node(self, method: str, state: ClusterState, q: dict, name: str) -> dict:
        if name not in state.nodes:
            raise not_found("nodes", name)
        return state.nodes[name]

    def _all_pods(self, method: str, state: ClusterState, q: dict) -> dict:
        pods = [p for ns in sorted(state.pods) for p in self._pods(method, state, q, ns)["items"]]
        return self._list("PodList", "v1", pods)

    def _all_events(self, method: str, state: ClusterState, q: dict) -> dict:
        items = [
            e
            for ns in sorted(state.events)
            for e in state.events[ns]
            if _field_match(e, q.get("fieldSelector", ""))
        ]
        return self._list("EventList", "v1", items)


class KubeApiServer(ThreadingHTTPServer):
    """Start with `with KubeApiServer() as api:`; `api.url` is the server, `api.requests` what was asked."""

    daemon_threads = True

    def __init__(self, root: Path = FIXTURES, forbidden_namespaces: set[str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = ClusterState(root)
        self.forbidden_namespaces = forbidden_namespaces or set()
        self.requests: list[tuple[str, str]] = []
        self.patches: list[tuple[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def write_kubeconfig(
    path: Path,
    server: str,
    context: str = "fixture",
    namespace: str | None = None,
    extra_contexts: tuple[str, ...] = (),
) -> Path:
    """A kubeconfig whose `context` (current) and any extra contexts point at `server`."""
    contexts = [context, *extra_contexts]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": context,
        "clusters": [{"name": "fixture-cluster", "cluster": {"server": server}}],
        "users": [{"name": "fixture-user", "user": {"token": "fixture-token-not-secret"}}],
        "contexts": [
            {
                "name": c,
                "context": {
                    "cluster": "fixture-cluster",
                    "user": "fixture-user",
                    **({"namespace": namespace} if namespace else {}),
                },
            }
            for c in contexts
        ],
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


KUBECTL = Path("/usr/bin/kubectl")
"""Debian's kubectl, when installed: what our renderings are compared with, byte for byte."""


async def kubectl(kubeconfig: Path, home: Path, *args: str) -> str:
    """The real kubectl's stdout against the stand-in (no user config, UTC)."""
    argv = [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "kcache"), *args]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=PIPE, stderr=PIPE, env={"PATH": "/usr/bin:/bin", "HOME": str(home), "TZ": "UTC"}
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return out.decode()


def without_sections(text: str, *sections: str) -> str:
    """kubectl's describe text without the named top-level sections (those our tools leave out)."""
    kept, skip = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"^\S", line):
            skip = line.split(":", 1)[0] in sections
        if not skip:
            kept.append(line)
    return "".join(kept)
