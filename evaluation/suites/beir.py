"""BEIR retrieval suite (e.g. ACORD): every corpus entry is one document, every judged
query is ranked over the whole corpus and, separately, within its own judged pool.

Also home of the helpers the other retrieval-scored suites (squad, emanual) share:
ingesting (name, text) documents into the run's collection, collapsing a chunk ranking
to documents, recall@k curves and latency percentiles.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evaluation.datasets import read_qrels
from evaluation.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from evaluation.suites.base import (
    Aggregate,
    Chart,
    EvalContext,
    EvalItem,
    ItemResult,
    latency_chart,
    latency_metrics,
    mean_scores,
    ok_results,
)

DEFAULT_SPLITS = "train,valid"
DEPTH_CHUNKS = 100  # chunks ranked per query before collapsing to documents
PIPELINES = ("product", "plain")  # what ranks: the product's search, or evaluation.baselines.PlainHybrid


# -- shared helpers -------------------------------------------------------------------------
def ingest_documents(
    ctx: EvalContext, docs: Iterable[tuple[str, str] | tuple[str, str, dict]], total: int | None = None
) -> dict[str, Any]:
    """Ingest (name, text[, metadata]) documents into ctx.collection of ctx.tenant through the
    product's ingestor. Unchanged documents are no-ops (sha256), so a resumed run pays little.

    Returns {"collection_id", "doc_ids": {name: document id}, "failed": {name: error}, counts}."""
    from tqdm import tqdm

    rt = ctx.runtime
    doc_ids: dict[str, int] = {}
    failed: dict[str, str] = {}
    counts: dict[str, int] = {}
    bar = tqdm(desc=f"ingest {ctx.collection}", total=total, file=sys.stderr, leave=False, mininterval=1.0, disable=None)

    def record(r) -> None:
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.status == "failed" or r.document_id is None:
            failed[r.path] = r.error or "failed"
        else:
            doc_ids[r.path] = r.document_id
        bar.update(1)

    try:
        encoded = ((d[0], d[1].encode("utf-8"), *d[2:]) for d in docs)
        rt.ingest_texts(encoded, ctx.collection, ctx.tenant, record)
    finally:
        bar.close()
    return {"collection_id": rt.store.collection(ctx.tenant, ctx.collection).id, "doc_ids": doc_ids, "failed": failed, "counts": counts}


def collapse(names: Iterable[Any], depth: int | None = None) -> list[Any]:
    """A chunk ranking given as each chunk's document -> a document ranking, each document
    at its first chunk's rank (None entries, e.g. unknown chunks, are skipped)."""
    seen: set = set()
    out: list = []
    for d in names:
        if d is None or d in seen:
            continue
        seen.add(d)
        out.append(d)
        if depth is not None and len(out) == depth:
            break
    return out


def timed_search(ctx: EvalContext, query: str, k: int, document_ids: list[int] | None = None) -> tuple[list, float]:
    """Runtime.search (mode from the run's settings) and its wall time in ms."""
    from core.types import SearchFilters

    filters = SearchFilters(document_ids=document_ids) if document_ids is not None else None
    t0 = time.perf_counter()
    hits = ctx.runtime.search(query, ctx.collection, k=k, tenant=ctx.tenant, filters=filters)
    return hits, (time.perf_counter() - t0) * 1000.0


def recall_curve(rank_lists: Sequence[tuple[Sequence[int | None], int]], ks: Sequence[int]) -> list[float | None]:
    """Mean recall@k over queries given as (rank of each relevant id or None, number relevant)."""
    usable = [(ranks, n) for ranks, n in rank_lists if n > 0]
    if not usable:
        return [None for _ in ks]
    return [sum(sum(1 for r in ranks if r is not None and r <= k) / n for ranks, n in usable) / len(usable) for k in ks]


# -- the suite --------------------------------------------------------------------------------
def _read_corpus(root: Path) -> Iterable[tuple[str, str]]:
    from evaluation.datasets import _read_jsonl

    for row in _read_jsonl(root / "corpus.jsonl"):
        title, text = (row.get("title") or "").strip(), row.get("text") or ""
        yield str(row["_id"]), (f"{title}\n\n{text}" if title else text)


class BeirSuite:
    name = "beir"
    description = ("BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), e.g. ACORD: nDCG over the whole "
                   "corpus and within each query's judged pool. Options: splits=train,valid; k=100 (chunks ranked); "
                   "pipeline=product|plain (plain: an untuned whole-document dense + BM25 + RRF baseline, "
                   "nothing ingested)")
    headline = "judged_ndcg@10"

    def files(self, data: Path) -> list[Path]:
        root = Path(data)
        return [root / "corpus.jsonl", root / "queries.jsonl", *sorted((root / "qrels").glob("*.tsv"))]

    def load(self, data: Path) -> list[EvalItem]:
        """Every query judged in any qrels split, with its judgements per split: the
        `splits` option is applied per item (load does not see options), and a query not
        judged in the chosen splits scores nothing."""
        from evaluation.datasets import _read_jsonl

        root = Path(data)
        per_split = {p.stem: read_qrels(p) for p in sorted((root / "qrels").glob("*.tsv"))}
        if not per_split:
            raise ValueError(f"{root / 'qrels'}: no <split>.tsv files")
        queries = {str(r["_id"]): r["text"] for r in _read_jsonl(root / "queries.jsonl")}
        judged = sorted({q for qrels in per_split.values() for q in qrels})
        missing = [q for q in judged if q not in queries]
        if missing:
            raise ValueError(f"{len(missing)} judged queries are not in queries.jsonl, e.g. {missing[:3]}")
        return [
            EvalItem(qid, {"query": queries[qid], "qrels": {s: qrels[qid] for s, qrels in per_split.items() if qid in qrels}})
            for qid in judged
        ]

    def prepare(self, ctx: EvalContext, items: Sequence[EvalItem]) -> None:
        corpus = list(_read_corpus(Path(ctx.data)))
        pipeline = ctx.option("pipeline", "product")
        if pipeline not in PIPELINES:
            raise ValueError(f"pipeline={pipeline}: choose one of {', '.join(PIPELINES)}")
        if pipeline == "plain":
            from evaluation.baselines import PlainHybrid

            ids = [did for did, _ in corpus]
            ctx.state["plain"] = PlainHybrid(ctx.runtime.embedder, ids, [text for _, text in corpus])
            ctx.state["row"] = {did: i for i, did in enumerate(ids)}
        else:
            ing = ingest_documents(ctx, ((f"{did}.txt", text) for did, text in corpus), total=len(corpus))
            ctx.state["doc_id"] = {name[: -len(".txt")]: did for name, did in ing["doc_ids"].items()}
            ctx.state["corpus_id"] = {did: name[: -len(".txt")] for name, did in ing["doc_ids"].items()}
            ctx.state["ingest"] = {"documents": len(corpus), **ing["counts"], "failed": len(ing["failed"])}
        ctx.state["splits"] = [s.strip() for s in str(ctx.option("splits", DEFAULT_SPLITS)).split(",") if s.strip()]
        ctx.state["depth"] = ctx.option("k", DEPTH_CHUNKS, int)

    def _rankings(self, ctx: EvalContext, query: str, judged: dict[str, int]) -> tuple[list, float, list, float]:
        """The document ranking over the whole corpus and over the judged pool, each with its
        wall time in ms."""
        depth = ctx.state["depth"]
        plain = ctx.state.get("plain")
        if plain is not None:
            t0 = time.perf_counter()
            top = plain.rank(query, depth=depth)
            t1 = time.perf_counter()
            jtop = plain.rank(query, pool=[ctx.state["row"][d] for d in judged if d in ctx.state["row"]], depth=depth)
            return top, (t1 - t0) * 1000.0, jtop, (time.perf_counter() - t1) * 1000.0
        corpus_id: dict[int, str] = ctx.state["corpus_id"]
        hits, ms = timed_search(ctx, query, depth)
        pool = [ctx.state["doc_id"][d] for d in judged if d in ctx.state["doc_id"]]
        jhits, jms = timed_search(ctx, query, depth, pool)
        return (collapse(corpus_id.get(h.document_id) for h in hits), ms,
                collapse(corpus_id.get(h.document_id) for h in jhits), jms)

    def run_item(self, ctx: EvalContext, item: EvalItem) -> ItemResult:
        splits: list[str] = ctx.state["splits"]
        judged: dict[str, int] = {}
        for split in splits:
            for doc, rel in item.data["qrels"].get(split, {}).items():
                judged[doc] = max(rel, judged.get(doc, rel))
        keys = ["ndcg@5", "ndcg@10", "judged_ndcg@5", "judged_ndcg@10", "recall@10", "mrr@10", "latency_ms", "judged_latency_ms"]
        if not judged:
            return ItemResult(item.id, {k: None for k in keys}, {"skipped": f"not judged in splits {splits}"})
        top, ms, jtop, jms = self._rankings(ctx, item.data["query"], judged)

        relevant = sorted(d for d, r in judged.items() if r > 0)
        scores = {
            "ndcg@5": ndcg_at_k(top, judged, 5), "ndcg@10": ndcg_at_k(top, judged, 10),
            "judged_ndcg@5": ndcg_at_k(jtop, judged, 5), "judged_ndcg@10": ndcg_at_k(jtop, judged, 10),
            "recall@10": recall_at_k(top, judged, 10), "mrr@10": mrr_at_k(top, judged, 10),
            "latency_ms": ms, "judged_latency_ms": jms,
        }
        rank = {d: i + 1 for i, d in enumerate(top)}
        jrank = {d: i + 1 for i, d in enumerate(jtop)}
        output = {
            "top10": [[d, judged.get(d)] for d in top[:10]],
            "judged_top10": [[d, judged.get(d)] for d in jtop[:10]],
            # rank (1-based, within `depth` chunks) of every relevant id, None = not retrieved
            "relevant_ranks": {d: rank.get(d) for d in relevant},
            "judged_relevant_ranks": {d: jrank.get(d) for d in relevant},
            "judged": len(judged),
        }
        return ItemResult(item.id, scores, output)

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        ok = [r for r in ok_results(results) if "skipped" not in r.output]
        metrics = mean_scores(ok, ["judged_ndcg@10", "judged_ndcg@5", "ndcg@10", "ndcg@5", "recall@10", "mrr@10"])
        metrics.update(latency_metrics(ok, "latency_ms", "latency_ms"))
        metrics.update(latency_metrics(ok, "judged_latency_ms", "judged_latency_ms"))
        ks = list(range(1, 21))
        series = {}
        for label, key in (("whole corpus", "relevant_ranks"), ("judged pool", "judged_relevant_ranks")):
            ranks = [(list(r.output.get(key, {}).values()), len(r.output.get(key, {}))) for r in ok]
            series[label] = {"x": ks, "y": recall_curve(ranks, ks)}
        charts = [Chart("line", "Recall@k (documents)", "k", "recall", series), latency_chart(ok)]
        return Aggregate(metrics, charts)
