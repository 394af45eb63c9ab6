"""Ingestion throughput on a corpus of small documents: embedding calls per document vs
documents embedded together.

    python -m bench.ingest_throughput --beir ../shared/data/acord [--docs 600] [--batches 1,64] [--json OUT]

Ingests the first N documents of a BEIR corpus (ACORD: one clause per document) through
`Runtime.ingest_texts` into a fresh data directory once per `EMBED_BATCH_CHUNKS` value,
with the default settings (chunk vectors plus the reranker's sentence vectors). A batch of
1 embeds each document alone, as ingestion did before documents were batched. The model
is loaded before the clock starts.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from core.fileio import atomic_write_json
from core.settings import Settings
from ingestion import pipeline
from workers.runtime import Runtime


def read_corpus(root: Path, limit: int) -> list[tuple[str, bytes]]:
    docs = []
    with open(root / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            title, text = (row.get("title") or "").strip(), row.get("text") or ""
            docs.append((f"{row['_id']}.txt", (f"{title}\n\n{text}" if title else text).encode("utf-8")))
            if len(docs) == limit:
                break
    return docs


def run_once(docs: list[tuple[str, bytes]], batch_chunks: int) -> dict:
    pipeline.EMBED_BATCH_CHUNKS = batch_chunks
    with tempfile.TemporaryDirectory(prefix="docintel-ingest-bench-") as tmp:
        rt = Runtime.create(Settings(data_dir=Path(tmp), _env_file=None))
        rt.embedder.embed_documents(["warm up the model"])
        with tqdm(total=len(docs), desc=f"batch {batch_chunks}", file=sys.stderr, leave=False) as bar:
            t0 = time.perf_counter()
            results = rt.ingest_texts(docs, "bench", on_result=lambda _: bar.update(1))
            seconds = time.perf_counter() - t0
        rt.store.engine.dispose()
    chunks = sum(r.chunks or 0 for r in results if r.status == "indexed")
    return {"batch_chunks": batch_chunks, "documents": len(docs), "chunks": chunks, "seconds": round(seconds, 2),
            "documents_per_s": round(len(docs) / seconds, 2), "chunks_per_s": round(chunks / seconds, 2),
            "failed": sum(r.status == "failed" for r in results)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--beir", type=Path, required=True, help="a BEIR folder holding corpus.jsonl")
    ap.add_argument("--docs", type=int, default=600)
    ap.add_argument("--batches", default="1,64", help="EMBED_BATCH_CHUNKS values to compare")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    docs = read_corpus(args.beir, args.docs)
    rows = [run_once(docs, int(b)) for b in args.batches.split(",")]
    for row in rows:
        print(f"batch {row['batch_chunks']:>4}: {row['documents']} documents, {row['chunks']} chunks in "
              f"{row['seconds']} s ({row['documents_per_s']} documents/s), failed {row['failed']}")
    if args.json:
        atomic_write_json(args.json, {"runs": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
