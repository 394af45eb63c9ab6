"""Keyword ranking on PostgreSQL: BM25 computed in SQL (the `postgres` backend's
PgKeywordIndex) against PostgreSQL's own full-text search, with bm25s (the `files`
backend) as the reference, on the same passages and the same real questions.

    python -m bench.pg_keyword_fts --pg-url postgresql+psycopg://... \\
        --acord ../shared/data/acord --policyqa ../shared/data/policyqa-dev/dev.json

Passages: ACORD clauses (graded judgements, train + valid qrels; nDCG@10 within each
query's judged pool, the eval suite's headline) and PolicyQA paragraphs (each question's
gold paragraph; recall@1/@3 and MRR@10 among the paragraphs of the question's own policy,
as the squad suite searches). One passage is one entry, so the backends' document
weighting plays no part. Full-text search is measured the way a user would set it up: a
`tsvector` column (`english` configuration) with a GIN index, the question's lexemes OR-ed
(an AND query returns nothing for most questions) and ranked by `ts_rank_cd` and by
`ts_rank` with length normalisation. The schema it creates is dropped at the end.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from core.settings import Settings
from evaluation.datasets import load_beir, load_squad
from evaluation.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from retrieval.index_factory import make_keyword_index
from retrieval.pg_index import forget_engines

DEPTH = 100
Ranker = Callable[[str, list[int]], list[int]]  # (question, the ids it may return) -> ranking
Questions = list[tuple[str, dict[int, int], list[int]]]  # (question, judgements, allowed ids)

FTS_QUERIES = {
    # lexemes of the question, OR-ed; plainto_tsquery does the parsing, stemming and stop words
    "fts ts_rank_cd": "ts_rank_cd(tsv, q)",
    "fts ts_rank (length-normalised)": "ts_rank(tsv, q, 1)",
}


def acord(path: Path) -> tuple[list[str], Questions]:
    data = load_beir(path, ("train", "valid"))
    ids = {cid: i for i, cid in enumerate(sorted(data.corpus), start=1)}
    texts = [data.corpus[cid] for cid in sorted(data.corpus)]
    questions = []
    for q, rel in sorted(data.qrels.items()):
        judged = {ids[d]: r for d, r in rel.items() if d in ids}
        questions.append((data.queries[q], judged, sorted(judged)))
    return texts, questions


def policyqa(path: Path, limit: int) -> tuple[list[str], Questions]:
    documents, questions = load_squad(path)
    texts, own = [], {}
    for d in documents:
        own[d.title] = list(range(len(texts) + 1, len(texts) + 1 + len(d.paragraphs)))
        texts.extend(p.text for p in d.paragraphs)
    return texts, [(q.question, {own[q.title][q.paragraph]: 1}, own[q.title]) for q in questions[:limit]]


def fts_rankers(conn: sa.Connection, texts: list[str]) -> dict[str, Ranker]:
    conn.execute(sa.text("CREATE TABLE fts (id int PRIMARY KEY, tsv tsvector NOT NULL)"))
    conn.execute(sa.text("INSERT INTO fts VALUES (:id, to_tsvector('english', :t))"),
                 [{"id": i, "t": t} for i, t in enumerate(texts, start=1)])
    conn.execute(sa.text("CREATE INDEX fts_gin ON fts USING gin (tsv)"))
    conn.execute(sa.text("ANALYZE fts"))

    def ranker(score: str) -> Ranker:
        sql = sa.text(
            f"SELECT id FROM fts, (SELECT replace(plainto_tsquery('english', :q)::text, '&', '|')::tsquery AS q) query "
            f"WHERE numnode(q) > 0 AND id = ANY(:allowed) AND tsv @@ q ORDER BY {score} DESC, id LIMIT {DEPTH}")
        return lambda question, allowed: [r[0] for r in conn.execute(sql, {"q": question, "allowed": allowed})]

    return {name: ranker(score) for name, score in FTS_QUERIES.items()}


def keyword_ranker(settings: Settings, texts: list[str]) -> Ranker:
    index = make_keyword_index(settings, collection_id=1)
    ids = list(range(1, len(texts) + 1))
    index.add(ids, texts, ids)
    index.save()
    return lambda question, allowed: [i for i, _ in index.search(question, DEPTH, set(allowed))]


def paired_ci(a: list[float], b: list[float], n_boot: int = 2000, seed: int = 0) -> list[float]:
    """95 % paired-bootstrap interval of mean(b) - mean(a) over the same questions."""
    d = np.asarray(b) - np.asarray(a)
    idx = np.random.default_rng(seed).integers(0, len(d), (n_boot, len(d)))
    return [round(float(x), 4) for x in np.percentile(d[idx].mean(axis=1), [2.5, 97.5])]


def score(rank: Ranker, questions: Questions, graded: bool) -> tuple[dict[str, float], list[float]]:
    """Mean metrics and latency, and the headline metric per question (for the intervals)."""
    rows, ms = [], []
    for question, judged, allowed in questions:
        t0 = time.perf_counter()
        ranked = rank(question, allowed)
        ms.append((time.perf_counter() - t0) * 1000)
        if graded:
            rows.append({"ndcg@10": ndcg_at_k(ranked, judged, 10), "recall@10": recall_at_k(ranked, judged, 10)})
        else:
            rows.append({"recall@1": recall_at_k(ranked, judged, 1), "recall@3": recall_at_k(ranked, judged, 3),
                         "mrr@10": mrr_at_k(ranked, judged, 10)})
    out = {k: round(statistics.fmean(r[k] for r in rows if r[k] is not None), 4) for k in rows[0]}
    out["p50_ms"] = round(statistics.median(ms), 2)
    headline = "ndcg@10" if graded else "mrr@10"
    return out, [r[headline] or 0.0 for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg-url", required=True, help="PostgreSQL with the vector extension (SQLAlchemy URL)")
    ap.add_argument("--acord", type=Path, required=True)
    ap.add_argument("--policyqa", type=Path, required=True)
    ap.add_argument("--policyqa-questions", type=int, default=1000)
    args = ap.parse_args(argv)

    schema = f"bench_fts_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(args.pg_url, connect_args={"options": f"-csearch_path={schema},public"})
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for name, (texts, questions), graded in (
            ("acord", acord(args.acord), True),
            ("policyqa", policyqa(args.policyqa, args.policyqa_questions), False),
        ):
            print(f"{name}: {len(texts)} passages, {len(questions)} questions", file=sys.stderr)
            forget_engines()  # the previous set's index connections, so that its schema can go
            with engine.begin() as conn:  # committed before the index's own connections look for it
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE; CREATE SCHEMA "{schema}"'))
            with tempfile.TemporaryDirectory() as tmp, engine.begin() as conn:
                files = Settings(data_dir=Path(tmp), _env_file=None)
                pg = Settings(data_dir=Path(tmp), database_url=args.pg_url, database_schema=schema,
                              index_backend="postgres", _env_file=None)
                rankers = {"bm25s (files)": keyword_ranker(files, texts), "BM25 in SQL (postgres)": keyword_ranker(pg, texts)}
                rankers.update(fts_rankers(conn, texts))
                scored = {label: score(rank, questions, graded) for label, rank in rankers.items()}
                reference = scored["bm25s (files)"][1]
                results[name] = {label: {**means, "delta_vs_bm25s_ci95": paired_ci(reference, per_question)}
                                 for label, (means, per_question) in scored.items()}
    finally:
        forget_engines()
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
