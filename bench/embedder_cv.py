"""Does a MiniLM bi-encoder fine-tuned here retrieve better on queries it never saw?
Cross-validation by ACORD query and by E-Manual section (issue 18), as bench/reranker_cv.py
does for the cross-encoder.

For fold f, the embedder is fine-tuned (evaluation/embedder_training.py) on the other folds'
ACORD queries and E-Manual sections plus CUAD's clause spans; then the product's own
evaluations run with `embedding_model_path` set to it (every set ingested again with its
vectors; the sentence reranker reads them too), keeping only fold f's ACORD queries and the
E-Manual questions whose gold section is in fold f. PolicyQA, never trained on, is scored
whole by the fold-0 model. A model folder of the user's own runs on torch, so the same
pipeline with the shipped MiniLM on torch is scored beside it: the fine-tuning's own effect
is the difference to that row.

    python -m bench.embedder_cv --acord ../shared/data/acord --cuad ../shared/data/cuad-dev \
        --emanual ../shared/data/emanual-tv --policyqa ../shared/data/policyqa-dev/dev.json \
        --data-dir /tmp/ablation --out /tmp/bi-cv --folds 2
"""
from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from bench.reranker_cv import cv_arguments, fold_plan, report, train_fold_model

    ap = cv_arguments(__doc__)
    ap.add_argument("--epochs", type=int, help="default: the shipped recipe's (BiEncoderConfig)")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--no-control", action="store_true", help="skip the shipped MiniLM on torch")
    ap.add_argument("--grid", default="", help="comma-separated search-time configurations of "
                    "bench/retrieval_ablation.py CONFIGS to score with the fold models too, then pick one by "
                    "cross-validation over the held-out scores (does a stronger embedder want other weights?)")
    args = ap.parse_args(argv)

    from bench.retrieval_ablation import CONFIGS, cross_validate, run_config
    from core.settings import Settings
    from evaluation.embedder_training import BiEncoderConfig, train_bi_encoder
    from evaluation.reranker_training import TrainConfig
    from ingestion.embedding import packaged_model_dir

    settings = Settings(data_dir=args.data_dir)
    sets = {"acord": args.acord, "emanual": args.emanual, "policyqa": args.policyqa}
    sets = {name: path for name, path in sets.items() if path is not None}
    # The baseline is MiniLM as published (the default before the fine-tuned one shipped).
    default = {name: run_config(settings, name, path, {"embedding_model": "minilm"}) for name, path in sets.items()}
    plan = fold_plan(args, default)
    fold_of_item = plan[3]
    # The groups are drawn as for the cross-encoder, so the two models learn from the same data.
    groups_config = TrainConfig(seed=args.seed, acord_groups_per_query=args.acord_groups,
                                cuad_groups_per_category=args.cuad_groups)
    config = BiEncoderConfig(seed=args.seed, epochs=args.epochs or BiEncoderConfig.epochs, lr=args.lr)
    held: dict[str, dict[str, dict[str, float]]] = {name: {} for name in sets}
    labels = {"tuned": "fine-tuned MiniLM (torch)"}
    if not args.no_control:
        labels["control"] = "shipped MiniLM on torch"
        for name, path in sets.items():
            held[name]["control"] = run_config(settings, name, path, {"embedding_model_path": str(packaged_model_dir())})
    grid = [c.strip() for c in args.grid.split(",") if c.strip() and c.strip() != "default"]
    unknown = [c for c in grid if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown --grid configurations {unknown}; known: {', '.join(CONFIGS)}")
    for f in range(args.folds):
        model_dir = args.out / f"fold-{f}"
        train_fold_model(args, groups_config, f, plan, model_dir, "modules.json",
                         lambda groups, base, out: train_bi_encoder(groups, base, out, config))
        for variant, overrides in {"tuned": {}, **{c: CONFIGS[c] for c in grid}}.items():
            for name, path in sets.items():
                if name == "policyqa" and f:
                    continue  # never trained on: one model scores all of it
                print(f"[fold {f}] {variant}: {name} ...", file=sys.stderr, flush=True)
                run = run_config(settings, name, path, {"embedding_model_path": str(model_dir.resolve()), **overrides})
                keep = fold_of_item.get(name)
                held[name].setdefault(variant, {}).update(
                    {q: v for q, v in run.items() if keep is None or keep.get(q) == f})
    for name in sets:  # the control is scored on the held-out items only, like the tuned model
        if "control" in held[name]:
            held[name]["control"] = {q: v for q, v in held[name]["control"].items() if q in held[name]["tuned"]}
    report(sets, default, {name: {v: held[name][v] for v in ("tuned", "control") if v in held[name]} for name in sets},
           labels, args.folds, "MiniLM as published (int8 ONNX)")
    if grid:
        import statistics

        # Every score below is already held out from training; this second layer picks a
        # search configuration on some queries and scores it on others (5 folds, 5 seeds).
        table = {"default": {n: held[n]["tuned"] for n in sets}, **{c: {n: held[n][c] for n in sets} for c in grid}}
        for c in table:
            row = ", ".join(f"{n} {sum(v.values()) / len(v):.3f}" for n, v in table[c].items())
            print(f"  fine-tuned, {c:32} {row}")
        cvs = [cross_validate(table, 5, seed) for seed in range(5)]
        wins: dict[str, int] = {}
        for cv in cvs:
            for pick in cv["picked_per_fold"]:
                wins[pick] = wins.get(pick, 0) + 1
        picked = {n: statistics.median(cv["held_out"][n] for cv in cvs) for n in sets}
        print("search configuration picked by 5-fold CV over the held-out scores (median of 5 seeds): "
              + ", ".join(f"{n} {v:.3f}" for n, v in picked.items()))
        print("  folds won: " + ", ".join(f"{c} {k}" for c, k in sorted(wins.items(), key=lambda x: -x[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
