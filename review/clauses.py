"""Find CUAD clauses in a contract's text: segment, score, suppress overlaps.

    from review.clauses import detect_clauses
    for m in detect_clauses(text):
        print(m.category, m.confidence, m.char_start, m.char_end)

The shipped model (review/model/) is loaded lazily once per process.
`text[m.char_start:m.char_end] == m.text` always holds.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

import numpy as np

from review.classifier import ClauseClassifier, SegmentMeta, load_model
from review.segment import segment
from review.taxonomy import CATEGORY_NAMES

DEFAULT_THRESHOLD = 0.2
DEFAULT_TOP_K = 8
# What a review emits at most, whatever its operating point: per category the 30 best
# spans above 0.001, the candidates held-out recall was measured on (review/train.py), so
# `review --json` carries the whole precision-recall curve. Among them a span is dropped
# only when it mostly covers a more confident one (span IoU >= 0.5): a sentence and the
# paragraph around it may both stand, so the one a reviewer's gold clause matches is
# there. Strict non-overlap capped held-out recall at 0.836; this reaches 0.913.
CANDIDATE_TOP_K = 30
CANDIDATE_FLOOR = 0.001
CANDIDATE_MAX_IOU = 0.5

_MODEL = None
_LOCK = threading.Lock()


@dataclass
class ClauseMatch:
    category: str
    char_start: int
    char_end: int
    text: str
    confidence: float

    def to_dict(self) -> dict:
        d = asdict(self)
        d["confidence"] = round(float(self.confidence), 6)
        return d


@dataclass(frozen=True)
class OperatingPoint:
    """Where a review draws the line between clauses and "also check" candidates, with
    what that line scored on contracts the model did not see (None when not measured)."""

    threshold: float
    recall: float | None = None
    precision: float | None = None
    requested_recall: float | None = None  # None: the default line

    def to_dict(self) -> dict:
        return asdict(self)


def operating_point(recall: float | None = None, classifier: ClauseClassifier | None = None) -> OperatingPoint:
    """The default line (confidence >= DEFAULT_THRESHOLD), or the highest threshold whose
    cross-validated pooled recall reaches `recall` (the model's `operating_points`)."""
    points = (getattr(classifier if classifier is not None else default_classifier(), "config", None) or {}).get(
        "operating_points") or []
    if recall is None:
        at = [p for p in points if p["threshold"] <= DEFAULT_THRESHOLD]
        best = max(at, key=lambda p: p["threshold"]) if at else None
        return OperatingPoint(DEFAULT_THRESHOLD, best and best["recall"], best and best["precision"])
    if not 0 < recall < 1:
        raise ValueError(f"recall must be between 0 and 1 (e.g. 0.8), not {recall}")
    if not points:
        raise ValueError("this clause model has no held-out operating points: retrain it with `docintel review train`")
    reached = [p for p in points if p["recall"] >= recall]
    if not reached:
        top = max(p["recall"] for p in points)
        raise ValueError(f"the clause model reaches at most {top:.2f} recall on held-out contracts; ask for less")
    best = max(reached, key=lambda p: p["threshold"])
    # The CUAD grid keeps confidences strictly above a threshold; candidates are kept from it on.
    return OperatingPoint(max(best["threshold"], CANDIDATE_FLOOR), best["recall"], best["precision"], recall)


def default_classifier() -> ClauseClassifier:
    """The shipped model, loaded on first use and cached for the process."""
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                _MODEL = load_model()
    return _MODEL


def select_candidates(starts, ends, probs: np.ndarray, top_k: int, threshold: float,
                      max_iou: float | None = None) -> list[tuple[int, float]]:
    """Greedy non-maximum suppression of overlapping spans for one category, best first
    (shared by inference and by training's cross-validation). `max_iou` None: any overlap
    with a chosen span suppresses; else only a span IoU of at least `max_iou` does."""
    order = np.argsort(-probs, kind="stable")
    chosen: list[tuple[int, float]] = []
    for i in order:
        p = float(probs[i])
        if p < threshold or len(chosen) >= top_k:
            break
        s, e = starts[i], ends[i]
        if any(suppresses(s, e, starts[j], ends[j], max_iou) for j, _ in chosen):
            continue
        chosen.append((int(i), p))
    return chosen


def suppresses(s: int, e: int, s2: int, e2: int, max_iou: float | None = None) -> bool:
    """Does span [s2, e2) suppress span [s, e)? None: any overlap does; else a span IoU
    of at least `max_iou`."""
    if min(e, e2) <= max(s, s2):
        return False
    return max_iou is None or span_iou(s, e, s2, e2) >= max_iou


def span_iou(s: int, e: int, s2: int, e2: int) -> float:
    """Intersection over union of two character spans (0 when they do not overlap)."""
    inter = min(e, e2) - max(s, s2)
    return inter / (max(e, e2) - min(s, s2)) if inter > 0 else 0.0


def _rescored(rescorer, starts, ends, kinds, probs: np.ndarray, columns: list[int], doc_length: int) -> np.ndarray:
    """The rescorer's confidence for each candidate a review emits (CANDIDATE_*, what it was
    trained on) in the given columns; -inf elsewhere, so no threshold selects a non-candidate."""
    from review.rescoring import candidate_features

    chosen = {ci: select_candidates(starts, ends, probs[:, ci], CANDIDATE_TOP_K, CANDIDATE_FLOOR, CANDIDATE_MAX_IOU)
              for ci in columns}
    X, cands = candidate_features(starts, ends, kinds, probs, chosen, doc_length)
    scores = np.full(probs.shape, -np.inf)
    if cands:
        scores[[c.segment for c in cands], [c.category for c in cands]] = rescorer.predict_proba(X)
    return scores


def detect_clauses(
    text: str,
    classifier: ClauseClassifier | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    top_k: int = DEFAULT_TOP_K,
    categories: list[str] | None = None,
    max_iou: float | None = None,
) -> list[ClauseMatch]:
    """Clauses of the 41 CUAD categories found in `text`, sorted by position.

    Per category at most `top_k` spans with confidence >= `threshold` are kept; among
    overlapping spans of the same category only the most confident survives (with
    `max_iou`, only spans overlapping it by that IoU or more are dropped).
    Spans of different categories may overlap.
    """
    if not text or not text.strip():
        return []
    clf = classifier if classifier is not None else default_classifier()
    segs = segment(text)
    if not segs:
        return []
    starts = np.array([s.char_start for s in segs])
    ends = np.array([s.char_end for s in segs])
    meta = SegmentMeta(starts.tolist(), ends.tolist(), len(text), [s.kind for s in segs])
    probs = np.asarray(clf.score([s.text for s in segs], meta=meta))
    names = tuple(getattr(clf, "categories", CATEGORY_NAMES))
    wanted = set(categories) if categories else None
    columns = [ci for ci, cat in enumerate(names) if wanted is None or cat in wanted]
    rescorer = getattr(clf, "rescorer", None)
    scores = probs if rescorer is None else _rescored(rescorer, starts, ends, meta.kinds, probs, columns, len(text))
    out: list[ClauseMatch] = []
    for ci in columns:
        for i, p in select_candidates(starts, ends, scores[:, ci], top_k, threshold, max_iou):
            out.append(ClauseMatch(names[ci], segs[i].char_start, segs[i].char_end, segs[i].text, p))
    out.sort(key=lambda m: (m.char_start, -m.confidence, m.category))
    return out
