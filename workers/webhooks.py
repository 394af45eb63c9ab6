"""Signed webhooks: a finished job's event POSTed to its callback URL.

The signature is HMAC-SHA256, keyed by the tenant's secret, over "<timestamp>.<body>",
sent as `X-DocIntel-Signature: t=<timestamp>,v1=<hex>` (a receiver checks it and refuses
old timestamps; docs/jobs.md). Failed attempts are retried with exponential backoff;
every attempt is recorded.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx

from core.errors import DocIntelError
from core.jobs import JobStore, job_summary
from core.settings import Settings

log = logging.getLogger(__name__)
HEADER = "X-DocIntel-Signature"


def check_callback_url(url: str, allow_private: bool = False) -> None:
    """Refuse a callback that is not http(s), or whose host resolves to a loopback, private,
    link-local or otherwise internal address (unless allowed): a writer must not be able to
    make the server call its own network (cloud metadata, admin ports). Checked at submit
    and again before each delivery (DNS may have changed)."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    from core.jobs import JobInputError

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JobInputError(f"callback_url must be an http(s) URL with a host, not '{url[:80]}'")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise JobInputError(f"callback_url host '{parts.hostname}' does not resolve ({exc})") from exc
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise JobInputError(f"callback_url host '{parts.hostname}' resolves to {ip}, an internal address; "
                                "set DOCINTEL_WEBHOOK_ALLOW_PRIVATE=true to allow that")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300, now: float | None = None) -> bool:
    """What a receiver does: recompute the MAC, compare in constant time, refuse replays."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), header.encode("utf-8", "replace"))


def event(job) -> dict[str, Any]:
    summary = job_summary(job)
    if job.kind == "review" and summary.get("result"):  # the report is fetched by id, not pushed
        summary["result"] = {k: v for k, v in summary["result"].items() if k != "report_html"}
    return {"type": f"job.{job.status}", "job": summary}


def deliver(jobs: JobStore, job, settings: Settings, client: httpx.Client | None = None) -> bool:
    """POST the job's event until a 2xx or settings.webhook_max_attempts; True if delivered."""
    body = json.dumps(event(job), sort_keys=True, default=str).encode()
    secret = jobs.webhook_secret(jobs.tenant_of(job))
    own = client is None
    client = client or httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False)
    try:
        for attempt in range(1, settings.webhook_max_attempts + 1):
            headers = {"Content-Type": "application/json", HEADER: sign(secret, int(time.time()), body),
                       "User-Agent": "DocIntel-Webhook/1"}
            status, error = None, None
            try:
                check_callback_url(job.callback_url, settings.webhook_allow_private)
                status = client.post(job.callback_url, content=body, headers=headers).status_code
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                error = f"{type(exc).__name__}: {exc}"
            except DocIntelError as exc:  # the host now resolves to an internal address: not sent
                jobs.record_delivery(job.id, attempt, job.callback_url, None, str(exc), False)
                log.warning("webhook refused", extra={"job_id": job.id, "error": str(exc)})
                return False
            ok = status is not None and 200 <= status < 300
            jobs.record_delivery(job.id, attempt, job.callback_url, status, error if not ok else None, ok)
            if ok:
                return True
            log.warning("webhook attempt failed", extra={"job_id": job.id, "attempt": attempt, "status": status, "error": error})
            if attempt < settings.webhook_max_attempts:
                time.sleep(settings.webhook_backoff_s * 2 ** (attempt - 1))
        return False
    finally:
        if own:
            client.close()
