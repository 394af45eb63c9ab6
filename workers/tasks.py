"""Job task functions: the same code under every JobQueue (Celery worker or embedded thread).

Each is thin: it claims the job row, calls a `workers/runtime.py` use case, reports
progress on the row and finishes it. Errors are sorted in two: bad input (a corrupt file,
an unknown collection, a bad playbook) fails the job once with its reason; a transient
error (the database, the broker or an LLM server not answering) raises TransientJobError
so the queue retries it with backoff. A re-delivered job is claimed again and re-runs
idempotently: ingestion skips byte-identical documents already indexed.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import DocIntelError
from core.extras import missing_extra
from core.jobs import JobStore
from core.types import IngestResult, SearchFilters

log = logging.getLogger(__name__)


class TransientJobError(Exception):
    """Worth retrying: the job itself is fine, something it depends on hiccupped."""


class JobCancelled(Exception):
    pass


def _transient_types() -> tuple[type[BaseException], ...]:
    import sqlalchemy.exc

    types: list[type[BaseException]] = [sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                                        ConnectionError, TimeoutError]
    try:
        import redis.exceptions

        types += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        import openai

        types += [openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


# -- one function per kind: (runtime, job, tenant, report) -> result dict ------------------------------
def _ingest(rt, job, tenant: str, report: Callable[[float, str], None], jobs: JobStore) -> dict[str, Any]:
    from ingestion.pipeline import iter_files

    payload = job.payload
    # "paths": files or folders on the worker's disk (CLI); "files": uploads staged under
    # their hash, each with its document name (API).
    named = [(Path(f["path"]), f["name"]) for f in payload.get("files", [])]
    paths = [Path(p) for p in payload.get("paths", [])]
    missing = [str(p) for p in paths + [p for p, _ in named] if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing[:5])}")
    named += list(iter_files(paths))
    total = max(1, len(named))
    results: list[IngestResult] = []

    def on_result(result: IngestResult) -> None:
        results.append(result)
        report(len(results) / total, f"{len(results)}/{total} documents ({result.path}: {result.status})")
        if jobs.cancel_requested(job.id):  # between documents; what finished stays indexed
            raise JobCancelled()

    try:
        rt.ingest_named(named, job.collection, tenant, on_result=on_result, metadata=payload.get("metadata") or None)
    except JobCancelled:
        return {"cancelled": True, "documents": [r.to_dict() for r in results]}
    counts = {s: sum(r.status == s for r in results) for s in ("indexed", "unchanged", "failed")}
    out = {"documents": [r.to_dict() for r in results], **counts}
    if results and counts["failed"] == len(results):
        reasons = "; ".join(dict.fromkeys(f"{Path(r.path).name}: {r.error}" for r in results))
        raise DocIntelError(f"no document could be ingested: {reasons}")
    return out


def _review(rt, job, tenant: str, report, jobs) -> dict[str, Any]:
    p = job.payload
    report(0.1, "reviewing")
    playbook = p.get("playbook_path")
    if p.get("playbook_yaml"):  # sent with the request: validated and kept beside the upload
        playbook = str(rt.stage_upload(p["playbook_yaml"].encode("utf-8")))
    review, html = rt.review(Path(p["path"]), job.collection, tenant, playbook, p.get("name"), p.get("document_id"),
                             p.get("recall"))
    return {"review": review, "report_html": html}


def _answer(rt, job, tenant: str, report, jobs) -> dict[str, Any]:
    p = job.payload
    filters = SearchFilters(document_ids=p["document_ids"]) if p.get("document_ids") else None
    return rt.ask(p["question"], job.collection, p.get("k"), tenant, filters=filters).to_dict()


Task = Callable[[Any, Any, str, Callable[[float, str], None], JobStore], dict[str, Any]]

# The kinds of the layers below workers; a kind whose code sits above them (evaluation's "eval")
# is added by register_task when its process is composed (cli/composition.py).
TASKS: dict[str, Task] = {"ingest": _ingest, "review": _review, "answer": _answer}


def register_task(kind: str, task: Task, queue: str) -> None:
    """Run jobs of `kind` with `task`, on the worker queue `queue` (one of workers.queue.QUEUES).
    For job kinds of the layers above workers, which these modules may not import (the arrows
    of DESIGN.md point down): the process that submits or runs such jobs registers them at
    start-up. Registering the same task again is harmless; another task for a kind is refused."""
    from workers.queue import QUEUE_OF, QUEUES

    if queue not in QUEUES:
        raise ValueError(f"unknown queue '{queue}' for job kind '{kind}' (use one of {', '.join(QUEUES)})")
    if TASKS.get(kind, task) is not task or QUEUE_OF.get(kind, queue) != queue:
        raise ValueError(f"job kind '{kind}' is already registered with another task or queue")
    TASKS[kind] = task
    QUEUE_OF[kind] = queue


def run_job(rt, job_id: str) -> str:
    """Run one job to its end state; returns the status. Raises TransientJobError for the
    queue to retry (the row goes back to queued with the reason); if even the row cannot
    be written, the error propagates and the message stays unacknowledged for re-delivery."""
    jobs = JobStore(rt.store)
    transient = _transient_types()
    try:
        job = jobs.start(job_id, rt.settings.job_lease_s, rt.settings.job_max_attempts)
        tenant = jobs.tenant_of(job) if job is not None else None
    except transient as exc:
        raise TransientJobError(f"store unavailable: {exc}") from exc
    if job is None:
        try:
            current = jobs.get(job_id)
        except DocIntelError:
            return "skipped"  # unknown job id
        if current.status in ("running", "queued"):
            # Running elsewhere (its row moved within the lease), or claimable later: come back
            # after the lease instead of dropping the message, in case that worker is gone.
            log.info("job busy elsewhere, retried after the lease", extra={"job_id": job_id})
            return "busy"
        log.info("job already ended, delivery skipped", extra={"job_id": job_id, "status": current.status})
        return "skipped"
    log.info("job started", extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempts})

    def report(fraction: float, message: str) -> None:
        jobs.progress(job.id, fraction, message)

    try:
        try:
            task = TASKS.get(job.kind)
            if task is None:  # a kind of an upper layer this process did not register
                raise DocIntelError(f"this worker cannot run '{job.kind}' jobs: no task is registered for that kind "
                                    "(start workers with `docintel worker`, which registers every kind)")
            result = task(rt, job, tenant, report, jobs)
        except TransientJobError as exc:
            jobs.retry_later(job.id, str(exc))
            raise
        except transient as exc:
            jobs.retry_later(job.id, f"{type(exc).__name__}: {exc}")
            raise TransientJobError(str(exc)) from exc
        except (DocIntelError, ValueError, KeyError, FileNotFoundError) as exc:
            finished = jobs.finish(job.id, "failed", error=_reason(exc))
            log.warning("job failed", extra={"job_id": job.id, "error": finished.error})
        except Exception as exc:  # a bug: recorded on the row, not retried forever
            if (extra := missing_extra(exc)) is not None:  # training/evaluation deps not installed
                finished = jobs.finish(job.id, "failed", error=str(extra))
                log.warning("job failed", extra={"job_id": job.id, "error": finished.error})
            else:
                log.exception("job crashed", extra={"job_id": job.id})
                finished = jobs.finish(job.id, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
        else:
            status = "cancelled" if result.get("cancelled") else "succeeded"
            finished = jobs.finish(job.id, status, result=result,
                                   message="cancelled; finished documents stay indexed" if status == "cancelled" else "done")
            log.info("job finished", extra={"job_id": job.id, "status": status})
    except transient as exc:  # the row itself could not be written: leave it to re-delivery / the lease
        raise TransientJobError(f"store unavailable while finishing job {job.id}: {exc}") from exc
    if finished.callback_url:
        from workers.webhooks import deliver

        deliver(jobs, finished, rt.settings)
    return finished.status


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"the job is missing the field {exc}"
    return str(exc) or type(exc).__name__
