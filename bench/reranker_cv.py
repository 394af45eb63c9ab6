"""Is a cross-encoder trained here worth more than the sentence reranker on queries it never
saw? Cross-validation by ACORD query and by E-Manual section (issue 18).

The judged ACORD dev queries and the E-Manual sections are each split into folds. For fold
f, a cross-encoder is trained (evaluation/reranker_training.py) on the other folds' ACORD
queries and E-Manual sections plus CUAD's clause spans, exported to int8 ONNX (the form
DocIntel ships), then the product's own evaluations run with `reranker=cross-encoder` on it;
only fold f's ACORD queries and the E-Manual questions whose gold section is in fold f are
kept from those runs. PolicyQA, never trained on, is scored whole by the fold-0 model. The
held-out scores are set against today's default (the sentence reranker) with a paired
bootstrap.

    python -m bench.reranker_cv --acord ../shared/data/acord --cuad ../shared/data/cuad-dev \
        --emanual ../shared/data/emanual-tv --policyqa ../shared/data/policyqa-dev/dev.json \
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


def emanual_item_sections(emanual: Path) -> dict[str, list[str]]:
    """E-Manual eval item id -> its gold section ids (as the emanual suite numbers items)."""
    from evaluation.suites.emanual import EManualSuite

    return {item.id: item.data["gold_sections"] for item in EManualSuite().load(emanual)}


def fold_plan(args, default: dict[str, dict[str, float]]):
    """The folds both trained retrieval models are scored on: (judged ACORD query ids,
    query -> fold, E-Manual section -> fold, set -> {eval item id -> fold})."""
    from bench.retrieval_ablation import folds_of
    from evaluation.reranker_training import read_acord

    _, _, judged = read_acord(args.acord)
    acord_ids = sorted(q for q in default["acord"] if q in judged)
    fold_of_query = folds_of(acord_ids, args.folds, args.seed)
    fold_of_item: dict[str, dict[str, int]] = {"acord": fold_of_query}
    section_fold: dict[str, int] = {}
    if args.emanual:
        gold = emanual_item_sections(args.emanual)
        section_fold = folds_of(sorted({s for ss in gold.values() for s in ss}), args.folds, args.seed)
        # A question is held out with its first gold section; a question whose gold sections
        # span folds is never trained on in either (emanual_groups leaves it out).
        fold_of_item["emanual"] = {i: section_fold[sorted(ss)[0]] for i, ss in gold.items() if i in default["emanual"]}
    return acord_ids, fold_of_query, section_fold, fold_of_item


def report(sets: dict, default: dict, held: dict, labels: dict[str, str], folds: int, baseline: str) -> None:
    """Per set: the held-out mean of each variant against `default`, paired bootstrap."""
    metric = {"acord": "judged-pool nDCG@10", "emanual": "section recall@5", "policyqa": "own-policy recall@5"}
    for name in sets:
        first = next(iter(held[name]))
        ids = sorted(held[name][first])
        base = sum(default[name][q] for q in ids) / len(ids)
        scope = "held out" if name != "policyqa" else "never trained on"
        print(f"\n{name} {metric[name]} on {len(ids)} items ({scope}; {folds}-fold CV):")
        print(f"  {baseline:34} {base:.3f}")
        for variant, scores in held[name].items():
            ids_v = [q for q in ids if q in scores]
            d, lo, hi = paired_bootstrap([default[name][q] for q in ids_v], [scores[q] for q in ids_v])
            mean = sum(scores[q] for q in ids_v) / len(ids_v)
            print(f"  {labels[variant]:34} {mean:.3f}   vs {baseline.split(' (')[0]} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")


def train_fold_model(args, config, f: int, plan, model_dir: Path, trained_marker: str, train) -> None:
    """Train fold f's model into `model_dir` unless `trained_marker` is there already: on the
    other folds' ACORD queries and E-Manual sections plus CUAD (`plan` is fold_plan's result),
    with `train(groups, base_model_dir, out_dir)` returning the training summary."""
    from evaluation.reranker_training import build_groups
    from ingestion.embedding import packaged_model_dir

    if (model_dir / trained_marker).exists():
        return
    acord_ids, fold_of_query, section_fold, _ = plan
    groups = build_groups(args.acord, args.cuad, config, [q for q in acord_ids if fold_of_query[q] == f],
                          args.seed + f, emanual_dir=args.emanual,
                          exclude_sections=[s for s, k in section_fold.items() if k == f])
    print(f"[fold {f}] training on {len(groups)} groups", file=sys.stderr, flush=True)
    summary = train(groups, str(packaged_model_dir()), model_dir)
    print(f"[fold {f}] {summary['steps']} steps in {summary['seconds']} s, loss "
          f"{summary['loss_first_50']:.3f} -> {summary['loss_last_50']:.3f}", file=sys.stderr, flush=True)


def cv_arguments(doc: str) -> argparse.ArgumentParser:
    """The data, folds and training-group arguments every trained-model CV bench takes."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--acord", type=Path, required=True)
    ap.add_argument("--cuad", type=Path, required=True)
    ap.add_argument("--emanual", type=Path, help="also train on E-Manual and score it by section fold")
    ap.add_argument("--policyqa", type=Path, help="score PolicyQA dev (300 questions, never trained on)")
    ap.add_argument("--data-dir", type=Path, required=True, help="DocIntel data directory for the eval runs (reused)")
    ap.add_argument("--out", type=Path, required=True, help="where the fold models go")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--acord-groups", type=int, default=25, help="training groups per ACORD query")
    ap.add_argument("--cuad-groups", type=int, default=10, help="training groups per CUAD category")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = cv_arguments(__doc__)
    ap.add_argument("--weights", default="0.7,1.0", help="rerank weights to score (search-time, no retraining)")
    ap.add_argument("--candidates", type=int, default=30, help="first-stage hits the cross-encoder rescores")
    args = ap.parse_args(argv)

    from bench.retrieval_ablation import run_config
    from core.settings import Settings
    from evaluation.reranker_training import TrainConfig, export_onnx, train_cross_encoder

    settings = Settings(data_dir=args.data_dir)
    sets = {"acord": args.acord, "emanual": args.emanual, "policyqa": args.policyqa}
    sets = {name: path for name, path in sets.items() if path is not None}
    default = {name: run_config(settings, name, path, {}) for name, path in sets.items()}
    plan = fold_plan(args, default)
    fold_of_item = plan[3]
    config = TrainConfig(seed=args.seed, acord_groups_per_query=args.acord_groups, cuad_groups_per_category=args.cuad_groups)
    weights = [w.strip() for w in args.weights.split(",") if w.strip()]
    held: dict[str, dict[str, dict[str, float]]] = {name: {w: {} for w in weights} for name in sets}
    for f in range(args.folds):
        model_dir, onnx_dir = args.out / f"fold-{f}", args.out / f"fold-{f}-onnx"
        train_fold_model(args, config, f, plan, model_dir, "config.json",
                         lambda groups, base, out: train_cross_encoder(groups, base, out, config))
        if not (onnx_dir / "manifest.json").exists():
            export_onnx(model_dir, onnx_dir)
        for name, path in sets.items():
            if name == "policyqa" and f:
                continue  # never trained on: one model scores all of it
            for w in weights:
                run = run_config(settings, name, path, {"reranker": "cross-encoder",
                                                        "reranker_model_path": str(onnx_dir.resolve()),
                                                        "rerank_weight": w, "rerank_candidates": str(args.candidates)})
                keep = fold_of_item.get(name)
                held[name][w].update({q: v for q, v in run.items() if keep is None or keep.get(q) == f})

    report(sets, default, held, {w: f"cross-encoder, weight {w}" for w in weights}, args.folds,
           "default (sentence reranker)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
