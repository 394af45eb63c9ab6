"""CUAD clause-review benchmark: contract-level cross-validation with the CUAD metric,
plus end-to-end speed of `review.clauses.detect_clauses` with the shipped model.

    python -m bench.cuad_review --cuad ../shared/data/cuad-dev [--folds 5] [--json OUT]
    python bench/cuad_review.py --cuad ../shared/data/cuad-dev --timing-only
    python -m bench.cuad_review --cuad ../shared/data/cuad-dev --top-k 60   # a candidate-policy ablation

Nothing from the data set is written anywhere; the shipped model is not modified.
"""
from __future__ import annotations

import sys
from pathlib import Path

# `python bench/cuad_review.py` puts bench/ first on sys.path, where bench/retrieval.py
# would shadow the `retrieval` package: drop the script's folder, add the project root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402


def timing(cuad_dir: str, n: int = 10) -> dict:
    """Seconds per contract (segmentation + scoring + selection) on the `n` longest contracts."""
    import resource

    from review.clauses import default_classifier, detect_clauses

    txts = sorted((Path(cuad_dir) / "txt").glob("*.txt"), key=lambda p: -p.stat().st_size)[:n]
    t0 = time.perf_counter()
    default_classifier()
    load_s = time.perf_counter() - t0
    per = []
    for p in txts:
        text = p.read_text(encoding="utf-8")
        t = time.perf_counter()
        detect_clauses(text)
        per.append((len(text), time.perf_counter() - t))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "model_load_seconds": round(load_s, 3),
        "contracts": len(per),
        "chars": [c for c, _ in per],
        "seconds": [round(s, 3) for _, s in per],
        "mean_seconds_per_contract": round(sum(s for _, s in per) / max(1, len(per)), 3),
        "max_seconds_per_contract": round(max((s for _, s in per), default=0.0), 3),
        "seconds_per_100k_chars": round(100_000 * sum(s for _, s in per) / max(1, sum(c for c, _ in per)), 3),
        "max_rss_mb": round(rss_mb, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", required=True, help="CUAD folder with master_clauses.csv and txt/")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N contracts (quick runs)")
    ap.add_argument("--timing-contracts", type=int, default=10)
    ap.add_argument("--timing-only", action="store_true")
    # Ablations of the candidate policy (train-time only: the shipped model and its policy stay).
    ap.add_argument("--top-k", type=int, default=None, help="candidates per category and contract (default: the shipped policy)")
    ap.add_argument("--max-iou", type=float, default=None, help="span IoU at which a better candidate suppresses another")
    ap.add_argument("--json", dest="json_out", default=None, help="write the full result as JSON to this file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    result: dict = {}
    if not args.timing_only:
        from review.train import train

        t0 = time.time()
        policy = {k: v for k, v in (("top_k", args.top_k), ("max_iou", args.max_iou)) if v is not None}
        result = train(args.cuad, folds=args.folds, limit=args.limit, write=False, **policy)
        result["seconds"]["cv_run"] = round(time.time() - t0, 1)
        cv = result["cv"]
        print(f"CUAD {args.folds}-fold CV over {result['contracts']} contracts ({cv['n_gold']} gold clauses)")
        print(f"pooled AUPR {cv['aupr']:.3f}   P@80R {cv['prec_at_80_recall']:.3f}   P@90R {cv['prec_at_90_recall']:.3f}")
        first = result["cv_first_stage"]
        print(f"(linear model alone: AUPR {first['aupr']:.3f}   P@80R {first['prec_at_80_recall']:.3f}   "
              f"P@90R {first['prec_at_90_recall']:.3f}; rescorer {'kept' if result['rescorer'] else 'not kept'})")
        off = result["cv_parties_gold_in_pred"]
        print(f"(Parties matched by gold-in-prediction only, as CUAD's evaluate.py: AUPR {off['aupr']:.3f})")
        ub = result["segmentation_upper_bound"]
        print(f"segmentation upper-bound recall {ub['pooled']:.3f}")
        print(f"{'category':40s} {'AUPR':>6s} {'P@80R':>6s} {'gold':>5s} {'UB':>6s}")
        for cat, m in cv["per_category"].items():
            u = ub["per_category"].get(cat)
            print(f"{cat:40s} {m['aupr']:6.3f} {m['prec_at_80_recall']:6.3f} {m['n_gold']:5d} {u if u is None else round(u, 3)!s:>6s}")
    result["timing"] = timing(args.cuad, args.timing_contracts)
    tm = result["timing"]
    print(f"detect_clauses: {tm['mean_seconds_per_contract']:.2f} s/contract mean, {tm['max_seconds_per_contract']:.2f} s max "
          f"over the {tm['contracts']} longest contracts ({tm['seconds_per_100k_chars']:.2f} s per 100k chars), "
          f"model load {tm['model_load_seconds']:.2f} s, peak RSS {tm['max_rss_mb']:.0f} MB")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
