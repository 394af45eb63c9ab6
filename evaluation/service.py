"""Evaluation inside the running product: the "eval" job kind (a suite run as a job) and the
use cases the evaluation routes (`evaluation/routes.py`) call: a job with its run, two runs
compared, their HTML reports.

Evaluation sits above the workers and the API (DESIGN.md), so they never import it: the
process that composes them (`cli/composition.py`) calls `register_jobs()` and mounts the
routes' router. `rt` is that process's `workers.runtime.Runtime`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import NotFoundError
from core.jobs import job_summary

KIND = "eval"  # the job kind
QUEUE = "eval"  # the worker queue it runs on (workers.queue.QUEUES): long runs, apart from the others


def run_eval_job(rt, job, tenant: str, report, jobs) -> dict[str, Any]:
    """The task of an "eval" job (workers.tasks.run_job calls it and finishes the row; a
    missing `eval` extra fails the job with the extra to install)."""
    from evaluation.runner import RunRequest, run_evaluation

    p = job.payload
    request = RunRequest(p["suite"], Path(p["data"]), p.get("limit"), p.get("seed", 0), p.get("options") or {},
                         p.get("overrides") or {}, p.get("resume"))
    run = run_evaluation(rt.settings, request, progress=False,
                         on_item=lambda done, total: report(done / max(1, total), f"{done}/{total} items"))
    return {"run_id": run["id"], "status": run["status"], "metrics": run.get("metrics")}


def register_jobs() -> None:
    """Let this process's job queue submit and run "eval" jobs (idempotent)."""
    from workers.tasks import register_task

    register_task(KIND, run_eval_job, QUEUE)


def evaluation(rt, job_id: str, tenant: str | None = None) -> dict[str, Any]:
    """An evaluation job with its run (metrics, per-item counts, report) once it has one."""
    from evaluation.runs import RunStore

    job = rt.tenant_job(job_id, KIND, tenant)
    out = job_summary(job)
    run_id = (job.result or {}).get("run_id")
    out["run"] = RunStore(rt.store).get(run_id) if run_id else None
    return out


def compare_evaluations(rt, a: str, b: str, tenant: str | None = None, bootstrap: int = 1000) -> dict[str, Any]:
    from evaluation.compare import compare_runs
    from evaluation.runs import RunStore

    runs = RunStore(rt.store)
    found = []
    for job_id in (a, b):
        run = evaluation(rt, job_id, tenant)["run"]
        if run is None:
            raise NotFoundError(f"evaluation {job_id} has no finished run yet")
        found.append(run)
    ra, rb = found
    return compare_runs(ra, runs.items(ra["id"]), rb, runs.items(rb["id"]), n_boot=bootstrap)


def evaluation_report(rt, job_id: str, tenant: str | None = None) -> str:
    """A finished evaluation's HTML report (metrics, plots, worst items)."""
    from evaluation.report import render_run_report
    from evaluation.runs import RunStore

    run = evaluation(rt, job_id, tenant)["run"]
    if run is None:
        raise NotFoundError(f"evaluation {job_id} has no run yet")
    return render_run_report(run, RunStore(rt.store).items(run["id"]))


def comparison_report(rt, a: str, b: str, tenant: str | None = None, bootstrap: int = 1000) -> str:
    from evaluation.report import render_compare_report

    return render_compare_report(compare_evaluations(rt, a, b, tenant, bootstrap))


__all__ = ["KIND", "QUEUE", "comparison_report", "compare_evaluations", "evaluation", "evaluation_report",
           "register_jobs", "run_eval_job"]
