"""One exception handler per kind of error, each answering `{"error": kind, "detail": ...}`.

404 unknown ids, 409 state conflicts, 413 too large, 422 bad input (naming the field),
503 database unreachable or server draining. Bad input never becomes a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.store import Conflict, NotFound, StoreUnavailable
from assistant.turns import Draining

log = logging.getLogger("firstline.web")


class PayloadTooLarge(Exception):
    """A message or body over the configured limit."""


class InvalidField(Exception):
    """A semantically invalid field (unknown target, model...): 422 naming it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class ErrorBody(BaseModel):
    error: str
    detail: Any = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown session, turn or approval id"},
    422: {"model": ErrorBody, "description": "Invalid input; `detail` names each field"},
    503: {"model": ErrorBody, "description": "The database is unreachable"},
}


def _body(status: int, error: str, detail: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def _field_name(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        return ".".join(parts[1:]) if parts[0] == "body" else f"{parts[0]}.{'.'.join(parts[1:])}"
    return ".".join(parts) or "body"


async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        field = _field_name(loc)
        if err.get("type") == "json_invalid":
            field = "body"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append({"field": field, "message": message, "type": err.get("type")})
    return _body(422, "validation", problems)


async def _invalid_field(_req: Request, exc: InvalidField) -> JSONResponse:
    return _body(422, "validation", [{"field": exc.field, "message": exc.message, "type": "value_error"}])


async def _not_found(_req: Request, exc: NotFound) -> JSONResponse:
    return _body(404, "not_found", str(exc))


async def _conflict(_req: Request, exc: Conflict) -> JSONResponse:
    return _body(409, "conflict", str(exc))


async def _too_large(_req: Request, exc: PayloadTooLarge) -> JSONResponse:
    return _body(413, "too_large", str(exc))


async def _unavailable(_req: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable: %s", exc)
    return _body(503, "db_unavailable", "the database is unreachable; try again shortly")


DRAIN_RETRY_AFTER_S = 2


async def _draining(_req: Request, exc: Draining) -> JSONResponse:
    """A rolling update: the client (or load balancer) sends the message again, to a replica that is not stopping."""
    return JSONResponse(
        {"error": "draining", "detail": str(exc)},
        status_code=503,
        headers={"Retry-After": str(DRAIN_RETRY_AFTER_S)},
    )


async def _db_error(req: Request, exc: DBAPIError) -> JSONResponse:
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return await _unavailable(req, exc)
    log.exception("database error", exc_info=exc)
    return _body(500, "internal", "database error")


_HTTP_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Framework errors (unknown route, wrong method, unparseable body) in the same `{error, detail}` shape."""
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # e.g. not UTF-8
        return _body(
            422,
            "validation",
            [{"field": "body", "message": "the body is not valid JSON (UTF-8)", "type": "json_invalid"}],
        )
    return JSONResponse(
        {"error": _HTTP_ERRORS.get(exc.status_code, "http_error"), "detail": exc.detail},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _pir_template(request: Request, exc: Exception) -> JSONResponse:
    """A broken team PIR layout is a server configuration problem: say which file and line."""
    return JSONResponse({"error": "pir_template", "detail": str(exc)}, status_code=500)


def install(app: FastAPI) -> None:
    from assistant.pir.render import PirTemplateError

    app.add_exception_handler(PirTemplateError, _pir_template)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InvalidField, _invalid_field)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(PayloadTooLarge, _too_large)
    app.add_exception_handler(StoreUnavailable, _unavailable)
    app.add_exception_handler(Draining, _draining)
    app.add_exception_handler(DBAPIError, _db_error)
