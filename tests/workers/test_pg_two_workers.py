"""Issue 19: two `docintel worker` processes ingest into one collection at once with the
postgres index backend, then a third process searches it through the runtime (as the API
and `docintel search` do): every chunk is found, none is duplicated.

Real services: the pgvector server of the `pgvector_url` fixture (store and indexes in one
schema), Redis DB 14 under a key prefix unique to the test (deleted afterwards), and the
real MiniLM embedder in the workers (small documents keep it to seconds). The two workers
take jobs from the same queue; their logs show which ran which job, and the job rows' times
show that both were writing the collection in the same stretch of time.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from docgen import make_pdf
from workerproc import ROOT, Worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REDIS_DB = 14
COLLECTION = "shared"
ANIMALS = ["otter", "falcon", "badger", "heron", "lynx", "walrus", "gecko", "bison", "puffin", "marmot", "ibex", "koala",
           "narwhal", "ocelot", "pelican", "quail", "raccoon", "salamander", "tapir", "vulture", "wombat", "yak", "zebu",
           "armadillo"]
CITIES = ["Lisbon", "Oslo", "Nairobi", "Quito", "Hanoi", "Tbilisi", "Perth", "Reykjavik", "Lima", "Dakar", "Riga", "Osaka",
          "Bergen", "Cusco", "Tunis", "Porto", "Gdansk", "Malaga", "Tallinn", "Zagreb", "Dublin", "Cork", "Split", "Turku"]
N_DOCS = len(ANIMALS)
JOBS = 6  # of N_DOCS / JOBS documents each: both workers take several
SHARED = (3, 16)  # also submitted in a second job: the same file ingested twice at about the same time


def phrase(i: int) -> str:
    """Words only document i holds: its keeper's code and its animal and city."""
    return f"keeper kx{i:02d}q feeds the {ANIMALS[i]} of {CITIES[i]}"


def make_documents(folder: Path) -> list[Path]:
    """N_DOCS small documents (PDF and text, alternately) of two or three chunks each, every
    chunk's text distinct from every other."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(N_DOCS):
        animal, city = ANIMALS[i], CITIES[i]
        lines = [f"Care agreement {i} for the {animal} sanctuary of {city}.",
                 f"At dawn the {phrase(i)}, then records it."]
        lines += [f"Section {i}.{k}: the {animal} enclosure {k} in {city} is inspected every {k + 2} days for "
                  f"fence damage, water quality and feed stock, and the report is filed with warden {i * 100 + k}."
                  for k in range(8)]
        if i % 2:
            p = folder / f"doc_{i:02d}.txt"
            p.write_text("\n".join(lines) + "\n")
        else:
            p = folder / f"doc_{i:02d}.pdf"
            p.write_bytes(make_pdf(["\n".join(lines[:8]), "\n".join(lines[8:])]))
        out.append(p)
    return out


# Runs in its own process with the runtime (as `docintel search` would): the collection's
# rows and index entries counted where they live, and searched.
CHECK = r"""
import json, sys
import sqlalchemy as sa
from workers.runtime import Runtime

args = json.loads(sys.argv[1])
rt = Runtime.create()
coll = rt.store.collection(rt.settings.default_tenant, args["collection"])
c = coll.id
q = lambda sql: [tuple(r) for r in conn.execute(sa.text(sql), {"c": c}).all()]
with rt.store.engine.connect() as conn:
    docs = q("SELECT name, status, version FROM documents WHERE collection_id = :c")
    rows = q("SELECT ch.id, ch.document_id, ch.ordinal, d.name FROM chunks ch JOIN documents d ON d.id = ch.document_id "
             "WHERE d.collection_id = :c")
    out = {
        "documents": docs,
        "rows": rows,
        "duplicate_ordinals": q("SELECT ch.document_id, ch.ordinal FROM chunks ch JOIN documents d ON d.id = ch.document_id "
                                "WHERE d.collection_id = :c GROUP BY 1, 2 HAVING count(*) > 1"),
        "vector_ids": [r[0] for r in q(f"SELECT chunk_id FROM docintel_vec_{c}")],
        "keyword_ids": [r[0] for r in q(f"SELECT chunk_id FROM docintel_kw_{c}")],
        "posting_ids": [r[0] for r in q(f"SELECT DISTINCT chunk_id FROM docintel_post_{c}")],
        "keyword_groups": q(f"SELECT chunk_id, group_id FROM docintel_kw_{c}"),
        "tokens": q(f"SELECT coalesce(sum(length), 0) FROM docintel_kw_{c}")[0][0],
        "groups": q(f"SELECT group_id, chunks, length FROM docintel_kwgroup_{c}"),
        "vector_meta": q("SELECT vectors FROM docintel_index_vectors WHERE collection_id = :c"),
        "keyword_meta": q("SELECT chunks, tokens FROM docintel_index_keywords WHERE collection_id = :c"),
    }
index = rt.index(c)
index.refresh()
out["vectors_len"], out["keywords_len"] = len(index.vectors), len(index.keywords)
ids = [r[0] for r in rows]
own = index.vectors.reconstruct(ids)
out["lost_vectors"] = [i for i in ids if i not in own]
# every chunk found: its own vector finds it first among all chunks; its text finds it by
# BM25 (filtered to it: its postings are there and searched)
out["vector_self"] = {i: [h for h, _ in index.vectors.search(own[i], 1)] for i in ids if i in own}
with rt.store.engine.connect() as conn:
    text_of = dict(q("SELECT ch.id, ch.text FROM chunks ch JOIN documents d ON d.id = ch.document_id WHERE d.collection_id = :c"))
out["keyword_self"] = {i: [h for h, _ in index.keywords.search(text_of[i], 1, allowed_ids={i})] for i in ids}
out["search"] = {name: {mode: [h.document_name for h in rt.search(query, args["collection"], k=k, mode=mode)]
                        for mode, k in (("bm25", 1), ("hybrid", 3), ("dense", 5))}
                 for name, query in args["queries"].items()}
print(json.dumps(out))
"""


@pytest.fixture
def two_workers(pgvector_settings, tmp_path):
    """(runtime that submits jobs, [two started workers]) on the postgres index backend."""
    import redis

    from workers.runtime import Runtime

    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    try:
        redis.Redis.from_url(redis_url).ping()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable: {exc}")
    prefix = f"dt{uuid.uuid4().hex[:10]}"
    settings = pgvector_settings.model_copy(update=dict(job_queue="celery", redis_url=redis_url, queue_prefix=prefix,
                                                        job_visibility_timeout_s=120, job_retry_backoff_s=0.2))
    rt = Runtime.create(settings)
    rt.store  # the schema once, before the workers start
    env = {**os.environ, "DOCINTEL_DATA_DIR": str(settings.data_dir), "DOCINTEL_DATABASE_URL": settings.database_url,
           "DOCINTEL_DATABASE_SCHEMA": settings.database_schema, "DOCINTEL_INDEX_BACKEND": "postgres",
           "DOCINTEL_REDIS_URL": redis_url, "DOCINTEL_QUEUE_PREFIX": prefix, "DOCINTEL_JOB_QUEUE": "celery",
           "DOCINTEL_JOB_VISIBILITY_TIMEOUT_S": "120", "DOCINTEL_JOB_RETRY_BACKOFF_S": "0.2",
           # two workers and the test share the cores; queries embedded by the same torch model (no
           # int8 encoder to build); no reranker, so no sentence vectors to embed
           "DOCINTEL_EMBEDDING_THREADS": "1", "DOCINTEL_QUERY_EMBEDDING_RUNTIME": "torch", "DOCINTEL_RERANKER": "none"}
    workers = [Worker(env, tmp_path / f"worker{n}.log", name=f"w{n}-{prefix}@localhost").start() for n in range(2)]
    rt.env = env
    try:
        yield rt, workers
    finally:
        for w in workers:  # both finish at once
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in workers:
            w.stop()
        rt.job_queue.close()
        r = redis.Redis.from_url(redis_url)
        keys = list(r.scan_iter(f"{prefix}*"))
        if keys:
            r.delete(*keys)
        rt.store.engine.dispose()


def _started_by(workers: list[Worker]) -> dict[str, str]:
    """job id -> the name of the worker whose log says it started it."""
    return {m: w.name for w in workers for m in re.findall(r"job started job_id=(\S+)", w.output())}


def _overlap(a: dict, b: dict) -> bool:
    t = datetime.fromisoformat
    return t(a["started_at"]) < t(b["finished_at"]) and t(b["started_at"]) < t(a["finished_at"])


def test_two_workers_ingest_one_collection_then_another_process_finds_every_chunk_once(two_workers, tmp_path):
    rt, workers = two_workers
    paths = make_documents(tmp_path / "in")
    batches = [paths[j::JOBS] for j in range(JOBS)]
    for i in SHARED:  # the same file in a second job, which another worker may be running
        batches[(i % JOBS + 1) % JOBS].append(paths[i])
    jobs = [rt.submit_job("ingest", {"paths": [str(p) for p in batch]}, COLLECTION) for batch in batches]
    done = [wait_for(rt, j["id"], timeout=300) for j in jobs]
    logs = "\n".join(f"--- {w.name}\n{w.output()[-3000:]}" for w in workers)
    assert all(d["status"] == "succeeded" for d in done), (done, logs)

    # both workers ran jobs, and at least one job of each ran while one of the other's did
    by = _started_by(workers)
    assert {by.get(d["id"]) for d in done} == {w.name for w in workers}, (by, logs)
    assert any(_overlap(a, b) for a in done for b in done if by[a["id"]] != by[b["id"]]), done

    results = [r for d in done for r in d["result"]["documents"]]
    assert all(r["status"] in ("indexed", "unchanged") for r in results), results
    indexed = {}
    for r in results:
        if r["status"] == "indexed":
            indexed.setdefault(Path(r["path"]).name, []).append(r)
    assert sorted(indexed) == sorted(p.name for p in paths), "a document was never indexed"
    # a file given to two jobs is written once: the later job finds it indexed (under the lock)
    assert all(len(rs) == 1 for rs in indexed.values()), {n: rs for n, rs in indexed.items() if len(rs) > 1}

    queries = {p.name: phrase(i) for i, p in enumerate(paths)}
    proc = subprocess.run([sys.executable, "-c", CHECK, json.dumps({"collection": COLLECTION, "queries": queries})],
                          env=rt.env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    # the rows: every document once, indexed, one version; no chunk twice
    assert sorted(n for n, _, _ in out["documents"]) == sorted(p.name for p in paths)
    assert {(s, v) for _, s, v in out["documents"]} == {("indexed", 1)}, out["documents"]
    assert out["duplicate_ordinals"] == []
    rows = [r[0] for r in out["rows"]]
    assert len(rows) == len(set(rows)) >= 2 * N_DOCS
    # a document indexed by two jobs kept one set of chunks: the last writer's
    chunks_of = {}
    for _, _, _, name in out["rows"]:
        chunks_of[name] = chunks_of.get(name, 0) + 1
    assert all(r["chunks"] == chunks_of[name] for name, rs in indexed.items() for r in rs), (indexed, chunks_of)

    # the index entries: exactly one vector and one keyword entry per chunk row, nothing else
    for side in ("vector_ids", "keyword_ids", "posting_ids"):
        assert len(out[side]) == len(set(out[side])), f"{side}: duplicated ids"
        assert set(out[side]) == set(rows), f"{side}: lost {set(rows) - set(out[side])}, stray {set(out[side]) - set(rows)}"
    assert out["lost_vectors"] == []
    # the counters the concurrent writers kept (BM25's statistics) add up to the entries
    assert out["vector_meta"] == [[len(rows)]] and out["vectors_len"] == len(rows)
    assert out["keyword_meta"] == [[len(rows), out["tokens"]]] and out["keywords_len"] == len(rows)
    doc_of = {r[0]: r[1] for r in out["rows"]}
    assert all(g == doc_of[cid] for cid, g in out["keyword_groups"]), "a keyword entry is not grouped by its document"
    per_doc = {}
    for doc in doc_of.values():
        per_doc[doc] = per_doc.get(doc, 0) + 1
    assert {g: n for g, n, _ in out["groups"]} == per_doc
    assert sum(ln for _, _, ln in out["groups"]) == out["tokens"]

    # every chunk found by both retrievers
    assert {int(k): v for k, v in out["vector_self"].items()} == {i: [i] for i in rows}
    assert {int(k): v for k, v in out["keyword_self"].items()} == {i: [i] for i in rows}
    # each document's own phrase finds it: first by BM25, among the first 3 hybrid and 5 dense hits
    for name, hits in out["search"].items():
        assert hits["bm25"] == [name], (name, hits)
        assert name in hits["hybrid"], (name, hits)
        assert name in hits["dense"], (name, hits)
