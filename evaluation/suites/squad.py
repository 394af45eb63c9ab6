"""SQuAD v1.1 suite (e.g. PolicyQA): each question is asked of its own document only.

Retrieval: is a chunk overlapping the gold paragraph (or containing an answer span) in
the top k, searched within that document? Answers: Runtime.ask restricted to the
document, scored by SQuAD exact match / token F1 against the best gold answer, next to
the no-LLM extractive baseline. `random_recall@5` is retrieval's chance baseline: the
probability that 5 chunks drawn at random from the question's document include a chunk
of the gold paragraph. PolicyQA's golds are annotation fragments ("used",
"nickname"), so retrieval recall@5 is the headline and EM/F1 are for reference.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from evaluation.answer_metrics import (
    answer_citation_scores,
    answer_form_scores,
    answer_text,
    answer_text_with_excerpt,
    best_of,
    exact_match,
    extractive_answer,
    token_f1,
)
from evaluation.datasets import load_squad, locate_answers, locate_paragraphs, squad_document_name
from evaluation.metrics import hit_rate, mrr_at_k, random_hit_rate
from evaluation.suites.base import (
    Aggregate, Chart, EvalContext, EvalItem, ItemResult, latency_chart, latency_metrics, mean_scores, ok_results,
)
from evaluation.suites.beir import ingest_documents, timed_search

K = 10  # chunks retrieved per question (recall@1/5/10, MRR@10)
RETRIEVAL_KEYS = ["recall@1", "recall@5", "recall@10", "mrr@10", "answer_recall@5", "anygold_recall@5", "random_recall@5",
                  "latency_ms"]
ANSWER_KEYS = ["exact_match", "token_f1", "exact_match_with_excerpt", "token_f1_with_excerpt", "extractive_exact_match",
               "extractive_token_f1", "abstained", "citation_precision", "groundedness", "uncited", "starts_with_marker",
               "marker_list", "fallback_extractive", "answer_latency_ms"]


def _truthy(value: object) -> bool:
    return str(value).strip().lower() not in {"false", "0", "no", "off", ""}


class SquadSuite:
    name = "squad"
    description = ("SQuAD v1.1 JSON, e.g. PolicyQA: gold-paragraph recall within the question's own document, and "
                   "answers (EM / token F1) from `ask` restricted to it. Options: answers=true|false")
    headline = "recall@5"

    def files(self, data: Path) -> list[Path]:
        return [Path(data)]

    def load(self, data: Path) -> list[EvalItem]:
        docs, questions = load_squad(data)
        index_of = {}
        for i, d in enumerate(docs):
            index_of.setdefault(d.title, i)
        # PolicyQA keeps a "type" ("Category|||Attribute|||Value") per question: the
        # category gives a per-category breakdown.
        raw = json.loads(Path(data).read_text(encoding="utf-8"))
        kinds = [str(qa.get("type") or "").split("|||")[0]
                 for a in raw["data"] for p in a.get("paragraphs", []) for qa in p.get("qas", [])]  # load_squad's order
        # The same question text asked of one document with another gold paragraph: a
        # chunk of such a twin paragraph is also an acceptable hit ("anygold").
        twins: dict[tuple[str, str], set[int]] = defaultdict(set)
        for q in questions:
            twins[(q.title, q.question)].add(q.paragraph)
        seen: dict[str, int] = {}
        items = []
        for q, kind in zip(questions, kinds):
            n = seen[q.id] = seen.get(q.id, 0) + 1
            items.append(EvalItem(q.id if n == 1 else f"{q.id}#{n}", {
                "question": q.question, "title": q.title, "doc": index_of[q.title], "paragraph": q.paragraph,
                "answers": [[a.text, a.answer_start] for a in q.answers],
                "twin_paragraphs": sorted(twins[(q.title, q.question)]), "category": kind,
            }))
        return items

    def prepare(self, ctx: EvalContext, items: Sequence[EvalItem]) -> None:
        docs, _ = load_squad(ctx.data)
        needed = sorted({it.data["doc"] for it in items})
        ing = ingest_documents(ctx, ((squad_document_name(i, docs[i].title), docs[i].joined()[0]) for i in needed),
                               total=len(needed))
        rt = ctx.runtime
        state: dict[int, dict] = {}
        for i in needed:
            did = ing["doc_ids"].get(squad_document_name(i, docs[i].title))
            if did is None:
                continue
            stored = rt.store.get_document(did).text or ""
            chunks = [(c.id, c.char_start, c.char_end) for c in rt.store.chunks_for_document(did)]
            state[i] = {"document_id": did, "stored": stored, "spans": locate_paragraphs(stored, docs[i]), "chunks": chunks}
        ctx.state.update(docs=docs, policies=state, failed=ing["failed"], answers=_truthy(ctx.option("answers", "true")))
        if ctx.state["answers"]:
            ctx.state["index"] = rt.index(ing["collection_id"])
            rt.generator  # a missing or unverified model fails the run here, not every item; load stays out of latency

    def _gold_chunks(self, ctx: EvalContext, item: EvalItem) -> tuple[set[int], set[int], set[int]] | None:
        """Chunk ids overlapping the gold paragraph, containing an answer span, and
        overlapping any twin paragraph; None when the paragraph is not in the stored text."""
        pol = ctx.state["policies"][item.data["doc"]]
        span = pol["spans"][item.data["paragraph"]]
        if span is None:
            return None
        ps, pe = span
        para = {cid for cid, cs, ce in pol["chunks"] if cs < pe and ce > ps}
        doc = ctx.state["docs"][item.data["doc"]]
        from evaluation.datasets import SquadAnswer

        answers = [SquadAnswer(t, s) for t, s in item.data["answers"]]
        spans = locate_answers(pol["stored"], span, doc.paragraphs[item.data["paragraph"]].text, answers)
        answer = {cid for cid, cs, ce in pol["chunks"] for a0, a1 in spans if cs <= a0 and ce >= a1}
        anygold = set()
        for p in item.data["twin_paragraphs"]:
            tspan = pol["spans"][p]
            if tspan is not None:
                anygold |= {cid for cid, cs, ce in pol["chunks"] if cs < tspan[1] and ce > tspan[0]}
        return para, answer, anygold

    def run_item(self, ctx: EvalContext, item: EvalItem) -> ItemResult:
        pol = ctx.state["policies"].get(item.data["doc"])
        if pol is None:
            raise ValueError(f"document '{item.data['title']}' was not ingested: {ctx.state['failed']}")
        question, did = item.data["question"], pol["document_id"]
        scores: dict[str, float | None] = {k: None for k in RETRIEVAL_KEYS}
        output: dict = {"category": item.data["category"]}
        gold = self._gold_chunks(ctx, item)
        hits, ms = timed_search(ctx, question, K, [did])
        ranked = [h.chunk_id for h in hits]
        scores["latency_ms"] = ms
        output["top5"] = [[h.chunk_id, h.char_start, h.char_end] for h in hits[:5]]
        if gold is None:
            output["skipped_retrieval"] = "gold paragraph not found in the stored text"
        else:
            para, answer, anygold = gold
            for k in (1, 5, 10):
                scores[f"recall@{k}"] = hit_rate(ranked, para, k)
            scores["mrr@10"] = mrr_at_k(ranked, para, 10)
            scores["answer_recall@5"] = hit_rate(ranked, answer, 5) if answer else 0.0
            scores["anygold_recall@5"] = hit_rate(ranked, anygold, 5)
            scores["random_recall@5"] = random_hit_rate(len(pol["chunks"]), len(para), 5)
            output["gold_chunks"] = sorted(para)
            output["first_hit_rank"] = next((i + 1 for i, c in enumerate(ranked) if c in para), None)
        if ctx.state["answers"]:
            scores.update(self._answer(ctx, item, did, output))
        return ItemResult(item.id, scores, output)

    def _answer(self, ctx: EvalContext, item: EvalItem, did: int, output: dict) -> dict[str, float | None]:
        from core.types import SearchFilters

        rt, question = ctx.runtime, item.data["question"]
        golds = [t for t, _ in item.data["answers"]]
        t0 = time.perf_counter()
        ans = rt.ask(question, ctx.collection, tenant=ctx.tenant, filters=SearchFilters(document_ids=[did]))
        ms = (time.perf_counter() - t0) * 1000.0
        pred = answer_text(ans)
        base, _ = extractive_answer(rt, ctx.state["index"], question, [did])
        output.update(answer=ans.answer, excerpt=ans.excerpt.text if ans.excerpt else None, draft=ans.draft,
                      abstained=ans.abstained, abstain_reason=ans.abstain_reason, citations=len(ans.citations), golds=golds,
                      extractive=base)
        quoted = answer_text_with_excerpt(ans)  # scored as before answer and excerpt were apart
        return {
            "exact_match": best_of(exact_match, pred, golds), "token_f1": best_of(token_f1, pred, golds),
            "exact_match_with_excerpt": best_of(exact_match, quoted, golds), "token_f1_with_excerpt": best_of(token_f1, quoted, golds),
            **answer_form_scores(ans),
            "extractive_exact_match": best_of(exact_match, base, golds),
            "extractive_token_f1": best_of(token_f1, base, golds),
            "abstained": float(ans.abstained), **answer_citation_scores(rt, ans), "answer_latency_ms": ms,
        }

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        ok = ok_results(results)
        metrics = mean_scores(ok, RETRIEVAL_KEYS[:-1])
        metrics.update(latency_metrics(ok, "latency_ms", "latency_ms"))
        charts = []
        judged = [r for r in ok if r.scores.get("recall@10") is not None]
        ks = list(range(1, K + 1))
        if judged:
            ranks = [r.output.get("first_hit_rank") for r in judged]
            curve = [sum(1 for x in ranks if x is not None and x <= k) / len(judged) for k in ks]
            charts.append(Chart("line", "Gold paragraph found in top k chunks", "k", "recall", {"recall@k": {"x": ks, "y": curve}}))
        charts.append(latency_chart(ok))
        tables = {}
        if any(r.scores.get("token_f1") is not None for r in ok):
            metrics.update(mean_scores(ok, ANSWER_KEYS[:-1]))
            metrics.update(latency_metrics(ok, "answer_latency_ms", "answer_latency_ms"))
            charts.append(Chart("bar", "Answers vs gold (best of the gold answers)", "metric", "score", {
                "LLM answer": {"x": ["exact match", "token F1"], "y": [metrics["exact_match"], metrics["token_f1"]]},
                "extractive baseline": {"x": ["exact match", "token F1"],
                                        "y": [metrics["extractive_exact_match"], metrics["extractive_token_f1"]]},
            }))
        by_cat: dict[str, list[ItemResult]] = defaultdict(list)
        for r in judged:
            by_cat[r.output.get("category") or "(none)"].append(r)
        if len(by_cat) > 1:
            cols = ["recall@5", "mrr@10"] + (["token_f1"] if "token_f1" in metrics else [])
            tables["By question category"] = {
                cat: {"items": len(rs), **mean_scores(rs, cols)} for cat, rs in sorted(by_cat.items())
            }
        return Aggregate(metrics, charts, tables)
