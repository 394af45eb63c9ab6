"""The API's evaluation routes: runs as jobs (admin: they read data paths on the server), thin
over evaluation/service.py. Evaluation sits above the API, so the process that composes the
app mounts this router (cli/composition.py), the API never imports it."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Admin, Reader, Rt
from api.errors import ApiProblem
from core.jobs import job_summary
from evaluation import service
from evaluation.suites import SUITES

router = APIRouter(prefix="/v1", tags=["evaluations"])


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"suite": "emanual", "data": "/data/emanual", "limit": 50, "seed": 0}]})
    suite: str = Field(min_length=1, max_length=40)
    data: str = Field(min_length=1, max_length=1000, description="A data path on the server.")
    limit: int | None = Field(None, ge=1, le=1_000_000)
    seed: int = 0
    options: dict[str, str] = Field(default_factory=dict)
    overrides: dict[str, str] = Field(default_factory=dict)
    callback_url: str | None = Field(None, max_length=2000)


@router.post("/evaluations", status_code=status.HTTP_202_ACCEPTED, summary="Start an evaluation run (a job)")
def create_evaluation(body: EvaluationCreate, rt: Rt, who: Admin,
                      idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None) -> dict:
    if body.suite not in SUITES:
        raise ApiProblem(422, "validation", f"suite: unknown '{body.suite}' (one of {', '.join(sorted(SUITES))})", field="suite")
    try:
        exists = Path(body.data).exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        exists = False
    if not exists:
        raise ApiProblem(422, "validation", f"data: no such path on the server: {body.data}", field="data")
    payload = {"suite": body.suite, "data": body.data, "limit": body.limit, "seed": body.seed,
               "options": body.options, "overrides": body.overrides}
    return rt.submit_job(service.KIND, payload, None, who.tenant, idempotency_key, body.callback_url)


@router.get("/evaluations", summary="The tenant's evaluation runs, newest first")
def list_evaluations(rt: Rt, who: Reader, limit: int = Query(50, ge=1, le=1000)) -> dict:
    return {"evaluations": [{**job_summary(j), "suite": (j.payload or {}).get("suite")}
                            for j in rt.jobs.list(who.tenant, kind=service.KIND, limit=limit)]}


@router.get("/evaluations/{evaluation_id}", summary="One evaluation: its job and, once run, metrics and report")
def get_evaluation(evaluation_id: str, rt: Rt, who: Reader) -> dict:
    return service.evaluation(rt, evaluation_id, who.tenant)


@router.get("/evaluations/{a}/compare/{b}", summary="Per-metric deltas (b - a) with bootstrap CIs")
def compare_evaluations(a: str, b: str, rt: Rt, who: Reader, bootstrap: int = Query(1000, ge=0, le=10000)) -> dict:
    return service.compare_evaluations(rt, a, b, who.tenant, bootstrap)


# Reports are our own HTML (inline styles, plots as data: images, no script); sandboxed all
# the same, so that a data set's text shown in it can never act as a page of this origin.
REPORT_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
                  "X-Content-Type-Options": "nosniff"}


@router.get("/evaluations/{evaluation_id}/report", response_class=HTMLResponse,
            summary="A finished evaluation's HTML report: metrics, plots, worst items")
def evaluation_report(evaluation_id: str, rt: Rt, who: Reader):
    return HTMLResponse(service.evaluation_report(rt, evaluation_id, who.tenant), headers=REPORT_HEADERS)


@router.get("/evaluations/{a}/compare/{b}/report", response_class=HTMLResponse,
            summary="The comparison of two evaluations as an HTML report")
def comparison_report(a: str, b: str, rt: Rt, who: Reader, bootstrap: int = Query(1000, ge=0, le=10000)):
    return HTMLResponse(service.comparison_report(rt, a, b, who.tenant, bootstrap), headers=REPORT_HEADERS)
