"""DNS rebinding and cross-site writes: which Host names we answer, and where unsafe requests may come from.

A web page the engineer visits can point a name it controls at 127.0.0.1 (DNS rebinding) and then talk
to this server as "same-origin" from the browser's point of view. The browser still sends the attacker's
name in `Host:`, so every request (token or not) must name us: a loopback name, the address we are bound
to, or one of `Settings.allowed_hosts`. A Host that is an IP literal cannot be rebound (the page's origin
would be that address itself), so a server bound to every interface (0.0.0.0, ::) also answers those.

Every unsafe method (POST, PATCH, DELETE, ...) must also come from our own origin when the client is a
browser: `Sec-Fetch-Site` must be same-origin (or none: typed in the address bar), and `Origin`, when
sent, must name the Host it was sent to (our pages' own forms and fetches send `Origin: null`, since we
set Referrer-Policy: no-referrer; that counts only with a same-origin `Sec-Fetch-Site`). Clients that
send neither (curl, the CLI, scripts) are not browsers and cannot be driven by a web page. The probes
(/healthz, /livez, /readyz) answer any Host: load balancers and kubelets probe by address.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "localhost.localdomain", "ip6-localhost")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
UNSAFE_EXEMPT_PATHS = {"/healthz", "/livez", "/readyz"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_SAME_SITE_OK = {"same-origin", "none"}


def host_name(value: str) -> str:
    """The name part of a Host header or netloc (`[::1]:8000` -> `::1`, `Web.Example:80` -> `web.example`)."""
    value = value.strip().lower().rstrip(".")
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0].rstrip(".")
    return value


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class HostPolicy:
    """The names a Host header may carry: loopback, the bind address, configured names (`*.x` for subdomains)."""

    def __init__(self, allowed: Iterable[str]) -> None:
        names = [host_name(a) for a in allowed if a is not None]
        self.any_ip = any(n in WILDCARD_BINDS for n in names)
        self.exact = {n for n in (*LOOPBACK_NAMES, *names) if n and not n.startswith("*.")}
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        name = host_name(host_header)
        if name in self.exact or (self.suffixes and name.endswith(self.suffixes)):
            return True
        ip = _ip(name)
        return ip is not None and (ip.is_loopback or self.any_ip)


def same_origin(method: str, headers: dict[str, str]) -> bool:
    """Whether an unsafe request may have come from a page of another site (False) or not (True)."""
    if method in _SAFE_METHODS:
        return True
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in _SAME_SITE_OK:
        return False
    origin = (headers.get("origin") or "").strip()
    if not origin:
        return True  # no browser sends an unsafe cross-site request without Origin; curl and scripts do
    if origin == "null":  # our own pages send "null" (Referrer-Policy: no-referrer); so do sandboxed frames
        return fetch_site is not None  # ...which the browser labels cross-site, refused above
    parts = urlsplit(origin)
    return (
        parts.scheme in ("http", "https") and parts.netloc.lower() == headers.get("host", "").strip().lower()
    )


class HostAndOrigin:
    """Refuses a request naming a Host we are not (421) or an unsafe cross-site request (403)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app, self.policy = app, HostPolicy(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNSAFE_EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self.policy.allows(headers.get("host")):
            await refuse(
                send,
                421,
                "misdirected_request",
                "this server does not answer to that Host name; add it to FIRSTLINE_ALLOWED_HOSTS "
                "if it is really ours",
            )
            return
        if not same_origin(scope.get("method", "GET"), headers):
            await refuse(send, 403, "forbidden", "cross-origin request refused")
            return
        await self.app(scope, receive, send)


async def refuse(
    send: Send, status: int, error: str, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A JSON error answered by a middleware, before any route or body read."""
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
