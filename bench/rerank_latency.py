"""What the second-stage reranker adds to a search, per query (p50 / p95 in ms).

    python -m bench.rerank_latency --data-dir /tmp/rr --collection beir-... --tenant eval \
        --queries ../shared/data/acord/queries.jsonl [--reranker sentence] [--candidates 30] [--json OUT]

Searches an existing collection (e.g. the one `docintel eval run --suite beir` built) with
the first stage only, then times `reranker.rerank` on the same candidates four ways:
cold (the reranker's sentence cache emptied before every query: every candidate's
sentences are embedded), stored (the cache emptied, the sentence vectors ingestion kept read
from the chunk rows: what the product's search and answers do for a chunk not yet cached),
warm (the same query again: all cached) and as a stream (queries in order with the cache
kept, as a running service sees them).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from core.fileio import atomic_write_json
from core.settings import Settings
from workers.runtime import Runtime


def _pct(values: list[float]) -> dict[str, float]:
    return {"p50": round(float(np.percentile(values, 50)), 2), "p95": round(float(np.percentile(values, 95)), 2),
            "mean": round(float(np.mean(values)), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--collection", required=True)
    ap.add_argument("--tenant", default="eval")
    ap.add_argument("--queries", type=Path, required=True, help="queries.jsonl ({_id, text} per line) or a text file, one per line")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--reranker", default="sentence")
    ap.add_argument("--model-path", default="")
    ap.add_argument("--candidates", type=int, default=30)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    lines = [ln for ln in args.queries.read_text(encoding="utf-8").splitlines() if ln.strip()]
    queries = [json.loads(ln)["text"] if ln.lstrip().startswith("{") else ln.strip() for ln in lines][: args.limit]
    # The runtime searches with the first stage only; the reranker under test is timed apart.
    base = Settings(data_dir=args.data_dir, rerank_candidates=args.candidates, reranker="none")
    rt = Runtime.create(base)
    coll = rt.store.collection(args.tenant, args.collection)
    index = rt.index(coll.id)
    svc = rt.search_service
    from ingestion.sentences import split_sentences
    from retrieval.rerank import get_reranker

    chosen = base.model_copy(update={"reranker": args.reranker, "reranker_model_path": args.model_path})
    reranker = get_reranker(chosen, rt.embedder, svc.embed_query)
    from_store = get_reranker(chosen, rt.embedder, svc.embed_query, rt.store.sentence_vectors)
    svc.search(index, "warm up", k=args.k)
    first, cold, stored, warm, stream = [], [], [], [], []
    candidates = []
    for q in queries:
        t0 = time.perf_counter()
        hits = svc.search(index, q, k=args.candidates)
        first.append((time.perf_counter() - t0) * 1000)
        candidates.append(hits)
    cache = getattr(reranker, "cache", None)
    if cache is not None:
        cache._cache.clear()
    for q, hits in zip(queries, candidates):  # as a service sees them: cache kept across queries
        t0 = time.perf_counter()
        reranker.rerank(q, hits, args.k)
        stream.append((time.perf_counter() - t0) * 1000)
    embedded_from_store = 0
    for q, hits in zip(queries, candidates):
        if cache is not None:
            cache._cache.clear()
        t0 = time.perf_counter()
        reranker.rerank(q, hits, args.k)
        cold.append((time.perf_counter() - t0) * 1000)
        if cache is not None:
            cache._cache.clear()
            embedded_before = cache.misses
            t0 = time.perf_counter()
            from_store.rerank(q, hits, args.k)
            stored.append((time.perf_counter() - t0) * 1000)
            embedded_from_store += cache.misses - embedded_before
        t0 = time.perf_counter()
        reranker.rerank(q, hits, args.k)
        warm.append((time.perf_counter() - t0) * 1000)
    out = {
        "queries": len(queries), "reranker": args.reranker, "candidates": args.candidates,
        "first_stage_search_ms": _pct(first), "rerank_cold_ms": _pct(cold), "rerank_warm_ms": _pct(warm),
        "rerank_stream_ms": _pct(stream),
        **({"rerank_stored_ms": _pct(stored), "stored_run_chunks_embedded": embedded_from_store} if stored else {}),
        "sentences_per_candidate": round(float(np.mean([len(split_sentences(h.text)) for hs in candidates for h in hs])), 2),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        atomic_write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
