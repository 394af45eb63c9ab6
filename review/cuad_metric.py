"""The CUAD clause-extraction metric (AUPR, precision at 80% / 90% recall).

Mirrors the logic of CUAD's official ``evaluate.py`` (Hendrycks et al., 2021):

* Predictions are, per (contract, category), texts with a confidence. Empty texts are
  dropped; duplicate texts keep their highest confidence.
* At each confidence threshold t in 0.99, 0.98, ..., 0.01, 0.001, 0 the predictions with
  confidence > t (strictly) are kept.
* A prediction matches a gold clause when the word-level Jaccard similarity is >= 0.5,
  computed after removing ``. , ; :``, lower-casing, turning ``/`` into a space and
  splitting on single spaces. For "Parties", containment also counts (see
  ``PARTIES_CONTAINMENT``).
* Counting per (contract, category): every gold clause matched by some kept prediction
  is a true positive, every unmatched gold clause a false negative, and every kept
  prediction that matches no gold clause a false positive (so several predictions that
  hit the same gold clause are neither rewarded nor punished twice). Counts are pooled
  over all contracts and categories (or over one category for per-category AUPR).
* The curve starts at (recall 0, precision 1). Precision is made monotone: the
  precision at recall r is the best precision at any recall >= r. AUPR is the
  trapezoidal area under that curve; precision at X% recall is the (monotone) precision
  of the first threshold whose recall reaches X%, 0 if none does.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Hashable

import numpy as np

IOU_THRESH = 0.5
THRESHOLDS: tuple[float, ...] = tuple(round(x / 100, 2) for x in range(99, 0, -1)) + (0.001, 0.0)
PARTIES_CATEGORY = "Parties"
# "both": prediction contains gold or gold contains prediction (DocIntel's rule);
# "gold_in_pred": only the gold clause inside the prediction (CUAD's evaluate.py).
PARTIES_CONTAINMENT = "both"

_REMOVE = str.maketrans({".": "", ",": "", ";": "", ":": ""})


def words(text: str) -> set[str]:
    """The word set CUAD compares: without . , ; :, lower case, "/" as a space."""
    return set(text.translate(_REMOVE).lower().replace("/", " ").split(" "))


def jaccard(prediction: str, gold: str) -> float:
    """Word-level Jaccard similarity as CUAD computes it."""
    a, b = words(prediction), words(gold)
    union = a | b
    return len(a & b) / len(union) if union else 0.0


def is_match(prediction: str, gold: str, containment: str | None = None) -> bool:
    """Does `prediction` match `gold`? `containment`: None, "both" or "gold_in_pred"."""
    if jaccard(prediction, gold) >= IOU_THRESH:
        return True
    if containment and gold and prediction:
        if gold in prediction:
            return True
        if containment == "both" and prediction in gold:
            return True
    return False


def count_matches(predictions: Sequence[str], golds: Sequence[str], containment: str | None = None) -> tuple[int, int, int]:
    """(tp, fp, fn) for one (contract, category) at one threshold."""
    if not golds:
        return 0, len(predictions), 0
    matched_gold = [False] * len(golds)
    fp = 0
    for p in predictions:
        hit = False
        for j, g in enumerate(golds):
            if is_match(p, g, containment):
                matched_gold[j] = True
                hit = True
        if not hit:
            fp += 1
    tp = sum(matched_gold)
    return tp, fp, len(golds) - tp


def monotone_precisions(precisions: Sequence[float]) -> list[float]:
    """Precision at recall r := max precision at any later point (recall >= r). NaN = no data."""
    out = list(precisions)
    best = math.nan
    for i in range(len(out) - 1, -1, -1):
        p = out[i]
        if not math.isnan(p) and (math.isnan(best) or p > best):
            best = p
        out[i] = best
    return out


def aupr(precisions: Sequence[float], recalls: Sequence[float]) -> float:
    prec = monotone_precisions(precisions)
    if any(math.isnan(x) for x in prec) or any(math.isnan(r) for r in recalls):
        return 0.0
    p = np.asarray(prec, dtype=float)
    r = np.asarray(recalls, dtype=float)
    return float(np.sum((r[1:] - r[:-1]) * (p[1:] + p[:-1]) / 2.0))


def precision_at_recall(precisions: Sequence[float], recalls: Sequence[float], recall_thresh: float) -> float:
    prec = monotone_precisions(precisions)
    for p, r in zip(prec, recalls):
        if not math.isnan(r) and r >= recall_thresh:
            return 0.0 if math.isnan(p) else float(p)
    return 0.0


Key = Hashable  # usually (contract_id, category)


def best_predictions(preds: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Non-empty texts, each with its highest confidence, most confident first."""
    best: dict[str, float] = {}
    for text, conf in preds:
        if text == "":
            continue
        conf = float(conf)
        if text not in best or conf > best[text]:
            best[text] = conf
    return sorted(best.items(), key=lambda kv: -kv[1])


def _key_curve(preds: list[tuple[str, float]], golds: Sequence[str], containment: str | None,
               thresholds: Sequence[float]) -> np.ndarray:
    """(len(thresholds), 3) array of tp, fp, fn for one key."""
    golds = [g for g in golds if g]
    hits = [[j for j, g in enumerate(golds) if is_match(p, g, containment)] for p, _ in preds]
    out = np.zeros((len(thresholds), 3), dtype=np.int64)
    for ti, t in enumerate(thresholds):
        matched: set[int] = set()
        fp = 0
        for (p, conf), h in zip(preds, hits):
            if conf > t:
                if h:
                    matched.update(h)
                else:
                    fp += 1
        out[ti] = (len(matched), fp, len(golds) - len(matched))
    return out


def curve_from_counts(counts: np.ndarray) -> tuple[list[float], list[float]]:
    precisions, recalls = [1.0], [0.0]
    for tp, fp, fn in counts:
        precisions.append(tp / (tp + fp) if tp + fp > 0 else math.nan)
        recalls.append(tp / (tp + fn) if tp + fn > 0 else math.nan)
    return precisions, recalls


def summarize(precisions: list[float], recalls: list[float]) -> dict:
    return {
        "aupr": aupr(precisions, recalls),
        "prec_at_80_recall": precision_at_recall(precisions, recalls, 0.8),
        "prec_at_90_recall": precision_at_recall(precisions, recalls, 0.9),
    }


def evaluate(
    predictions: Mapping[Key, Iterable[tuple[str, float]]],
    gold: Mapping[Key, Sequence[str]],
    category_of=lambda key: key[1],
    parties_containment: str | None = PARTIES_CONTAINMENT,
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict:
    """Pooled and per-category CUAD metrics.

    `gold` must have an entry (possibly empty) for every (contract, category) evaluated;
    predictions for keys absent from `gold` are ignored, keys absent from `predictions`
    mean "no prediction".
    """
    per_key: dict[Key, np.ndarray] = {}
    for key, golds in gold.items():
        cat = category_of(key)
        containment = parties_containment if cat == PARTIES_CATEGORY else None
        preds = best_predictions(predictions.get(key, ()))
        per_key[key] = _key_curve(preds, list(golds), containment, thresholds)

    total = np.zeros((len(thresholds), 3), dtype=np.int64)
    by_cat: dict[str, np.ndarray] = {}
    n_gold: dict[str, int] = {}
    for key, c in per_key.items():
        total += c
        cat = category_of(key)
        by_cat[cat] = by_cat.get(cat, 0) + c
        n_gold[cat] = n_gold.get(cat, 0) + len([g for g in gold[key] if g])
    p, r = curve_from_counts(total)
    result = summarize(p, r)
    result["n_gold"] = int(sum(n_gold.values()))
    result["curve"] = {"thresholds": list(thresholds), "precision": p[1:], "recall": r[1:]}
    result["per_category"] = {}
    for cat, c in by_cat.items():
        cp, cr = curve_from_counts(c)
        s = summarize(cp, cr)
        s["n_gold"] = n_gold[cat]
        result["per_category"][cat] = s
    return result
