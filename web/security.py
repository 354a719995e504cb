"""Who may talk to the server, and what browsers may do with its answers.

- Security headers on every response (a strict CSP: no inline script or style, no framing).
- With `settings.auth_token` set, every route but the probes (/healthz, /livez, /readyz), /login and /static
  needs it (/metrics too):
  `Authorization: Bearer <token>` (API clients, curl) or the session cookie /login sets
  (browsers; EventSource cannot send headers). The cookie holds an expiry and an HMAC of it
  keyed by the token, never the token itself; rotating the token logs every browser out.
  Comparisons are constant-time. The UI redirects to /login; the API answers 401.
- Every request must name us in `Host:`, and every unsafe one (token or not) must come from our own
  origin (web/hosts.py: DNS rebinding, cross-site forms). CORS stays closed: no Access-Control-*
  header is ever sent.
- Failed logins are rate limited per client address.
The request body limit is `web.limits.BodyLimit` (installed by the app factory).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import defaultdict, deque
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.config import Settings
from tools.node.protocol import PATH as NODE_PATH
from web.hosts import HostAndOrigin

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]
COOKIE = "firstline_session"
SESSION_TTL_S = 12 * 3600
OPEN_PATHS = {"/healthz", "/livez", "/readyz", "/login", "/logout", "/favicon.ico"}
OPEN_PREFIXES = ("/static/",)
LOGIN_FAILURES = 10
LOGIN_WINDOW_S = 300.0
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


# ------------------------------------------------------------------ tokens and cookies


def _sig(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"firstline-session:{expires}".encode(), hashlib.sha256).hexdigest()


def session_cookie(token: str, now: float | None = None) -> str:
    """`<expiry>.<hmac>`: proves the holder knew the token, without containing it."""
    expires = int((now if now is not None else time.time()) + SESSION_TTL_S)
    return f"{expires}.{_sig(token, expires)}"


def cookie_valid(token: str, value: str | None, now: float | None = None) -> bool:
    if not value or "." not in value:
        return False
    expires_s, sig = value.split(".", 1)
    if not expires_s.isdigit() or int(expires_s) < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(sig.encode(), _sig(token, int(expires_s)).encode())


def bearer_valid(token: str, header: str | None) -> bool:
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _cookies(raw: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (raw or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out.setdefault(name, value)
    return out


def safe_next(target: str | None) -> str:
    """Only a local path may follow a login (no open redirect to //evil.example)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


# ------------------------------------------------------------------ middleware


class SecurityHeaders:
    """Adds the security headers to every HTTP response (ours replace any a route set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = scope.get("path", "").startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                ours = {name for name, _ in SECURITY_HEADERS}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in ours]
                headers.extend(SECURITY_HEADERS)
                if is_api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class RequireAuth:
    """Refuses every request without the token (when one is configured); see the module docstring."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # the nodes' link is the only websocket; it checks the node's own token
            if scope["type"] == "websocket" and scope.get("path") == NODE_PATH:
                await self.app(scope, receive, send)
                return
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if bearer_valid(self.token, headers.get("authorization")):
            await self.app(scope, receive, send)
            return
        if cookie_valid(self.token, _cookies(headers.get("cookie")).get(COOKIE)):
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, headers, send)

    async def _refuse(self, scope: Scope, headers: dict[str, str], send: Send) -> None:
        path = scope.get("path", "")
        wants_page = (
            scope.get("method") == "GET"
            and not path.startswith("/api/")
            and path != "/openapi.json"
            and "text/html" in headers.get("accept", "text/html")
        )
        if wants_page:
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            location = f"/login?next={quote(target, safe='')}"
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await _json(
            send,
            401,
            "unauthorized",
            "authentication required: send 'Authorization: Bearer <token>' "
            "(FIRSTLINE_AUTH_TOKEN) or log in at /login",
            [(b"www-authenticate", b'Bearer realm="firstline"')],
        )


async def _json(
    send: Send, status: int, error: str, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
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


# ------------------------------------------------------------------ /login, /logout


class LoginLimiter:
    """At most LOGIN_FAILURES wrong tokens per client address per LOGIN_WINDOW_S."""

    def __init__(self) -> None:
        self.failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, client: str, now: float | None = None) -> bool:
        now = now if now is not None else time.monotonic()
        q = self.failures[client]
        while q and q[0] < now - LOGIN_WINDOW_S:
            q.popleft()
        return len(q) >= LOGIN_FAILURES

    def fail(self, client: str) -> None:
        self.failures[client].append(time.monotonic())


def login_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    limiter = LoginLimiter()

    def page(request: Request, nxt: str, error: str | None = None, status: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "login.html", {"next": nxt, "error": error}, status_code=status
        )

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        if not settings.auth_token:
            return RedirectResponse(safe_next(next), status_code=303)
        return page(request, safe_next(next))

    @router.post("/login")
    async def login(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        form = await request.form()
        nxt = safe_next(str(form.get("next") or "/"))
        token = settings.auth_token
        if not token:
            return RedirectResponse(nxt, status_code=303)
        if limiter.blocked(client):
            return page(request, nxt, "Too many wrong tokens; wait a few minutes.", 429)
        given = str(form.get("token") or "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            limiter.fail(client)
            return page(request, nxt, "That token is not right.", 401)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(
            COOKIE,
            session_cookie(token),
            max_age=SESSION_TTL_S,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return router


def install(app: FastAPI, settings: Settings) -> None:
    """Call last in the app factory: the headers wrap everything, auth runs before any route or body read."""
    app.include_router(login_router(settings))
    if settings.auth_token:
        app.add_middleware(RequireAuth, token=settings.auth_token)
    app.add_middleware(HostAndOrigin, allowed=settings.allowed_hosts)  # before auth: a rebound name never gets in
    app.add_middleware(SecurityHeaders)
