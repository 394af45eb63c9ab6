"""evaluation/metrics.py against trec_eval itself (pytrec_eval, the bindings BEIR scores with)
on a small seeded run with graded judgements, per query and averaged."""
from __future__ import annotations

import random

import pytest
import pytrec_eval

from evaluation.metrics import evaluate_run, hit_rate, mrr_at_k, ndcg_at_k, recall_at_k

pytestmark = pytest.mark.unit

KS = (1, 3, 5, 10)


@pytest.fixture(scope="module")
def small_run():
    """40 queries over 60 documents: graded judgements 0-3 (some queries with judged
    documents but none relevant), rankings of 1-25 documents, three queries not run at all."""
    rng = random.Random(20)
    docs = [f"d{i}" for i in range(60)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 12))
        grades = [0, 0, 0, 0] if q % 9 == 0 else [0, 1, 1, 2, 3]  # every ninth: nothing relevant
        qrels[qid] = {d: rng.choice(grades) for d in judged}
        if q % 13 == 5:
            continue  # a query the system returned nothing for
        # mostly judged documents near the top, unjudged ones mixed in
        pool = judged + rng.sample(docs, 15)
        rng.shuffle(pool)
        ranked = list(dict.fromkeys(pool))[: rng.randint(1, 25)]
        run[qid] = ranked
    return qrels, run


def _trec(qrels, run, measures, cut: int | None = None):
    """trec_eval's per-query scores. It orders a run by score, so scores fall with the rank;
    `cut` keeps only the first documents (for measures that trec_eval does not cut)."""
    as_scores = {q: {d: float(len(ranked) - i) for i, d in enumerate(ranked[:cut] if cut else ranked)}
                 for q, ranked in run.items()}
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(as_scores)


def _has_relevant(judged) -> bool:
    return any(v > 0 for v in judged.values())


def test_ndcg_and_recall_match_trec_eval_per_query(small_run):
    qrels, run = small_run
    cuts = ",".join(map(str, KS))
    trec = _trec(qrels, run, {f"ndcg_cut.{cuts}", f"recall.{cuts}"})
    compared = 0
    for q, judged in qrels.items():
        if q not in run:
            continue
        for k in KS:
            ours_ndcg, ours_recall = ndcg_at_k(run[q], judged, k), recall_at_k(run[q], judged, k)
            if not _has_relevant(judged):
                assert ours_ndcg is None and ours_recall is None  # undefined: skipped in means
                continue
            assert ours_ndcg == pytest.approx(trec[q][f"ndcg_cut_{k}"], abs=1e-9), (q, k)
            assert ours_recall == pytest.approx(trec[q][f"recall_{k}"], abs=1e-9), (q, k)
            compared += 1
    assert compared > 100


@pytest.mark.parametrize("k", KS)
def test_mrr_and_hit_rate_match_trec_eval_on_the_cut_run(small_run, k):
    """trec_eval's recip_rank and success have no cut-off of their own: they see the top k."""
    qrels, run = small_run
    trec = _trec(qrels, run, {"recip_rank", "success.1"} if k == 1 else {"recip_rank", f"success.{k}"}, cut=k)
    for q, judged in qrels.items():
        if q not in run or not _has_relevant(judged):
            continue
        assert mrr_at_k(run[q], judged, k) == pytest.approx(trec[q]["recip_rank"], abs=1e-9), (q, k)
        assert hit_rate(run[q], judged, k) == pytest.approx(trec[q][f"success_{k}"], abs=1e-9), (q, k)


def test_means_match_trec_eval_averaged_over_every_judged_query(small_run):
    """evaluate_run averages over the queries with a relevant document, an unrun query
    scoring 0: trec_eval's `-c` average over the same queries."""
    qrels, run = small_run
    scored = {q: j for q, j in qrels.items() if _has_relevant(j)}
    assert any(q not in run for q in scored)  # the fixture exercises the unrun case
    ours = evaluate_run(run, qrels, ["ndcg", "recall", "mrr"], [10])
    trec = _trec(scored, {q: r for q, r in run.items() if q in scored}, {"ndcg_cut.10", "recall.10"})
    trec_mrr = _trec(scored, {q: r for q, r in run.items() if q in scored}, {"recip_rank"}, cut=10)
    for name, measure, per_query in (("ndcg@10", "ndcg_cut_10", trec), ("recall@10", "recall_10", trec),
                                     ("mrr@10", "recip_rank", trec_mrr)):
        expected = sum(per_query.get(q, {}).get(measure, 0.0) for q in scored) / len(scored)
        assert ours[name] == pytest.approx(expected, abs=1e-12), name
