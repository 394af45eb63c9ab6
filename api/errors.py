"""Errors as `application/problem+json` (RFC 9457): a stable `type` URI per kind of
problem, a title, the status, and a detail a person can act on. Never a stack trace."""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import DocIntelError, NotFoundError
from core.jobs import JobConflictError
from workers.queue import JobQueueError

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://docintel.dev/problems/"
PROBLEM_JSON = "application/problem+json"
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Content too large", 415: "Unsupported media type", 422: "Invalid request",
          429: "Too many requests", 500: "Internal error", 503: "Service unavailable"}


class ApiProblem(Exception):
    """Raised by routes and dependencies: becomes a problem+json response."""

    def __init__(self, status: int, kind: str, detail: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status, self.kind, self.detail, self.headers, self.extra = status, kind, detail, headers or {}, extra


def problem(status: int, kind: str, detail: str, request: Request | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_BASE + kind, "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if request is not None:
        body["instance"] = request.url.path
        rid = getattr(request.state, "request_id", None)
        if rid:
            body["request_id"] = rid
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem):
        return problem(exc.status, exc.kind, exc.detail, request, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(422, "validation", detail or "the request is not valid", request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path} (see /docs)"
        return problem(exc.status_code, kind, detail, request, getattr(exc, "headers", None))

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError):
        return problem(404, "not-found", str(exc), request)

    @app.exception_handler(JobConflictError)
    async def _conflict(request: Request, exc: JobConflictError):
        return problem(409, "idempotency-conflict", str(exc), request)

    @app.exception_handler(JobQueueError)
    async def _queue(request: Request, exc: JobQueueError):
        return problem(503, "queue-unavailable", str(exc), request, {"Retry-After": "10"})

    @app.exception_handler(DocIntelError)
    async def _domain(request: Request, exc: DocIntelError):
        return problem(422, "unprocessable", str(exc), request)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):  # e.g. a NUL byte PostgreSQL cannot store in text
        return problem(422, "validation", "a value in the request cannot be stored (control characters such as NUL?)",
                       request)

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError):
        return problem(422, "unprocessable", str(exc), request)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("request failed", extra={"path": request.url.path})
        return problem(500, "internal", "an internal error occurred; the request id is in the logs", request)
