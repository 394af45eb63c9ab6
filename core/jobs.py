"""Job rows: the durable record of every long task, whatever queue runs it.

A job goes queued -> running -> succeeded | failed | cancelled. Workers claim it with
`start` (which refuses a finished or cancelled job, so a re-delivered message is harmless),
report `progress`, and `finish` it. An idempotency key is unique per tenant: submitting
the same key again returns the first job.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.errors import DocIntelError, NotFoundError
from core.models import Job, Tenant, WebhookDelivery, utcnow
from core.store import Store

KINDS = ("ingest", "review", "answer", "eval")
FINISHED = ("succeeded", "failed", "cancelled")


class JobInputError(DocIntelError):
    """The job cannot be submitted as asked (unknown kind, bad callback URL)."""


class JobConflictError(DocIntelError):
    """An idempotency key already names a job of another kind."""


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id, "kind": job.kind, "collection": job.collection, "status": job.status,
        "progress": round(job.progress or 0.0, 4), "message": job.message, "attempts": job.attempts,
        "error": job.error, "result": job.result, "idempotency_key": job.idempotency_key,
        "callback_url": job.callback_url, "cancel_requested": bool(job.cancel_requested),
        "created_at": _iso(job.created_at), "started_at": _iso(job.started_at), "finished_at": _iso(job.finished_at),
    }


def _aware(value):
    """SQLite hands datetimes back without their zone; they were written in UTC."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _iso(value) -> str | None:
    return value.isoformat() if value else None


@dataclass
class JobStore:
    store: Store

    def create(
        self, kind: str, tenant: str, payload: dict[str, Any], collection: str | None = None,
        idempotency_key: str | None = None, callback_url: str | None = None,
    ) -> tuple[Job, bool]:
        """(job, created). With an idempotency key already used by this tenant, the earlier job."""
        if kind not in KINDS:
            raise JobInputError(f"unknown job kind '{kind}' (use {', '.join(KINDS)})")
        if callback_url is not None and not callback_url.lower().startswith(("http://", "https://")):
            raise JobInputError(f"callback_url must be an http(s) URL, not '{callback_url[:80]}'")
        t = self.store.tenant(tenant)
        if idempotency_key:
            found = self._by_key(t.id, idempotency_key)
            if found is not None:
                return found, False
        job = Job(id=uuid.uuid4().hex, kind=kind, tenant_id=t.id, collection=collection, status="queued",
                  progress=0.0, attempts=0, payload=payload, idempotency_key=idempotency_key or None,
                  callback_url=callback_url, cancel_requested=False)
        try:
            with self.store.session() as s:
                s.add(job)
        except IntegrityError:  # another request with the same key won the race
            found = self._by_key(t.id, idempotency_key) if idempotency_key else None
            if found is None:
                raise
            return found, False
        return self.get(job.id), True

    def _by_key(self, tenant_id: int, key: str) -> Job | None:
        with self.store.session() as s:
            return s.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key))

    def get(self, job_id: str, tenant: str | None = None) -> Job:
        with self.store.session() as s:
            job = s.get(Job, job_id)
            if job is not None and tenant is not None:
                t = s.scalar(select(Tenant).where(Tenant.name == tenant))
                job = job if t is not None and job.tenant_id == t.id else None
            if job is None:
                raise NotFoundError(f"job {job_id} does not exist")
            return job

    def tenant_of(self, job: Job) -> str:
        with self.store.session() as s:
            return s.get(Tenant, job.tenant_id).name

    def list(self, tenant: str | None = None, status: str | None = None, kind: str | None = None, limit: int = 50) -> list[Job]:
        with self.store.session() as s:
            q = select(Job).order_by(Job.created_at.desc()).limit(limit)
            if tenant is not None:
                q = q.join(Tenant, Tenant.id == Job.tenant_id).where(Tenant.name == tenant)
            if status:
                q = q.where(Job.status == status)
            if kind:
                q = q.where(Job.kind == kind)
            return list(s.scalars(q))

    def start(self, job_id: str, lease_s: float = 300.0, max_attempts: int = 5) -> Job | None:
        """Claim a job for running: queued, or running with a row untouched for `lease_s`
        (its worker was lost). None when it is finished, cancelled, or running elsewhere
        (a duplicate delivery then does nothing). A job that has used `max_attempts` fails:
        something in it keeps killing its worker."""
        stale = utcnow() - timedelta(seconds=lease_s)
        with self.store.session() as s:
            n = s.execute(
                update(Job).where(
                    Job.id == job_id, Job.cancel_requested.is_(False), Job.attempts < max_attempts,
                    or_(Job.status == "queued", and_(Job.status == "running", Job.updated_at < stale)))
                .values(status="running", attempts=Job.attempts + 1, started_at=utcnow(), error=None, updated_at=utcnow())
            ).rowcount
        if n:
            return self.get(job_id)
        with self.store.session() as s:
            job = s.get(Job, job_id)
        if job is None or job.status in FINISHED:
            return None
        if job.cancel_requested:
            self.finish(job_id, "cancelled", message="cancelled before it ran")
        elif job.attempts >= max_attempts and (job.status == "queued" or _aware(job.updated_at) < stale):
            self.finish(job_id, "failed", error=f"the job was started {job.attempts} times and its worker was lost each "
                                               "time (out of memory, or a document that crashes the parser?)")
        return None

    def progress(self, job_id: str, fraction: float, message: str | None = None) -> None:
        with self.store.session() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.status == "running")
                      .values(progress=max(0.0, min(1.0, fraction)), message=message, updated_at=utcnow()))

    def finish(self, job_id: str, status: str, result: dict | None = None, error: str | None = None,
               message: str | None = None) -> Job:
        assert status in FINISHED, status
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "updated_at": utcnow(), "error": error}
        if result is not None:
            values["result"] = result
        if message is not None:
            values["message"] = message
        if status == "succeeded":
            values["progress"] = 1.0
        with self.store.session() as s:  # a finished job stays as it ended (a late give-up does not undo a cancel)
            s.execute(update(Job).where(Job.id == job_id, Job.status.notin_(FINISHED)).values(**values))
        return self.get(job_id)

    def requeue_running(self) -> int:
        """Running rows back to queued: for the embedded queue at start, whose process was
        the only one running them (so they are certainly orphaned)."""
        with self.store.session() as s:
            return s.execute(update(Job).where(Job.status == "running")
                             .values(status="queued", message="re-queued: the process running it stopped")).rowcount

    def retry_later(self, job_id: str, reason: str) -> None:
        """A transient failure: back to queued with the reason, for the queue to retry."""
        with self.store.session() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.status == "running")
                      .values(status="queued", message=f"retrying: {reason}", updated_at=utcnow()))

    def request_cancel(self, job_id: str, tenant: str | None = None) -> Job:
        """A queued job is cancelled now; a running one stops at its next checkpoint."""
        job = self.get(job_id, tenant)
        if job.status in FINISHED:
            return job
        with self.store.session() as s:
            s.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True, updated_at=utcnow()))
            s.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                      .values(status="cancelled", finished_at=utcnow(), message="cancelled before it ran"))
        return self.get(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        with self.store.session() as s:
            return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    # -- webhooks -------------------------------------------------------------------------
    def webhook_secret(self, tenant: str) -> str:
        t = self.store.tenant(tenant)
        if t.webhook_secret:
            return t.webhook_secret
        with self.store.session() as s:
            s.execute(update(Tenant).where(Tenant.id == t.id, Tenant.webhook_secret.is_(None))
                      .values(webhook_secret=secrets.token_hex(32)))
        return self.store.tenant(tenant).webhook_secret

    def record_delivery(self, job_id: str, attempt: int, url: str, status_code: int | None, error: str | None,
                        delivered: bool) -> None:
        with self.store.session() as s:
            s.add(WebhookDelivery(job_id=job_id, attempt=attempt, url=url, status_code=status_code, error=error,
                                  delivered=delivered))

    def deliveries(self, job_id: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            rows = s.scalars(select(WebhookDelivery).where(WebhookDelivery.job_id == job_id).order_by(WebhookDelivery.id))
            return [{"attempt": r.attempt, "url": r.url, "status_code": r.status_code, "error": r.error,
                     "delivered": r.delivered, "at": _iso(r.created_at)} for r in rows]


__all__ = ["FINISHED", "KINDS", "JobConflictError", "JobInputError", "JobStore", "job_summary"]
