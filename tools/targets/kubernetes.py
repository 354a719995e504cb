"""The `kubernetes` target: the cluster of a kubeconfig context, read through the API.

Each read tool fetches API JSON and renders it with `tools.render_k8s`, so the text is
what `kubectl describe pod` / `get pods` / `events` / `logs` would print, and
`RawOutput.command` is that kubectl command. API failures (NotFound, Forbidden, an
unreachable server) come back as exit code 1 with kubectl's error text, not as
exceptions. The write tools (rollout restart / undo) live in `kube_rollout`.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tools import catalog
from tools.base import RawOutput, Tool, ToolArgs
from tools.host.logs import LogAccessError, compile_grep, grep_lines
from tools.render_k8s import (
    pod_status_facts,
    render_events,
    render_missing_pod_events,
    render_pod_describe,
    render_pod_list,
)
from tools.targets.base import Target, TargetConfig, TargetError
from tools.targets.kube_client import KubeCallError, KubeConnection, kube_contexts
from tools.targets.kube_rollout import rollout_restart, rollout_undo
from tools.validate import Namespace, ObjectName, PodName

__all__ = ["KubernetesTarget", "kube_contexts"]

_NAMESPACE = TypeAdapter(Namespace)
_POD = TypeAdapter(PodName)
_CONTAINER = TypeAdapter(ObjectName)


def _failed(command: str, err: KubeCallError, **data: Any) -> RawOutput:
    """An API failure reported like kubectl: exit code 1 and its error text."""
    return RawOutput(
        exit_code=1,
        output=err.text + "\n",
        command=command,
        source="kubernetes-api",
        data={"error_reason": err.reason, "http_status": err.status, **data},
    )


def _event_facts(events: list[dict]) -> list[dict[str, Any]]:
    """The few fields of each event that findings need, oldest first as rendered."""
    out = []
    for e in events:
        obj = e.get("involvedObject") or {}
        series = e.get("series") or {}
        out.append(
            {
                "type": e.get("type"),
                "reason": e.get("reason"),
                "message": str(e.get("message", "")).strip(),
                "count": series.get("count") or e.get("count") or 1,
                "object": f"{obj.get('kind', '')}/{obj.get('name', '')}",
                "last_seen": series.get("lastObservedTime") or e.get("lastTimestamp") or e.get("eventTime"),
            }
        )
    return out


class KubernetesTarget(Target):
    """A cluster from the user's kubeconfig; one API client per session."""

    kind = "kubernetes"

    def __init__(self, name: str, config: TargetConfig, conn: KubeConnection) -> None:
        super().__init__(name, config)
        self.conn = conn
        self._namespaces: list[str] | None = None

    @classmethod
    def from_kubeconfig(cls, context: str | None, config: TargetConfig | None = None) -> KubernetesTarget:
        """Open a context (None: `config.kube_context`, else the kubeconfig's current context)."""
        config = config or TargetConfig()
        conn = KubeConnection.open(context, config)
        return cls(f"kubernetes:{conn.context}", config, conn)

    def supports(self, tool_name: str) -> bool:
        return self.has_handler(tool_name)

    async def run(self, tool: Tool, args: ToolArgs) -> RawOutput:
        return await self.handler(tool.name)(args)

    def describe(self) -> dict[str, Any]:
        """Context, API server and (one cheap list, cached) the namespaces."""
        if self._namespaces is None:
            try:
                body = self.conn.core.list_namespace(_preload_content=False, _request_timeout=(1, 2)).data
                self._namespaces = [n["metadata"]["name"] for n in json.loads(body).get("items", [])]
            except Exception:  # noqa: BLE001 - namespaces are a nicety; never fail describe()
                self._namespaces = []
        info: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "context": self.conn.context,
            "server": self.conn.server,
            "default_namespace": self.conn.namespace,
        }
        if self._namespaces:
            info["namespaces"] = self._namespaces
        return info

    async def aclose(self) -> None:
        self.conn.close()

    def now(self) -> datetime:
        return datetime.now(UTC)

    # ------------------------------------------------------------ pods

    @catalog.POD_DESCRIBE.handler("kubernetes")
    async def tool_pod_describe(self, args) -> RawOutput:
        command = shlex.join(["kubectl", "describe", "pod", args.pod, "-n", args.namespace])
        try:
            pod = await self.conn.json(self.conn.core.read_namespaced_pod, args.pod, args.namespace)
        except KubeCallError as err:
            return await self._describe_missing(args, command, err)
        meta = pod.get("metadata", {})
        selector = f"involvedObject.name={args.pod},involvedObject.namespace={args.namespace}" + (
            f",involvedObject.uid={meta['uid']}" if meta.get("uid") else ""
        )
        try:
            events: list[dict] | None = await self.conn.list_all(
                self.conn.core.list_namespaced_event, args.namespace, field_selector=selector
            )
        except KubeCallError:
            events = None  # kubectl shows the pod without its Events section then
        text = render_pod_describe(pod, events, self.now())
        data = pod_status_facts(pod)
        data["events"] = _event_facts(events or [])
        return RawOutput(output=text, command=command, data=data, source="kubernetes-api")

    async def _describe_missing(self, args, command: str, err: KubeCallError) -> RawOutput:
        """Pod lookup failed: like kubectl, still show events about that name if there are any."""
        if err.status != 404:
            return _failed(command, err)
        selector = f"involvedObject.name={args.pod},involvedObject.namespace={args.namespace}"
        try:
            events = await self.conn.list_all(
                self.conn.core.list_namespaced_event, args.namespace, field_selector=selector
            )
        except KubeCallError:
            events = []
        if not events:
            return _failed(command, err)
        message = err.text.split(": ", 1)[-1]
        text = render_missing_pod_events(args.pod, message, events, self.now())
        return RawOutput(
            output=text,
            command=command,
            source="kubernetes-api",
            data={"pod_found": False, "events": _event_facts(events)},
        )

    @catalog.LIST_PODS.handler("kubernetes")
    async def tool_list_pods(self, args) -> RawOutput:
        where = ["-A"] if args.all_namespaces else ["-n", args.namespace]
        argv = ["kubectl", "get", "pods", *where] + (["-l", args.selector] if args.selector else [])
        command = shlex.join(argv)
        kwargs = {"label_selector": args.selector} if args.selector else {}
        try:
            if args.all_namespaces:
                pods = await self.conn.list_all(self.conn.core.list_pod_for_all_namespaces, **kwargs)
            else:
                pods = await self.conn.list_all(self.conn.core.list_namespaced_pod, args.namespace, **kwargs)
        except KubeCallError as err:
            return _failed(command, err)
        text = render_pod_list(pods, self.now(), args.namespace, all_namespaces=args.all_namespaces)
        namespace = None if args.all_namespaces else args.namespace
        return RawOutput(
            output=text,
            command=command,
            source="kubernetes-api",
            data={"namespace": namespace, "pods": [pod_status_facts(p) for p in pods]},
        )

    async def _default_container(self, pod_name: str, namespace: str) -> tuple[str, list[str]]:
        """kubectl's choice when no container is named: the default-container annotation, else the first."""
        pod = await self.conn.json(self.conn.core.read_namespaced_pod, pod_name, namespace)
        names = [c.get("name", "") for c in pod.get("spec", {}).get("containers") or []]
        annotated = (pod.get("metadata", {}).get("annotations") or {}).get(
            "kubectl.kubernetes.io/default-container"
        )
        return (annotated if annotated in names else (names[0] if names else "")), names

    async def _logs(
        self, pod: str, namespace: str, container: str | None, previous: bool, tail: int
    ) -> tuple[str, str, str, dict[str, Any]]:
        """(log text, kubectl command, note, data) for one container's logs; KubeCallError on failure."""
        note, names = "", []
        if not container:
            container, names = await self._default_container(pod, namespace)
            if len(names) > 1:
                note = f'Defaulted container "{container}" out of: {", ".join(names)}\n'
        argv = ["kubectl", "logs", pod, "-n", namespace, "-c", container]
        argv += (["--previous"] if previous else []) + [f"--tail={tail}"]
        body = await self.conn.call(
            self.conn.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            previous=previous,
            tail_lines=tail,
        )
        text = body.decode("utf-8", errors="replace")
        data = {
            "pod": pod,
            "namespace": namespace,
            "container": container,
            "previous": previous,
            "lines": len(text.splitlines()),
        }
        return text, shlex.join(argv), note, data

    @catalog.POD_LOGS.handler("kubernetes")
    async def tool_pod_logs(self, args) -> RawOutput:
        fallback = shlex.join(
            ["kubectl", "logs", args.pod, "-n", args.namespace]
            + (["-c", args.container] if args.container else [])
            + (["--previous"] if args.previous else [])
            + [f"--tail={args.tail}"]
        )
        try:
            text, command, note, data = await self._logs(
                args.pod, args.namespace, args.container, args.previous, args.tail
            )
        except KubeCallError as err:
            return _failed(fallback, err)
        return RawOutput(output=note + text, command=command, data=data, source="kubernetes-api")

    # ------------------------------------------------------------ events and log_tail

    @catalog.K8S_EVENTS.handler("kubernetes")
    async def tool_k8s_events(self, args) -> RawOutput:
        selector = f"involvedObject.name={args.involved_object}" if args.involved_object else None
        command = shlex.join(["kubectl", "events", "-n", args.namespace])
        try:
            kwargs = {"field_selector": selector} if selector else {}
            events = await self.conn.list_all(self.conn.core.list_namespaced_event, args.namespace, **kwargs)
        except KubeCallError as err:
            return _failed(command + (f" --for {args.involved_object}" if selector else ""), err)
        if selector:
            kinds = {(e.get("involvedObject") or {}).get("kind", "") for e in events}
            command = (
                f"{command} --for {kinds.pop().lower()}/{args.involved_object}"
                if len(kinds) == 1
                else shlex.join(
                    ["kubectl", "get", "events", "-n", args.namespace, "--field-selector", selector]
                )
            )
        text = render_events(events, self.now(), args.namespace)
        return RawOutput(
            output=text,
            command=command,
            source="kubernetes-api",
            data={"namespace": args.namespace, "events": _event_facts(events)},
        )

    @catalog.LOG_TAIL.handler("kubernetes")
    async def tool_log_tail(self, args) -> RawOutput:
        namespace, pod, container = _pod_source(args.source)
        try:
            pattern = compile_grep(args.grep) if args.grep else None
        except LogAccessError as exc:
            raise TargetError(f"log_tail: {exc}") from None
        try:
            text, command, note, data = await self._logs(pod, namespace, container, False, args.lines)
        except KubeCallError as err:
            return _failed(shlex.join(["kubectl", "logs", pod, "-n", namespace, f"--tail={args.lines}"]), err)
        if pattern is None:
            return RawOutput(output=note + text, command=command, data=data, source="kubernetes-api")
        lines = text.splitlines()
        kept = await asyncio.to_thread(grep_lines, lines, pattern)
        command += f" | grep -E {shlex.quote(args.grep)}"
        data.update(lines_read=len(lines), lines_shown=len(kept))
        if not kept:
            return RawOutput(
                exit_code=1,
                ok=True,
                command=command,
                data=data,
                source="kubernetes-api",
                output=f"# no line among the last {len(lines)} of {args.source} matches {args.grep!r}\n",
            )
        return RawOutput(
            output="".join(f"{x}\n" for x in kept), command=command, data=data, source="kubernetes-api"
        )

    # ------------------------------------------------------------ writes (run only when approved)

    @catalog.ROLLOUT_RESTART.handler("kubernetes")
    async def tool_rollout_restart(self, args) -> RawOutput:
        return await rollout_restart(self.conn, args.deployment, args.namespace, self.now())

    @catalog.ROLLOUT_UNDO.handler("kubernetes")
    async def tool_rollout_undo(self, args) -> RawOutput:
        return await rollout_undo(self.conn, args.deployment, args.namespace)


def _pod_source(source: str) -> tuple[str, str, str | None]:
    """Parse and validate `pod:NAMESPACE/POD[/CONTAINER]`."""
    if not source.startswith("pod:"):
        raise TargetError(
            "log_tail on a kubernetes target reads pod logs: use source 'pod:NAMESPACE/POD[/CONTAINER]'"
        )
    parts = source.removeprefix("pod:").split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise TargetError(f"log_tail: {source!r} is not of the form pod:NAMESPACE/POD[/CONTAINER]")
    try:
        namespace, pod = _NAMESPACE.validate_python(parts[0]), _POD.validate_python(parts[1])
        container = _CONTAINER.validate_python(parts[2]) if len(parts) == 3 else None
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise TargetError(f"log_tail: {source!r}: {msg}") from None
    if re.search(r"\s", source):
        raise TargetError(f"log_tail: {source!r} contains whitespace")
    return namespace, pod, container
