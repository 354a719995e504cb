"""Reaching a cluster from the user's kubeconfig, and failing the way kubectl reports it.

The official client is blocking, so every call runs in a thread and returns the raw
JSON bytes (`_preload_content=False`): the renderers want API-shaped dicts, not the
client's model objects. Any failure becomes a `KubeCallError` whose text is what
kubectl prints for it ("Error from server (NotFound): pods "x" not found", "The
connection to the server ... was refused"), so the engineer reads familiar errors.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client as kclient
from kubernetes import config as kconfig
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from tools.targets.base import TargetConfig, TargetError

REQUEST_TIMEOUT = (5.0, 12.0)
"""(connect, read) seconds for one API request; the runner's per-tool timeout still applies."""


class KubeCallError(Exception):
    """An API call failed; `text` is what kubectl prints for the same failure."""

    def __init__(self, text: str, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(text)
        self.text, self.status, self.reason = text, status, reason


def kubeconfig_path(config: TargetConfig) -> str | None:
    """The kubeconfig kubectl would use: the configured file, else $KUBECONFIG, else ~/.kube/config."""
    if config.kubeconfig:
        return str(config.kubeconfig)
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


def kube_contexts(config: TargetConfig | None = None) -> list[str]:
    """Context names in the kubeconfig; an empty list (never an error) when there is none or it is unreadable."""
    path = kubeconfig_path(config or TargetConfig())
    if not path:
        return []
    try:
        contexts, _active = kconfig.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, ValueError, TypeError, AttributeError):
        return []
    return [c["name"] for c in contexts or [] if isinstance(c, dict) and c.get("name")]


class KubeConnection:
    """An API client for one kubeconfig context, with what a session needs to know about it."""

    def __init__(self, api: kclient.ApiClient, context: str, server: str, namespace: str) -> None:
        self.api, self.context, self.server, self.namespace = api, context, server, namespace
        self.core = kclient.CoreV1Api(api)
        self.apps = kclient.AppsV1Api(api)

    @classmethod
    def open(cls, context: str | None, config: TargetConfig) -> KubeConnection:
        """Load the kubeconfig context (TargetError with the reason when it cannot be used)."""
        path = kubeconfig_path(config)
        if not path:
            raise TargetError(
                "no kubeconfig found: set targets.kubeconfig (FIRSTLINE_TARGETS__KUBECONFIG), "
                "$KUBECONFIG, or create ~/.kube/config"
            )
        context = context or config.kube_context
        try:
            contexts, active = kconfig.list_kube_config_contexts(config_file=path)
            chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
            if chosen is None:
                names = ", ".join(c.get("name", "?") for c in contexts) or "none"
                raise TargetError(f"kube context {context!r} not found in {path} (contexts: {names})")
            cfg = kclient.Configuration()
            kconfig.load_kube_config(
                config_file=path, context=chosen["name"], client_configuration=cfg, persist_config=False
            )
        except ConfigException as exc:
            raise TargetError(f"cannot use kubeconfig {path}: {exc}") from None
        cfg.retries = 1
        namespace = (chosen.get("context") or {}).get("namespace") or "default"
        return cls(kclient.ApiClient(cfg), chosen["name"], cfg.host, namespace)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
        """Run one client call in a thread; its raw body, or KubeCallError with kubectl's text."""
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)

        def _run() -> bytes:
            try:
                return fn(*args, _preload_content=False, **kwargs).data
            except ApiException as exc:
                raise api_error(exc) from None
            except (HTTPError, OSError) as exc:
                raise connection_error(exc, self.server) from None

        return await asyncio.to_thread(_run)

    async def json(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict:
        return json.loads(await self.call(fn, *args, **kwargs) or b"{}")

    async def list_all(
        self, fn: Callable[..., Any], *args: Any, limit: int = 500, max_pages: int = 20, **kwargs: Any
    ) -> list[dict]:
        """Every item of a list call, following `continue` tokens like kubectl (bounded)."""
        items: list[dict] = []
        token = None
        for _ in range(max_pages):
            extra = {"_continue": token} if token else {}
            page = await self.json(fn, *args, limit=limit, **kwargs, **extra)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
        return items

    def close(self) -> None:
        self.api.close()


def api_error(exc: ApiException) -> KubeCallError:
    """kubectl's "Error from server (Reason): message" from the API's Status body."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else (exc.body or "")
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status" and status.get("message"):
        reason = status.get("reason") or ""
        prefix = f"Error from server ({reason})" if reason else "Error from server"
        return KubeCallError(f"{prefix}: {status['message']}", exc.status, reason or None)
    detail = body.strip()[:500] or exc.reason or "unknown error"
    return KubeCallError(f"Error from server ({exc.reason or exc.status}): {detail}", exc.status, exc.reason)


def connection_error(exc: BaseException, server: str) -> KubeCallError:
    """kubectl's wording for an API server it cannot reach."""
    parts = urlsplit(server)
    hostport = parts.netloc or server
    cause = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
    if isinstance(cause, NewConnectionError) and "refused" in str(cause).lower():
        return KubeCallError(
            f"The connection to the server {hostport} was refused - did you specify the right host or port?",
            None,
            "ConnectionRefused",
        )
    if isinstance(cause, (Urllib3Timeout, TimeoutError)):
        return KubeCallError(
            f"Unable to connect to the server: dial tcp {hostport}: i/o timeout", None, "Timeout"
        )
    return KubeCallError(f"Unable to connect to the server: {cause}", None, "Unreachable")
