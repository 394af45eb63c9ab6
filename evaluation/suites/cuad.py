"""The `cuad` suite: clause review and key terms on CUAD contracts, through the product.

Item = one contract (id = the CSV's Filename). `prepare` ingests the contracts (`txt/`, or
`pdf/` with `--option source=pdf`) into the run's collection; `run_item` reviews the stored
document as `docintel review` does and keeps, per category, the sufficient statistics of
the CUAD metric (see `clause_stats`), so `aggregate` pools them at every CUAD threshold
with a few numpy calls (the comparison bootstraps it 1000 times).

It also asks the six key-term questions of `evaluation.cuad_terms.QUESTIONS` about each
contract as `docintel ask --document-id` answers them when one contract is in scope
(`review.qa.answer_from_terms`: no retrieval, no LLM) and scores the answers with
`cuad_terms.score_answer` (`answer_<term>`, `answers_accuracy`), with their form (answers
without a citation, sentences stating something without a marker, answers starting with a
marker or made of marker lines, as `answer_metrics.answer_form_scores` reads them) and the
citation check. `bench/qa.py` sets the LLM and extractive baselines beside these.

The shipped clause model was trained on all of cuad-dev: scored there it is in-sample.
`--option folds=K` trains K models with review/train.py's code on contract-level folds
(assigned over every contract of the data set, as review/train.py's CV does) and reviews
each contract with the model that never saw it. Fold models are cached (npz + json, no
pickle) under `<data_dir>/eval/cuad-folds/<key>/` so a resumed or repeated run does not
retrain.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.suites.base import Aggregate, Chart, EvalContext, EvalItem, ItemResult, percentile
from review.cuad_metric import (
    PARTIES_CATEGORY, PARTIES_CONTAINMENT, THRESHOLDS, best_predictions, curve_from_counts, is_match, summarize,
)

log = logging.getLogger(__name__)

TERMS = ("governing_law", "agreement_date", "effective_date", "expiration_date", "renewal_term",
         "notice_period_to_terminate_renewal", "parties")
# per-contract counts of the key-term answers' form, summed over a run (answers_<name>)
ANSWER_COUNTS = ("answers", "abstained", "uncited", "uncited_claims", "starts_with_marker", "marker_list",
                 "citations", "citations_ok")
DEFAULT_FOLDS = 5
_THR = np.asarray(THRESHOLDS, dtype=float)


# -- metric: sufficient statistics per (contract, category) -----------------------------------
def clause_stats(preds: Sequence[tuple[str, float]], golds: Sequence[str], category: str) -> dict[str, list]:
    """{"g": per gold clause the best confidence of a prediction matching it (-1 = none),
        "f": confidences of predictions matching no gold clause}.

    At threshold t (predictions with confidence > t kept, as the CUAD metric does):
    tp = #(g > t), fp = #(f > t), fn = len(g) - tp. Exactly `cuad_metric.evaluate`'s counts,
    additive over contracts, and far smaller than 101 count rows."""
    containment = PARTIES_CONTAINMENT if category == PARTIES_CATEGORY else None
    golds = [g for g in golds if g]
    best = [-1.0] * len(golds)
    fps: list[float] = []
    for text, conf in best_predictions(preds):
        hit = False
        for j, g in enumerate(golds):
            if is_match(text, g, containment):
                hit = True
                best[j] = max(best[j], conf)
        if not hit:
            fps.append(conf)
    return {"g": best, "f": fps}


def counts_at_thresholds(stats: Sequence[Mapping[str, list]]) -> np.ndarray:
    """(len(THRESHOLDS), 3) tp, fp, fn summed over the given per-contract stats."""
    g = np.fromiter((x for s in stats for x in s["g"]), dtype=float)
    f = np.fromiter((x for s in stats for x in s["f"]), dtype=float)
    # count of values > t for every threshold t: n - #(values <= t)
    tp = len(g) - np.searchsorted(np.sort(g), _THR, side="right")
    fp = len(f) - np.searchsorted(np.sort(f), _THR, side="right")
    return np.stack([tp, fp, len(g) - tp], axis=1).astype(np.int64)


def pooled_metrics(per_contract: Sequence[Mapping[str, Mapping[str, list]]]) -> dict[str, Any]:
    """CUAD metrics (pooled + per category) from `clause_stats` of each contract's categories."""
    by_cat: dict[str, list] = {}
    for stats in per_contract:
        for cat, s in stats.items():
            by_cat.setdefault(cat, []).append(s)
    total = np.zeros((len(THRESHOLDS), 3), dtype=np.int64)
    per_category = {}
    for cat, ss in by_cat.items():
        c = counts_at_thresholds(ss)
        total += c
        p, r = curve_from_counts(c)
        per_category[cat] = {**summarize(p, r), "n_gold": int(sum(len(s["g"]) for s in ss))}
    p, r = curve_from_counts(total)
    out = summarize(p, r)
    out["n_gold"] = int(total[0, 0] + total[0, 2])
    out["curve"] = {"thresholds": list(THRESHOLDS), "precision": p[1:], "recall": r[1:]}
    out["per_category"] = per_category
    return out


# -- fold models ------------------------------------------------------------------------------
def _cache_key(cuad_dir: Path, folds: int, cfg: dict) -> str:
    h = hashlib.sha256()
    h.update((cuad_dir / "master_clauses.csv").read_bytes())
    for p in sorted((cuad_dir / "txt").glob("*.txt")):
        h.update(f"{p.name}\0{p.stat().st_size}\0".encode())
    h.update(json.dumps({"folds": folds, **cfg}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def fold_models(cuad_dir: str | Path, folds: int, cache_dir: Path | None = None, **params) -> tuple[dict[str, int], list, dict]:
    """K clause models, model k trained (review/train.py's recipe) without fold k's contracts.

    Folds are assigned over every contract of the data set exactly as review/train.py's CV
    does (the seeded permutation of its contract order), so they do not depend on which
    contracts a run samples. Model k's Platt calibration is fitted on the other folds'
    held-out scores, as in train()'s CV. Returns ({contract name: fold}, models, info).
    """
    from review.classifier import Featurizer, LinearClauseModel, load_model, save_model
    from review.train import (
        DEFAULTS, count_matrix, cross_validated_rescorer, dense_matrix, fit_linear, fit_platt, gold_and_predictions,
        label_segments, load_cuad, tfidf,
    )

    import scipy.sparse as sp

    cuad_dir = Path(cuad_dir)
    cfg = {**DEFAULTS, **params}
    key = _cache_key(cuad_dir, folds, cfg)
    cached = cache_dir / key if cache_dir else None
    if cached is not None and (cached / "folds.json").is_file():
        info = json.loads((cached / "folds.json").read_text())
        models = [load_model(cached / f"fold-{k}") for k in range(folds)]
        return info.pop("fold_of"), models, {**info, "cached": True}

    t0 = time.time()
    contracts, _ = load_cuad(cuad_dir)
    rng = np.random.default_rng(cfg["seed"])
    seg_sets = [label_segments(c) for c in contracts]
    Xc, terms, df = count_matrix(seg_sets, cfg["min_df"])
    D = dense_matrix(seg_sets)
    Y = np.vstack([cs.labels for cs in seg_sets])
    owner = np.concatenate([np.full(len(cs.texts), i) for i, cs in enumerate(seg_sets)])
    idf_all = np.log((1 + Xc.shape[0]) / (1 + df)).astype(np.float32) + 1.0
    anypos = Y.any(axis=1)
    t_prep = time.time() - t0
    log.info("cuad folds: %d contracts segmented and labelled (%.0fs)", len(contracts), t_prep)

    def vocab_cols(rows):
        pos_df = np.bincount(Xc[rows[anypos[rows]]].indices, minlength=Xc.shape[1])
        cols = np.nonzero(pos_df >= cfg["min_pos_df"])[0]
        if len(cols) > cfg["max_terms"]:
            cols = np.sort(cols[np.argsort(-pos_df[cols])[: cfg["max_terms"]]])
        return cols

    def design(rows, cols):
        return sp.hstack([tfidf(Xc[rows], cols, idf_all[cols]), sp.csr_matrix(D[rows])], format="csr")

    order = rng.permutation(len(seg_sets))
    fold_of = np.empty(len(seg_sets), dtype=int)
    fold_of[order] = np.arange(len(seg_sets)) % folds
    oof = np.zeros(Y.shape, dtype=np.float32)
    linear = []
    for k in range(folds):
        tr = np.nonzero(fold_of[owner] != k)[0]
        te = np.nonzero(fold_of[owner] == k)[0]
        cols = vocab_cols(tr)
        fit = tr[anypos[tr] | (rng.random(len(tr)) < cfg["neg_rate"])]
        W, b = fit_linear(design(fit, cols), Y[fit], cfg["C"])
        oof[te] = design(te, cols) @ W + b
        linear.append((cols, W, b))
        log.info("cuad fold %d/%d trained (%.0fs)", k + 1, folds, time.time() - t0)
    models = []
    probs = np.zeros_like(oof)
    for k, (cols, W, b) in enumerate(linear):
        held = fold_of[owner] != k
        a, bb = fit_platt(oof[held], Y[held])
        feat = Featurizer({terms[c]: i for i, c in enumerate(cols)}, idf_all[cols])
        models.append(LinearClauseModel(feat, W, b, a, bb, {"name": f"cuad-tfidf-logreg fold {k + 1}/{folds}", "params": cfg}))
        probs[~held] = models[-1].calibrate(oof[~held])
    # the second stage as review/train.py fits it (kept only where it pays): fold k's
    # rescorer never saw fold k's contracts
    gold, first = gold_and_predictions(seg_sets, probs, cfg)
    rescorers = cross_validated_rescorer(seg_sets, probs, gold, first, fold_of, folds, cfg).fold_rescorers
    for model, rescorer in zip(models, rescorers):
        model.rescorer = rescorer
        model.config["name"] = model.config["name"].replace("logreg", "logreg+rescorer")
    info = {
        "folds": folds, "contracts": len(contracts), "config": cfg,
        "seconds": {"prepare": round(t_prep, 1), "total": round(time.time() - t0, 1)}, "key": key,
    }
    names = {c.name: int(fold_of[i]) for i, c in enumerate(contracts)}
    if cached is not None:
        # float16 on disk like the shipped model; reload so cached and fresh runs score alike
        from review.rescoring import save_rescorer

        for k, m in enumerate(models):
            save_model(m, cached / f"fold-{k}")
            if m.rescorer is not None:
                save_rescorer(m.rescorer, cached / f"fold-{k}")
        from core.fileio import atomic_write_json

        atomic_write_json(cached / "folds.json", {**info, "fold_of": names})
        models = [load_model(cached / f"fold-{k}") for k in range(folds)]
    return names, models, {**info, "cached": False}


# -- the suite --------------------------------------------------------------------------------
def _term(d: Mapping[str, Any] | None):
    from review.terms import Term

    if d is None:
        return None
    return Term(d["value"], d.get("text", ""), d.get("char_start", 0), d.get("char_end", 0), d.get("page"), d.get("extra") or {})


class CuadSuite:
    name = "cuad"
    description = ("CUAD clause review: pooled and per-category AUPR, precision at 80%/90% recall, "
                   "key-term accuracy of the extractor and of the key-term answers `ask` gives about one contract "
                   "(options: source=txt|pdf, folds=K; folds=0 scores the shipped model in-sample)")
    headline = "aupr"

    def files(self, data: Path) -> list[Path]:
        data = Path(data)
        out = [data / "master_clauses.csv"]
        for sub in ("txt", "pdf"):
            if (data / sub).is_dir():
                out += sorted(p for p in (data / sub).iterdir() if p.is_file())
        return out

    def load(self, data: Path) -> list[EvalItem]:
        from evaluation.contract_datasets import load_cuad
        from evaluation.cuad_terms import TERM_COLUMNS

        items = []
        for c in load_cuad(data):
            answers = {col: c.answers.get(col[: -len("-Answer")], "") for col in TERM_COLUMNS.values()}
            items.append(EvalItem(c.id, {
                "txt": str(c.txt_path) if c.txt_path else None, "pdf": str(c.pdf_path) if c.pdf_path else None,
                "gold": c.gold, "answers": answers,
            }))
        return items

    def prepare(self, ctx: EvalContext, items: Sequence[EvalItem]) -> None:
        source = ctx.option("source", "txt")
        if source not in ("txt", "pdf"):
            raise ValueError(f"option source must be txt or pdf, not '{source}'")
        folds = ctx.option("folds", DEFAULT_FOLDS, int)
        if folds == 1 or folds < 0:
            raise ValueError("option folds must be 0 (the shipped model, in-sample on cuad-dev) or >= 2")
        paths = {it.id: it.data.get(source) for it in items}
        results = ctx.runtime.ingest([p for p in paths.values() if p], ctx.collection, ctx.tenant)
        by_path = {r.path: r for r in results}
        ctx.state["docs"] = {iid: by_path.get(p) for iid, p in paths.items()}
        ctx.state["source"] = source
        ctx.state["folds"] = folds
        if folds:
            names, models, info = fold_models(ctx.data, folds, cache_dir=ctx.runtime.settings.data_dir / "eval" / "cuad-folds")
            ctx.state.update(fold_of=names, fold_models=models, fold_info=info)

    def run_item(self, ctx: EvalContext, item: EvalItem) -> ItemResult:
        from core.types import LoadedDocument, PageSpan
        from evaluation.cuad_terms import score as score_terms
        from review.clauses import DEFAULT_THRESHOLD, default_classifier
        from review.service import review_document

        t_start = time.perf_counter()
        res = ctx.state["docs"].get(item.id)
        if res is None:
            return ItemResult(item.id, {}, error=f"no {ctx.state['source']} file for this contract")
        if res.status == "failed" or res.document_id is None:
            return ItemResult(item.id, {}, error=f"ingest failed: {res.error}")
        doc_row = ctx.runtime.store.get_document(res.document_id)
        doc = LoadedDocument(doc_row.text or "", [PageSpan(n, a, b) for n, a, b in doc_row.page_spans or []], doc_row.mime or "")
        folds = ctx.state["folds"]
        if folds:
            fold = ctx.state["fold_of"].get(item.id)
            if fold is None:
                return ItemResult(item.id, {}, error="contract not in the fold assignment (no txt/ file to train on?)")
            clf, model_name = ctx.state["fold_models"][fold], f"fold {fold + 1}/{folds}"
        else:
            clf, model_name = default_classifier(), "shipped"

        t0 = time.perf_counter()
        review = review_document(doc, doc_row.name, classifier=clf)
        review_s = time.perf_counter() - t0
        # The CUAD curve is scored on every candidate the review emits: its clauses and the
        # "also check" ones below its operating point.
        preds: dict[str, list[tuple[str, float]]] = {}
        for c in review.clauses + review.also_check:
            preds.setdefault(c["category"], []).append((c["text"], float(c["confidence"])))
        gold: dict[str, list[str]] = item.data["gold"]
        stats = {cat: clause_stats(preds.get(cat, []), golds, cat) for cat, golds in gold.items()}

        shown_tp = sum(1 for s in stats.values() for g in s["g"] if g >= DEFAULT_THRESHOLD)
        shown_fp = sum(1 for s in stats.values() for f in s["f"] if f >= DEFAULT_THRESHOLD)
        n_gold = sum(len(s["g"]) for s in stats.values())
        term_ok = score_terms(item.data["answers"], {k: _term(v) for k, v in review.terms.items()})
        scores: dict[str, float | None] = {
            "recall@shown": shown_tp / n_gold if n_gold else None,
            "precision@shown": shown_tp / (shown_tp + shown_fp) if shown_tp + shown_fp else None,
        }
        for k in TERMS:
            ok = term_ok.get(k)
            scores[f"term_{k}"] = None if ok is None else float(ok)
        out = {
            "document": review.document, "source": ctx.state["source"], "model": model_name,
            "in_sample": not folds, "folds": folds, "stats": stats,
            "clauses_shown": len(review.clauses), "review_seconds": round(review_s, 4),
            "terms": {k: (review.terms.get(k) or {}).get("value") for k in TERMS},
            "terms_gold": {k: item.data["answers"].get(col, "") for k, col in _term_columns().items()},
            "terms_correct": term_ok,
        }
        if folds:
            info = ctx.state["fold_info"]
            out["fold_training_seconds"] = info["seconds"]["total"]
        answer_scores, out["key_term_answers"] = key_term_answers(doc_row, item.data["answers"])
        scores.update(answer_scores)
        return ItemResult(item.id, scores, out, seconds=time.perf_counter() - t_start)

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        ok = [r for r in results if r.error is None and "stats" in r.output]
        m = pooled_metrics([r.output["stats"] for r in ok])
        folds = {r.output.get("folds", 0) for r in ok}
        in_sample = any(r.output.get("in_sample") for r in ok)
        secs = [float(r.output.get("review_seconds", r.seconds)) for r in ok]
        metrics: dict[str, Any] = {
            "aupr": m["aupr"], "prec_at_80_recall": m["prec_at_80_recall"], "prec_at_90_recall": m["prec_at_90_recall"],
            "contracts": len(ok), "errors": len(results) - len(ok), "n_gold": m["n_gold"],
            "in_sample": in_sample, "folds": max(folds) if folds else 0,
            "seconds_p50": percentile(secs, 50), "seconds_p95": percentile(secs, 95),
        }
        train_s = [r.output["fold_training_seconds"] for r in ok if "fold_training_seconds" in r.output]
        if train_s:
            metrics["fold_training_seconds"] = max(train_s)
        term_table = {}
        for k in TERMS:
            vals = [r.scores.get(f"term_{k}") for r in ok]
            vals = [v for v in vals if v is not None]
            acc = float(np.mean(vals)) if vals else None
            metrics[f"term_{k}"] = acc
            term_table[k] = {"accuracy": acc, "n": len(vals)}
        accs = [v["accuracy"] for v in term_table.values() if v["accuracy"] is not None]
        metrics["terms_accuracy"] = float(np.mean(accs)) if accs else None
        answer_table = answers_aggregate(ok, metrics)
        term_series = {"extracted term": {"x": list(TERMS), "y": [term_table[k]["accuracy"] for k in TERMS]}}
        if answer_table:
            term_series["answer to the question"] = {"x": list(answer_table), "y": [v["accuracy"] for v in answer_table.values()]}

        # a category without gold clauses in these contracts has no AUPR (the metric says 0)
        pc = {c: v for c, v in m["per_category"].items() if v["n_gold"]}
        cats = sorted(pc, key=lambda c: -pc[c]["aupr"])
        cat_table = {c: {"aupr": pc[c]["aupr"], "P@80R": pc[c]["prec_at_80_recall"],
                         "P@90R": pc[c]["prec_at_90_recall"], "gold": pc[c]["n_gold"]} for c in cats}
        curve = [(r, p) for r, p in zip(m["curve"]["recall"], m["curve"]["precision"]) if r == r and p == p]  # drop NaN
        label = "held-out fold models" if not in_sample else "shipped model (in-sample on cuad-dev)"
        charts = [
            Chart("line", "Precision-recall, all categories pooled", "recall", "precision",
                  {label: {"x": [r for r, _ in curve], "y": [p for _, p in curve]}}),
            Chart("bar", "AUPR per category", "category", "AUPR",
                  {"AUPR": {"x": cats, "y": [pc[c]["aupr"] for c in cats]}}),
            Chart("bar", "Key-term accuracy", "term", "accuracy", term_series),
            Chart("hist", "Seconds per contract (review)", "seconds", "contracts", {"contracts": {"x": secs}}),
        ]
        setup = {"clause model": {"value": label}, "folds": {"value": metrics["folds"]},
                 "in_sample": {"value": in_sample}}
        if in_sample:
            setup["note"] = {"value": "the shipped model was trained on all of cuad-dev: these scores are optimistic; use --option folds=5"}
        tables = {"Evaluation setup": setup, "Per-category clause metrics": cat_table, "Key terms": term_table}
        if answer_table:
            tables["Key-term answers"] = answer_table
        return Aggregate(metrics, charts, tables)


# -- key-term answers -------------------------------------------------------------------------
def key_term_answers(document, gold: Mapping[str, str]) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Ask QUESTIONS about one stored contract as `ask --document-id` does and score them.

    `document` is the stored core.models.Document, `gold` its `<Category>-Answer` cells.
    Returns per-item scores (answer_<term>, answers_accuracy) and an output with each
    answer, the additive counts of ANSWER_COUNTS and every answer's milliseconds."""
    from evaluation.answer_metrics import answer_form_scores, citation_ok
    from evaluation.cuad_terms import QUESTIONS, TERM_COLUMNS, score_answer
    from review.qa import answer_from_terms

    scores: dict[str, float | None] = {}
    counts = dict.fromkeys(ANSWER_COUNTS, 0)
    given: dict[str, str | None] = {}
    ms: list[float] = []
    for term, question in QUESTIONS.items():
        t0 = time.perf_counter()
        ans = answer_from_terms(question, document)
        ms.append(round((time.perf_counter() - t0) * 1000.0, 3))
        if ans is None:  # the question was not routed to the key-term path: nothing answered
            scores[f"answer_{term}"] = float(score_answer(term, gold.get(TERM_COLUMNS[term], ""), "", True))
            given[term] = None
            continue
        scores[f"answer_{term}"] = float(score_answer(term, gold.get(TERM_COLUMNS[term], ""), ans.answer, ans.abstained))
        given[term] = ans.answer
        form = answer_form_scores(ans)
        counts["answers"] += 1
        counts["abstained"] += int(ans.abstained)
        for key in ("uncited", "uncited_claims", "starts_with_marker", "marker_list"):
            counts[key] += int(form[key])
        for c in ans.citations:
            counts["citations"] += 1
            counts["citations_ok"] += citation_ok(document.text or "", document.page_span(c.page), c.char_start, c.char_end, c.quote)
    scores["answers_accuracy"] = float(np.mean([scores[f"answer_{t}"] for t in QUESTIONS]))
    return scores, {"given": given, "counts": counts, "ms": ms}


def answers_aggregate(ok: Sequence[ItemResult], metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Adds the key-term answers' metrics to `metrics`; returns their per-question table.
    Accuracy pools every answer (each contract asks every question); the counts are sums."""
    from evaluation.cuad_terms import QUESTIONS

    answered = [r for r in ok if "key_term_answers" in r.output]
    if not answered:
        return {}
    table = {}
    for term in QUESTIONS:
        vals = [r.scores[f"answer_{term}"] for r in answered if r.scores.get(f"answer_{term}") is not None]
        metrics[f"answer_{term}"] = float(np.mean(vals)) if vals else None
        table[term] = {"accuracy": metrics[f"answer_{term}"], "n": len(vals)}
    accs = [r.scores["answers_accuracy"] for r in answered if r.scores.get("answers_accuracy") is not None]
    metrics["answers_accuracy"] = float(np.mean(accs)) if accs else None
    totals = {k: sum(int(r.output["key_term_answers"]["counts"].get(k, 0)) for r in answered) for k in ANSWER_COUNTS}
    metrics["answers"] = totals["answers"]
    for k in ("uncited", "uncited_claims", "starts_with_marker", "marker_list", "citations"):
        metrics[f"answers_{k}"] = totals[k]
    metrics["answers_abstained"] = totals["abstained"] / totals["answers"] if totals["answers"] else None
    metrics["answers_citation_precision"] = totals["citations_ok"] / totals["citations"] if totals["citations"] else None
    ms = [x for r in answered for x in r.output["key_term_answers"].get("ms", [])]
    metrics["answers_ms_p50"], metrics["answers_ms_p95"] = percentile(ms, 50), percentile(ms, 95)
    return table


def _term_columns() -> dict[str, str]:
    from evaluation.cuad_terms import TERM_COLUMNS

    return TERM_COLUMNS
