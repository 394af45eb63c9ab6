"""Is a cross-encoder trained here worth more than the sentence reranker on queries it never
saw? Cross-validation by query on ACORD (issue 18).

The judged ACORD dev queries are split into folds. For each fold, a cross-encoder is
trained (evaluation/reranker_training.py) on the other folds' queries plus CUAD's clause
spans, then the product's own evaluation (`docintel eval run -s beir`) runs with
`reranker=cross-encoder` on that model; only the fold's queries are kept from that run.
The held-out scores of all folds are set against today's default (the sentence reranker)
and the untuned plain baseline on the same queries, with a paired bootstrap.

    python -m bench.reranker_cv --acord ../shared/data/acord --cuad ../shared/data/cuad-dev \
        --data-dir /tmp/ablation --out /tmp/ce-cv --folds 2
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def paired_bootstrap(a: list[float], b: list[float], rounds: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of b - a and its 95 % interval, resampling queries."""
    import numpy as np

    diff = np.asarray(b) - np.asarray(a)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(rounds, len(diff)))].mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--acord", type=Path, required=True)
    ap.add_argument("--cuad", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True, help="DocIntel data directory for the eval runs (reused)")
    ap.add_argument("--out", type=Path, required=True, help="where the fold models go")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--acord-groups", type=int, default=25, help="training groups per ACORD query")
    ap.add_argument("--cuad-groups", type=int, default=10, help="training groups per CUAD category")
    ap.add_argument("--weights", default="0.7,1.0", help="rerank weights to score (search-time, no retraining)")
    args = ap.parse_args(argv)

    from bench.retrieval_ablation import folds_of, run_config
    from core.settings import Settings
    from ingestion.embedding import packaged_model_dir
    from evaluation.reranker_training import TrainConfig, build_groups, read_acord, train_cross_encoder

    settings = Settings(data_dir=args.data_dir)
    default = run_config(settings, "acord", args.acord, {})
    plain = run_config(settings, "acord", args.acord, {}, {"pipeline": "plain"})
    _, _, judged = read_acord(args.acord)
    scored = sorted(q for q in default if q in judged)
    fold = folds_of(scored, args.folds, args.seed)
    config = TrainConfig(seed=args.seed, acord_groups_per_query=args.acord_groups, cuad_groups_per_category=args.cuad_groups)
    weights = [w.strip() for w in args.weights.split(",") if w.strip()]
    held: dict[str, dict[str, float]] = {w: {} for w in weights}
    for f in range(args.folds):
        model_dir = args.out / f"fold-{f}"
        held_out = [q for q in scored if fold[q] == f]
        if not (model_dir / "config.json").exists():
            groups = build_groups(args.acord, args.cuad, config, held_out, args.seed + f)
            print(f"[fold {f}] training on {len(scored) - len(held_out)} ACORD queries + CUAD: {len(groups)} groups",
                  file=sys.stderr, flush=True)
            summary = train_cross_encoder(groups, str(packaged_model_dir()), model_dir, config)
            print(f"[fold {f}] {summary['steps']} steps in {summary['seconds']} s, loss "
                  f"{summary['loss_first_50']:.3f} -> {summary['loss_last_50']:.3f}", file=sys.stderr, flush=True)
        for w in weights:
            run = run_config(settings, "acord", args.acord, {"reranker": "cross-encoder",
                                                              "reranker_model_path": str(model_dir.resolve()),
                                                              "rerank_weight": w})
            held[w].update({q: v for q, v in run.items() if fold.get(q) == f})

    def mean(d: dict[str, float], ids) -> float:
        return sum(d[q] for q in ids) / len(ids)

    print(f"\nACORD judged-pool nDCG@10 on {len(scored)} queries, each scored by a model that never saw it "
          f"({args.folds}-fold CV by query):")
    print(f"  default (sentence reranker)   {mean(default, scored):.3f}")
    print(f"  plain baseline                {mean(plain, scored):.3f}")
    for w in weights:
        ids = [q for q in scored if q in held[w]]
        d, lo, hi = paired_bootstrap([default[q] for q in ids], [held[w][q] for q in ids])
        p, plo, phi = paired_bootstrap([plain[q] for q in ids], [held[w][q] for q in ids])
        print(f"  cross-encoder, weight {w:4}   {mean(held[w], ids):.3f}   vs default {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
              f"   vs plain {p:+.3f} [{plo:+.3f}, {phi:+.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
