"""Empty-task round trip through Celery on Redis, with the job queue's own settings
(acks late, prefetch 1, the visibility timeout), and jobs/s for a burst.

    python -m bench.celery_roundtrip [--n 300] [--burst 2000] [--json OUT]

Starts one worker process (`celery worker --pool solo`, the app of workers/celery_app.py
plus an empty task) on a queue and key prefix of its own in Redis DB 14, and times
`apply_async(...).get()` one at a time (p50/p95), then a burst sent at once until the
last result is back.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from core.fileio import atomic_write_json
from core.settings import Settings
from workers.celery_app import make_celery, queue_name

PREFIX = os.environ.get("DOCINTEL_QUEUE_PREFIX", f"bench{uuid.uuid4().hex[:8]}")
SETTINGS = Settings(redis_url="redis://127.0.0.1:6379/14", queue_prefix=PREFIX, _env_file=None)
app = make_celery(SETTINGS)
app.conf.result_backend = SETTINGS.redis_url
app.conf.task_ignore_result = False
app.conf.result_backend_transport_options = {"global_keyprefix": f"{PREFIX}:"}


@app.task(name="bench.empty", ignore_result=False)
def empty() -> int:
    return 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    queue = queue_name(SETTINGS, "bench")
    env = {**os.environ, "DOCINTEL_QUEUE_PREFIX": PREFIX}
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bench.celery_roundtrip:app", "worker", "--pool", "solo",
                               "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        empty.apply_async(queue=queue).get(timeout=60)  # the worker is up
        lat = []
        for _ in range(args.n):
            t0 = time.perf_counter()
            empty.apply_async(queue=queue).get(timeout=30)
            lat.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        results = [empty.apply_async(queue=queue) for _ in range(args.burst)]
        for r in results:
            r.get(timeout=120)
        burst_s = time.perf_counter() - t0
    finally:
        worker.terminate()
        worker.wait(30)
        import redis

        r = redis.Redis.from_url(SETTINGS.redis_url)
        keys = list(r.scan_iter(f"{PREFIX}*"))
        if keys:
            r.delete(*keys)
    report = {"round_trip_ms": {"p50": round(float(np.percentile(lat, 50)), 2), "p95": round(float(np.percentile(lat, 95)), 2)},
              "burst": args.burst, "burst_s": round(burst_s, 2), "jobs_per_s": round(args.burst / burst_s, 1)}
    print(report)
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
