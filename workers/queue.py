"""The JobQueue seam: how a submitted job reaches `workers.tasks.run_job`.

- `embedded` (default): worker threads inside the serving process; no broker. Jobs left
  queued or running by a stopped process are picked up again when the queue starts.
- `celery`: the job id is sent to a Celery queue on Redis; `docintel worker` runs it.

Both take the job row as the truth: `enqueue` only carries the id, so a lost, duplicated
or late message never changes what a job is. `get_job_queue` is the only place that
branches on the backend name.
"""
from __future__ import annotations

import logging
import queue as stdqueue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from core.errors import DocIntelError
from core.jobs import JobConflictError, JobStore, job_summary
from core.settings import Settings

log = logging.getLogger(__name__)

# Which worker queue a kind of job runs on: ingestion is CPU-parallel, the LLM is one
# model per process, evaluation runs are long and should not starve the others (the "eval"
# kind is evaluation's, which registers it with its queue: workers.tasks.register_task).
QUEUE_OF = {"ingest": "ingest", "review": "llm", "answer": "llm"}
QUEUES = ("ingest", "index", "llm", "eval")


class JobQueue(Protocol):
    name: str

    def enqueue(self, job_id: str, kind: str) -> None: ...

    def depth(self) -> dict[str, int]:
        """Messages waiting per queue (for /metrics)."""
        ...

    def ping(self) -> None:
        """Raise when the queue cannot take jobs (for /readyz)."""
        ...

    def close(self) -> None: ...


def submit(runtime, job_queue: JobQueue, kind: str, payload: dict[str, Any], collection: str | None = None,
           tenant: str | None = None, idempotency_key: str | None = None, callback_url: str | None = None) -> dict[str, Any]:
    """Create the job row (or find it by idempotency key) and enqueue it once."""
    from workers.webhooks import check_callback_url

    if callback_url is not None:
        check_callback_url(callback_url, runtime.settings.webhook_allow_private)
    jobs = JobStore(runtime.store)
    job, created = jobs.create(kind, runtime.tenant_name(tenant), payload, collection, idempotency_key, callback_url)
    if not created and job.kind != kind:
        raise JobConflictError(f"the idempotency key '{idempotency_key}' was already used for a {job.kind} job ({job.id}); "
                               "use a new key for this request")
    if created:
        try:
            job_queue.enqueue(job.id, kind)
        except Exception as exc:  # the broker is down: the row must not wait forever for a message
            job = jobs.finish(job.id, "failed", error=f"the job could not be queued ({type(exc).__name__}: {exc}); submit it again")
            raise JobQueueError(job.error) from exc
    return job_summary(job)


class JobQueueError(DocIntelError):
    """The queue did not take the job (e.g. Redis is not answering)."""


class EmbeddedJobQueue:
    """Worker threads in this process running the same task functions as Celery workers."""

    name = "embedded"

    def __init__(self, settings: Settings, runtime_factory: Callable[[], Any]):
        self.settings = settings
        self.runtime_factory = runtime_factory
        self._queue: stdqueue.Queue[str | None] = stdqueue.Queue()
        self._threads: list[threading.Thread] = []
        self._retries: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_started(self) -> None:
        with self._lock:
            if self._threads or self._closed:
                return
            for i in range(max(1, self.settings.embedded_job_threads)):
                t = threading.Thread(target=self._work, name=f"docintel-job-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def recover(self) -> int:
        """Enqueue the jobs a previous process left queued or running (the row is the truth)."""
        jobs = JobStore(self.runtime_factory().store)
        jobs.requeue_running()
        pending = jobs.list(status="queued", limit=10_000)
        for job in reversed(pending):
            self.enqueue(job.id, job.kind)
        return len(pending)

    def enqueue(self, job_id: str, kind: str) -> None:
        self._ensure_started()
        self._queue.put(job_id)

    def _work(self) -> None:
        from workers.tasks import TransientJobError, run_job

        while True:
            job_id = self._queue.get()
            try:
                if job_id is None:
                    return
                try:
                    if run_job(self.runtime_factory(), job_id) == "busy":
                        self._later(job_id, self.settings.job_lease_s)
                    else:
                        self._retries.pop(job_id, None)
                except TransientJobError as exc:
                    self._retry(job_id, exc)
                except Exception:  # never let one job kill the worker thread
                    log.exception("embedded job crashed", extra={"job_id": job_id})
            finally:
                self._queue.task_done()

    def _retry(self, job_id: str, exc: Exception) -> None:
        n = self._retries.get(job_id, 0) + 1
        self._retries[job_id] = n
        if n > self.settings.job_max_retries:
            JobStore(self.runtime_factory().store).finish(
                job_id, "failed", error=f"gave up after {n} attempts; last error: {exc}")
            return
        delay = self.settings.job_retry_backoff_s * 2 ** (n - 1)
        log.warning("job retry scheduled", extra={"job_id": job_id, "retry": n, "delay_s": delay, "error": str(exc)})
        self._later(job_id, delay)

    def _later(self, job_id: str, delay: float) -> None:
        timer = threading.Timer(delay, self._queue.put, args=(job_id,))
        timer.daemon = True
        timer.start()

    def depth(self) -> dict[str, int]:
        return {"embedded": self._queue.qsize()}

    def ping(self) -> None:
        if self._closed:
            raise JobQueueError("the embedded job queue is closed")

    def join(self) -> None:
        """Wait until every enqueued job has run (tests, `jobs submit --wait`)."""
        self._queue.join()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for t in threads:
            t.join(timeout=5)


class CeleryJobQueue:
    """Sends job ids to the Celery queues on Redis (workers/celery_app.py)."""

    name = "celery"

    def __init__(self, settings: Settings):
        from workers.celery_app import make_celery

        self.settings = settings
        self.app = make_celery(settings)

    def enqueue(self, job_id: str, kind: str) -> None:
        from workers.celery_app import RUN_JOB, queue_name

        self.app.send_task(RUN_JOB, args=[job_id], queue=queue_name(self.settings, QUEUE_OF[kind]))

    def _redis(self):
        import redis

        if getattr(self, "_client", None) is None:
            self._client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        return self._client

    def depth(self) -> dict[str, int]:
        from workers.celery_app import queue_name

        # Kombu's Redis transport keeps a queue as a list named after it (plus the key prefix).
        prefix = self.app.conf.broker_transport_options.get("global_keyprefix", "")
        return {q: int(self._redis().llen(prefix + queue_name(self.settings, q))) for q in QUEUES}

    def ping(self) -> None:
        self._redis().ping()

    def close(self) -> None:
        self.app.close()


def get_job_queue(settings: Settings, runtime_factory: Callable[[], Any]) -> JobQueue:
    """The JobQueue factory."""
    if settings.job_queue == "embedded":
        return EmbeddedJobQueue(settings, runtime_factory)
    if settings.job_queue == "celery":
        return CeleryJobQueue(settings)
    raise ValueError(f"unknown job_queue '{settings.job_queue}' (use embedded or celery)")


__all__ = ["QUEUES", "QUEUE_OF", "CeleryJobQueue", "EmbeddedJobQueue", "JobQueue", "get_job_queue", "submit"]
