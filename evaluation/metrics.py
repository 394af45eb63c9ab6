"""Ranking metrics for retrieval benchmarks (BEIR / trec_eval definitions).

Every function takes one query's ranked ids (best first) and its judgements: either a
mapping id -> graded relevance (0 = judged not relevant) or a set of relevant ids
(relevance 1 each). Ids ranked twice count once, at their first position. A query with
no relevant id (every judgement <= 0) has no defined score: the function returns None and
`mean` skips it, as trec_eval does.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence, Set
from typing import Callable, TypeVar, Union

import numpy as np

Id = TypeVar("Id", bound=Hashable)
Judgements = Union[Mapping[Id, float], Set[Id]]

__all__ = [
    "dcg_at_k",
    "hit_rate",
    "mean",
    "mrr_at_k",
    "ndcg_at_k",
    "random_hit_rate",
    "recall_at_k",
    "relevance_map",
    "evaluate_run",
]


def relevance_map(judgements: Judgements) -> dict:
    """Judgements as {id: relevance}; a set means relevance 1 for each member."""
    if isinstance(judgements, Mapping):
        return dict(judgements)
    return {d: 1.0 for d in judgements}


def _top_k(ranked: Sequence, k: int) -> list:
    """The first k distinct ids of a ranking (a repeated id keeps its first rank)."""
    if k <= 0:
        raise ValueError("k must be at least 1")
    seen: set = set()
    out = []
    for d in ranked:
        if d in seen:
            continue
        seen.add(d)
        out.append(d)
        if len(out) == k:
            break
    return out


def _gains(ranked: Sequence, rel: Mapping, k: int) -> np.ndarray:
    """Relevance of each of the top-k distinct ids; unjudged and non-positive count 0."""
    return np.asarray([max(float(rel.get(d, 0.0)), 0.0) for d in _top_k(ranked, k)], dtype=np.float64)


def _discounts(n: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))  # rank r -> 1/log2(r+1)


def dcg_at_k(gains: Sequence[float] | np.ndarray, k: int) -> float:
    """DCG of gains in rank order: sum over the first k of gain_r / log2(r + 1)."""
    g = np.asarray(gains, dtype=np.float64)[:k]
    return float(g @ _discounts(len(g))) if len(g) else 0.0


def ndcg_at_k(ranked: Sequence[Id], judgements: Judgements, k: int) -> float | None:
    """nDCG@k with graded gains (gain = relevance value, trec_eval ndcg_cut / BEIR).

    The ideal DCG sorts all judged relevances descending and cuts at k. None when the
    query has no relevant id.
    """
    rel = relevance_map(judgements)
    ideal = np.sort(np.asarray([v for v in rel.values() if v > 0], dtype=np.float64))[::-1]
    if ideal.size == 0:
        return None
    return dcg_at_k(_gains(ranked, rel, k), k) / dcg_at_k(ideal, k)


def recall_at_k(ranked: Sequence[Id], judgements: Judgements, k: int) -> float | None:
    """Share of the relevant ids found in the top k. None when nothing is relevant."""
    rel = relevance_map(judgements)
    relevant = {d for d, v in rel.items() if v > 0}
    if not relevant:
        return None
    return sum(1 for d in _top_k(ranked, k) if d in relevant) / len(relevant)


def hit_rate(ranked: Sequence[Id], judgements: Judgements, k: int) -> float | None:
    """1.0 when any relevant id is in the top k, else 0.0 (success@k). None when nothing is relevant."""
    rel = relevance_map(judgements)
    if not any(v > 0 for v in rel.values()):
        return None
    return float(any(rel.get(d, 0) > 0 for d in _top_k(ranked, k)))


def mrr_at_k(ranked: Sequence[Id], judgements: Judgements, k: int) -> float | None:
    """1 / rank of the first relevant id within the top k (0 if none). None when nothing is relevant."""
    rel = relevance_map(judgements)
    if not any(v > 0 for v in rel.values()):
        return None
    for rank, d in enumerate(_top_k(ranked, k), start=1):
        if rel.get(d, 0) > 0:
            return 1.0 / rank
    return 0.0


def random_hit_rate(n_candidates: int, n_relevant: int, k: int) -> float | None:
    """The chance baseline of `hit_rate`: the probability that k ids drawn at random without
    replacement from n_candidates, n_relevant of them relevant, include a relevant one.
    None when nothing is relevant."""
    if n_relevant <= 0:
        return None
    if k <= 0:
        raise ValueError("k must be at least 1")
    n_relevant = min(n_relevant, n_candidates)
    if n_relevant == 0:
        return 0.0
    return 1.0 - math.comb(n_candidates - n_relevant, k) / math.comb(n_candidates, k) if n_candidates > k else 1.0


def mean(values: Iterable[float | None]) -> float | None:
    """Mean over the queries that have a score (None = skipped); None if there are none."""
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return float(arr.mean()) if arr.size else None


Metric = Callable[[Sequence, Judgements, int], "float | None"]
METRICS: dict[str, Metric] = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k, "hit": hit_rate}


def evaluate_run(
    run: Mapping[Hashable, Sequence], qrels: Mapping[Hashable, Judgements], metrics: Iterable[str], ks: Iterable[int]
) -> dict[str, float | None]:
    """Mean of each metric@k over the queries of `qrels` (a query missing from `run` ranks nothing).

    Returns e.g. {"ndcg@10": 0.61, "recall@100": 0.9}.
    """
    out: dict[str, float | None] = {}
    for name in metrics:
        fn = METRICS[name]
        for k in ks:
            out[f"{name}@{k}"] = mean(fn(run.get(q, []), judged, k) for q, judged in qrels.items())
    return out
