"""Jobs through both JobQueue backends: the embedded worker thread, and real Celery
workers (subprocesses) on the real Redis. One conformance suite for both, then what only
a broker can do wrong: a worker killed mid-ingest, connections dropped.

Redis: DB 15 with a key prefix unique to the test, deleted afterwards.
"""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from docgen import make_pdf
from workerproc import Worker, wait_for

from core.jobs import JobStore
from core.settings import Settings

REDIS_DB = 15


def _redis(url: str):
    import redis

    return redis.Redis.from_url(url)


def contracts(folder: Path, n: int, long: bool = False) -> list[Path]:
    """Generated contracts; `long` ones fill two pages (about eight chunks each), so a batch
    of them spans several embedding calls."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        pages = [f"Agreement number {i} between Vendor {i} Ltd and Customer {i} Inc.\nClause {i}.1 Fees are due monthly.",
                 f"Clause {i}.2 Either party may terminate with {30 + i} days notice.\nClause {i}.3 Unique marker zebra{i}."]
        if long:
            filler = "\n".join(f"Section {i}.{k} The supplier shall keep records of service level {k} for audit." for k in range(45))
            pages = [f"{pages[0]}\n{filler}", f"{pages[1]}\n{filler}"]
        p = folder / f"contract_{i:02d}.pdf"
        p.write_bytes(make_pdf(pages))
        out.append(p)
    return out


@pytest.fixture(params=["embedded", pytest.param("celery", marks=pytest.mark.integration)])
def jobs_env(request, tmp_path):
    """(runtime, start_worker) on the chosen queue; the runtime's queue submits jobs."""
    from workers.runtime import Runtime

    prefix = f"dt{uuid.uuid4().hex[:10]}"
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    # embedded is the laptop mode (SQLite); Celery workers share a PostgreSQL schema, as deployed
    base = request.getfixturevalue("pg_settings") if request.param == "celery" else Settings(data_dir=tmp_path / "var", _env_file=None)
    settings = base.model_copy(update=dict(job_queue=request.param, redis_url=redis_url, queue_prefix=prefix,
                                           job_visibility_timeout_s=8, job_retry_backoff_s=0.2, job_lease_s=2, webhook_backoff_s=0.05,
                                           webhook_allow_private=True, webhook_max_attempts=3))
    rt = Runtime.create(settings)
    workers: list[Worker] = []
    env = {**os.environ, "DOCINTEL_DATA_DIR": str(settings.data_dir), "DOCINTEL_REDIS_URL": redis_url,
           "DOCINTEL_DATABASE_URL": settings.database_url, "DOCINTEL_DATABASE_SCHEMA": settings.database_schema,
           "DOCINTEL_QUEUE_PREFIX": prefix, "DOCINTEL_JOB_QUEUE": "celery", "DOCINTEL_JOB_VISIBILITY_TIMEOUT_S": "8",
           "DOCINTEL_JOB_RETRY_BACKOFF_S": "0.2", "DOCINTEL_JOB_LEASE_S": "2", "DOCINTEL_WEBHOOK_BACKOFF_S": "0.05", "DOCINTEL_WEBHOOK_MAX_ATTEMPTS": "3",
           "DOCINTEL_WEBHOOK_ALLOW_PRIVATE": "true"}  # the test's receiver listens on loopback
    if request.param == "celery":
        try:
            _redis(redis_url).ping()
        except Exception as exc:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"Redis not reachable: {exc}")

    def start_worker() -> Worker | None:
        if request.param != "celery":
            return None
        w = Worker(env, tmp_path / f"worker{len(workers)}.log").start()
        workers.append(w)
        return w

    rt.start_worker = start_worker
    rt.backend = request.param
    yield rt
    for w in workers:
        w.stop()
    rt.job_queue.close()
    if request.param == "celery":
        r = _redis(redis_url)
        keys = list(r.scan_iter(f"{prefix}*"))
        if keys:
            r.delete(*keys)
    rt.store.engine.dispose()


def eventually(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def indexed_counts(rt, collection: str) -> tuple[int, int, int]:
    """(chunk rows, dense vectors, BM25 entries) of a collection, each counted where it lives."""
    coll = rt.store.collection(rt.settings.default_tenant, collection)
    rows = len(rt.store.all_chunk_ids(coll.id))
    index = rt.index(coll.id)
    index.refresh()
    return rows, len(index.vectors.ids()), len(index.keywords.ids())


@pytest.mark.slow
def test_submit_runs_to_success_with_progress(jobs_env, tmp_path):
    rt = jobs_env
    paths = contracts(tmp_path / "in", 10, long=True)  # two embedding batches: progress shows between them
    job = rt.submit_job("ingest", {"paths": [str(p) for p in paths]}, "legal")
    assert job["status"] == "queued" and job["attempts"] == 0
    rt.start_worker()
    seen: list[dict] = []
    done = wait_for(rt, job["id"], seen=seen)
    assert done["status"] == "succeeded", done
    assert done["result"]["indexed"] == 10 and done["progress"] == 1.0 and done["attempts"] == 1
    assert any(j["status"] == "running" and 0 < j["progress"] < 1 for j in seen), "progress never seen while running"
    rows, vectors, keywords = indexed_counts(rt, "legal")
    assert rows == vectors == keywords and rows >= 40
    hits = rt.search("zebra2", "legal", k=1, mode="bm25")
    assert hits and hits[0].document_name == "contract_02.pdf"


@pytest.mark.slow
def test_same_idempotency_key_same_job(jobs_env, tmp_path):
    rt = jobs_env
    [p] = contracts(tmp_path / "in", 1)
    a = rt.submit_job("ingest", {"paths": [str(p)]}, "legal", idempotency_key="upload-42")
    b = rt.submit_job("ingest", {"paths": [str(p)]}, "legal", idempotency_key="upload-42")
    other_tenant = rt.submit_job("ingest", {"paths": [str(p)]}, "legal", tenant="acme", idempotency_key="upload-42")
    assert a["id"] == b["id"] and other_tenant["id"] != a["id"]
    rt.start_worker()
    assert wait_for(rt, a["id"])["status"] == "succeeded"
    assert len(rt.jobs.list(rt.settings.default_tenant)) == 1


@pytest.mark.slow
def test_a_corrupt_pdf_fails_once_with_its_reason(jobs_env, tmp_path):
    rt = jobs_env
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not a pdf")
    job = rt.submit_job("ingest", {"paths": [str(bad)]}, "legal")
    rt.start_worker()
    done = wait_for(rt, job["id"])
    assert done["status"] == "failed" and done["attempts"] == 1
    assert "broken.pdf" in done["error"] and "PDF" in done["error"]
    time.sleep(1.0)  # no retry comes later
    assert wait_for(rt, job["id"])["attempts"] == 1


@pytest.mark.slow
def test_cancel_a_queued_job_and_a_running_one(jobs_env, tmp_path):
    rt = jobs_env
    paths = contracts(tmp_path / "in", 20, long=True)
    # queued: the row is cancelled at once; its message, when it comes, does nothing
    queued, _ = rt.jobs.create("ingest", rt.settings.default_tenant, {"paths": [str(paths[0])]}, "early")
    assert rt.jobs.request_cancel(queued.id).status == "cancelled"
    rt.job_queue.enqueue(queued.id, "ingest")
    # running: stops between documents, keeps what it finished
    job = rt.submit_job("ingest", {"paths": [str(p) for p in paths]}, "legal")
    rt.start_worker()
    wait_for(rt, job["id"], until=("running",))
    deadline = time.monotonic() + 120
    while wait_for(rt, job["id"], until=("running", "succeeded"))["progress"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    rt.jobs.request_cancel(job["id"])
    done = wait_for(rt, job["id"])
    assert done["status"] == "cancelled", done
    finished = [d for d in done["result"]["documents"] if d["status"] == "indexed"]
    assert 1 <= len(finished) < 20
    rows, vectors, keywords = indexed_counts(rt, "legal")
    assert rows == vectors == keywords > 0
    assert wait_for(rt, queued.id)["status"] == "cancelled" and wait_for(rt, queued.id)["attempts"] == 0


class Receiver(http.server.BaseHTTPRequestHandler):
    status = 200
    calls: list[tuple[dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    handler = type("R", (Receiver,), {"calls": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.mark.slow
def test_webhook_is_signed_and_a_failing_receiver_is_retried(jobs_env, tmp_path, receiver):
    from workers.webhooks import HEADER, verify

    rt = jobs_env
    handler, url = receiver
    [p] = contracts(tmp_path / "in", 1)
    job = rt.submit_job("ingest", {"paths": [str(p)]}, "legal", callback_url=url)
    rt.start_worker()
    assert wait_for(rt, job["id"])["status"] == "succeeded"
    assert eventually(lambda: handler.calls)
    headers, body = handler.calls[0]
    secret = rt.jobs.webhook_secret(rt.settings.default_tenant)
    assert verify(secret, headers[HEADER], body)
    assert not verify(secret, headers[HEADER], body.replace(b"succeeded", b"failed"))  # tampered body
    assert json.loads(body)["job"]["id"] == job["id"] and json.loads(body)["type"] == "job.succeeded"

    handler.status = 500
    [q] = contracts(tmp_path / "in2", 1)
    job2 = rt.submit_job("ingest", {"paths": [str(q)]}, "legal", callback_url=url)
    wait_for(rt, job2["id"])
    assert eventually(lambda: len(rt.jobs.deliveries(job2["id"])) >= 3)
    attempts = rt.jobs.deliveries(job2["id"])
    assert [a["attempt"] for a in attempts] == [1, 2, 3] and all(a["status_code"] == 500 and not a["delivered"] for a in attempts)


@pytest.mark.unit
def test_callback_urls_must_be_http(tmp_path):
    from core.jobs import JobInputError
    from core.store import Store

    jobs = JobStore(Store.from_settings(Settings(data_dir=tmp_path / "var", _env_file=None)))
    for bad in ("file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)"):
        with pytest.raises(JobInputError, match="http"):
            jobs.create("ingest", "default", {"paths": []}, "c", callback_url=bad)
    with pytest.raises(JobInputError, match="kind"):
        jobs.create("launch", "default", {}, "c")


@pytest.fixture
def celery_env(jobs_env):
    if jobs_env.backend != "celery":
        pytest.skip("broker behaviour")
    return jobs_env


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("jobs_env", ["celery"], indirect=True)
def test_a_worker_killed_mid_ingest_is_redelivered_and_nothing_is_lost_or_doubled(celery_env, tmp_path):
    rt = celery_env
    paths = contracts(tmp_path / "in", 16, long=True)
    job = rt.submit_job("ingest", {"paths": [str(p) for p in paths]}, "legal")
    first = rt.start_worker()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        j = wait_for(rt, job["id"], until=("running", "succeeded", "failed"))
        if j["status"] != "running" or j["progress"] >= 0.3:
            break
        time.sleep(0.05)
    assert j["status"] == "running" and 0.3 <= j["progress"] < 1, j
    first.kill()  # SIGKILL mid-ingest: no ack, no clean-up
    rt.start_worker()
    done = wait_for(rt, job["id"], timeout=240)
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    # the re-delivered run finds the finished documents unchanged and indexes the rest
    statuses = {d["status"] for d in done["result"]["documents"]}
    assert statuses <= {"indexed", "unchanged"} and "unchanged" in statuses
    coll = rt.store.collection(rt.settings.default_tenant, "legal")
    docs = rt.store.list_documents(coll.id)
    assert len(docs) == 16 and all(d.status == "indexed" for d in docs)
    expected = sum(rt.store.chunk_count(d.id) for d in docs)
    rows, vectors, keywords = indexed_counts(rt, "legal")
    assert rows == vectors == keywords == expected
    for i in (0, 7, 15):  # both retrievers find the first, a middle and the last document
        assert rt.search(f"zebra{i}", "legal", k=1, mode="bm25")[0].document_name == f"contract_{i:02d}.pdf"
        assert any(h.document_name == f"contract_{i:02d}.pdf"
                   for h in rt.search(f"Unique marker zebra{i}", "legal", k=16, mode="dense"))


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("jobs_env", ["celery"], indirect=True)
def test_dropped_redis_connections_do_not_lose_the_job(celery_env, tmp_path):
    rt = celery_env
    paths = contracts(tmp_path / "in", 10, long=True)
    job = rt.submit_job("ingest", {"paths": [str(p) for p in paths]}, "legal")
    rt.start_worker()
    wait_for(rt, job["id"], until=("running",))
    r = _redis(rt.settings.redis_url)
    killed = 0
    for _ in range(3):  # every connection to our DB, a few times while the job runs
        for client in r.client_list():
            if int(client.get("db", -1)) == REDIS_DB and client["id"] != str(r.client_id()):
                killed += r.client_kill_filter(_id=client["id"])
        time.sleep(1.0)
    assert killed >= 1
    done = wait_for(rt, job["id"], timeout=240)
    assert done["status"] == "succeeded", done
    rows, vectors, keywords = indexed_counts(rt, "legal")
    assert rows == vectors == keywords and len(rt.store.list_documents(
        rt.store.collection(rt.settings.default_tenant, "legal").id)) == 10


@pytest.mark.slow
def test_two_processes_ingesting_into_one_collection_keep_every_chunk(tmp_path):
    """Two `docintel ingest` processes, different documents, one collection, at once: the
    writer lock makes them take turns on the index files, and neither's chunks are lost."""
    from workers.runtime import Runtime

    a = contracts(tmp_path / "a", 6, long=True)
    b = [p.rename(p.with_name(f"other_{p.name}")) for p in contracts(tmp_path / "b", 6, long=True)]
    env = {**os.environ, "DOCINTEL_DATA_DIR": str(tmp_path / "var")}
    Runtime.create(Settings(data_dir=tmp_path / "var", _env_file=None)).store  # schema once, before both start
    procs = [subprocess.Popen([sys.executable, "-m", "cli.main", "ingest", *map(str, paths), "--collection", "shared", "--json"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for paths in (a, b)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    rt = Runtime.create(Settings(data_dir=tmp_path / "var", _env_file=None))
    rows, vectors, keywords = indexed_counts(rt, "shared")
    assert rows == vectors == keywords and rows >= 12 * 4
    for name in ("contract_02.pdf", "other_contract_04.pdf"):
        i = int(name[-6:-4])
        hits = rt.search(f"zebra{i}", "shared", k=2, mode="bm25")
        assert name in {h.document_name for h in hits}


@pytest.mark.slow
def test_review_and_answer_jobs_store_their_results(tmp_path):
    """A review job ingests the contract into the collection first (its clauses are then
    searchable) and keeps the review JSON and the HTML report on the job row; an answer job
    keeps the `ask --json` shape."""
    from workers.runtime import Runtime

    settings = Settings(data_dir=tmp_path / "var", llm_model="smollm2-135m-instruct-q4_1", _env_file=None)
    rt = Runtime.create(settings)
    contract = tmp_path / "msa.pdf"
    contract.write_bytes(make_pdf([
        "SERVICES AGREEMENT\nThis Services Agreement is made as of March 3, 2020 between Acme Widgets, Inc. and Globex LLC.",
        "9. Governing Law. This Agreement is governed by the laws of the State of Delaware.\n"
        "10. Either party may terminate this Agreement with ninety days written notice.",
    ]))
    review = rt.submit_job("review", {"path": str(contract)}, "contracts")
    rt.job_queue.join()
    done = wait_for(rt, review["id"])
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["review"]["terms"]["governing_law"]["value"] == "Delaware"
    assert result["review"]["document"]["document_id"] and "<html" in result["report_html"].lower()
    assert rt.search("governing law Delaware", "contracts", k=1)[0].document_name == "msa.pdf"

    answer = rt.submit_job("answer", {"question": "How much notice is needed to terminate?"}, "contracts")
    rt.job_queue.join()
    done = wait_for(rt, answer["id"])
    assert done["status"] == "succeeded" and {"answer", "abstained", "citations", "excerpt"} <= set(done["result"])
    missing = rt.submit_job("answer", {"question": "Anything?"}, "no-such-collection")
    rt.job_queue.join()
    failed = wait_for(rt, missing["id"])
    assert failed["status"] == "failed" and "no-such-collection" in failed["error"]
    rt.job_queue.close()


@pytest.mark.slow
def test_embedded_queue_picks_up_jobs_a_stopped_process_left(tmp_path):
    """The row is the truth: a job queued (or running) when its process stopped is run by
    the next process's embedded queue."""
    from workers.queue import EmbeddedJobQueue
    from workers.runtime import Runtime

    settings = Settings(data_dir=tmp_path / "var", _env_file=None)
    rt = Runtime.create(settings)
    [p] = contracts(tmp_path / "in", 1)
    left, _ = rt.jobs.create("ingest", settings.default_tenant, {"paths": [str(p)]}, "legal")
    queue = EmbeddedJobQueue(settings, lambda: rt)
    assert queue.recover() == 1
    queue.join()
    assert wait_for(rt, left.id)["status"] == "succeeded"
    assert queue.recover() == 0
    queue.close()


@pytest.mark.slow
def test_callback_urls_to_internal_addresses_are_refused_unless_allowed():
    from core.jobs import JobInputError
    from workers.webhooks import check_callback_url

    for url in ("http://127.0.0.1:8080/x", "http://localhost/x", "http://10.0.0.5/x", "http://169.254.169.254/",
                "http://[::1]/x", "https:///nohost"):
        with pytest.raises(JobInputError):
            check_callback_url(url)
    check_callback_url("https://93.184.216.34/hook")  # a public address: fine
    check_callback_url("http://127.0.0.1:8080/x", allow_private=True)


@pytest.mark.unit
def test_an_eval_job_reaches_the_evaluation_code_on_both_queues(jobs_env, tmp_path):
    """evaluation registers its "eval" kind when a process is composed (cli/composition.py):
    this process for the submission, `docintel worker` (a subprocess) for the run. A data path
    that does not exist fails the job with the runner's reason, not "no task registered"."""
    from cli.composition import install

    install()
    rt = jobs_env
    rt.start_worker()
    job = rt.submit_job("eval", {"suite": "jsonl", "data": str(tmp_path / "no-such.jsonl")})
    if hasattr(rt.job_queue, "join"):
        rt.job_queue.join()
    done = wait_for(rt, job["id"], timeout=120)
    assert done["status"] == "failed" and "does not exist" in done["error"], done
