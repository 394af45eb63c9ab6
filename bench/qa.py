"""Contract questions (CUAD): the product's key-term answers beside two baselines, the
no-LLM extractive answer and the LLM reading retrieved text, on the same contracts.

    python -m bench.qa --cuad ../shared/data/cuad-dev [--contracts 15] [--seed 0] [--no-llm-only] \\
        [--data-dir DIR] [--set key=value ...] [--json OUT]

The contracts are drawn as `docintel eval run --limit N --seed S` draws them and the `cuad`
evaluation suite is run on them (from `txt/`, folds=0), as
`docintel eval run -s cuad -d DATA --limit N --seed S -o folds=0` runs it. The "product"
column is that suite's `answer_<term>`: the six key-term questions of
`evaluation.cuad_terms.QUESTIONS` answered as `docintel ask --document-id` answers them
(review.qa.answer_from_terms), with its form and citation counts (`answers_*`). The bench
adds the baselines, asked of the same stored contracts and scored by the same
`evaluation.cuad_terms.score_answer`:
- extractive: the best-matching sentence of the top chunk of the contract
  (evaluation.answer_metrics.extractive_answer);
- llm: the LLM path restricted to the contract (AnswerService.answer, which skips the
  key-term route), scored on `answer` alone, with its quoted excerpt appended
  (`llm_with_excerpt`, how answers read before the two were apart) and as
  DOCINTEL_ANSWER_UNVERIFIED=abstain would have answered (`llm_if_unverified_abstain`:
  the fallback's answers abstained instead); `unverified_fallback` counts how often no
  sentence of the draft verified, how often the quoted evidence was right and how often
  the term is absent from the contract; the LLM answers' form counts
  (evaluation.answer_metrics.answer_form_scores) and citation check; and speed: the LLM
  answer latency p50/p95 and the model load time.
--no-llm-only skips the LLM (one model call per question; hours on a busy machine).

Moved to the evaluation suites, so that each metric has one implementation:
- the key-term answers over every contract PDF (was `--terms-only`):
  `docintel eval run -s cuad -d ../shared/data/cuad-dev -o source=pdf -o folds=0`
  (answer_<term>, answers_accuracy, answers_uncited, answers_uncited_claims,
  answers_starts_with_marker, answers_marker_list, answers_citation_precision). The suite
  ingests (embeds) the contracts once, which --terms-only skipped; a rerun reuses them.
- E-Manual answers (was `--emanual`): `docintel eval run -s emanual -d ../shared/data/emanual-tv
  -o answers=true --limit N --seed S`: ROUGE-L of the answer and of the extractive baseline,
  citation in the gold section, citation precision, abstention, answer latency p50/p95.
- PolicyQA answers (was `--policyqa`): `docintel eval run -s squad -d
  ../shared/data/policyqa-dev/dev.json --limit N --seed S`: exact match and token F1 of the
  answer and of the extractive baseline, abstention, citation precision, answer latency.
- the rule extractor's own accuracy (was the "rules" column): the same cuad run's `term_<term>`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.fileio import atomic_write_json
from core.settings import Settings
from core.types import SearchFilters
from evaluation.answer_metrics import answer_form_scores, citation_checks, extractive_answer
from evaluation.cuad_terms import QUESTIONS, TERM_COLUMNS, gold_is_empty, score_answer
from evaluation.suites.base import EvalContext, ItemResult, sample
from evaluation.suites.cuad import CuadSuite
from workers.runtime import Runtime

COLLECTION = "bench-cuad-qa"
COLUMNS = ("product", "llm", "llm_with_excerpt", "llm_if_unverified_abstain", "extractive")
# the suite's metrics about the product's key-term answers and the extractor, repeated in the report
SUITE_METRICS = ("answers_accuracy", "answers", "answers_abstained", "answers_uncited", "answers_uncited_claims",
                 "answers_starts_with_marker", "answers_marker_list", "answers_citations", "answers_citation_precision",
                 "answers_ms_p50", "answers_ms_p95", "terms_accuracy", "contracts", "errors")
MOVED = {
    "terms_only": "docintel eval run -s cuad -d ../shared/data/cuad-dev -o source=pdf -o folds=0",
    "emanual": "docintel eval run -s emanual -d ../shared/data/emanual-tv -o answers=true [--limit N --seed S]",
    "policyqa": "docintel eval run -s squad -d ../shared/data/policyqa-dev/dev.json [--limit N --seed S]",
    "limit": "the E-Manual and PolicyQA answers: docintel eval run -s emanual|squad ... --limit N",
}


def pct(xs, q):
    return round(float(np.percentile(xs, q)), 3) if xs else None


def run_suite(suite: CuadSuite, ctx: EvalContext, items) -> list[ItemResult]:
    """The items through the suite as evaluation.runner does (an item that raises is recorded)."""
    out = []
    for item in tqdm(items, desc="cuad suite", file=sys.stderr):
        try:
            out.append(suite.run_item(ctx, item))
        except Exception as exc:  # noqa: BLE001 - as the runner: one bad contract never sinks the run
            out.append(ItemResult(item.id, {}, {}, error=f"{type(exc).__name__}: {exc}"))
    return out


def run_cuad(rt: Runtime, cuad: Path, n_contracts: int, seed: int, llm_only: bool = True) -> dict:
    suite = CuadSuite()
    items = sample(suite.load(cuad), n_contracts, seed)
    ctx = EvalContext(rt, COLLECTION, rt.settings.default_tenant, cuad, {"folds": "0"})
    suite.prepare(ctx, items)
    product = suite.aggregate(run_suite(suite, ctx, items)).metrics
    index = rt.index(rt.store.collection(ctx.tenant, COLLECTION).id)

    res: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    latencies, cites = [], []
    forms: dict[str, float] = defaultdict(float)
    # the LLM answers whose draft had no verified sentence: is the quoted evidence right,
    # or would abstaining be (the contract does not state the term)?
    fallback = {"llm_answers": 0, "fallback": 0, "quote_right": 0, "term_absent": 0}
    contracts = 0
    for item in tqdm(items, desc="contracts (baselines)", file=sys.stderr):
        ingested = ctx.state["docs"].get(item.id)
        if ingested is None or ingested.document_id is None or ingested.status == "failed":
            continue
        contracts += 1
        doc_id = ingested.document_id
        for term, question in QUESTIONS.items():
            gold = item.data["answers"].get(TERM_COLUMNS[term], "")
            if llm_only:
                t0 = time.perf_counter()
                ans = rt.answer_service.answer(index, question, filters=SearchFilters(document_ids=[doc_id]))
                latencies.append(time.perf_counter() - t0)
                cites.extend(citation_checks(rt.store, ans.all_citations()))
                right = score_answer(term, gold, ans.answer, ans.abstained)
                res[term]["llm"].append(right)
                res[term]["llm_with_excerpt"].append(score_answer(term, gold, ans.display_text(), ans.abstained))
                res[term]["llm_if_unverified_abstain"].append(score_answer(term, gold, "", True) if ans.extractive else right)
                for key, v in answer_form_scores(ans).items():
                    forms[key] += v
                fallback["llm_answers"] += 1
                if ans.extractive:
                    fallback["fallback"] += 1
                    fallback["quote_right"] += right
                    fallback["term_absent"] += gold_is_empty(term, gold)
            base, _ = extractive_answer(rt, index, question, [doc_id])
            res[term]["extractive"].append(score_answer(term, gold, base, False))
    per_term = {t: {"product": product.get(f"answer_{t}"), **{c: round(sum(v) / len(v), 3) for c, v in res[t].items()}}
                for t in QUESTIONS}
    overall = {c: round(float(np.mean([per_term[t][c] for t in QUESTIONS])), 3)
               for c in COLUMNS if all(per_term[t].get(c) is not None for t in QUESTIONS)}
    out = {"contracts": contracts, "accuracy": per_term, "overall": overall,
           "suite": {k: product.get(k) for k in SUITE_METRICS}}
    if llm_only:
        out.update({
            "llm_answer_form_counts": {k: int(v) for k, v in forms.items()},
            "unverified_fallback": {k: int(v) for k, v in fallback.items()},
            "llm_citation_pass_rate": round(float(np.mean(cites)), 4) if cites else None, "llm_citations": len(cites),
            "llm_latency_p50_s": pct(latencies, 50), "llm_latency_p95_s": pct(latencies, 95),
        })
    return out


def format_report(res: dict, seed: int) -> str:
    cols = [c for c in COLUMNS if c in res["overall"]]
    lines = [f"CUAD contract questions: {res['contracts']} contracts (seed {seed}); "
             "product = the cuad suite's answer_<term>, every column scored by evaluation.cuad_terms.score_answer",
             f"{'question':<36}" + "".join(f"{c:>27}" for c in cols)]
    for term, row in res["accuracy"].items():
        lines.append(f"{term:<36}" + "".join(f"{row[c]:>27.3f}" if row.get(c) is not None else f"{'-':>27}" for c in cols))
    lines.append(f"{'all six':<36}" + "".join(f"{res['overall'][c]:>27.3f}" for c in cols))
    lines.append("cuad suite (product path): " + "  ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}"
                                                          for k, v in res["suite"].items()))
    rest = {k: v for k, v in res.items() if k not in ("contracts", "accuracy", "overall", "suite")}
    lines += [f"{k}: {v}" for k, v in rest.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", type=Path, help="CUAD folder (master_clauses.csv, txt/)")
    ap.add_argument("--contracts", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, help="keep the ingested data here (default: a temp dir)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="settings override, e.g. llm_backend=openai")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-llm-only", action="store_true",
                    help="skip the LLM-only columns (one model call per question; hours on a busy machine)")
    # moved to `docintel eval run`: kept only to say where
    ap.add_argument("--terms-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--emanual", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--policyqa", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    moved = [name for name in MOVED if getattr(args, name)]
    if moved:
        ap.error("; ".join(f"--{n.replace('_', '-')} moved to the evaluation suites: {MOVED[n]}" for n in moved))
    if args.cuad is None:
        ap.error("--cuad is required")
    from evaluation.runner import EvaluationError, parse_pairs

    try:
        overrides = parse_pairs(args.set, "--set")
    except EvaluationError as exc:
        ap.error(str(exc))
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="docintel-qa-"))
    settings = Settings(data_dir=data_dir, database_url="", _env_file=None, **overrides)
    rt = Runtime(settings)
    report: dict = {"settings": {k: v for k, v in settings.model_dump(mode="json").items()
                                 if k.startswith(("llm", "answer", "abstain", "citation", "search", "openai_model", "contract"))}}
    llm_only = not args.no_llm_only
    if llm_only:
        from generation.factory import local_model_name
        from generation.models import install

        if (model := local_model_name(settings)) is not None:
            install(settings, model)
        t0 = time.perf_counter()
        rt.generator  # load once, outside the latency numbers
        report["model_load_s"] = round(time.perf_counter() - t0, 3)
    report["cuad"] = run_cuad(rt, args.cuad, args.contracts, args.seed, llm_only=llm_only)
    print(format_report(report["cuad"], args.seed))
    if "model_load_s" in report:
        print(f"model load: {report['model_load_s']} s")
    if args.json:
        atomic_write_json(args.json, report)
    rt.store.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
