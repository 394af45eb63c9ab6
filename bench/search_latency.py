"""Search latency at scale: p50/p95 of dense, BM25 and hybrid search over N chunks.

    python -m bench.search_latency [--chunks 100000] [--queries 200] [--query-runtime torch|onnx-int8]
                                   [--sentences-per-chunk 8] [--json OUT]

Builds a collection of N synthetic chunks (sentences drawn from a fixed vocabulary, so
BM25 sees realistic posting lists) with random unit vectors written straight into the
collection's FAISS and BM25 indexes and chunk rows in SQLite, then times the full
search path users hit (query embedding with the real model, both retrievers, fusion,
SQL fetch of the hits). Queries are distinct, so the query-embedding cache never hits.
The "hybrid+rerank" row adds the sentence reranker over the best 30 hits, reading the
sentence vectors ingestion stores on the chunk rows (random here, --sentences-per-chunk each;
its per-process LRU is emptied before every query, as for a stream of new questions).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert
from tqdm import tqdm

from core.fileio import atomic_write_json
from core.models import Chunk, Document
from core.settings import Settings
from workers.runtime import Runtime

WORDS = (
    "agreement party supplier customer license fee payment invoice term termination notice renewal liability cap "
    "indemnify warranty confidential information governing law court arbitration assignment consent affiliate "
    "territory exclusive royalty audit insurance breach cure period days months years written delivery product "
    "service software support maintenance update remote battery television channel setting menu privacy data "
    "cookie consent email account security access deletion retention request"
).split()


def random_sentence_block(rng: np.random.Generator, n: int, dim: int) -> bytes | None:
    """n random unit vectors packed as ingestion stores a chunk's sentence vectors."""
    if n <= 0:
        return None
    from ingestion.sentences import pack

    block = rng.standard_normal((n, dim)).astype(np.float32)
    return pack(block / np.linalg.norm(block, axis=1, keepdims=True))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--hnsw-min", type=int, default=Settings(_env_file=None).hnsw_min_vectors,
                    help="HNSW graph from this many chunks on (0 = exact search only); default: the setting")
    ap.add_argument("--query-runtime", choices=("torch", "onnx-int8"), default=Settings(_env_file=None).query_embedding_runtime,
                    help="runtime embedding the queries; default: the setting")
    ap.add_argument("--sentences-per-chunk", type=int, default=8,
                    help="stored sentence vectors per chunk for the hybrid+rerank row (0 skips it)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    rng = random.Random(0)
    data_dir = Path(tempfile.mkdtemp(prefix="docintel-lat-"))
    # The dense / bm25 / hybrid rows are the first stage alone; "hybrid+rerank" adds the reranker.
    rt = Runtime(Settings(data_dir=data_dir, database_url="", hnsw_min_vectors=args.hnsw_min, reranker="none",
                          query_embedding_runtime=args.query_runtime, _env_file=None))
    coll = rt.store.collection("default", "latency", create=True)
    n_docs = max(1, args.chunks // 100)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(80, 160))) + f" ref{i}" for i in range(args.chunks)]
    t0 = time.perf_counter()
    with rt.store.session() as s:
        doc_ids = []
        for d in range(n_docs):
            doc = Document(collection_id=coll.id, name=f"doc{d}.txt", sha256=f"{d:064d}", mime="text/plain", pages=1,
                           status="indexed", version=1, metadata_={}, text="")
            s.add(doc)
            s.flush()
            doc_ids.append(doc.id)
        sent_rng = np.random.default_rng(1)
        for start in range(0, len(texts), 5000):
            rows = [dict(document_id=doc_ids[i % n_docs], ordinal=i, page_start=1, page_end=1, char_start=0,
                         char_end=len(t), text=t, token_count=len(t.split()), text_sha256=f"{i:064d}",
                         sentence_vectors=random_sentence_block(sent_rng, args.sentences_per_chunk, rt.embedder.dim))
                    for i, t in enumerate(texts[start: start + 5000], start)]
            s.execute(insert(Chunk), rows)
    index_started = time.perf_counter()
    chunk_ids = sorted(rt.store.all_chunk_ids(coll.id))
    vecs = np.random.default_rng(0).standard_normal((len(chunk_ids), rt.embedder.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    from retrieval.collection_index import CollectionIndex

    index = CollectionIndex.build(rt.settings, rt.store, rt.embedder, coll.id)  # the configured backend and HNSW
    index.vectors.add(chunk_ids, vecs)
    # Chunk ids were handed out in insertion order, chunk i belonging to document i % n_docs.
    index.keywords.add(chunk_ids, texts, [doc_ids[i % n_docs] for i in range(len(chunk_ids))])
    index.save()
    build_s = time.perf_counter() - index_started
    queries = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + f" q{i}" for i in range(args.queries)]
    svc = rt.search_service
    svc.search(index, "warm up the model", k=args.k)  # load model, build BM25 matrix
    reranked = Runtime(rt.settings.model_copy(update={"reranker": "sentence"})).search_service
    results = {}
    modes = ("dense", "bm25", "hybrid") + (("hybrid+rerank",) if args.sentences_per_chunk else ())
    for mode in modes:
        times = []
        service = reranked if mode == "hybrid+rerank" else svc
        # The sentence cache is per process and model, shared with any earlier search here.
        misses_before = service.reranker.cache.misses if service.reranker is not None else 0
        for q in tqdm(queries, desc=mode, file=sys.stderr):
            service._query_cache = None  # measure embedding every time
            if service.reranker is not None:
                service.reranker.cache._cache.clear()  # and reading every candidate's sentences
            t = time.perf_counter()
            service.search(index, q, k=args.k, mode=mode.split("+")[0])
            times.append((time.perf_counter() - t) * 1000)
        if service.reranker is not None:
            assert service.reranker.cache.misses == misses_before, "the reranker embedded sentences instead of reading them"
        results[mode] = {"p50_ms": round(float(np.percentile(times, 50)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2),
                         "mean_ms": round(float(np.mean(times)), 2)}
        print(f"{mode:7} p50 {results[mode]['p50_ms']:7.2f} ms  p95 {results[mode]['p95_ms']:7.2f} ms")
    t = time.perf_counter()
    for q in queries[:50]:
        rt.embedder.embed_query(q)
    embed_ms = (time.perf_counter() - t) * 1000 / 50
    graph_recall = None
    if index.vectors.uses_graph:
        # Share of the exact top-k the graph returns. Random unit vectors have no cluster
        # structure, the hardest case for a graph index: real embeddings do better.
        overlaps = []
        for q in queries[:100]:
            v = rt.embedder.embed_query(q)
            _, top = index.vectors._index.search(v.reshape(1, -1).astype(np.float32), args.k)  # the exact scan itself
            exact = {int(i) for i in top[0] if i != -1}
            approx = {i for i, _ in index.vectors.search(v, args.k)}
            overlaps.append(len(exact & approx) / max(len(exact), 1))
        graph_recall = round(float(np.mean(overlaps)), 3)
    report = {"chunks": args.chunks, "queries": args.queries, "k": args.k, "query_runtime": args.query_runtime,
              "sentences_per_chunk": args.sentences_per_chunk, "index_build_s": round(build_s, 1),
              "hnsw": index.vectors.uses_graph, "graph_recall_at_k_random_vectors": graph_recall,
              "setup_s": round(time.perf_counter() - t0, 1), "query_embedding_ms": round(embed_ms, 2), "modes": results}
    print(report)
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
