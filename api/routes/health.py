"""/healthz (the process answers), /readyz (what it depends on answers), /metrics."""
from __future__ import annotations

import logging
import os
import tempfile

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import Rt

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict:  # on the event loop: answers even when every worker thread is busy
    return {"status": "ok"}


def _checks(rt) -> dict[str, str]:
    checks: dict[str, str] = {}

    def run(name, fn) -> None:
        try:
            fn()
            checks[name] = "ok"
        except Exception as exc:  # each check reports its own reason; details (hosts, users) only in the log
            log.warning("readiness check failed", extra={"check": name, "error": f"{type(exc).__name__}: {exc}"})
            checks[name] = f"failed: {type(exc).__name__}"

    def database() -> None:
        with rt.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def data_dir() -> None:
        rt.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=rt.settings.data_dir, prefix=".readyz."):
            pass

    def models() -> None:
        from ingestion.embedding import resolve_model_dir

        if not os.path.isdir(resolve_model_dir(rt.settings)):
            raise FileNotFoundError("embedding model folder missing")
        from generation.factory import local_model_name
        from generation.models import get_spec, model_path

        if (name := local_model_name(rt.settings)) is not None:  # None: a server or the user's own folder
            spec = get_spec(name)
            path = model_path(rt.settings, spec)
            # Size, not sha256: hashing 400 MB on every probe would be the probe's whole cost.
            if not os.path.isfile(path) or os.path.getsize(path) != spec.size:
                raise FileNotFoundError(f"{path} missing or incomplete (run `docintel models install`)")

    run("database", database)
    run("data_dir", data_dir)
    run("queue", rt.job_queue.ping)
    run("models", models)
    return checks


@router.get("/readyz", summary="Database, data directory, job queue and model files answer")
def readyz(rt: Rt):
    checks = _checks(rt)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
