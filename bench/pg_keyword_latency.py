"""Keyword search latency at scale: PgKeywordIndex (BM25 in SQL, the `postgres` backend)
against Bm25KeywordIndex (bm25s in memory, the `files` backend) on the same ~100k chunks of
real contract text, with real legal queries; and whether both rank alike there.

    python -m bench.pg_keyword_latency --keywords --cuad ../shared/data/cuad-dev \\
        --acord ../shared/data/acord [--pg-url postgresql+psycopg://...] [--chunks 100000] [--k 50]

Not a unit test. Without --pg-url a PostgreSQL with pgvector is started with pgserver in
--pgdata (kept running). Both indexes are built through retrieval.index_factory
(index_backend "files" / "postgres"); the postgres one in a schema of its own, dropped at the end.

Passages: the CUAD dev contracts' text files (sorted by name), each split into --words-word
chunks (about that many BM25 tokens before stop words) grouped by contract (one group per
contract, so the document weighting is on, as in the product); when there are fewer than
--chunks, the contracts are repeated with a suffix word per repetition (" copyN") as new
documents. Chunks are added one contract at a time (as ingestion adds a document), each
add committed by save().

Queries: ACORD's 114 queries (short: "New York Governing Law") and CUAD's 41 category
questions as the CUAD dataset asks them ('Highlight the parts (if any) of this contract related
to "<category>" that should be reviewed by a lawyer. Details: <description>', long, full of
common legal words), built from the category list in CUAD_v1_README.txt.

Filters: none; a random 1 % of the chunks (seeded per query); one contract's chunks (a
random contract per query). Each (backend, filter) runs a warm-up pass then --runs timed
passes over every query; the report gives per query set p50/p95 per pass and their medians.
"agree" is the share of queries ranked alike on both backends, ties aside (`same_ranking`:
bm25s scores in float32, BM25 in SQL in float64; the repeated contracts make exact ties,
and those at the k-th place may fall either side of the cut).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from core.settings import Settings
from retrieval.index_factory import make_keyword_index


def cuad_chunks(folder: Path, n: int, words: int) -> tuple[list[str], list[int]]:
    """(texts, document of each) for n chunks: ids are 1..n in this order."""
    docs = []
    for path in sorted((folder / "txt").glob("*.txt")):
        toks = path.read_text(encoding="utf-8", errors="replace").split()
        docs.append([" ".join(toks[i:i + words]) for i in range(0, len(toks), words)])
    texts, groups = [], []
    rep = 0
    while len(texts) < n:
        for d, chunks in enumerate(docs):
            for c in chunks:
                if len(texts) == n:
                    break
                texts.append(c if rep == 0 else f"{c} copy{rep}")
                groups.append(rep * len(docs) + d + 1)
        rep += 1
    return texts, groups


def cuad_questions(folder: Path) -> list[str]:
    readme = (folder / "CUAD_v1_README.txt").read_text(encoding="utf-8", errors="replace")
    cats = re.findall(r"Category:\s*(.+?)\s*\n\s*Description:\s*(.+?)\s*\n", readme)
    return [f'Highlight the parts (if any) of this contract related to "{c}" that should be reviewed by a lawyer. '
            f"Details: {d}" for c, d in cats]


def acord_queries(folder: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (folder / "queries.jsonl").open()]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def same_ranking(a: list[tuple[int, float]], b: list[tuple[int, float]], tol: float = 1e-6) -> bool:
    """Ties aside: the same scores rank by rank (within `tol` relative: bm25s scores in
    float32, BM25 in SQL in float64), and the same ids in the same order wherever the score
    is not tied, ties (within `tol`) compared as sets except the group at the cut (the k-th
    score's ties may fall either side of it)."""
    if len(a) != len(b):
        return False
    close = lambda x, y: abs(x - y) <= tol * max(abs(x), abs(y), 1e-12)  # noqa: E731
    if not all(close(x[1], y[1]) for x, y in zip(a, b)):
        return False
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and close(a[j + 1][1], a[i][1]):
            j += 1
        if j + 1 < len(a) and {h[0] for h in a[i:j + 1]} != {h[0] for h in b[i:j + 1]}:
            return False
        i = j + 1
    return True


def build(settings: Settings, texts: list[str], groups: list[int]) -> tuple[object, float]:
    index = make_keyword_index(settings, collection_id=1)
    t0 = time.perf_counter()
    start = 0
    while start < len(texts):
        end = start
        while end < len(texts) and groups[end] == groups[start]:
            end += 1
        index.add(list(range(start + 1, end + 1)), texts[start:end], groups[start:end])
        if settings.index_backend != "files":
            index.save()  # the files backend rewrites its whole file on each save: once, at the end
        start = end
    index.save()
    return index, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keywords", action="store_true", help="the keyword part (the only one so far)")
    ap.add_argument("--cuad", type=Path, required=True)
    ap.add_argument("--acord", type=Path, required=True)
    ap.add_argument("--pg-url", help="PostgreSQL with pgvector (SQLAlchemy URL); default: pgserver in --pgdata")
    ap.add_argument("--pgdata", default="/tmp/kwlat/pgdata")
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--words", type=int, default=220)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-queries", type=int, default=0, help="at most this many queries per set (evenly spaced)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--backends", default="files,postgres")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not args.keywords:
        ap.error("say --keywords")

    url = args.pg_url
    if url is None:
        import pgserver

        url = pgserver.get_server(args.pgdata, cleanup_mode=None).get_uri().replace("postgresql://", "postgresql+psycopg://")
    texts, groups = cuad_chunks(args.cuad, args.chunks, args.words)
    by_doc: dict[int, list[int]] = {}
    for cid, g in enumerate(groups, start=1):
        by_doc.setdefault(g, []).append(cid)
    queries = {"acord": acord_queries(args.acord), "cuad": cuad_questions(args.cuad)}
    if args.max_queries:
        queries = {k: v[::max(1, -(-len(v) // args.max_queries))] for k, v in queries.items()}
    print(f"{len(texts)} chunks in {len(by_doc)} documents; queries: "
          + ", ".join(f"{k} {len(v)}" for k, v in queries.items()), file=sys.stderr)

    def allowed(mode: str, q: str) -> set[int] | None:
        rng = random.Random(q)
        if mode == "1%":
            return set(rng.sample(range(1, len(texts) + 1), max(1, len(texts) // 100)))
        if mode == "one document":
            return set(by_doc[rng.choice(sorted(by_doc))])
        return None

    filters = ("none", "1%", "one document")
    allowed_of = {(m, q): allowed(m, q) for m in filters for qs in queries.values() for q in qs}
    schema = f"bench_kwlat_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    report: dict = {"chunks": len(texts), "documents": len(by_doc), "k": args.k, "results": {}}
    hits: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for backend in args.backends.split(","):
                extra = {"database_url": url, "database_schema": schema} if backend == "postgres" else {}
                settings = Settings(data_dir=Path(tmp), index_backend=backend, _env_file=None, **extra)
                index, secs = build(settings, texts, groups)
                print(f"{backend}: indexed in {secs:.1f} s", file=sys.stderr)
                report["results"].setdefault(backend, {})["index_s"] = round(secs, 1)
                hits[backend] = {}
                for mode in filters:
                    for name, qs in queries.items():
                        for q in qs[:args.warmup]:  # warm-up (the files backend builds its matrix here)
                            index.search(q, args.k, allowed_of[(mode, q)])
                        p50s, p95s = [], []
                        for _ in range(args.runs):
                            ms = []
                            for q in qs:
                                t0 = time.perf_counter()
                                res = index.search(q, args.k, allowed_of[(mode, q)])
                                ms.append((time.perf_counter() - t0) * 1000)
                                hits[backend][(mode, q)] = res
                            p50s.append(pct(ms, 50))
                            p95s.append(pct(ms, 95))
                        row = {"p50_ms": round(statistics.median(p50s), 2), "p95_ms": round(statistics.median(p95s), 2),
                               "p50_runs": [round(x, 2) for x in p50s], "p95_runs": [round(x, 2) for x in p95s],
                               "load": open("/proc/loadavg").read().split()[:3]}
                        report["results"][backend][f"{mode} / {name}"] = row
                        print(f"{backend:8s} {mode:12s} {name:5s} p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms"
                              f"  load {' '.join(row['load'])}", file=sys.stderr)
                if backend == "postgres":
                    from retrieval.pg_index import forget_engines

                    index.save()
                    forget_engines()
        if len(hits) == 2:
            a, b = hits.values()
            agree = {}
            for mode in filters:
                for name, qs in queries.items():
                    same = sum(same_ranking(a[(mode, q)], b[(mode, q)]) for q in qs)
                    agree[f"{mode} / {name}"] = f"{same}/{len(qs)}"
            report["agree"] = agree
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    out = json.dumps(report, indent=2)
    print(out)
    if args.json:
        args.json.write_text(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
