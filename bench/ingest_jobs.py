"""Ingesting CUAD contracts as jobs: embedded, and Celery with one and two worker processes.

    python -m bench.ingest_jobs --cuad ../shared/data/cuad-dev [--contracts 50] [--jobs 10] \\
        [--modes embedded,celery1,celery2,celery2-split] [--profile] [--json OUT]

The first N contracts of `pdf/` are split into `--jobs` ingest jobs (paths on disk, as
`docintel jobs ingest` sends them) and submitted at once; the clock runs from the first
job starting to the last one finishing (job rows), after a warm-up job per worker so that
model loading is not counted. Modes, each on a fresh data directory:

- embedded:      one process, the embedded queue (SQLite), every core to its embedder
- celery1:       one `docintel worker --concurrency 1` on Redis + a PostgreSQL schema,
                 every core to its embedder
- celery2:       two workers, one embedder thread each (the sum fits the cores:
                 docs/deployment.md), all jobs into one collection
- celery2-split: the same two workers, jobs alternating between two collections

`--profile` samples the celery1 worker with py-spy and says where its time goes.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from core.fileio import atomic_write_json
from core.settings import Settings

PG_URL = os.environ.get("DOCINTEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CATEGORIES = [  # first match wins, from the innermost frame out
    ("parse PDF (pypdf)", r"pypdf/"),
    ("embed (torch)", r"torch/|sentence_transformers/|transformers/"),
    ("chunk (tokenizer, splitter)", r"tokenizers|langchain_text_splitters|ingestion/chunking"),
    ("sentence vectors", r"ingestion/sentences"),
    ("database", r"sqlalchemy/|psycopg/|sqlite3"),
    ("index files (FAISS, BM25)", r"faiss/|bm25s/|retrieval/"),
    ("broker (Celery, Redis)", r"celery/|kombu/|redis/"),
]


def _jobs_done(rt, ids: list[str], timeout: float = 3600) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = [rt.jobs.get(i) for i in ids]
        if all(j.status in ("succeeded", "failed", "cancelled") for j in jobs):
            return jobs
        time.sleep(0.5)
    raise SystemExit(f"jobs did not finish: {[(j.id, j.status) for j in jobs]}")


def _summary(mode: str, jobs: list, workers: int) -> dict:
    start = min(j.started_at for j in jobs)
    end = max(j.finished_at for j in jobs)
    wall = (end - start).total_seconds()
    docs = [d for j in jobs for d in (j.result or {}).get("documents", [])]
    pages = sum(d["pages"] for d in docs if d["status"] == "indexed")
    return {"mode": mode, "workers": workers, "jobs": len(jobs), "failed_jobs": sum(j.status != "succeeded" for j in jobs),
            "documents": len(docs), "indexed": sum(d["status"] == "indexed" for d in docs),
            "chunks": sum(d["chunks"] for d in docs), "pages": pages, "wall_s": round(wall, 1),
            "pages_per_s": round(pages / wall, 2) if wall else None}


def _batches(pdfs: list[Path], n: int) -> list[list[str]]:
    return [[str(p) for p in pdfs[i::n]] for i in range(n)]


def run_embedded(pdfs: list[Path], n_jobs: int, root: Path) -> dict:
    from workers.runtime import Runtime

    rt = Runtime.create(Settings(data_dir=root / "embedded", _env_file=None))
    warm = root / "warm.txt"
    rt.submit_job("ingest", {"paths": [str(warm)]}, "warm")
    rt.job_queue.join()
    ids = [rt.submit_job("ingest", {"paths": b}, "cuad")["id"] for b in _batches(pdfs, n_jobs)]
    rt.job_queue.join()
    out = _summary("embedded", _jobs_done(rt, ids), 1)
    rt.job_queue.close()
    return out


class CeleryRun:
    """Workers as subprocesses on a Redis key prefix and a PostgreSQL schema of their own."""

    def __init__(self, root: Path, workers: int, threads: int):
        import sqlalchemy

        from workers.runtime import Runtime

        self.schema, self.prefix = f"bench_{uuid.uuid4().hex[:10]}", f"bench{uuid.uuid4().hex[:8]}"
        self.engine = sqlalchemy.create_engine(PG_URL)
        with self.engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{self.schema}"'))
        self.settings = Settings(data_dir=root / f"celery{workers}", database_url=PG_URL, database_schema=self.schema,
                                 job_queue="celery", queue_prefix=self.prefix, redis_url="redis://127.0.0.1:6379/13",
                                 _env_file=None)
        self.rt = Runtime.create(self.settings)
        env = {**os.environ, "DOCINTEL_DATA_DIR": str(self.settings.data_dir), "DOCINTEL_DATABASE_URL": PG_URL,
               "DOCINTEL_DATABASE_SCHEMA": self.schema, "DOCINTEL_JOB_QUEUE": "celery", "DOCINTEL_QUEUE_PREFIX": self.prefix,
               "DOCINTEL_REDIS_URL": self.settings.redis_url, "DOCINTEL_EMBEDDING_THREADS": str(threads),
               "DOCINTEL_LOG_LEVEL": "WARNING"}
        self.procs = [subprocess.Popen([sys.executable, "-m", "cli.main", "worker", "--queues", "ingest,index",
                                        "--concurrency", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for _ in range(workers)]

    def warm(self, root: Path) -> None:
        warm = root / "warm.txt"
        ids = [self.rt.submit_job("ingest", {"paths": [str(warm)]}, f"warm{i}")["id"] for i in range(len(self.procs))]
        _jobs_done(self.rt, ids, 600)

    def run(self, mode: str, pdfs: list[Path], n_jobs: int, split: bool) -> dict:
        ids = [self.rt.submit_job("ingest", {"paths": b}, f"cuad{i % 2}" if split else "cuad")["id"]
               for i, b in enumerate(_batches(pdfs, n_jobs))]
        return _summary(mode, _jobs_done(self.rt, ids), len(self.procs))

    def close(self) -> None:
        import redis
        import sqlalchemy

        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(120)
        self.rt.store.engine.dispose()
        with self.engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        r = redis.Redis.from_url(self.settings.redis_url)
        keys = list(r.scan_iter(f"{self.prefix}*"))
        if keys:
            r.delete(*keys)


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen:
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "-p", str(pid), "-d", str(seconds), "-f", "raw", "-o", str(out),
                             "-r", "50", "--nonblocking", "--subprocesses"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def where_time_goes(raw: Path) -> dict:
    counts: collections.Counter = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        frames = stack.split(";")
        label = "other (Python glue, job bookkeeping)"
        for frame in reversed(frames):
            found = next((name for name, pattern in CATEGORIES if re.search(pattern, frame)), None)
            if found:
                label = found
                break
        counts[label] += int(n)
    total = sum(counts.values()) or 1
    return {k: round(v / total, 3) for k, v in counts.most_common()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", type=Path, required=True)
    ap.add_argument("--contracts", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--modes", default="embedded,celery1,celery2,celery2-split")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    pdfs = sorted((args.cuad / "pdf").glob("*.PDF"))[: args.contracts]
    root = Path(tempfile.mkdtemp(prefix="docintel-ingestjobs-"))
    (root / "warm.txt").write_text("A warm-up document: loads the embedding model before the clock starts.")
    modes = args.modes.split(",")
    results = []
    if "embedded" in modes:
        results.append(run_embedded(pdfs, args.jobs, root))
        print(results[-1], file=sys.stderr)
    if "celery1" in modes:
        run = CeleryRun(root, 1, 0)
        try:
            run.warm(root)
            spy = profile(run.procs[0].pid, 36000, root / "spy.txt") if args.profile else None
            results.append(run.run("celery1", pdfs, args.jobs, False))
            if spy is not None:
                spy.send_signal(2)  # py-spy writes its samples on SIGINT
                spy.wait(60)
                results[-1]["time_shares"] = where_time_goes(root / "spy.txt")
        finally:
            run.close()
        print(results[-1], file=sys.stderr)
    for mode in ("celery2", "celery2-split"):
        if mode in modes:
            run = CeleryRun(root, 2, 1)
            try:
                run.warm(root)
                results.append(run.run(mode, pdfs, args.jobs, mode.endswith("split")))
            finally:
                run.close()
            print(results[-1], file=sys.stderr)
    out = {"machine": f"{os.cpu_count()} cores", "contracts": len(pdfs), "results": results}
    print(__import__("json").dumps(out, indent=2))
    if args.json:
        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
