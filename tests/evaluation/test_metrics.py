import math

import pytest

from evaluation.metrics import dcg_at_k, evaluate_run, hit_rate, mean, mrr_at_k, ndcg_at_k, random_hit_rate, recall_at_k

pytestmark = pytest.mark.unit


def log2(x: float) -> float:
    return math.log(x, 2)


def test_dcg_is_gain_over_log2_rank_plus_one():
    assert dcg_at_k([3, 2, 0, 1], 10) == pytest.approx(3 / log2(2) + 2 / log2(3) + 0 + 1 / log2(5))
    assert dcg_at_k([3, 2, 0, 1], 2) == pytest.approx(3 + 2 / log2(3))
    assert dcg_at_k([], 5) == 0.0


def test_graded_ndcg_hand_computed():
    qrels = {"a": 4, "b": 3, "c": 0, "d": 1, "e": 2}
    ranked = ["c", "b", "x", "a", "d"]  # x is unjudged: gain 0
    dcg = 0 / log2(2) + 3 / log2(3) + 0 / log2(4) + 4 / log2(5) + 1 / log2(6)
    idcg = 4 / log2(2) + 3 / log2(3) + 2 / log2(4) + 1 / log2(5) + 0 / log2(6)
    assert ndcg_at_k(ranked, qrels, 5) == pytest.approx(dcg / idcg)
    # @3: the ideal is cut at 3 as well
    dcg3 = 3 / log2(3)
    idcg3 = 4 + 3 / log2(3) + 2 / log2(4)
    assert ndcg_at_k(ranked, qrels, 3) == pytest.approx(dcg3 / idcg3)


def test_gain_is_the_relevance_value_not_exponential():
    # BEIR/trec_eval: gain = rel (not 2^rel - 1)
    assert ndcg_at_k(["b", "a"], {"a": 4, "b": 1}, 2) == pytest.approx((1 + 4 / log2(3)) / (4 + 1 / log2(3)))


def test_ideal_order_and_tied_grades():
    qrels = {"a": 2, "b": 2, "c": 1}
    # Swapping documents of the same grade changes nothing; the perfect order scores 1.
    assert ndcg_at_k(["a", "b", "c"], qrels, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "a", "c"], qrels, 3) == pytest.approx(1.0)
    assert ndcg_at_k(["c", "a", "b"], qrels, 3) == pytest.approx(
        (1 + 2 / log2(3) + 2 / log2(4)) / (2 + 2 / log2(3) + 1 / log2(4))
    )


def test_empty_predictions_and_no_relevant_docs():
    assert ndcg_at_k([], {"a": 3}, 10) == 0.0
    assert recall_at_k([], {"a"}, 10) == 0.0
    assert mrr_at_k([], {"a"}, 10) == 0.0
    assert hit_rate([], {"a"}, 10) == 0.0
    # only judged-irrelevant or nothing judged: the query is skipped (None)
    for fn in (ndcg_at_k, recall_at_k, mrr_at_k, hit_rate):
        assert fn(["a"], {"a": 0, "b": 0}, 5) is None
        assert fn(["a"], set(), 5) is None


def test_k_larger_than_the_ranking():
    qrels = {"a": 1, "b": 1, "c": 1}
    ranked = ["a", "z"]
    assert recall_at_k(ranked, qrels, 100) == pytest.approx(1 / 3)
    assert ndcg_at_k(ranked, qrels, 100) == pytest.approx(1 / (1 + 1 / log2(3) + 1 / log2(4)))
    assert hit_rate(ranked, qrels, 100) == 1.0


def test_duplicates_count_once_at_first_rank():
    assert ndcg_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 2) == pytest.approx(1.0)
    assert recall_at_k(["a", "a"], {"a", "b"}, 2) == 0.5


def test_recall_mrr_hit_with_sets_and_maps():
    gold = {"b", "d"}
    ranked = ["a", "b", "c", "d"]
    assert recall_at_k(ranked, gold, 1) == 0.0
    assert recall_at_k(ranked, gold, 2) == 0.5
    assert recall_at_k(ranked, gold, 4) == 1.0
    assert mrr_at_k(ranked, gold, 10) == 0.5
    assert mrr_at_k(ranked, gold, 1) == 0.0
    assert hit_rate(ranked, gold, 1) == 0.0
    assert hit_rate(ranked, gold, 2) == 1.0
    # graded maps: relevance 0 is not relevant
    assert recall_at_k(ranked, {"a": 0, "b": 2}, 2) == 1.0
    assert mrr_at_k(ranked, {"a": 0, "c": 3}, 10) == pytest.approx(1 / 3)


def test_integer_ids_and_bad_k():
    assert hit_rate([3, 1, 2], {2}, 3) == 1.0
    with pytest.raises(ValueError):
        ndcg_at_k([1], {1: 1}, 0)


def test_mean_skips_none_and_evaluate_run():
    assert mean([1.0, None, 0.0]) == 0.5
    assert mean([None]) is None
    qrels = {"q1": {"a": 2}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 has nothing relevant: skipped
    run = {"q1": ["a"], "q2": ["x", "b"]}
    out = evaluate_run(run, qrels, ["ndcg", "recall", "mrr"], [1, 2])
    assert out["recall@1"] == 0.5
    assert out["mrr@2"] == pytest.approx((1 + 0.5) / 2)
    assert out["ndcg@2"] == pytest.approx((1 + 1 / log2(3)) / 2)


def test_random_hit_rate_is_the_chance_of_a_hit_in_k_random_draws():
    # 10 candidates, 2 relevant, 5 drawn: 1 - C(8, 5) / C(10, 5) = 1 - 56 / 252
    assert random_hit_rate(10, 2, 5) == pytest.approx(1 - 56 / 252)
    assert random_hit_rate(10, 1, 1) == pytest.approx(0.1)
    assert random_hit_rate(4, 1, 5) == 1.0  # every candidate is drawn
    assert random_hit_rate(10, 0, 5) is None  # nothing relevant: no score, as hit_rate
    with pytest.raises(ValueError):
        random_hit_rate(10, 1, 0)
