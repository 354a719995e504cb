"""Authentication and roles: every request gets an Identity (assistant/identity.py) or is refused.

Credentials, in order: `Authorization: Bearer <token>` (a user's token, or FIRSTLINE_AUTH_TOKEN for the
admin), or the session cookie /login sets (browsers; EventSource cannot send headers). With neither a
token nor any user configured (a loopback server, checked by `firstline serve`), the request is the
local user's. The route then needs the role `needed_role` names: 403 otherwise.

Wrong credentials are counted per client address: past LOGIN_FAILURES in LOGIN_WINDOW_S, wrong ones get
429. A right one is always let in, so an attacker can never lock the real user out.
Users are looked up in the database and cached for CACHE_S, so a disabled token stops within seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections import defaultdict, deque
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.config import Settings
from assistant.identity import Identity, local_identity, needed_role
from tools.node.protocol import PATH as NODE_PATH
from web.hosts import refuse

log = logging.getLogger("firstline.web")
CACHE_S = 5.0
ADMIN = "admin"
LOGIN_FAILURES = 10
LOGIN_WINDOW_S = 300.0
COOKIE = "firstline_session"
"""The browser session cookie /login sets (web/security.py) and every request may present."""


def cookies(raw: str | None) -> dict[str, str]:
    """A Cookie header's name=value pairs; the first of a repeated name wins."""
    out: dict[str, str] = {}
    for part in (raw or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out.setdefault(name, value)
    return out


class FailureLimiter:
    """At most LOGIN_FAILURES wrong credentials per client address per LOGIN_WINDOW_S (bearer and /login)."""

    def __init__(self) -> None:
        self.failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, client: str, now: float | None = None) -> bool:
        now = now if now is not None else time.monotonic()
        q = self.failures[client]
        while q and q[0] < now - LOGIN_WINDOW_S:
            q.popleft()
        if not q:
            self.failures.pop(client, None)
        return len(q) >= LOGIN_FAILURES

    def fail(self, client: str) -> None:
        if len(self.failures) > 100_000:  # a flood of addresses must not grow this without bound
            self.failures.clear()
        self.failures[client].append(time.monotonic())


class UserDirectory:
    """Users by token and by id, from the database, cached briefly."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._by_hash: dict[str, tuple[float, Any]] = {}
        self._by_id: dict[str, tuple[float, Any]] = {}
        self._count: tuple[float, int] = (0.0, 0)

    async def _query(self, fn: Any, *args: Any) -> Any:
        from assistant import store

        engine = await self.runtime.aengine()

        def run() -> Any:
            with store.reading(engine) as db:
                row = fn(db, *args)
                return (
                    [r.model_copy() for r in row]
                    if isinstance(row, list)
                    else (row.model_copy() if hasattr(row, "model_copy") else row)
                )

        return await asyncio.to_thread(run)

    async def by_token(self, token: str) -> Any:
        from assistant.identity import token_hash
        from assistant.store.users import user_by_token

        key = token_hash(token)
        hit = self._by_hash.get(key)
        if hit is None or time.monotonic() - hit[0] > CACHE_S:
            hit = (time.monotonic(), await self._query(user_by_token, token))
            if hit[1] is not None or len(self._by_hash) < 10_000:
                self._by_hash[key] = hit
        return hit[1]

    async def by_id(self, user_id: str) -> Any:
        from assistant.store.models import UserRow

        hit = self._by_id.get(user_id)
        if hit is None or time.monotonic() - hit[0] > CACHE_S:
            row = await self._query(lambda db, uid: db.get(UserRow, uid), user_id)
            hit = (time.monotonic(), row if row is not None and row.disabled_at is None else None)
            if hit[1] is not None:
                self._by_id[user_id] = hit
        return hit[1]

    async def any(self) -> bool:
        from assistant.store.users import active_users

        at, count = self._count
        if time.monotonic() - at > CACHE_S:
            try:
                count = await self._query(active_users)
            except Exception as exc:  # noqa: BLE001 - unreachable database: keep the last answer
                log.warning("cannot count users: %s", exc)
            self._count = (time.monotonic(), count)
        return count > 0


# ------------------------------------------------------------------ cookies


def _sig(key: str, payload: str) -> str:
    return hmac.new(key.encode(), f"firstline-session:{payload}".encode(), hashlib.sha256).hexdigest()


def _expiry(text: str, now: float) -> int | None:
    """An expiry field: ASCII digits only, of a sane length (no '²', no 5,000-digit integer)."""
    if not text or len(text) > 12 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value >= now else None


def admin_cookie(token: str, expires: int) -> str:
    return f"{expires}.{_sig(token, str(expires))}"


def user_cookie(user_id: str, key: str, expires: int) -> str:
    """`u.<id>.<expiry>.<hmac>`, keyed by the user's token hash (kept server-side only)."""
    return f"u.{user_id}.{expires}.{_sig(key, f'{user_id}:{expires}')}"


async def cookie_identity(
    settings: Settings, users: UserDirectory, value: str | None, now: float | None = None
) -> Identity | None:
    if not value or len(value) > 300 or not value.isascii():
        return None
    now = now if now is not None else time.time()
    parts = value.split(".")
    if len(parts) == 2 and settings.auth_token:
        expires = _expiry(parts[0], now)
        ok = expires is not None and hmac.compare_digest(
            parts[1].encode(), _sig(settings.auth_token, str(expires)).encode()
        )
        return Identity(ADMIN, "admin", "cookie") if ok else None
    if len(parts) == 4 and parts[0] == "u":
        expires = _expiry(parts[2], now)
        if expires is None:
            return None
        row = await users.by_id(parts[1])
        if row is None or not hmac.compare_digest(
            parts[3].encode(), _sig(row.token_hash, f"{parts[1]}:{expires}").encode()
        ):
            return None
        return Identity(row.name, row.role, "cookie")
    return None


async def token_identity(settings: Settings, users: UserDirectory, token: str) -> Identity | None:
    if settings.auth_token and hmac.compare_digest(token.encode(), settings.auth_token.encode()):
        return Identity(ADMIN, "admin", "token")
    if not token or len(token) > 200:
        return None
    row = await users.by_token(token)
    return Identity(row.name, row.role, "user") if row is not None else None


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


# ------------------------------------------------------------------ middleware


class Authenticate:
    """Names the identity of every request (scope state `identity`) and enforces its role."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        users: UserDirectory,
        limiter: FailureLimiter,
        open_paths: set[str],
        open_prefixes: tuple[str, ...],
        refuse_anonymous: Any,
    ) -> None:
        self.app, self.settings, self.users, self.limiter = app, settings, users, limiter
        self.open_paths, self.open_prefixes, self.refuse_anonymous = (
            open_paths,
            open_prefixes,
            refuse_anonymous,
        )

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
        if path in self.open_paths or path.startswith(self.open_prefixes):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        client = (scope.get("client") or ("?", 0))[0]
        identity, presented = await self._identify(headers)
        if identity is None:
            if presented:
                blocked = self.limiter.blocked(client)
                self.limiter.fail(client)
                if blocked:
                    await refuse(
                        send,
                        429,
                        "too_many_requests",
                        "too many wrong tokens from this address; wait a few minutes",
                        [(b"retry-after", b"300")],
                    )
                    return
            if self.settings.auth_token or await self.users.any():
                await self.refuse_anonymous(scope, headers, send)
                return
            identity = local_identity()
        needed = needed_role(scope.get("method", "GET"), path)
        if not identity.may(needed):
            await refuse(
                send,
                403,
                "forbidden",
                f"{identity.name} is a {identity.role}; this needs the "
                f"{needed} role (firstline users add NAME --role {needed})",
            )
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)

    async def _identify(self, headers: dict[str, str]) -> tuple[Identity | None, bool]:
        """The identity the credentials name, and whether any credentials were presented at all."""
        token = bearer(headers.get("authorization"))
        if token is not None:
            return await token_identity(self.settings, self.users, token), True
        value = cookies(headers.get("cookie")).get(COOKIE)
        if value is not None:
            return await cookie_identity(self.settings, self.users, value), True
        return None, False
