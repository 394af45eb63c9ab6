"""How much of the exact top-k the HNSW graph finds on real embeddings.

    python -m bench.hnsw_recall --data-dir /tmp/h1var --acord ../shared/data/acord --policyqa ../shared/data/policyqa-dev/dev.json

Pools the vectors of every collection under the data dir (real MiniLM chunk embeddings
ingested by earlier runs), builds the graph with the product's parameters and compares
its top-k with the exact scan for real questions (ACORD queries, PolicyQA questions).
bench/search_latency.py measures speed on random vectors, where a graph does worst.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from core.settings import Settings
from ingestion.embedding import get_embedder
from retrieval.vector_index import HnswOptions


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--acord", type=Path, required=True)
    ap.add_argument("--policyqa", type=Path, required=True)
    ap.add_argument("--policyqa-questions", type=int, default=200)
    args = ap.parse_args(argv)
    import faiss

    parts = [faiss.read_index(str(f)) for f in sorted(args.data_dir.glob("indexes/collections/*/vectors.faiss"))]
    X = np.vstack([p.index.reconstruct_n(0, p.ntotal) for p in parts if p.ntotal]).astype(np.float32)
    opts, settings = HnswOptions(), Settings(_env_file=None)
    exact = faiss.IndexFlatIP(X.shape[1])
    exact.add(X)
    graph = faiss.IndexHNSWFlat(X.shape[1], opts.m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = opts.ef_construction
    graph.add(X)
    questions = [json.loads(line)["text"] for line in (args.acord / "queries.jsonl").read_text().splitlines() if line.strip()]
    squad = json.loads(args.policyqa.read_text())
    questions += [q["question"] for a in squad["data"] for p in a["paragraphs"] for q in p["qas"]][: args.policyqa_questions]
    emb = get_embedder(settings)
    Q = np.vstack([emb.embed_query(q) for q in questions]).astype(np.float32)
    out = {"vectors": int(len(X)), "questions": len(questions), "ef_search": settings.hnsw_ef_search}
    for k in (10, 50):
        _, e = exact.search(Q, k)
        _, a = graph.search(Q, k, params=faiss.SearchParametersHNSW(efSearch=max(settings.hnsw_ef_search, k)))
        out[f"recall@{k}"] = round(float(np.mean([len(set(x) & set(y)) / k for x, y in zip(e, a)])), 4)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
