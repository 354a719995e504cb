"""Who may talk to the server, and what browsers may do with its answers.

- Security headers on every response (a strict CSP: no inline script or style, no framing).
- With `settings.auth_token` set or any user configured (`firstline users`), every route but
  the probes (/healthz, /livez, /readyz), /login and /static needs a token (/metrics too): `Authorization: Bearer <token>` (API clients, curl)
  or the session cookie /login sets (browsers; EventSource cannot send headers). The cookie holds
  an expiry and an HMAC of it keyed by the token (or the user's token hash), never the token
  itself; rotating a token logs its browsers out. Comparisons are constant-time. The UI redirects
  to /login; the API answers 401. Who is asking and what their role allows: web/auth.py.
- Every request must name us in `Host:`, and every unsafe one (token or not) must come from our own
  origin (web/hosts.py: DNS rebinding, cross-site forms). CORS stays closed: no Access-Control-*
  header is ever sent.
- Wrong tokens (bearer or /login) are rate limited per client address; a right one always works.
The request body limit is `web.limits.BodyLimit` (installed by the app factory).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.config import Settings
from web.auth import (
    COOKIE,
    LOGIN_FAILURES,  # noqa: F401 - re-exported for tests and callers
    Authenticate,
    FailureLimiter,
    UserDirectory,
    admin_cookie,
    token_identity,
    user_cookie,
)
from web.hosts import HostAndOrigin, refuse

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
SESSION_TTL_S = 12 * 3600
OPEN_PATHS = {"/healthz", "/livez", "/readyz", "/login", "/logout", "/favicon.ico"}
OPEN_PREFIXES = ("/static/",)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


# ------------------------------------------------------------------ cookies, redirects


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


async def refuse_anonymous(scope: Scope, headers: dict[str, str], send: Send) -> None:
    """No (valid) credentials: a browser asking for a page goes to /login; anything else gets 401."""
    path = scope.get("path", "")
    wants_page = (
        scope.get("method") == "GET"
        and not path.startswith("/api/")
        and path != "/openapi.json"
        and "text/html" in headers.get("accept", "text/html")
    )
    if wants_page:
        query = scope.get("query_string", b"").decode("latin-1")
        location = f"/login?next={quote(path + (f'?{query}' if query else ''), safe='')}"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    await refuse(
        send,
        401,
        "unauthorized",
        "authentication required: send 'Authorization: Bearer <token>' "
        "(FIRSTLINE_AUTH_TOKEN or a token from `firstline users add`) or log "
        "in at /login",
        [(b"www-authenticate", b'Bearer realm="firstline"')],
    )


# ------------------------------------------------------------------ /login, /logout


async def _login_cookie(settings: Settings, users: UserDirectory, given: str) -> str | None:
    """The cookie value for a right token (the admin's or a user's), else None."""
    expires = int(time.time() + SESSION_TTL_S)
    identity = await token_identity(settings, users, given)
    if identity is None:
        return None
    if identity.via == "token":
        return admin_cookie(given, expires)
    row = await users.by_token(given)
    return user_cookie(row.id, row.token_hash, expires) if row is not None else None


def login_router(settings: Settings, users: UserDirectory, limiter: FailureLimiter) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(request: Request, nxt: str, error: str | None = None, status: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "login.html", {"next": nxt, "error": error}, status_code=status
        )

    async def needs_login() -> bool:
        return bool(settings.auth_token) or await users.any()

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/") -> Response:
        if not await needs_login():
            return RedirectResponse(safe_next(next), status_code=303)
        return page(request, safe_next(next))

    @router.post("/login")
    async def login(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        form = await request.form()
        nxt = safe_next(str(form.get("next") or "/"))
        if not await needs_login():
            return RedirectResponse(nxt, status_code=303)
        value = await _login_cookie(settings, users, str(form.get("token") or ""))
        if value is None:  # a right token always gets in; only wrong ones are counted and slowed
            blocked = limiter.blocked(client)
            limiter.fail(client)
            if blocked:
                return page(request, nxt, "Too many wrong tokens; wait a few minutes.", 429)
            return page(request, nxt, "That token is not right.", 401)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(
            COOKIE,
            value,
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
    """Call last in the app factory: the headers wrap everything; the Host and origin checks run first, then
    authentication, before any route or body read."""
    users, limiter = UserDirectory(app.state.runtime), FailureLimiter()
    app.include_router(login_router(settings, users, limiter))
    app.add_middleware(
        Authenticate,
        settings=settings,
        users=users,
        limiter=limiter,
        open_paths=OPEN_PATHS,
        open_prefixes=OPEN_PREFIXES,
        refuse_anonymous=refuse_anonymous,
    )
    app.add_middleware(
        HostAndOrigin, allowed=settings.allowed_hosts
    )  # before auth: a rebound name never gets in
    app.add_middleware(SecurityHeaders)
