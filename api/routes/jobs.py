"""Jobs: list, show (with webhook deliveries), cancel."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from api.deps import Reader, Rt, Writer
from core.jobs import job_summary

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.get("/jobs", summary="The tenant's jobs, newest first")
def list_jobs(rt: Rt, who: Reader,
              status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
              kind: Literal["ingest", "review", "answer", "eval"] | None = None,
              limit: int = Query(50, ge=1, le=1000)) -> dict:
    return {"jobs": [job_summary(j) for j in rt.jobs.list(who.tenant, status, kind, limit)]}


@router.get("/jobs/{job_id}", summary="One job: status, progress, attempts, error, result")
def show_job(job_id: str, rt: Rt, who: Reader) -> dict:
    out = job_summary(rt.jobs.get(job_id, who.tenant))
    out["webhook_deliveries"] = rt.jobs.deliveries(job_id)
    return out


@router.post("/jobs/{job_id}/cancel", summary="Cancel a queued job now, a running one at its next checkpoint")
def cancel_job(job_id: str, rt: Rt, who: Writer) -> dict:
    return job_summary(rt.jobs.request_cancel(job_id, who.tenant))
