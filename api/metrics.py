"""Prometheus metrics at /metrics: request latency by route, jobs by kind and status, pages
ingested, LLM tokens per second, queue depth. Counts that live in the database (jobs,
pages) are read at scrape time, so every API replica reports the same totals whichever
worker did the work."""
from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from core.models import Document, Job

log = logging.getLogger(__name__)


class _StoreCollector:
    def __init__(self, runtime):
        self.runtime = runtime

    def collect(self):
        jobs = GaugeMetricFamily("docintel_jobs", "Jobs by kind and status", labels=["kind", "status"])
        pages = GaugeMetricFamily("docintel_pages_ingested", "Pages of indexed documents")
        depth = GaugeMetricFamily("docintel_queue_depth", "Jobs waiting in each queue", labels=["queue"])
        try:
            with self.runtime.store.session() as s:
                for kind, status, n in s.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)):
                    jobs.add_metric([kind, status], n)
                pages.add_metric([], s.scalar(select(func.coalesce(func.sum(Document.pages), 0))
                                              .where(Document.status == "indexed")) or 0)
            for queue, n in self.runtime.job_queue.depth().items():
                depth.add_metric([queue], n)
        except Exception as exc:  # a scrape never fails the process; readyz tells what is down
            log.warning("metrics collection failed", extra={"error": str(exc)})
        yield jobs
        yield pages
        yield depth


class Metrics:
    def __init__(self, runtime):
        self.registry = CollectorRegistry()
        self.latency = Histogram("docintel_request_seconds", "HTTP request latency", ["method", "route", "status"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.llm_tokens = Counter("docintel_llm_completion_tokens", "Tokens the LLM generated for answers",
                                  registry=self.registry)
        self.llm_rate = Histogram("docintel_llm_tokens_per_second", "LLM decoding speed per answer",
                                  registry=self.registry, buckets=(1, 2, 5, 10, 15, 20, 30, 50, 100))
        self.registry.register(_StoreCollector(runtime))

    def observe_answer(self, usage: dict, timings: dict) -> None:
        tokens = int((usage or {}).get("completion_tokens") or 0)
        seconds = float((timings or {}).get("generate") or 0.0)
        if tokens:
            self.llm_tokens.inc(tokens)
            if seconds > 0:
                self.llm_rate.observe(tokens / seconds)
