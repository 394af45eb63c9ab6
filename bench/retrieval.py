"""Retrieval baselines: dense-only, BM25-only and hybrid side by side on ACORD (BEIR),
PolicyQA dev (SQuAD) and E-Manual TV, each mode one stored `docintel eval` run.

    python -m bench.retrieval --acord ../shared/data/acord \\
        --policyqa ../shared/data/policyqa-dev/dev.json --emanual ../shared/data/emanual-tv \\
        [--modes dense,bm25,hybrid] [--limit N] [--seed S] [--json OUT] [--data-dir DIR] [--set key=value ...]

Any subset of the three sets runs. The bench measures nothing itself: for every set and
mode it runs the evaluation suite exactly as

    docintel eval run -s beir|squad|emanual -d DATA [-o answers=false] --set search_mode=MODE [--set ...]

does (evaluation.runner.run_evaluation: the suite's ingestion, its scoring, the run store),
then prints the suites' metrics side by side. What each number means is in the suite:
- ACORD, `evaluation/suites/beir.py`: nDCG@5/@10 within each query's judged pool and over
  the whole corpus (unjudged = 0), recall@10 and MRR@10 of documents, judged train+valid
  queries, `--k-acord` chunks ranked before collapsing to documents (suite option k).
- PolicyQA, `evaluation/suites/squad.py` with answers=false: a chunk overlapping the gold
  paragraph in the top 1/5/10 of the question's own policy, MRR@10; a chunk containing an
  answer span (answer_recall@5); a chunk of any paragraph the same question was asked of
  (anygold_recall@5); and the chance baseline, 5 random chunks of the policy (random_recall@5).
- E-Manual, `evaluation/suites/emanual.py` with answers=false: the gold section among the
  top 1/5 sections, MRR@10.
Speed: each suite's `latency_ms` p50/p95 is the wall time of `Runtime.search` per item
(the product's search, query embedding and hydrating the hits included; a repeated query
text hits the query-embedding cache, and a run's first query loads what the search loads
lazily, which moves p95 only on very small --limit).

Runs go through `Runtime.search`, so the configured reranker (`reranker`, default
sentence) reorders every mode's candidates; `--set reranker=none` measures the first stage
alone, as this bench did before the reranker existed. Runs are kept in the data dir:
`docintel eval compare RUN_A RUN_B` (with DOCINTEL_DATA_DIR set to it) gives paired
bootstrap intervals between two modes, and `docintel eval show RUN --items --json` the per-query rankings.
Collections are shared by the runs of one set whose ingestion settings agree, so only the
first mode ingests; a reused --data-dir skips ingestion altogether.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# This file is named like the `retrieval` package: when run as a script its folder comes
# first on sys.path and would shadow the package, so that folder is taken off.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

MODES = ("dense", "bm25", "hybrid")

# set -> (suite, suite options, the columns printed: metric names of that suite's aggregate)
SETS: dict[str, tuple[str, dict[str, str], list[str]]] = {
    "acord": ("beir", {}, ["judged_ndcg@10", "judged_ndcg@5", "ndcg@10", "ndcg@5", "recall@10", "mrr@10",
                           "latency_ms_p50", "latency_ms_p95"]),
    "policyqa": ("squad", {"answers": "false"}, ["recall@1", "recall@5", "recall@10", "mrr@10", "answer_recall@5",
                                                 "anygold_recall@5", "random_recall@5", "latency_ms_p50", "latency_ms_p95"]),
    "emanual": ("emanual", {"answers": "false"}, ["section_recall@1", "section_recall@5", "section_mrr@10",
                                                  "latency_ms_p50", "latency_ms_p95"]),
}
SHOWN_SETTINGS = ("reranker", "fusion", "dense_weight", "bm25_weight", "rrf_k", "hybrid_candidates", "bm25_document_weight",
                  "chunk_tokens", "chunk_overlap_tokens")


def run_set(settings, name: str, data: Path, modes: Sequence[str], limit: int | None, seed: int,
            options: dict[str, str], overrides: dict[str, str]) -> dict[str, Any]:
    """One `docintel eval` run per mode; {mode: {run_id, status, error, metrics, seconds}}."""
    from evaluation.runner import RunRequest, run_evaluation

    suite = SETS[name][0]
    out: dict[str, Any] = {}
    for mode in modes:
        t0 = time.perf_counter()
        run = run_evaluation(settings, RunRequest(suite, data, limit, seed, dict(options), {**overrides, "search_mode": mode}))
        out[mode] = {"run_id": run["id"], "status": run["status"], "error": run.get("error"),
                     "items": run.get("item_count"), "metrics": run.get("metrics") or {},
                     "seconds": round(time.perf_counter() - t0, 1)}
        print(f"[{name} {mode}: run {run['id']} {run['status']} in {out[mode]['seconds']} s]", file=sys.stderr)
    return out


def format_report(results: dict[str, dict], settings_used: dict[str, Any], overrides: dict[str, str]) -> str:
    lines = ["settings: " + " ".join(f"{k}={settings_used[k]}" for k in SHOWN_SETTINGS)
             + (f"   (overrides: {' '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else "")]
    for name, by_mode in results.items():
        suite, _, cols = SETS[name]
        first = next(iter(by_mode.values()))
        lines.append(f"\n== {name} (suite {suite}, {first['items']} items): "
                     + ", ".join(f"{m} {r['run_id']} ({r['status']}, {r['seconds']} s)" for m, r in by_mode.items()))
        width = max(len(c) for c in cols) + 2
        lines.append(f"   {'mode':<7}" + "".join(f"{c:>{width}}" for c in cols))
        for mode, r in by_mode.items():
            vals = []
            for c in cols:
                v = r["metrics"].get(c)
                vals.append(f"{'-':>{width}}" if v is None else f"{v:>{width}.1f}" if c.startswith("latency") else f"{v:>{width}.4f}")
            lines.append(f"   {mode:<7}" + "".join(vals) + (f"   error: {r['error']}" if r["error"] else ""))
        if len(by_mode) > 1:
            ids = [r["run_id"] for r in by_mode.values()]
            lines.append(f"   paired comparison: docintel eval compare {ids[0]} {ids[-1]}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="See the module docstring (python -c 'import bench.retrieval; help(bench.retrieval)') "
                                            "for what each number means.")
    parser.add_argument("--acord", type=Path, help="BEIR folder of ACORD (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--policyqa", type=Path, help="PolicyQA dev.json (SQuAD v1.1 format)")
    parser.add_argument("--emanual", type=Path, help="E-Manual TV folder (smart_tv_remote_manual_corpus.json, smart_tv_remote_qa/)")
    parser.add_argument("--modes", default="dense,bm25,hybrid", help="comma-separated: dense, bm25, hybrid")
    parser.add_argument("--limit", type=int, default=None,
                        help="N queries/questions per set, drawn with --seed as `docintel eval run --limit` draws them "
                             "(documents are all ingested)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write every number, the run ids and the settings to this file")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="DocIntel data dir to build or reuse; it keeps the runs (default: a temporary one, removed)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="settings override for every run, repeatable, e.g. --set fusion=rrf --set reranker=none")
    parser.add_argument("--k-acord", type=int, default=None,
                        help="chunks ranked per ACORD query before collapsing to documents (the beir suite's option k, default 100)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        parser.error(f"--modes: unknown {bad} (use {', '.join(MODES)})")
    paths = {"acord": args.acord, "policyqa": args.policyqa, "emanual": args.emanual}
    if not any(paths.values()):
        parser.error("give at least one of --acord, --policyqa, --emanual")

    from core.fileio import atomic_write_json
    from core.logging import configure_logging
    from core.settings import Settings
    from evaluation.runner import EvaluationError, apply_overrides, parse_pairs

    try:
        overrides = parse_pairs(args.overrides, "--set")
    except EvaluationError as exc:
        parser.error(str(exc))
    if "search_mode" in overrides or "data_dir" in overrides:
        parser.error("--set search_mode / data_dir: use --modes / --data-dir")
    configure_logging(args.log_level)
    logging.getLogger("bm25s").setLevel(max(logging.WARNING, logging.getLogger().level))
    tmp = tempfile.TemporaryDirectory(prefix="docintel-bench-") if args.data_dir is None else None
    data_dir = Path(tmp.name) if tmp else args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    failed = False
    try:
        settings = Settings(data_dir=data_dir, _env_file=None)
        try:
            settings_used = apply_overrides(settings, overrides).model_dump(mode="json")
        except EvaluationError as exc:
            parser.error(str(exc))
        results: dict[str, dict] = {}
        for name, path in paths.items():
            if path is None:
                continue
            options = dict(SETS[name][1])
            if name == "acord" and args.k_acord:
                options["k"] = str(args.k_acord)
            results[name] = run_set(settings, name, path, modes, args.limit, args.seed, options, overrides)
            failed |= any(r["status"] != "completed" for r in results[name].values())
        print(format_report(results, settings_used, overrides))
        total = round(time.perf_counter() - t_start, 1)
        print(f"\ntotal {total} s" + ("" if tmp else f"; runs kept in {data_dir} (DOCINTEL_DATA_DIR={data_dir} docintel eval list)"))
        if args.json:
            atomic_write_json(args.json, {
                "settings": settings_used, "overrides": overrides, "modes": modes, "limit": args.limit, "seed": args.seed,
                "data_dir": None if tmp else str(data_dir), "total_seconds": total, "sets": results,
            })
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
