"""`docintel jobs ...` and `docintel worker`: durable jobs and the workers that run them."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from cli.output import JsonOpt, emit, fail
from core.errors import DocIntelError

jobs_app = typer.Typer(help="Submit, list, show and cancel jobs (ingest, review, answer, eval).", no_args_is_help=True)


def _runtime():
    from cli.main import _runtime as make

    return make()


def _line(j: dict) -> str:
    err = f"  error: {j['error']}" if j.get("error") else ""
    return f"{j['id']}  {j['kind']:7} {j['status']:10} {j['progress'] * 100:5.1f}%  {j.get('collection') or '-'}  {j.get('message') or ''}{err}"


@jobs_app.command("list")
def jobs_list(
    status: Optional[str] = typer.Option(None, "--status", help="queued|running|succeeded|failed|cancelled"),
    kind: Optional[str] = typer.Option(None, "--kind"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    tenant: Optional[str] = typer.Option(None, "--tenant"),
    as_json: bool = JsonOpt,
) -> None:
    """The newest jobs first."""
    from core.jobs import job_summary

    rt = _runtime()
    rows = [job_summary(j) for j in rt.jobs.list(rt.tenant_name(tenant), status, kind, limit)]
    emit({"jobs": rows}, as_json, "\n".join(map(_line, rows)) or "no jobs")


@jobs_app.command("show")
def jobs_show(job_id: str, tenant: Optional[str] = typer.Option(None, "--tenant"), as_json: bool = JsonOpt) -> None:
    """One job: status, progress, attempts, error, result, webhook deliveries."""
    from core.jobs import job_summary

    rt = _runtime()
    try:
        out = job_summary(rt.jobs.get(job_id, rt.tenant_name(tenant)))
    except DocIntelError as exc:
        fail(exc, as_json)
    out["webhook_deliveries"] = rt.jobs.deliveries(job_id)
    emit(out, as_json, json.dumps(out, indent=2, default=str))


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, tenant: Optional[str] = typer.Option(None, "--tenant"), as_json: bool = JsonOpt) -> None:
    """Cancel a queued job now, or a running one at its next checkpoint (an ingest stops
    between documents and keeps what it finished)."""
    from core.jobs import job_summary

    rt = _runtime()
    try:
        out = job_summary(rt.jobs.request_cancel(job_id, rt.tenant_name(tenant)))
    except DocIntelError as exc:
        fail(exc, as_json)
    emit(out, as_json, _line(out))


@jobs_app.command("ingest")
def jobs_ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders (readable by the workers)."),
    collection: str = typer.Option(..., "--collection", "-c"),
    tenant: Optional[str] = typer.Option(None, "--tenant"),
    idempotency_key: Optional[str] = typer.Option(None, "--idempotency-key"),
    callback_url: Optional[str] = typer.Option(None, "--callback-url", help="POSTed a signed event when the job ends."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the job to end; exit 1 if it failed."),
    as_json: bool = JsonOpt,
) -> None:
    """Submit an ingest job (runs on a worker, or in this process with the embedded queue)."""
    rt = _runtime()
    payload = {"paths": [str(p.resolve()) for p in paths]}
    try:
        job = rt.submit_job("ingest", payload, collection, tenant, idempotency_key, callback_url)
    except DocIntelError as exc:
        fail(exc, as_json)
    if wait:
        job = _wait(rt, job["id"])
    emit(job, as_json, _line(job))
    if wait and job["status"] != "succeeded":
        raise typer.Exit(1)


def _wait(rt, job_id: str) -> dict:
    from core.jobs import FINISHED, job_summary

    if hasattr(rt.job_queue, "join"):
        rt.job_queue.join()
    while True:
        job = job_summary(rt.jobs.get(job_id))
        if job["status"] in FINISHED:
            return job
        time.sleep(0.5)


def worker(
    queues: str = typer.Option("ingest,index,llm,eval", "--queues", "-Q", help="Comma-separated: ingest, index, llm, eval."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Worker processes."),
    hostname: Optional[str] = typer.Option(None, "--hostname", "-n"),
    pool: str = typer.Option("prefork", "--pool", help="prefork (processes) or solo (one job at a time, in this process)."),
) -> None:
    """Run a Celery worker on Redis (DOCINTEL_REDIS_URL). SIGTERM finishes the running job, then exits."""
    from cli.composition import install
    from workers.celery_app import worker_main
    from workers.queue import QUEUES

    install()  # every job kind, evaluation's too, before the pool forks its processes
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    bad = [q for q in chosen if q not in QUEUES]
    if bad:
        fail(ValueError(f"unknown queue(s) {', '.join(bad)} (use {', '.join(QUEUES)})"), False)
    worker_main(chosen, concurrency, hostname, pool)
