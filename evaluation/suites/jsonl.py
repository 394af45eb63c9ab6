"""`jsonl`: your own questions over your own documents.

One JSON object per line (blank lines and lines starting with // are skipped):

    {"id": "tv-12", "question": "How do I reset the remote?", "answer": "Hold BACK and PLAY for 5 seconds.",
     "document": "manuals/remote.pdf", "page": 12}

- question (required).
- answer: the gold answer, a string or a list of acceptable strings. Empty, null or
  missing means the documents do not state it: the right behaviour is to abstain.
- document: the file holding the answer, relative to the JSONL file's folder (or to
  `--option documents=DIR`); page: its 1-based page. Both optional; they enable the
  retrieval and citation scores.
- id: optional, defaults to "line-N"; keep ids stable to compare runs item by item.

What is searched: every file under `--option documents=DIR` when given (so wrong
documents can compete), otherwise the files the items name. `--option scope=document`
restricts each question to its gold document, as a user of that one file would ask.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

from core.types import SearchFilters
from evaluation.suites.base import Aggregate, Chart, EvalContext, EvalItem, ItemResult, latency_chart, mean_scores, ok_results, percentile

K_VALUES = (1, 5, 10)


def _answers(raw: Any) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw] if raw.strip() else []
    if isinstance(raw, list):
        return [str(a) for a in raw if str(a).strip()]
    raise ValueError(f"answer must be a string or a list of strings, not {type(raw).__name__}")


def load_jsonl(path: Path) -> list[EvalItem]:
    """Items of a JSONL question file, with line numbers in every error message."""
    items: list[EvalItem] = []
    seen: set[str] = set()
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name} line {n}: not JSON ({exc.msg})") from None
        if not isinstance(rec, dict) or not str(rec.get("question") or "").strip():
            raise ValueError(f"{path.name} line {n}: needs a non-empty \"question\"")
        item_id = str(rec.get("id") or f"line-{n}")
        if item_id in seen:
            raise ValueError(f"{path.name} line {n}: id '{item_id}' is used twice")
        seen.add(item_id)
        try:
            answers = _answers(rec.get("answer"))
        except ValueError as exc:
            raise ValueError(f"{path.name} line {n}: {exc}") from None
        page = rec.get("page")
        if page is not None and (not isinstance(page, int) or page < 1):
            raise ValueError(f"{path.name} line {n}: page must be a positive integer")
        items.append(EvalItem(item_id, {"question": rec["question"].strip(), "answers": answers,
                                        "document": rec.get("document"), "page": page}))
    return items


class JsonlSuite:
    name = "jsonl"
    description = "a .jsonl file of {question, answer, document, page} records (see evaluation/suites/jsonl.py)"
    headline = "token_f1"

    def _docs_root(self, data: Path, options: dict[str, str]) -> Path:
        base = data.parent if data.is_file() else data
        return (base / options["documents"]).resolve() if options.get("documents") else base

    def files(self, data: Path) -> list[Path]:
        if data.is_dir():
            return sorted(data.glob("*.jsonl"))[:1]
        if data.suffix != ".jsonl":
            return []
        named = {it.data["document"] for it in load_jsonl(data) if it.data.get("document")}
        return [data] + sorted(p for p in (data.parent / n for n in named) if p.is_file())

    def load(self, data: Path) -> list[EvalItem]:
        if data.is_dir():
            found = sorted(data.glob("*.jsonl"))
            if not found:
                raise ValueError(f"no .jsonl file in {data}")
            data = found[0]
        return load_jsonl(data)

    def prepare(self, ctx: EvalContext, items: Sequence[EvalItem]) -> None:
        rt, root = ctx.runtime, self._docs_root(ctx.data, ctx.options)
        coll = rt.store.collection(ctx.tenant, ctx.collection, create=True)
        if ctx.options.get("documents"):
            if not root.is_dir():
                raise FileNotFoundError(f"--option documents={ctx.options['documents']}: {root} is not a folder")
            results = rt.ingest([root], ctx.collection, ctx.tenant)  # names = paths relative to root
        else:
            named = sorted({it.data["document"] for it in items if it.data.get("document")})
            missing = [n for n in named if not (root / n).is_file()]
            if missing:
                raise FileNotFoundError(f"documents named in {ctx.data.name} do not exist under {root}: {', '.join(missing[:5])}")
            with rt.writing(coll.id) as index:
                results = [rt.ingestor.ingest_file(coll.id, root / n, index, name=Path(n).as_posix()) for n in named]
                index.save()
        ctx.state["ingest"] = {s: sum(r.status == s for r in results) for s in ("indexed", "unchanged", "failed")}
        ctx.state["doc_ids"] = {d.name: d.id for d in rt.store.list_documents(coll.id) if d.status == "indexed"}

    def _gold_doc_id(self, ctx: EvalContext, document: str | None) -> int | None:
        if not document:
            return None
        return ctx.state["doc_ids"].get(Path(document).as_posix())

    def run_item(self, ctx: EvalContext, item: EvalItem) -> ItemResult:
        from evaluation.answer_metrics import answer_citation_scores, answer_form_scores, answer_text, best_of, exact_match, rouge_l, token_f1

        rt, q, gold = ctx.runtime, item.data["question"], item.data["answers"]
        gold_doc = self._gold_doc_id(ctx, item.data.get("document"))
        gold_page = item.data.get("page")
        if item.data.get("document") and gold_doc is None:
            raise ValueError(f"gold document {item.data['document']} was not indexed")
        scope = ctx.option("scope", "collection")
        filters = SearchFilters(document_ids=[gold_doc]) if scope == "document" and gold_doc else None
        scores: dict[str, float | None] = {}

        hits = rt.search(q, ctx.collection, k=max(K_VALUES), tenant=ctx.tenant, filters=filters)
        if gold_doc is not None:
            ranked_docs = list(dict.fromkeys(h.document_id for h in hits))
            for k in K_VALUES:
                scores[f"doc_recall@{k}"] = float(gold_doc in ranked_docs[:k])
            if gold_page is not None:
                on_page = [h.document_id == gold_doc and h.page_start <= gold_page <= h.page_end for h in hits[:5]]
                scores["page_recall@5"] = float(any(on_page))

        t0 = time.perf_counter()
        answer = rt.ask(q, ctx.collection, tenant=ctx.tenant, filters=filters)
        latency = time.perf_counter() - t0
        scores["abstained"] = float(answer.abstained)
        scores["latency_s"] = latency
        if gold:
            pred = answer_text(answer)
            scores["exact_match"] = best_of(exact_match, pred, gold)
            scores["token_f1"] = best_of(token_f1, pred, gold)
            scores["rouge_l"] = best_of(rouge_l, pred, gold)
        else:
            scores["correct_abstention"] = float(answer.abstained)
        scores.update(answer_citation_scores(rt, answer))
        scores.update(answer_form_scores(answer))
        if answer.citations:
            if gold_doc is not None:
                scores["cites_gold_document"] = float(any(c.document_id == gold_doc for c in answer.citations))
                if gold_page is not None:
                    scores["cites_gold_page"] = float(any(c.document_id == gold_doc and c.page == gold_page for c in answer.citations))
        output = {"question": q, "gold": gold, "answer": answer.answer, "excerpt": answer.excerpt.text if answer.excerpt else None,
                  "abstained": answer.abstained,
                  "abstain_reason": answer.abstain_reason,
                  "citations": [{"document": c.document_name, "page": c.page, "quote": c.quote[:300]} for c in answer.citations],
                  "retrieved": [{"document": h.document_name, "page": h.page_start, "score": round(h.score, 4)} for h in hits[:5]]}
        return ItemResult(item.id, scores, output, seconds=latency)

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        metrics = mean_scores(results)
        ok = ok_results(results)
        lat = [r.scores["latency_s"] for r in ok if r.scores.get("latency_s") is not None]
        metrics["latency_p50_s"] = percentile(lat, 50)
        metrics["latency_p95_s"] = percentile(lat, 95)
        metrics["items"] = float(len(ok))
        charts = []
        ks = [k for k in K_VALUES if metrics.get(f"doc_recall@{k}") is not None]
        if ks:
            charts.append(Chart("line", "Gold document within the top k", "k", "recall",
                                {"document recall": {"x": list(ks), "y": [metrics[f"doc_recall@{k}"] for k in ks]}}))
        names = [m for m in ("exact_match", "token_f1", "rouge_l", "citation_precision", "groundedness", "cites_gold_document",
                             "abstained", "correct_abstention") if metrics.get(m) is not None]
        if names:
            charts.append(Chart("bar", "Answer quality", "metric", "mean", {"run": {"x": names, "y": [metrics[m] for m in names]}}))
        charts.append(latency_chart(results, "Answer latency per question"))
        return Aggregate(metrics, charts)
