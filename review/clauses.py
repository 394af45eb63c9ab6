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


def default_classifier() -> ClauseClassifier:
    """The shipped model, loaded on first use and cached for the process."""
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                _MODEL = load_model()
    return _MODEL


def select_candidates(starts, ends, probs: np.ndarray, top_k: int, threshold: float) -> list[tuple[int, float]]:
    """Greedy non-maximum suppression of overlapping spans for one category, best first
    (shared by inference and by training's cross-validation)."""
    order = np.argsort(-probs, kind="stable")
    chosen: list[tuple[int, float]] = []
    for i in order:
        p = float(probs[i])
        if p < threshold or len(chosen) >= top_k:
            break
        s, e = starts[i], ends[i]
        if any(s < ends[j] and starts[j] < e for j, _ in chosen):
            continue
        chosen.append((int(i), p))
    return chosen


def detect_clauses(
    text: str,
    classifier: ClauseClassifier | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    top_k: int = DEFAULT_TOP_K,
    categories: list[str] | None = None,
) -> list[ClauseMatch]:
    """Clauses of the 41 CUAD categories found in `text`, sorted by position.

    Per category at most `top_k` spans with confidence >= `threshold` are kept; among
    overlapping spans of the same category only the most confident survives.
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
    out: list[ClauseMatch] = []
    for ci, cat in enumerate(names):
        if wanted is not None and cat not in wanted:
            continue
        for i, p in select_candidates(starts, ends, probs[:, ci], top_k, threshold):
            s = segs[i]
            out.append(ClauseMatch(cat, s.char_start, s.char_end, s.text, p))
    out.sort(key=lambda m: (m.char_start, -m.confidence, m.category))
    return out
