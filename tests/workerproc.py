"""Helpers for tests that run real `docintel worker` processes (Celery on the real Redis):
the worker subprocess and waiting for a job row to reach a state."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from core.jobs import JobStore

ROOT = Path(__file__).resolve().parents[1]


class Worker:
    """`docintel worker` as a real subprocess: one job at a time (solo pool), its output in `log`."""

    def __init__(self, env: dict, log: Path, name: str | None = None):
        self.env, self.log = env, log
        self.name = name or f"test-{uuid.uuid4().hex[:6]}@localhost"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        fh = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker", "-Q", "ingest,llm,eval", "-c", "1", "--pool", "solo",
             "-n", self.name], env=self.env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(rt, job_id: str, timeout: float = 180, until=("succeeded", "failed", "cancelled"), seen=None) -> dict:
    """The job's summary once its status is one of `until` (AssertionError after `timeout` s)."""
    from core.jobs import job_summary

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = job_summary(JobStore(rt.store).get(job_id))
        if seen is not None:
            seen.append(job)
        if job["status"] in until:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
