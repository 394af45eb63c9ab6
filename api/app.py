"""The FastAPI app: `create_app()` wires routers, errors, auth, metrics and the job queue
over one Runtime. `docintel serve` runs it with uvicorn, composed with the routes of the
layers above the API (cli/composition.py)."""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import errors
from api.deps import RateLimiter
from api.errors import problem
from api.metrics import Metrics
from core.apikeys import ApiKeyStore, CachedAuthenticator
from api.routes import answers, chat, collections, health, jobs, pages, reviews, session
from core.logging import REQUEST_ID
from core.settings import Settings, get_settings
from workers.runtime import Runtime

log = logging.getLogger("docintel.api")
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")

DESCRIPTION = """Self-hosted document intelligence: collections of documents, hybrid search,
grounded answers with checked citations (also as an OpenAI-compatible chat endpoint),
contract reviews and evaluation runs. Every `/v1` route takes `Authorization: Bearer <key>`;
errors are `application/problem+json`."""


class RequestContext:
    """Pure ASGI middleware (streams pass through untouched): a request id (the client's
    `X-Request-ID` when sane, else a new one) echoed on the response and on every log line;
    a request-size limit; latency per route into Prometheus; one access log line."""

    def __init__(self, app, metrics: Metrics, max_body: int):
        self.app, self.metrics, self.max_body = app, metrics, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = rid if _REQUEST_ID_OK.match(rid) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = REQUEST_ID.set(rid)
        t0, status = time.perf_counter(), 500
        length = headers.get(b"content-length")
        try:
            too_large = bool(length and length.isdigit() and int(length) > self.max_body)
            received, started = 0, False

            async def refuse() -> None:
                from starlette.requests import Request

                nonlocal status
                resp = problem(413, "request-too-large", f"the request body is over {self.max_body / 1e6:.0f} MB",
                               Request(scope))
                resp.headers["X-Request-ID"] = rid
                status = 413
                await resp(scope, receive, send)

            if too_large:
                return await refuse()

            async def receive_counted():
                # A chunked body has no Content-Length: count it as it arrives, and past the
                # limit tell the app the client left (it stops reading) and answer 413 ourselves.
                nonlocal received, too_large
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        too_large = True
                        return {"type": "http.disconnect"}
                return message

            async def send_with_id(message):
                nonlocal status, started
                if too_large:
                    return  # the app's own reply to the cut-off body is replaced by the 413
                if message["type"] == "http.response.start":
                    status, started = message["status"], True
                    message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
                await send(message)

            try:
                await self.app(scope, receive_counted, send_with_id)
            except Exception:
                if not too_large:
                    raise
            if too_large and not started:
                await refuse()
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - t0
            self.metrics.latency.labels(scope["method"], path, str(status)).observe(seconds)
            log.info("request", extra={"method": scope["method"], "route": path, "status": status,
                                       "ms": round(seconds * 1000, 1)})
            REQUEST_ID.reset(token)


def create_app(runtime: Runtime | None = None, settings: Settings | None = None,
               routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The app over `runtime` (or a new one on `settings`). `routers` are those of the layers
    above the API, which it may not import (DESIGN.md): the process that composes the app
    passes them (cli/composition.py adds evaluation's)."""
    runtime = runtime or Runtime.create(settings or get_settings())
    s = runtime.settings
    from retrieval.vector_index import set_faiss_threads

    set_faiss_threads(s.faiss_threads)  # before any model starts (see set_faiss_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        recover = getattr(runtime.job_queue, "recover", None)
        if recover is not None:  # embedded: this process runs the jobs a previous one left
            n = recover()
            if n:
                log.info("re-queued jobs left by a previous process", extra={"jobs": n})
        yield
        runtime.job_queue.close()

    app = FastAPI(title="DocIntel", version="1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_tags=[{"name": t} for t in ("collections", "jobs", "search and answers", "openai-compatible",
                                                      "reviews", "evaluations", "session", "health")])
    app.state.runtime = runtime
    app.state.metrics = Metrics(runtime)
    app.state.rate_limiter = RateLimiter(s)
    app.state.search_limiter = anyio.CapacityLimiter(s.search_concurrency)
    app.state.authenticate = CachedAuthenticator(ApiKeyStore(runtime.store), s.api_key_cache_s)
    errors.install(app)
    for router in [m.router for m in (session, collections, pages, jobs, answers, chat, reviews)] + list(routers):
        app.include_router(router)
    app.include_router(health.router)  # last, as ever: the OpenAPI document keeps its order
    _offline_docs(app)
    _web_ui(app)
    if s.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                           expose_headers=["X-Request-ID", "Retry-After"])
    app.add_middleware(RequestContext, metrics=app.state.metrics, max_body=s.max_request_bytes)
    return app


def _offline_docs(app: FastAPI) -> None:
    """/docs with Swagger UI's files served from api/static (vendored from npm, see its
    SOURCE.txt): FastAPI's default page loads them from a CDN, which an offline server
    cannot reach."""
    from pathlib import Path

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = Path(__file__).parent / "static" / "swagger-ui"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="DocIntel API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


# The UI's page may load only its own scripts, styles and images, and nothing may frame it.
UI_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
          "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
          "form-action 'self'")


def _web_ui(app: FastAPI) -> None:
    """The browser UI at `/` (web/): one page and its static files. It signs in with an API
    key and then calls the same `/v1` routes as every other client."""
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    import web

    app.mount("/ui", StaticFiles(directory=web.STATIC_DIR), name="ui")
    page = web.INDEX_HTML.read_text(encoding="utf-8")
    headers = {"Content-Security-Policy": UI_CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
               "Cache-Control": "no-cache"}

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def ui_page():
        return HTMLResponse(page, headers=headers)
