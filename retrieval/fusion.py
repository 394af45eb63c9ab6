"""Rank fusion of several ranked lists of (id, score)."""
from __future__ import annotations

from collections.abc import Sequence


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float] | None = None,
    k: float = 60.0,
) -> list[tuple[int, float]]:
    """Weighted RRF: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1.

    Ties are broken by the best single rank, then by id, so results are deterministic.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    fused: dict[int, float] = {}
    best_rank: dict[int, int] = {}
    for ranking, w in zip(rankings, weights):
        for rank, (doc_id, _score) in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + w / (k + rank)
            best_rank[doc_id] = min(best_rank.get(doc_id, rank), rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], best_rank[kv[0]], kv[0]))


def _max_normalise(ranking: Sequence[tuple[int, float]]) -> dict[int, float]:
    """Scores divided by the best score, with 0 as the floor (the theoretical minimum of
    BM25 and, in practice, of cosine similarity). Min-max would stretch a short candidate
    list so that its last entry scores 0 however close it was to the first."""
    if not ranking:
        return {}
    hi = max(s for _, s in ranking)
    if hi <= 1e-12:
        return {d: 0.0 for d, _ in ranking}
    return {d: max(s, 0.0) / hi for d, s in ranking}


def convex_combination(
    rankings: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
) -> list[tuple[int, float]]:
    """Weighted sum of max-normalised scores; an id absent from a list scores 0 there.

    Unlike RRF it keeps score gaps: a keyword hit far ahead of the rest (a part number,
    a rare name) stays ahead even when the dense ranking places it low.
    """
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    fused: dict[int, float] = {}
    for w, scores in zip(weights, (_max_normalise(r) for r in rankings)):
        for d, score in scores.items():  # the same sums, in the same order, as a sum per id
            fused[d] = fused.get(d, 0.0) + w * score
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
