"""Retrieval benchmark: ACORD (BEIR), PolicyQA dev (SQuAD) and E-Manual TV, through the
same code paths users hit (Runtime -> Ingestor.ingest_bytes -> SearchService.rank).

    python bench/retrieval.py --acord ../shared/data/acord \\
        --policyqa ../shared/data/policyqa-dev/dev.json --emanual ../shared/data/emanual-tv \\
        [--modes dense,bm25,hybrid] [--limit N] [--json OUT] [--data-dir DIR] [--set key=value ...]

Any subset of the three sets runs. What is measured:
- ACORD: every clause is one document; judged queries of the train+valid qrels. Chunks are
  ranked, collapsed to documents (first occurrence), cut at 100. nDCG@5/@10 over the whole
  corpus (unjudged = 0) and within each query's judged pool (only its judged documents are
  searched, via the document_ids filter).
- PolicyQA: every policy is one document (its paragraphs joined by a blank line); every
  question is searched within its own policy. A chunk is a hit when its character span
  overlaps the gold paragraph (stricter: when it contains an answer span). Recall@1/5/10
  and MRR@10 of the first hit. "anygold" also counts the gold paragraphs of the same
  question text asked of the same policy (PolicyQA repeats questions per paragraph).
- E-Manual: every section is one document (title path + text); a question's gold section
  comes from its section hierarchy. Chunks collapse to sections; recall@1/@5, MRR@10.

Latency is the wall time of `SearchService.rank` per distinct query text, query embedding
included (the query cache is emptied before each pass; repeats are not timed).
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# This file is named like the `retrieval` package: when run as a script its folder comes
# first on sys.path and would shadow the package, so that folder is taken off.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

MODES = ("dense", "bm25", "hybrid")
META_FILE = "bench-retrieval.json"
# Settings that change what is stored (chunks, vectors): a reused --data-dir must match them.
INGEST_KEYS = ("chunk_tokens", "chunk_overlap_tokens", "embedding_model_path")
COLLECTIONS = {"acord": "bench-acord", "policyqa": "bench-policyqa", "emanual": "bench-emanual"}

log = logging.getLogger("bench.retrieval")


# -- small helpers ------------------------------------------------------------------------
def percentile_ms(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 2) if len(values) else None


def collapse(ranked_chunks: Sequence[int], chunk_doc: dict[int, int], depth: int) -> list[int]:
    """Chunk ranking -> document ranking, each document at its first chunk's rank."""
    from evaluation.suites.beir import collapse as collapse_names

    return collapse_names((chunk_doc.get(cid) for cid in ranked_chunks), depth)


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    from core.settings import Settings

    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        if key not in Settings.model_fields:
            raise SystemExit(f"--set: unknown setting {key!r} (known: {', '.join(sorted(Settings.model_fields))})")
        if key == "data_dir":
            raise SystemExit("use --data-dir instead of --set data_dir=...")
        out[key] = value
    return out


LATENCY: dict[str, list[float]] = defaultdict(list)  # mode -> every timed rank() call, all sets


@dataclass
class Timer:
    """Wall-clock samples of one pass; `seen` holds the query texts already timed."""

    mode: str
    rt: Any = None
    samples: list[float] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.rt is not None:  # a pass starts with an empty query-embedding cache
            self.rt.search_service._query_cache = None

    def __call__(self, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - t0
        self.samples.append(elapsed)
        LATENCY[self.mode].append(elapsed)
        return out

    def summary(self) -> dict[str, float | None]:
        return {"p50_ms": percentile_ms(self.samples, 50), "p95_ms": percentile_ms(self.samples, 95), "n": len(self.samples)}


def progress(iterable, desc: str, total: int | None = None):
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, leave=False, dynamic_ncols=True, mininterval=0.5)


# -- shared: ingest one set ------------------------------------------------------------------
@dataclass
class Ingested:
    collection_id: int
    index: Any
    doc_ids: dict[str, int]  # document name -> document id
    chunk_info: dict[int, tuple[int, int, int]]  # chunk id -> (document id, char_start, char_end)
    chunk_doc: dict[int, int]
    stats: dict[str, Any]


def ingest_set(rt, set_name: str, docs: list[tuple[str, str] | tuple[str, str, dict]], reuse: bool) -> Ingested:
    """Ingest (name, text[, metadata]) documents into the set's collection; skipped when a
    reused data dir already holds them all. Saves the index once at the end."""
    coll = rt.store.collection(rt.settings.default_tenant, COLLECTIONS[set_name], create=True)
    index = rt.index(coll.id)
    wanted = {d[0] for d in docs}
    existing = {d.name for d in rt.store.list_documents(coll.id) if d.status == "indexed"}
    stats: dict[str, Any] = {"documents": len(docs), "indexed": 0, "unchanged": 0, "failed": 0, "errors": {}}
    t0 = time.perf_counter()
    if reuse and wanted <= existing:
        stats["reused"] = True
        stats["unchanged"] = len(docs)
    else:
        stats["reused"] = False
        bar = progress(None, f"ingest {set_name}", total=len(docs))

        def record(result) -> None:
            stats[result.status] = stats.get(result.status, 0) + 1
            if result.status == "failed":
                stats["errors"][result.path] = result.error
            bar.update(1)

        with bar:
            rt.ingest_texts(((d[0], d[1].encode("utf-8"), *d[2:]) for d in docs), COLLECTIONS[set_name], on_result=record)
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    doc_ids = {d.name: d.id for d in rt.store.list_documents(coll.id) if d.status == "indexed" and d.name in wanted}
    chunk_ids = rt.store.all_chunk_ids(coll.id)
    chunk_info = {c.id: (c.document_id, c.char_start, c.char_end) for c in rt.store.chunks_by_ids(chunk_ids)}
    wanted_docs = set(doc_ids.values())
    chunk_info = {cid: v for cid, v in chunk_info.items() if v[0] in wanted_docs}
    stats["chunks"] = len(chunk_info)
    return Ingested(coll.id, index, doc_ids, chunk_info, {c: v[0] for c, v in chunk_info.items()}, stats)


def warm_up(rt, ing: Ingested, mode: str, query: str) -> None:
    """Load the model and build the lazy BM25 matrix outside the timed calls."""
    rt.search_service.rank(ing.index, query, 5, mode, None)


def timed_rank(rt, timer: Timer, ing: Ingested, query: str, k: int, mode: str, allowed: set[int] | None) -> list[int]:
    """`SearchService.rank` as a user's query meets it; ranked chunk ids.

    Only a query text's first call in a pass is timed, so latency is that of a query
    the process has not embedded yet (PolicyQA asks 568 distinct questions 3,809 times,
    and the service's query cache would answer the repeats); a Timer built with the
    runtime empties that cache when its pass starts."""
    fn = lambda: rt.search_service.rank(ing.index, query, k, mode, allowed)  # noqa: E731
    if query in timer.seen:
        ranked = fn()
    else:
        timer.seen.add(query)
        ranked = timer(fn)
    return [cid for cid, _ in ranked]


# -- ACORD -------------------------------------------------------------------------------------
def run_acord(rt, path: Path, modes: Sequence[str], limit: int | None, depth_k: int, reuse: bool, details: bool) -> dict:
    from core.types import SearchFilters
    from evaluation.datasets import load_beir
    from evaluation.metrics import mean, ndcg_at_k, recall_at_k

    data = load_beir(path, ("train", "valid"))
    qids = sorted(data.queries)[: limit or None]
    docs = [(f"{did}.txt", text) for did, text in data.corpus.items()]
    ing = ingest_set(rt, "acord", docs, reuse)
    name_of = {v: k[: -len(".txt")] for k, v in ing.doc_ids.items()}  # document id -> corpus id
    id_of = {k[: -len(".txt")]: v for k, v in ing.doc_ids.items()}

    pools: dict[str, set[int] | None] = {}
    for qid in qids:
        judged = [id_of[d] for d in data.qrels[qid] if d in id_of]
        pools[qid] = rt.search_service.allowed_chunk_ids(ing.collection_id, SearchFilters(document_ids=judged))

    out: dict[str, Any] = {"ingest": ing.stats, "queries": len(qids), "k_chunks": depth_k, "modes": {}}
    for mode in modes:
        warm_up(rt, ing, mode, data.queries[qids[0]])
        res: dict[str, Any] = {}
        per_query: list[dict] = []
        for variant in ("corpus", "judged"):
            timer = Timer(mode, rt)
            n5, n10, r100 = [], [], []
            for qid in progress(qids, f"acord {mode} {variant}"):
                allowed = pools[qid] if variant == "judged" else None
                ranked = timed_rank(rt, timer, ing, data.queries[qid], depth_k, mode, allowed)
                top = [name_of[d] for d in collapse(ranked, ing.chunk_doc, 100)]
                judged = data.qrels[qid]
                n5.append(ndcg_at_k(top, judged, 5))
                n10.append(ndcg_at_k(top, judged, 10))
                if variant == "corpus":
                    r100.append(recall_at_k(top, judged, 100))
                if details:
                    per_query.append({
                        "variant": variant, "query_id": qid, "ndcg@10": n10[-1],
                        "top10": [[d, judged.get(d)] for d in top[:10]],
                        "best_judged": sorted(((d, r) for d, r in judged.items() if r > 0), key=lambda x: -x[1])[:10],
                    })
            res[f"{variant}_ndcg@5"] = mean(n5)
            res[f"{variant}_ndcg@10"] = mean(n10)
            if variant == "corpus":
                res["corpus_recall@100"] = mean(r100)
            res[f"latency_{variant}"] = timer.summary()
        res["latency"] = res["latency_corpus"]
        if details:
            res["per_query"] = per_query
        out["modes"][mode] = res
    return out


# -- PolicyQA ------------------------------------------------------------------------------------
def run_policyqa(rt, path: Path, modes: Sequence[str], limit: int | None, depth_k: int, reuse: bool, details: bool) -> dict:
    from core.types import SearchFilters
    from evaluation.datasets import load_squad, locate_answers, locate_paragraphs, squad_document_name
    from evaluation.metrics import hit_rate, mean, mrr_at_k

    documents, questions = load_squad(path)
    questions = questions[: limit or None]
    names = [squad_document_name(i, d.title) for i, d in enumerate(documents)]
    ing = ingest_set(rt, "policyqa", [(n, d.joined()[0]) for n, d in zip(names, documents)], reuse)

    # Gold spans in the stored (normalised) text: paragraphs located in order from a cursor.
    by_title = {d.title: i for i, d in enumerate(documents)}
    doc_id_of, para_spans, allowed, doc_chunks = {}, {}, {}, defaultdict(list)
    unlocated = 0
    for cid, (did, cs, ce) in ing.chunk_info.items():
        doc_chunks[did].append((cid, cs, ce))
    for i, (name, doc) in enumerate(zip(names, documents)):
        did = ing.doc_ids.get(name)
        if did is None:
            continue
        doc_id_of[i] = did
        stored = rt.store.get_document(did).text or ""
        spans = locate_paragraphs(stored, doc)
        unlocated += sum(1 for sp in spans if sp is None)
        para_spans[i] = (stored, spans)
        allowed[i] = rt.search_service.allowed_chunk_ids(ing.collection_id, SearchFilters(document_ids=[did]))

    items = []  # (question, doc index, paragraph gold chunk ids, answer gold chunk ids)
    skipped, no_answer_chunk = 0, 0
    for q in questions:
        i = by_title[q.title]
        if i not in para_spans or para_spans[i][1][q.paragraph] is None:
            skipped += 1
            continue
        stored, spans = para_spans[i]
        ps, pe = spans[q.paragraph]
        chunks = doc_chunks[doc_id_of[i]]
        para_gold = {cid for cid, cs, ce in chunks if cs < pe and ce > ps}
        answer_spans = locate_answers(stored, (ps, pe), documents[i].paragraphs[q.paragraph].text, q.answers)
        ans_gold = {cid for cid, cs, ce in chunks for a0, a1 in answer_spans if cs <= a0 and ce >= a1}
        no_answer_chunk += not ans_gold
        items.append((q, i, para_gold, ans_gold))

    # The same question text is often asked of one policy several times, each time with
    # another gold paragraph: "anygold" also accepts the paragraphs of those twins.
    twins: dict[tuple[str, str], set[int]] = defaultdict(set)
    for q, _, para_gold, _ in items:
        twins[(q.title, q.question)] |= para_gold
    chunks_per_doc = [len(doc_chunks[d]) for d in doc_id_of.values()]
    random5 = []
    for _, i, para_gold, _ in items:  # chance of a hit in 5 random chunks of the policy
        n, g = len(doc_chunks[doc_id_of[i]]), len(para_gold)
        random5.append(1.0 - float(np.prod([(n - g - j) / (n - j) for j in range(min(5, n))])) if n else 0.0)
    out: dict[str, Any] = {
        "ingest": ing.stats, "questions": len(items), "skipped_questions": skipped,
        "unlocated_paragraphs": unlocated, "questions_without_answer_chunk": no_answer_chunk,
        "chunks_per_policy_mean": round(float(np.mean(chunks_per_doc)), 1) if chunks_per_doc else None,
        "random_recall@5": mean(random5),
        "questions_with_twin_gold": sum(1 for q, _, pg, _ in items if twins[(q.title, q.question)] != pg),
        "k_chunks": depth_k, "modes": {},
    }
    for mode in modes:
        warm_up(rt, ing, mode, items[0][0].question)
        timer = Timer(mode, rt)
        rows = defaultdict(list)
        per_query = []
        for q, i, para_gold, ans_gold in progress(items, f"policyqa {mode}"):
            ids = timed_rank(rt, timer, ing, q.question, depth_k, mode, allowed[i])
            for k in (1, 5, 10):
                rows[f"para_recall@{k}"].append(hit_rate(ids, para_gold, k))
                rows[f"answer_recall@{k}"].append(hit_rate(ids, ans_gold, k) if ans_gold else 0.0)
                rows[f"para_anygold_recall@{k}"].append(hit_rate(ids, twins[(q.title, q.question)], k))
            rows["para_mrr@10"].append(mrr_at_k(ids, para_gold, 10))
            rows["answer_mrr@10"].append(mrr_at_k(ids, ans_gold, 10) if ans_gold else 0.0)
            if details:
                per_query.append({
                    "id": q.id, "question": q.question, "policy": q.title, "paragraph": q.paragraph,
                    "para_hit@5": rows["para_recall@5"][-1], "gold_chunks": sorted(para_gold),
                    "top5": [[c, ing.chunk_info[c][1], ing.chunk_info[c][2]] for c in ids[:5] if c in ing.chunk_info],
                })
        res: dict[str, Any] = {k: mean(v) for k, v in rows.items()}
        res["latency"] = timer.summary()
        if details:
            res["per_query"] = per_query
        out["modes"][mode] = res
    return out


# -- E-Manual --------------------------------------------------------------------------------------
def run_emanual(rt, path: Path, modes: Sequence[str], limit: int | None, depth_k: int, reuse: bool, details: bool) -> dict:
    from collections import Counter

    from evaluation.datasets import emanual_document, load_emanual
    from evaluation.metrics import hit_rate, mean, mrr_at_k

    data = load_emanual(path)
    docs = [emanual_document(s) for s in data.sections]
    ing = ingest_set(rt, "emanual", docs, reuse)
    section_of = {did: name[: -len(".txt")] for name, did in ing.doc_ids.items()}
    questions = data.questions[: limit or None]
    matched = [q for q in questions if q.gold_section_ids]
    out: dict[str, Any] = {
        "ingest": ing.stats, "questions": len(questions), "matched_questions": len(matched),
        "match_kinds": dict(Counter(q.match for q in questions)), "k_chunks": depth_k, "modes": {},
    }
    for mode in modes:
        warm_up(rt, ing, mode, matched[0].question)
        timer = Timer(mode, rt)
        rows = defaultdict(list)
        per_query = []
        for q in progress(matched, f"emanual {mode}"):
            ranked = timed_rank(rt, timer, ing, q.question, depth_k, mode, None)
            top = [section_of[d] for d in collapse(ranked, ing.chunk_doc, depth_k)]
            gold = set(q.gold_section_ids)
            for k in (1, 5):
                rows[f"recall@{k}"].append(hit_rate(top, gold, k))
            rows["mrr@10"].append(mrr_at_k(top, gold, 10))
            if details:
                per_query.append({"question": q.question, "path": q.section_path, "gold": sorted(gold),
                                  "match": q.match, "top5": top[:5], "hit@5": rows["recall@5"][-1]})
        res: dict[str, Any] = {k: mean(v) for k, v in rows.items()}
        res["latency"] = timer.summary()
        if details:
            res["per_query"] = per_query
        out["modes"][mode] = res
    return out


# -- report ------------------------------------------------------------------------------------------
COLUMNS = {
    "acord": ["corpus_ndcg@5", "corpus_ndcg@10", "judged_ndcg@5", "judged_ndcg@10", "corpus_recall@100"],
    "policyqa": ["para_recall@1", "para_recall@5", "para_recall@10", "para_mrr@10",
                 "answer_recall@1", "answer_recall@5", "answer_recall@10", "answer_mrr@10", "para_anygold_recall@5"],
    "emanual": ["recall@1", "recall@5", "mrr@10"],
}


def format_report(results: dict[str, dict], settings_used: dict[str, Any], overrides: dict[str, str]) -> str:
    lines = []
    fusion_keys = ("fusion", "dense_weight", "bm25_weight", "rrf_k", "hybrid_candidates", "chunk_tokens", "chunk_overlap_tokens")
    lines.append("settings: " + " ".join(f"{k}={settings_used[k]}" for k in fusion_keys)
                 + (f"   (overrides: {' '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else ""))
    for set_name, res in results.items():
        ing = res["ingest"]
        head = f"\n== {set_name}: ingest {ing['seconds']} s ({ing['documents']} docs, {ing['chunks']} chunks"
        head += ", reused data dir)" if ing.get("reused") else f", {ing.get('indexed', 0)} indexed, {ing.get('failed', 0)} failed)"
        lines.append(head + f", set total {res.get('seconds')} s")
        info = {k: v for k, v in res.items() if k not in ("ingest", "modes", "seconds")}
        lines.append("   " + "  ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in info.items()))
        cols = COLUMNS[set_name]
        lat_cols = ["p50 ms", "p95 ms"] + (["judged p50", "judged p95"] if set_name == "acord" else [])
        width = max(len(c) for c in cols) + 2
        lines.append(f"   {'mode':<7}" + "".join(f"{c:>{width}}" for c in cols) + "".join(f"{c:>12}" for c in lat_cols))
        for mode, m in res["modes"].items():
            vals = "".join(f"{m[c]:>{width}.4f}" if m.get(c) is not None else f"{'-':>{width}}" for c in cols)
            lats = [m["latency"]["p50_ms"], m["latency"]["p95_ms"]]
            if set_name == "acord":
                lats += [m["latency_judged"]["p50_ms"], m["latency_judged"]["p95_ms"]]
            lines.append(f"   {mode:<7}{vals}" + "".join(f"{v:>12}" for v in lats))
    if LATENCY:
        lines.append("\nrank() latency per mode, all sets pooled: " + "   ".join(
            f"{mode} p50 {percentile_ms(v, 50)} ms / p95 {percentile_ms(v, 95)} ms (n={len(v)})" for mode, v in LATENCY.items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Reusing --data-dir: documents already ingested there are not re-embedded, so search "
            "settings (fusion, dense_weight, bm25_weight, rrf_k, hybrid_candidates, search_mode) can be "
            "tuned quickly with --set. Settings that change what is stored (chunk_tokens, "
            "chunk_overlap_tokens, embedding_model_path) need a fresh --data-dir: the bench refuses a "
            f"data dir built with other values (recorded in {META_FILE} there). Without --data-dir a "
            "temporary folder is used and removed."
        ),
    )
    parser.add_argument("--acord", type=Path, help="BEIR folder of ACORD (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--policyqa", type=Path, help="PolicyQA dev.json (SQuAD v1.1 format)")
    parser.add_argument("--emanual", type=Path, help="E-Manual TV folder (smart_tv_remote_manual_corpus.json, smart_tv_remote_qa/)")
    parser.add_argument("--modes", default="dense,bm25,hybrid", help="comma-separated: dense, bm25, hybrid")
    parser.add_argument("--limit", type=int, default=None, help="first N queries/questions per set (documents are all ingested)")
    parser.add_argument("--json", type=Path, default=None, help="write every number and the settings used to this file")
    parser.add_argument("--data-dir", type=Path, default=None, help="DocIntel data dir to build or reuse (default: a temporary one)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Settings override, repeatable, e.g. --set fusion=rrf --set dense_weight=0.7")
    parser.add_argument("--k-acord", type=int, default=100, help="chunks ranked per ACORD query before collapsing to documents (100)")
    parser.add_argument("--k-policyqa", type=int, default=10, help="chunks ranked per PolicyQA question (10)")
    parser.add_argument("--k-emanual", type=int, default=20, help="chunks ranked per E-Manual question before collapsing to sections (20)")
    parser.add_argument("--details", action="store_true", help="include per-query rankings in the --json output")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        parser.error(f"--modes: unknown {bad} (use {', '.join(MODES)})")
    if not (args.acord or args.policyqa or args.emanual):
        parser.error("give at least one of --acord, --policyqa, --emanual")
    overrides = parse_overrides(args.overrides)

    from core.fileio import atomic_write_json
    from core.logging import configure_logging
    from core.settings import Settings
    from workers.runtime import Runtime

    configure_logging(args.log_level)
    logging.getLogger("bm25s").setLevel(max(logging.WARNING, logging.getLogger().level))
    tmp = None
    if args.data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="docintel-bench-")
        data_dir, reuse = Path(tmp.name), False
    else:
        data_dir, reuse = args.data_dir, True
        data_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    try:
        settings = Settings(data_dir=data_dir, _env_file=None, **overrides)
        meta_path = data_dir / META_FILE
        stored_with = {k: getattr(settings, k) for k in INGEST_KEYS}
        if meta_path.exists():
            import json

            previous = json.loads(meta_path.read_text())
            if previous != stored_with:
                changed = {k: (previous.get(k), stored_with[k]) for k in INGEST_KEYS if previous.get(k) != stored_with[k]}
                raise SystemExit(f"{data_dir} was built with other chunking/model settings {changed} (old, new): "
                                 "use a fresh --data-dir")
        else:
            atomic_write_json(meta_path, stored_with)
        rt = Runtime(settings)
        runners = [("acord", args.acord, run_acord, args.k_acord), ("policyqa", args.policyqa, run_policyqa, args.k_policyqa),
                   ("emanual", args.emanual, run_emanual, args.k_emanual)]
        results: dict[str, dict] = {}
        for name, path, runner, depth_k in runners:
            if path is None:
                continue
            t0 = time.perf_counter()
            results[name] = runner(rt, path, modes, args.limit, depth_k, reuse, args.details)
            results[name]["seconds"] = round(time.perf_counter() - t0, 1)
            print(f"[{name} done in {results[name]['seconds']} s]", file=sys.stderr)
        settings_used = settings.model_dump(mode="json")
        print(format_report(results, settings_used, overrides))
        total = round(time.perf_counter() - t_start, 1)
        print(f"\ntotal {total} s")
        if args.json:
            atomic_write_json(args.json, {
                "settings": settings_used, "overrides": overrides, "modes": modes, "limit": args.limit,
                "data_dir": str(data_dir) if tmp is None else None, "total_seconds": total, "sets": results,
                "k_chunks": {"acord": args.k_acord, "policyqa": args.k_policyqa, "emanual": args.k_emanual},
            })
        rt.store.engine.dispose()
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
