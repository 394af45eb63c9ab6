"""E-Manual TV suite: questions over a whole product manual (every section one document).

Retrieval: is the gold section (from the question's section hierarchy, see
evaluation.datasets.match_emanual_gold) among the top sections? Answers: Runtime.ask
over the manual, ROUGE-L F1 against the gold answer next to the extractive baseline,
whether a citation points into the gold section, citation precision.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from evaluation.answer_metrics import (
    answer_citation_scores, answer_form_scores, answer_text, answer_text_with_excerpt, extractive_answer, rouge_l,
)
from evaluation.datasets import CORPUS_FILE, QA_FOLDER, emanual_document, load_emanual
from evaluation.metrics import hit_rate, mrr_at_k
from evaluation.suites.base import (
    Aggregate, Chart, EvalContext, EvalItem, ItemResult, latency_chart, latency_metrics, mean_scores, ok_results,
)
from evaluation.suites.beir import collapse, ingest_documents, timed_search
from evaluation.suites.squad import _truthy

DEPTH_CHUNKS = 20  # chunks ranked per question before collapsing to sections
RETRIEVAL_KEYS = ["section_recall@1", "section_recall@5", "section_mrr@10", "latency_ms"]
FORM_KEYS = ["uncited", "uncited_claims", "starts_with_marker", "marker_list", "draft_uncited", "draft_starts_with_marker",
             "draft_marker_list", "fallback_extractive"]
ANSWER_KEYS = ["rouge_l", "rouge_l_with_excerpt", "extractive_rouge_l", "citation_in_gold_section", "citation_precision",
               "groundedness", "abstained", *FORM_KEYS, "answer_latency_ms"]


class EManualSuite:
    name = "emanual"
    description = ("E-Manual QA (Smart TV / remote manual): gold-section recall over the whole manual and answers "
                   "(ROUGE-L vs gold, against an extractive baseline). Options: answers=true|false")

    def __init__(self) -> None:
        # Which metric leads depends on the `answers` option: set again by prepare and aggregate.
        self.headline = "rouge_l"

    def files(self, data: Path) -> list[Path]:
        root = Path(data)
        return [root / CORPUS_FILE, *sorted((root / QA_FOLDER).glob("*/*.json"))]

    def load(self, data: Path) -> list[EvalItem]:
        """Questions whose gold section was found, id = source file + position in it."""
        em = load_emanual(data)
        position: dict[str, int] = defaultdict(int)
        items = []
        for q in em.questions:
            position[q.source] += 1
            if not q.gold_section_ids:
                continue
            kind = Path(q.source).parent.name
            items.append(EvalItem(f"{q.source}#{position[q.source]}", {
                "question": q.question, "answer": q.answer, "gold_sections": q.gold_section_ids,
                "match": q.match, "type": kind, "section_path": q.section_path,
            }))
        return items

    def prepare(self, ctx: EvalContext, items: Sequence[EvalItem]) -> None:
        # Every question searches the whole manual, so every section is ingested.
        sections = load_emanual(ctx.data).sections
        ing = ingest_documents(ctx, (emanual_document(s) for s in sections), total=len(sections))
        ctx.state["section_of"] = {did: name[: -len(".txt")] for name, did in ing["doc_ids"].items()}
        ctx.state["answers"] = _truthy(ctx.option("answers", "true"))
        ctx.state["index"] = ctx.runtime.index(ing["collection_id"])
        self.headline = "rouge_l" if ctx.state["answers"] else "section_recall@5"
        if ctx.state["answers"]:
            ctx.runtime.generator  # a missing or unverified model fails the run here, not every item

    def run_item(self, ctx: EvalContext, item: EvalItem) -> ItemResult:
        section_of: dict[int, str] = ctx.state["section_of"]
        gold = set(item.data["gold_sections"])
        hits, ms = timed_search(ctx, item.data["question"], DEPTH_CHUNKS)
        top = collapse(section_of.get(h.document_id) for h in hits)
        scores: dict[str, float | None] = {
            "section_recall@1": hit_rate(top, gold, 1), "section_recall@5": hit_rate(top, gold, 5),
            "section_mrr@10": mrr_at_k(top, gold, 10), "latency_ms": ms,
        }
        output: dict = {"type": item.data["type"], "top5": top[:5], "gold": sorted(gold),
                        "first_hit_rank": next((i + 1 for i, s in enumerate(top) if s in gold), None)}
        if ctx.state["answers"]:
            scores.update(self._answer(ctx, item, gold, output))
        return ItemResult(item.id, scores, output)

    def _answer(self, ctx: EvalContext, item: EvalItem, gold: set[str], output: dict) -> dict[str, float | None]:
        rt, question, reference = ctx.runtime, item.data["question"], item.data["answer"]
        t0 = time.perf_counter()
        ans = rt.ask(question, ctx.collection, tenant=ctx.tenant)
        ms = (time.perf_counter() - t0) * 1000.0
        base, _ = extractive_answer(rt, ctx.state["index"], question)
        section_of = ctx.state["section_of"]
        cited = [section_of.get(c.document_id) for c in ans.citations]
        output.update(answer=ans.answer, excerpt=ans.excerpt.text if ans.excerpt else None, draft=ans.draft,
                      abstained=ans.abstained, abstain_reason=ans.abstain_reason, cited_sections=cited, extractive=base)
        has_gold = bool(reference.strip())
        return {
            "rouge_l": rouge_l(answer_text(ans), reference) if has_gold else None,
            "rouge_l_with_excerpt": rouge_l(answer_text_with_excerpt(ans), reference) if has_gold else None,
            **answer_form_scores(ans),
            "extractive_rouge_l": rouge_l(base, reference) if has_gold else None,
            # an answer without citations (e.g. an abstention) points nowhere: 0
            "citation_in_gold_section": float(any(s in gold for s in cited)),
            **answer_citation_scores(rt, ans),
            "abstained": float(ans.abstained),
            "answer_latency_ms": ms,
        }

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        ok = ok_results(results)
        metrics = mean_scores(ok, RETRIEVAL_KEYS[:-1])
        metrics.update(latency_metrics(ok, "latency_ms", "latency_ms"))
        ks = list(range(1, 11))
        ranks = [r.output.get("first_hit_rank") for r in ok]
        curve = [sum(1 for x in ranks if x is not None and x <= k) / len(ok) if ok else None for k in ks]
        charts = [Chart("line", "Gold section in top k sections", "k", "recall", {"section recall@k": {"x": ks, "y": curve}}),
                  latency_chart(ok)]
        answered = any(r.scores.get("rouge_l") is not None for r in ok)
        self.headline = "rouge_l" if answered else "section_recall@5"
        cols = ["items", "section_recall@5"]
        if answered:
            metrics.update(mean_scores(ok, ANSWER_KEYS[:-1]))
            metrics.update(latency_metrics(ok, "answer_latency_ms", "answer_latency_ms"))
            charts.append(Chart("bar", "ROUGE-L F1 vs gold answer", "answer", "ROUGE-L F1", {
                "ROUGE-L": {"x": ["LLM answer", "extractive baseline"], "y": [metrics["rouge_l"], metrics["extractive_rouge_l"]]},
            }))
            cols += ["rouge_l", "extractive_rouge_l"]
        by_type: dict[str, list[ItemResult]] = defaultdict(list)
        for r in ok:
            by_type[r.output.get("type") or "(none)"].append(r)
        table = {t: {"items": len(rs), **mean_scores(rs, cols[1:])} for t, rs in sorted(by_type.items())}
        return Aggregate(metrics, charts, {"By question type": table})
