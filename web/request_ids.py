"""A request id for every HTTP request, in its log lines and in the `X-Request-ID` response header.

A well-formed `X-Request-ID` from the client or a proxy is kept (so one id follows a request through
the load balancer's logs and ours); anything else gets a fresh one. The session id of
`/api/sessions/{id}/...`, `/s/{id}` is bound too. Pure ASGI: the ids stay bound for everything the
request runs, uvicorn's access log line included.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant import logs

HEADER = b"x-request-id"
_VALID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_SESSION_PATH = re.compile(r"^/(?:api/sessions|s)/([A-Za-z0-9_-]{1,64})(?:/|$)")


def _incoming(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == HEADER and _VALID.fullmatch(value):
            return value.decode("ascii")
    return None


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        match = _SESSION_PATH.match(scope.get("path", ""))
        logs.bind(request_id=request_id, session_id=match.group(1) if match else None, turn_id=None)

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            await send(message)

        await self.app(scope, receive, with_id)
