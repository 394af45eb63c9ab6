"""Which retrieval defaults hold on queries nobody tuned on (issue 18).

Every configuration below is run through the product's own evaluation (`docintel eval run`,
in process) on ACORD, E-Manual and PolicyQA, each with per-query scores stored as a normal
run. Search-time settings reuse one ingested collection per data set; a chunking change
ingests again. Then, cross-validation by query: the queries of every set are split into
folds; for each fold, the configuration with the best score on the other folds is picked
(jointly over the three sets, each set's score taken relative to today's default so no set
dominates) and scored on the held-out queries. The held-out score is what choosing a
default on this data is worth on new queries; how often each configuration wins its folds
says whether the choice is stable. The untuned whole-document baseline
(`--option pipeline=plain`) is run on ACORD beside them.

    python -m bench.retrieval_ablation --acord ../shared/data/acord \
        --emanual ../shared/data/emanual-tv --policyqa ../shared/data/policyqa-dev/dev.json \
        --data-dir /tmp/ablation --json bench/out/retrieval_ablation.json

Runs already stored in the data directory for the same (suite, data, settings) are reused,
so an interrupted ablation continues where it stopped.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

# name -> settings overrides. The default first; each row changes one thing or a few that
# belong together, so a loss can be traced to its cause.
CONFIGS: dict[str, dict[str, str]] = {
    "default": {},
    "no reranker": {"reranker": "none"},
    "rerank weight 0.5": {"rerank_weight": "0.5"},
    "rerank weight 0.3": {"rerank_weight": "0.3"},
    "rerank 15 candidates": {"rerank_candidates": "15"},
    "chunk BM25 (doc weight 0)": {"bm25_document_weight": "0"},
    "doc weight 0.5": {"bm25_document_weight": "0.5"},
    "RRF fusion": {"fusion": "rrf"},
    "RRF, no reranker": {"fusion": "rrf", "reranker": "none"},
    "RRF, doc weight 0": {"fusion": "rrf", "bm25_document_weight": "0"},
    "RRF, doc weight 0, no reranker": {"fusion": "rrf", "bm25_document_weight": "0", "reranker": "none"},
    "dense weight 0.7": {"dense_weight": "0.7", "bm25_weight": "0.3"},
    "dense weight 0.3": {"dense_weight": "0.3", "bm25_weight": "0.7"},
    "torch query vectors": {"query_embedding_runtime": "torch"},
    "dense only": {"search_mode": "dense"},
    "BM25 only": {"search_mode": "bm25"},
}
# Chunking changes the stored collection: run with --chunking to include them (each one
# ingests the three sets again, ~10 minutes on two cores).
CHUNKING: dict[str, dict[str, str]] = {
    "chunks of 254 tokens": {"chunk_tokens": "254"},
    "chunks of 128 tokens": {"chunk_tokens": "128", "chunk_overlap_tokens": "16"},
}

SETS = {  # set -> (suite, options, per-query metric, limit)
    "acord": ("beir", {}, "judged_ndcg@10", None),
    "emanual": ("emanual", {"answers": "false"}, "section_recall@5", None),
    "policyqa": ("squad", {"answers": "false"}, "recall@5", 300),
}


def run_config(settings, set_name: str, data: Path, overrides: dict[str, str], options: dict[str, str] | None = None) -> dict[str, float]:
    """Per-query scores of one configuration on one set (a stored completed run is reused)."""
    from evaluation.runner import RunRequest, run_evaluation
    from evaluation.runs import RunStore
    from workers.runtime import Runtime

    suite, base_options, metric, limit = SETS[set_name]
    options = {**base_options, **(options or {})}
    runs = RunStore(Runtime.create(settings).store)
    previous = [r for r in runs.list(limit=10_000) if r["suite"] == suite and r["status"] == "completed"
                and r["data_path"] == str(data.resolve()) and r["options"] == options
                and r["overrides"] == overrides and r["limit"] == limit]
    run = previous[0] if previous else run_evaluation(
        settings, RunRequest(suite, data, limit=limit, seed=0, options=options, overrides=overrides), progress=None)
    if run["status"] != "completed":
        raise SystemExit(f"{set_name} {overrides}: run {run['id']} {run['status']}: {run.get('error')}")
    scores = {}
    for item in runs.items(run["id"]):
        value = (item.get("scores") or {}).get(metric)
        if value is not None and not item.get("error"):
            scores[item["item_id"]] = float(value)
    return scores


def folds_of(ids: list[str], k: int, seed: int) -> dict[str, int]:
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return {q: i % k for i, q in enumerate(order)}


def cross_validate(table: dict[str, dict[str, dict[str, float]]], k: int, seed: int) -> dict:
    """table[config][set][query] -> the held-out score of picking the best configuration on
    the other folds (jointly over sets, each relative to the default), per set."""
    configs = list(table)
    sets = list(table["default"])
    common = {s: sorted(set.intersection(*(set(table[c][s]) for c in configs))) for s in sets}
    fold = {s: folds_of(common[s], k, seed) for s in sets}

    def mean(c: str, s: str, keep) -> float:
        vals = [table[c][s][q] for q in common[s] if keep(fold[s][q])]
        return sum(vals) / len(vals) if vals else 0.0

    held: dict[str, list[float]] = {s: [] for s in sets}
    picks: list[str] = []
    for f in range(k):
        def train(i, f=f):
            return i != f

        base = {s: mean("default", s, train) or 1e-9 for s in sets}
        best = max(configs, key=lambda c: (sum(mean(c, s, train) / base[s] for s in sets), c == "default"))
        picks.append(best)
        for s in sets:
            held[s] += [table[best][s][q] for q in common[s] if fold[s][q] == f]
    return {
        "picked_per_fold": picks,
        "held_out": {s: sum(v) / len(v) for s, v in held.items()},
        "queries": {s: len(common[s]) for s in sets},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--acord", type=Path, required=True)
    ap.add_argument("--emanual", type=Path, required=True)
    ap.add_argument("--policyqa", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True, help="DocIntel data directory for the runs (reused)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=5, help="fold assignments to average over")
    ap.add_argument("--chunking", action="store_true", help="also try the chunk sizes (ingests again)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from core.settings import Settings

    settings = Settings(data_dir=args.data_dir)
    data = {"acord": args.acord, "emanual": args.emanual, "policyqa": args.policyqa}
    configs = {**CONFIGS, **(CHUNKING if args.chunking else {})}
    print("[plain baseline] acord ...", file=sys.stderr, flush=True)
    plain = run_config(settings, "acord", args.acord, {}, {"pipeline": "plain"})
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, overrides in configs.items():
        table[name] = {}
        for s, path in data.items():
            print(f"[{name}] {s} ...", file=sys.stderr, flush=True)
            table[name][s] = run_config(settings, s, path, overrides)

    def mean(d: dict[str, float]) -> float:
        return sum(d.values()) / len(d) if d else float("nan")

    print(f"\n{'configuration':34} {'ACORD nDCG@10':>14} {'E-Manual R@5':>13} {'PolicyQA R@5':>13}")
    for name in configs:
        row = table[name]
        print(f"{name:34} {mean(row['acord']):14.3f} {mean(row['emanual']):13.3f} {mean(row['policyqa']):13.3f}")
    print(f"{'plain baseline (ACORD only)':34} {mean(plain):14.3f}")

    cvs = [cross_validate(table, args.folds, seed) for seed in range(args.seeds)]
    wins: dict[str, int] = {}
    for cv in cvs:
        for p in cv["picked_per_fold"]:
            wins[p] = wins.get(p, 0) + 1
    held = {s: statistics.median(cv["held_out"][s] for cv in cvs) for s in data}
    print(f"\n{args.folds}-fold CV by query, {args.seeds} fold assignments (median held-out score of the picked configuration):")
    print("  " + ", ".join(f"{s} {v:.3f}" for s, v in held.items()))
    print("  folds won: " + ", ".join(f"{c} {n}" for c, n in sorted(wins.items(), key=lambda x: -x[1])))
    if args.json:
        from core.fileio import atomic_write_json

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.json, {
            "means": {c: {s: mean(v) for s, v in row.items()} for c, row in table.items()},
            "plain_acord": mean(plain), "cv": cvs, "folds_won": wins, "held_out_median": held,
            "configs": configs,
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
