"""The Celery app: one task, `docintel.run_job`, on the queues <prefix>.ingest|index|llm|eval.

At-least-once: a task is acknowledged after it ran (acks_late) and given back to the
broker when its worker dies (reject_on_worker_lost); Redis re-delivers an unacknowledged
task after the visibility timeout, so that timeout is longer than the longest job. The job
row makes a second delivery harmless (workers/tasks.py). Only transient errors retry,
with exponential backoff; bad input fails the job once.
"""
from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery

from core.settings import Settings, get_settings

log = logging.getLogger(__name__)
RUN_JOB = "docintel.run_job"


def queue_name(settings: Settings, queue: str) -> str:
    return f"{settings.queue_prefix}.{queue}"


def make_celery(settings: Settings) -> Celery:
    app = Celery("docintel", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=False,  # an error that escaped the job row is re-delivered, not dropped
        worker_prefetch_multiplier=1,  # a long job does not hold back the next one on another worker
        task_ignore_result=True,  # results live on the job row
        task_default_queue=queue_name(settings, "ingest"),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.job_visibility_timeout_s,
            # keys of this deployment (or test run) apart from anything else on the Redis
            "global_keyprefix": f"{settings.queue_prefix}:",
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    app.task(name=RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True)(_run_job)
    return app


@lru_cache(maxsize=1)
def _worker_runtime():
    """One Runtime per worker process (models load once, at the first job)."""
    from workers.runtime import Runtime

    return Runtime.create(get_settings())


def _run_job(task, job_id: str) -> str:
    from workers.tasks import TransientJobError, run_job

    rt = _worker_runtime()
    try:
        status = run_job(rt, job_id)
        if status == "busy":  # not a failure: does not count against the retries
            raise task.retry(countdown=rt.settings.job_lease_s, max_retries=None)
        return status
    except TransientJobError as exc:
        retries = task.request.retries
        if retries >= rt.settings.job_max_retries:
            from core.jobs import JobStore

            JobStore(rt.store).finish(job_id, "failed", error=f"gave up after {retries + 1} attempts; last error: {exc}")
            return "failed"
        raise task.retry(exc=exc, countdown=rt.settings.job_retry_backoff_s * 2 ** retries, max_retries=None)


def worker_main(queues: list[str], concurrency: int, hostname: str | None = None, pool: str = "prefork") -> None:
    """`docintel worker`: consume the given queues. SIGTERM finishes the running job, then exits."""
    from core.logging import configure_logging

    settings = get_settings()
    # Ours before Celery's: Celery keeps a root logger that has handlers (worker_hijack_root_logger
    # is off), so worker logs honour DOCINTEL_LOG_JSON and carry their fields (job_id, kind, ...).
    configure_logging(settings.log_level, settings.log_json)
    app = make_celery(settings)
    argv = ["worker", "-Q", ",".join(queue_name(settings, q) for q in queues), "-c", str(concurrency),
            "--loglevel", settings.log_level, "-P", pool, "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if hostname:
        argv += ["-n", hostname]
    app.worker_main(argv)
