"""torch vs int8 ONNX MiniLM: vector agreement, search agreement, ingestion throughput.

    python -m bench.embedding_runtimes --data ../shared/data [--chunks 2000] [--throughput 500] [--json OUT]
    python -m bench.embedding_runtimes --throughput-only [--repeats 5] [--torch] [--onnx-model OTHER.onnx ...]

Real text, chunked by the product's chunker (220 tokens): the e-manual sections, ACORD
clauses and CUAD contracts; real questions: the e-manual's 50, ACORD's queries and
samples/questions.jsonl. Reports the cosine between the two runtimes' vectors of each
chunk, how much of the exact top 10 over torch-built document vectors the int8 query
vectors find (the question for `query_embedding_runtime=onnx-int8` against existing
indexes), and whole-corpus ACORD nDCG@10 with either runtime's query vectors.
Throughput: chunks/s of embed_documents on full-size CUAD chunks.

--throughput-only times each int8 ONNX runtime (onnx-int8, onnx-int8-dynamic) as the
product runs it, and torch with --torch, median of --repeats runs on 2
cores: chunks/s on the product's full-size CUAD chunks and on 256-token windows, chunks/s of
ingestion's sentence pass (embed_chunks: chunk vectors plus the reranker's sentence vectors,
pooled from the chunk pass and, for comparison, every sentence embedded again), and one-query
latency on one thread; --onnx-model adds other exports (e.g. a previous recipe's file) to
the embed_documents and query timings.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.fileio import atomic_write_json
from core.settings import Settings
from core.types import LoadedDocument, PageSpan
from ingestion.chunking import TokenChunker
from ingestion.embedding import ONNX_RUNTIMES, OnnxInt8Embedder, SentenceTransformerEmbedder, resolve_model_dir


def _chunks(chunker: TokenChunker, text: str) -> list[str]:
    return [c.text for c in chunker.chunk(LoadedDocument(text=text, pages=[PageSpan(1, 0, len(text))], mime="text/plain"))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--chunks", type=int, default=2000, help="document chunks for the agreement measures")
    ap.add_argument("--throughput", type=int, default=500, help="full-size chunks timed per runtime")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--throughput-only", action="store_true", help="time the int8 encoder(s) only")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--onnx-model", type=Path, action="append", default=[], help="another ONNX file to time")
    ap.add_argument("--torch", action="store_true", help="--throughput-only: time torch (sentence-transformers) too")
    args = ap.parse_args(argv)
    if args.throughput_only:
        return throughput_only(args)
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="docintel-emb-")), _env_file=None)
    model_dir = resolve_model_dir(settings)
    chunker = TokenChunker(model_dir, settings.chunk_tokens, settings.chunk_overlap_tokens)

    manual = json.loads((args.data / "emanual-tv/smart_tv_remote_manual_corpus.json").read_text())
    docs = [c for s in manual.values() for c in _chunks(chunker, s["title"] + "\n" + "\n".join(s["text"]))]
    acord = [json.loads(line) for line in (args.data / "acord/corpus.jsonl").read_text().splitlines()]
    docs += [c["text"] for c in acord[:600]]
    cuad = []
    for f in sorted((args.data / "cuad-dev/txt").glob("*.txt"))[:40]:
        cuad += [c for c in _chunks(chunker, f.read_text(errors="replace")) if chunker.count_tokens(c) >= 180]
    docs = (docs + cuad)[: args.chunks]
    with open(args.data / "emanual-tv/smart_tv_remote_50_questions.csv", newline="") as fh:
        questions = [row["question"] for row in csv.DictReader(fh)]
    questions += [json.loads(line)["text"] for line in (args.data / "acord/queries.jsonl").read_text().splitlines()]
    samples = Path(__file__).resolve().parent.parent / "samples/questions.jsonl"
    questions += [json.loads(line)["question"] for line in samples.read_text().splitlines() if line.startswith("{")]

    torch_emb = SentenceTransformerEmbedder(model_dir, settings.embedding_batch_size)
    onnx_emb = OnnxInt8Embedder(settings, model_dir, settings.embedding_batch_size)
    t = time.perf_counter()
    onnx_emb.embed_query("warm up")  # builds the int8 model
    build_s = time.perf_counter() - t
    torch_emb.embed_query("warm up")
    D_t, D_o = torch_emb.embed_documents(docs), onnx_emb.embed_documents(docs)
    Q_t = np.vstack([torch_emb.embed_query(q) for q in questions])
    Q_o = np.vstack([onnx_emb.embed_query(q) for q in questions])
    doc_cos, q_cos = (D_t * D_o).sum(1), (Q_t * Q_o).sum(1)
    k = args.k

    def top(Q, D):
        return np.argsort(-(Q @ D.T), axis=1)[:, :k]

    ref = top(Q_t, D_t)  # the exact top k of an all-torch system

    def recall(found):
        return round(float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ref, found)])), 4)

    out = {
        "chunks": len(docs), "questions": len(questions), "k": k, "threads": os.cpu_count(),
        "onnx_build_s": round(build_s, 1), "onnx_file_mb": round(onnx_emb.path.stat().st_size / 1e6, 1),
        "doc_cosine": {"mean": round(float(doc_cos.mean()), 4), "p1": round(float(np.percentile(doc_cos, 1)), 4),
                       "min": round(float(doc_cos.min()), 4)},
        "query_cosine": {"mean": round(float(q_cos.mean()), 4), "p1": round(float(np.percentile(q_cos, 1)), 4),
                         "min": round(float(q_cos.min()), 4)},
        f"recall@{k}_onnx_queries_torch_docs": recall(top(Q_o, D_t)),
        f"recall@{k}_onnx_queries_onnx_docs": recall(top(Q_o, D_o)),
        f"recall@{k}_torch_queries_onnx_docs": recall(top(Q_t, D_o)),
    }
    # Retrieval quality where it is judged: whole-corpus nDCG@10 of the ACORD clauses
    # (all of them, torch-built vectors) for ACORD queries embedded by each runtime.
    qrels: dict[str, dict[str, float]] = {}
    for split in ("train", "valid"):
        for row in csv.DictReader(open(args.data / f"acord/qrels/{split}.tsv", newline=""), delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = float(row["score"])
    judged = [json.loads(line) for line in (args.data / "acord/queries.jsonl").read_text().splitlines()]
    judged = [q for q in judged if q["_id"] in qrels]
    A = torch_emb.embed_documents([c["text"] for c in acord])
    ids = [c["_id"] for c in acord]

    def ndcg(Q):
        scores = []
        for q, row in zip(judged, np.argsort(-(Q @ A.T), axis=1)[:, :k]):
            rel = qrels[q["_id"]]
            dcg = sum((2 ** rel.get(ids[j], 0) - 1) / np.log2(r + 2) for r, j in enumerate(row))
            ideal = sum((2 ** g - 1) / np.log2(r + 2) for r, g in enumerate(sorted(rel.values(), reverse=True)[:k]))
            scores.append(dcg / ideal if ideal else 0.0)
        return round(float(np.mean(scores)), 4)

    out["acord"] = {"clauses": len(ids), "queries": len(judged),
                    f"ndcg@{k}_torch_queries": ndcg(np.vstack([torch_emb.embed_query(q["text"]) for q in judged])),
                    f"ndcg@{k}_onnx_queries": ndcg(np.vstack([onnx_emb.embed_query(q["text"]) for q in judged]))}
    full = cuad[: args.throughput]
    out["throughput_chunk_tokens_mean"] = round(float(np.mean([chunker.count_tokens(c) for c in full])), 1)
    for name, emb in (("torch", torch_emb), ("onnx-int8", onnx_emb)):
        t = time.perf_counter()
        emb.embed_documents(full)
        out[f"throughput_{name}_chunks_per_s"] = round(len(full) / (time.perf_counter() - t), 1)
        t = time.perf_counter()
        for q in questions[:100]:
            emb.embed_query(q)
        out[f"query_{name}_ms"] = round((time.perf_counter() - t) * 1000 / min(100, len(questions)), 2)
    print(json.dumps(out, indent=2))
    if args.json:
        atomic_write_json(args.json, out)
    return 0


def throughput_only(args) -> int:
    import statistics

    import ingestion.sentences as sentences
    from core.settings import Settings

    settings = Settings(_env_file=None)  # the configured models directory
    model_dir = resolve_model_dir(settings)
    chunker = TokenChunker(model_dir, settings.chunk_tokens, settings.chunk_overlap_tokens)
    texts = [f.read_text(errors="replace") for f in sorted((args.data / "cuad-dev/txt").glob("*.txt"))[:40]]
    full = [c for t in texts for c in _chunks(chunker, t) if chunker.count_tokens(c) >= 180][: args.throughput]
    windows = [t[i: i + 2000] for t in texts for i in range(0, len(t) - 2000, 2000)][: args.throughput]  # cut at 256 tokens
    questions = [json.loads(line)["text"] for line in (args.data / "acord/queries.jsonl").read_text().splitlines()][:100]
    # Each ONNX runtime as the product runs it (the dynamic one a text per call), then any
    # other file under the blockwise runtime's batching; torch too with --torch.
    embedders = {runtime: (OnnxInt8Embedder(settings, model_dir, settings.embedding_batch_size, runtime=runtime),
                           OnnxInt8Embedder(settings, model_dir, 1, threads=1, exclusive=False, runtime=runtime))
                 for runtime in ONNX_RUNTIMES}
    for pair in embedders.values():
        for e in pair:
            e.embed_query("warm up")
    runs = [(runtime, *pair, None) for runtime, pair in embedders.items()]
    runs += [(str(p), *embedders["onnx-int8"], p) for p in args.onnx_model]
    docs = embedders["onnx-int8"][0]

    def median_rate(fn, n) -> float:
        fn(full[:32])  # warm
        runs = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            runs.append(n / (time.perf_counter() - t))
        return round(statistics.median(runs), 1)

    out = {"threads": os.cpu_count(), "repeats": args.repeats, "chunks": len(full),
           "chunk_tokens_mean": round(float(np.mean([chunker.count_tokens(c) for c in full])), 1),
           "windows": len(windows), "window_tokens": len(docs._tokenizer.encode(windows[0]).ids), "loadavg": os.getloadavg(),
           "models": {}}
    if args.torch:
        torch_docs = SentenceTransformerEmbedder(model_dir, settings.embedding_batch_size)
        out["models"]["torch"] = {"chunks_per_s": median_rate(lambda x=None: torch_docs.embed_documents(x or full), len(full)),
                                  "windows_256_per_s": median_rate(lambda x=None: torch_docs.embed_documents(x or windows),
                                                                   len(windows))}
        print(json.dumps({"torch": out["models"]["torch"]}), file=sys.stderr, flush=True)
    for name, docs, query, path in runs:
        if path is not None:
            docs._session, query._session = docs.open_session(path), query.open_session(path)
        row = {"path": str(path or docs.path),
               "chunks_per_s": median_rate(lambda x=None: docs.embed_documents(x or full), len(full)),
               "windows_256_per_s": median_rate(lambda x=None: docs.embed_documents(x or windows), len(windows))}
        for q in questions[:10]:
            query.embed_query(q)
        lat = []
        for _ in range(3):
            for q in questions:
                t = time.perf_counter()
                query.embed_query(q)
                lat.append(time.perf_counter() - t)
        row["query_ms_p50"] = round(statistics.median(lat) * 1000, 2)
        if path is None:
            for mode in (True, False):
                sentences.POOLED = mode
                before = dict(sentences.STATS)
                rate = median_rate(lambda x=None: sentences.embed_chunks(docs, x or full), len(full))
                made = {k: sentences.STATS[k] - before[k] for k in before}
                row["chunks_with_sentences_per_s_" + ("pooled" if mode else "separate")] = rate
                row["sentence_vectors_" + ("pooled" if mode else "separate")] = made
            sentences.POOLED = True
        out["models"][name] = row
        print(json.dumps({name: row}), file=sys.stderr, flush=True)
    out["loadavg_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    if args.json:
        atomic_write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
