"""What each unverified-answer fallback gets right, from a stored evaluation run.

When the check verifies no sentence of the model's draft, the answer is either the best
evidence sentence quoted with its citation (`DOCINTEL_ANSWER_UNVERIFIED=extractive`) or an
abstention (`=abstain`). Both are decided after the same draft, so one run with the
default answers for both: the items the fallback answered (`fallback_extractive`) are the
ones `abstain` would have abstained on, and nothing else changes.

    DOCINTEL_DATA_DIR=... python -m bench.fallback RUN_ID [--json OUT]

squad (PolicyQA) and emanual runs: every question of these sets has a gold answer, so an
abstention scores 0 on each; the report gives the fallback items' own scores, how often the
quote holds a gold answer (squad: a gold span inside the quote, normalised as SQuAD does;
emanual: the quote is in the gold section), and each metric over the run as it is and as it
would be had the fallback items abstained, with 95 % bootstrap CIs of the difference.
For contract key terms, where an absent term must be answered by abstaining, see
`python -m bench.qa --cuad ...` (`unverified_fallback`).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from core.fileio import atomic_write_json
from core.settings import Settings
from core.store import Store
from evaluation.answer_metrics import normalize_answer
from evaluation.runs import RunStore

METRICS = {"squad": ["exact_match", "token_f1"], "emanual": ["rouge_l", "citation_in_gold_section"]}


def _holds_gold(item: dict) -> bool | None:
    out = item["output"]
    if "golds" in out:  # squad: a gold answer span inside the answer
        text = normalize_answer(out.get("answer") or "")
        return any(normalize_answer(g) and normalize_answer(g) in text for g in out["golds"])
    v = item["scores"].get("citation_in_gold_section")
    return None if v is None else bool(v)


def _ci(diffs: np.ndarray, rounds: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    means = [diffs[rng.integers(0, len(diffs), len(diffs))].mean() for _ in range(rounds)]
    return [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)]


def analyse(run: dict, items: list[dict]) -> dict:
    keys = METRICS.get(run["suite"])
    if keys is None:
        raise SystemExit(f"suite {run['suite']!r}: only squad and emanual runs are read here")
    answered = [it for it in items if not it.get("error") and it["scores"].get(keys[0]) is not None]
    fb = [it for it in answered if it["scores"].get("fallback_extractive")]
    rest = [it for it in answered if not it["scores"].get("fallback_extractive") and not it["scores"].get("abstained")]
    out: dict = {"run": run["id"], "suite": run["suite"], "items": len(answered), "fallback": len(fb),
                 "fallback_share": round(len(fb) / len(answered), 4) if answered else None,
                 "abstained_otherwise": sum(bool(it["scores"].get("abstained")) for it in answered)}
    holds = [h for h in map(_holds_gold, fb) if h is not None]
    out["fallback_quote_holds_gold"] = f"{sum(holds)}/{len(holds)}"
    for k in keys:
        now = np.array([float(it["scores"].get(k) or 0.0) for it in answered])
        gone = np.array([float(it["scores"].get(k) or 0.0) if not it["scores"].get("fallback_extractive") else 0.0
                         for it in answered])
        out[k] = {
            "fallback_items_mean": round(float(np.mean([it["scores"].get(k) or 0.0 for it in fb])), 4) if fb else None,
            "verified_answers_mean": round(float(np.mean([it["scores"].get(k) or 0.0 for it in rest])), 4) if rest else None,
            "run_extractive": round(float(now.mean()), 4),
            "run_if_abstain": round(float(gone.mean()), 4),
            "difference_ci95": _ci(now - gone) if len(now) else None,
        }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_id")
    ap.add_argument("--json", type=__import__("pathlib").Path)
    args = ap.parse_args(argv)
    runs = RunStore(Store.from_settings(Settings()))
    run = runs.get(args.run_id)
    report = analyse(run, runs.items(run["id"]))
    print(json.dumps(report, indent=1))
    if args.json:
        atomic_write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
