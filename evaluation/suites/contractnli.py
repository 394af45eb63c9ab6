"""The `contractnli` suite: does the NDA entail, contradict or not mention a hypothesis?

Item = one (document, hypothesis) pair, id "<doc id>/nda-N". `prepare` ingests the NDAs
into the run's collection; `run_item` retrieves the NDA's best `k` chunks for the
hypothesis (`runtime.search` restricted to that document) and asks the configured
generator for one label word. Alongside, a no-LLM baseline that learns nothing from the
data: the product's own "is the evidence strong enough" signal (best evidence sentence's
cosine similarity >= settings.abstain_min_similarity) read as Entailment, else NotMentioned.

Options: k (chunks, default 4), llm=0 (baseline only, no generator).
"""
from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.contract_datasets import NLI_LABELS, hypothesis_order, load_contractnli
from evaluation.suites.base import Aggregate, Chart, EvalContext, EvalItem, ItemResult, ok_results, percentile

SYSTEM = "You check statements against excerpts of a non-disclosure agreement (NDA). You answer with one word."
QUESTION = (
    "Based only on the excerpts, is the statement entailed by the NDA (Entailment), contradicted by it "
    "(Contradiction), or not addressed by it (NotMentioned)? Answer with exactly one word: "
    "Entailment, Contradiction or NotMentioned."
)

# First match in the reply wins; "not mentioned" is tried before "mention"-free words so
# "not entailed"-style replies are not read as Entailment.
_PATTERNS = (
    ("NotMentioned", re.compile(r"not[\s_-]*mentioned|not[\s_-]*(?:addressed|stated|specified|covered)|\bneither\b|\bunknown\b|\bno information\b", re.I)),
    ("Contradiction", re.compile(r"contradict|\bnot[\s_-]*entail|\bfalse\b|\bno\b", re.I)),
    ("Entailment", re.compile(r"entail|\btrue\b|\byes\b|\bsupported\b", re.I)),
)


def parse_label(reply: str) -> str | None:
    """The label a model reply names (earliest mention wins), None if it names none."""
    best: tuple[int, str] | None = None
    for label, pat in _PATTERNS:
        m = pat.search(reply or "")
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), label)
    return best[1] if best else None


def nli_messages(hypothesis: str, excerpts: Sequence[str]):
    from generation.base import Message

    body = "\n\n".join(f"[{i}] {' '.join(t.split())}" for i, t in enumerate(excerpts, 1))
    return [Message("system", SYSTEM),
            Message("user", f"Excerpts from the NDA:\n{body}\n\nStatement: {hypothesis}\n\n{QUESTION}")]


def _doc_name(doc_id: str) -> str:
    return f"contractnli-{doc_id}.txt"


def _locate(text: str, spans_text: Sequence[str]) -> list[tuple[int, int]]:
    """Gold evidence spans (given in the raw text) located in the stored, normalised text."""
    from ingestion.normalize import normalize_text

    out = []
    for raw in spans_text:
        s = normalize_text(raw)
        if not s:
            continue
        pos = text.find(s)
        if pos < 0:  # a span cut inside collapsed whitespace: anchor on its head
            pos = text.find(s[:60])
        if pos >= 0:
            out.append((pos, pos + len(s)))
    return out


class ContractNliSuite:
    name = "contractnli"
    description = ("ContractNLI: NDA hypothesis -> Entailment / Contradiction / NotMentioned via retrieval + the "
                   "configured LLM; accuracy, F1 (Entailment, Contradiction), evidence recall (options: k=4, llm=0|1)")
    headline = "accuracy"

    def files(self, data: Path) -> list[Path]:
        data = Path(data)
        return sorted(data.glob("*.json")) if data.is_dir() else [data]

    def load(self, data: Path) -> list[EvalItem]:
        nli = load_contractnli(data)
        items = []
        for doc in nli.documents:
            for key in sorted(doc.annotations, key=hypothesis_order):
                ann = doc.annotations[key]
                items.append(EvalItem(f"{doc.id}/{key}", {
                    "doc": doc.id, "hypothesis_key": key, "hypothesis": nli.hypotheses.get(key, key),
                    "gold": ann.choice, "evidence": [doc.text[a:b] for a, b in doc.evidence(key)],
                }))
        return items

    def prepare(self, ctx: EvalContext, items: Sequence[EvalItem]) -> None:
        rt = ctx.runtime
        wanted = {it.data["doc"] for it in items}
        nli = load_contractnli(ctx.data)
        chosen = [d for d in nli.documents if d.id in wanted]
        results = rt.ingest_texts(((_doc_name(d.id), d.text.encode("utf-8")) for d in chosen), ctx.collection, ctx.tenant)
        ctx.state["docs"] = {d.id: r for d, r in zip(chosen, results)}
        ctx.state["k"] = ctx.option("k", 4, int)
        ctx.state["llm"] = ctx.option("llm", "1") not in ("0", "false", "no", "off")

    def run_item(self, ctx: EvalContext, item: EvalItem) -> ItemResult:
        from core.types import SearchFilters
        from generation.evidence import select_evidence

        t0 = time.perf_counter()
        rt = ctx.runtime
        res = ctx.state["docs"].get(item.data["doc"])
        if res is None or res.document_id is None or res.status == "failed":
            return ItemResult(item.id, {}, error=f"ingest failed: {getattr(res, 'error', 'document missing')}")
        hyp, gold = item.data["hypothesis"], item.data["gold"]
        hits = rt.search(hyp, ctx.collection, k=ctx.state["k"], tenant=ctx.tenant,
                         filters=SearchFilters(document_ids=[res.document_id]))
        t_search = time.perf_counter() - t0

        # evidence recall: does a retrieved chunk overlap a gold evidence span?
        gold_spans = _locate(rt.store.get_document(res.document_id).text or "", item.data["evidence"])
        covered = [any(h.char_start < b and a < h.char_end for h in hits) for a, b in gold_spans]

        # no-LLM baseline: the product's weak-evidence test
        search = rt.search_service
        ev = select_evidence(search.embed_query(hyp), hits, search.embedder.embed_documents, n=1)
        best_sim = ev[0].score if ev else 0.0
        baseline = "Entailment" if best_sim >= rt.settings.abstain_min_similarity else "NotMentioned"

        scores: dict[str, float | None] = {
            "baseline_correct": float(baseline == gold),
            "evidence_hit": float(any(covered)) if gold_spans else None,
            "evidence_recall": float(np.mean(covered)) if gold_spans else None,
        }
        out: dict[str, Any] = {
            "gold": gold, "hypothesis_key": item.data["hypothesis_key"], "baseline": baseline,
            "best_similarity": round(float(best_sim), 4),
            "chunks": [{"chunk_id": h.chunk_id, "char_start": h.char_start, "char_end": h.char_end, "score": round(float(h.score), 4)} for h in hits],
            "gold_spans_located": len(gold_spans), "gold_spans": len(item.data["evidence"]),
            "search_seconds": round(t_search, 4),
        }
        if ctx.state["llm"]:
            t1 = time.perf_counter()
            completion = rt.generator.generate(nli_messages(hyp, [h.text for h in hits]), max_tokens=8, temperature=0.0)
            pred = parse_label(completion.text)
            scores["correct"] = float(pred == gold)
            out.update(predicted=pred, reply=completion.text[:200], model=rt.generator.model_id,
                       llm_seconds=round(time.perf_counter() - t1, 4))
        return ItemResult(item.id, scores, out, seconds=time.perf_counter() - t0)

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        from sklearn.metrics import f1_score

        ok = ok_results(results)
        gold = [r.output["gold"] for r in ok]
        metrics: dict[str, Any] = {"pairs": len(ok), "errors": len(results) - len(ok)}
        charts: list[Chart] = []
        tables: dict[str, dict[str, dict[str, Any]]] = {}
        systems = {"baseline": [r.output.get("baseline") for r in ok]}
        llm = [r for r in ok if "predicted" in r.output]
        if llm and len(llm) == len(ok):
            systems = {"llm": [r.output.get("predicted") or "Unparsed" for r in ok], **systems}
        for sysname, pred in systems.items():
            prefix = "" if sysname == "llm" else "baseline_"
            if not ok:
                break
            metrics[f"{prefix}accuracy"] = float(np.mean([p == g for p, g in zip(pred, gold)]))
            f1 = f1_score(gold, pred, labels=["Entailment", "Contradiction"], average=None, zero_division=0)
            metrics[f"{prefix}f1_entailment"], metrics[f"{prefix}f1_contradiction"] = float(f1[0]), float(f1[1])
            cols = list(NLI_LABELS) + (["Unparsed"] if "Unparsed" in pred else [])
            tables[f"Confusion ({sysname}): rows gold, columns predicted"] = {
                g: {p: sum(1 for a, b in zip(gold, pred) if a == g and b == p) for p in cols} for g in NLI_LABELS
            }
        if "llm" in systems:
            metrics["unparsed"] = float(np.mean([r.output.get("predicted") is None for r in ok]))
            llm_s = [float(r.output.get("llm_seconds", 0.0)) for r in ok]
            metrics["llm_seconds_p50"] = percentile(llm_s, 50)
        else:
            metrics["accuracy"] = None  # the headline needs the LLM (run without llm=0)
        ev = [r.scores.get("evidence_hit") for r in ok if r.scores.get("evidence_hit") is not None]
        metrics["evidence_hit"] = float(np.mean(ev)) if ev else None
        er = [r.scores.get("evidence_recall") for r in ok if r.scores.get("evidence_recall") is not None]
        metrics["evidence_recall"] = float(np.mean(er)) if er else None
        secs = [r.seconds for r in ok]
        metrics["seconds_p50"], metrics["seconds_p95"] = percentile(secs, 50), percentile(secs, 95)

        keys = sorted({r.output["hypothesis_key"] for r in ok}, key=hypothesis_order)
        series = {}
        for sysname, pred in systems.items():
            per = {k: [p == g for p, g, r in zip(pred, gold, ok) if r.output["hypothesis_key"] == k] for k in keys}
            series[sysname] = {"x": keys, "y": [float(np.mean(per[k])) if per[k] else None for k in keys]}
        charts.append(Chart("bar", "Accuracy per hypothesis", "hypothesis", "accuracy", series))
        dist = {lab: sum(1 for g in gold if g == lab) for lab in NLI_LABELS}
        charts.append(Chart("bar", "Gold labels", "label", "pairs", {"gold": {"x": list(dist), "y": list(dist.values())}}))
        charts.append(Chart("hist", "Seconds per pair", "seconds", "pairs", {"pairs": {"x": secs}}))
        return Aggregate(metrics, charts, tables)
