import math

import pytest

from review.cuad_metric import (
    THRESHOLDS, aupr, count_matches, evaluate, is_match, jaccard, monotone_precisions, precision_at_recall,
)

pytestmark = pytest.mark.unit


def test_thresholds_grid():
    assert THRESHOLDS[0] == 0.99 and THRESHOLDS[98] == 0.01
    assert THRESHOLDS[-2:] == (0.001, 0.0)
    assert len(THRESHOLDS) == 101


def test_jaccard_normalisation():
    assert jaccard("The Agreement, shall: apply.", "the agreement shall apply") == 1.0
    assert jaccard("and/or", "and or") == 1.0
    assert jaccard("a b", "a c") == pytest.approx(1 / 3)
    assert jaccard("a b c", "a b c d") == 0.75


def test_match_threshold_is_inclusive():
    assert is_match("a b", "a b c d")  # 2/4 = 0.5
    assert not is_match("a b", "a b c d e")


def test_single_key_perfect_then_false_positive():
    gold = {("c1", "Governing Law"): ["laws of the state of new york"]}
    preds = {("c1", "Governing Law"): [("Laws of the State of New York.", 0.9), ("totally unrelated words", 0.5)]}
    r = evaluate(preds, gold)
    # conf 0.9 is kept for thresholds < 0.9 (strict), giving P=1, R=1 before the FP enters
    assert r["aupr"] == pytest.approx(1.0)
    assert r["prec_at_80_recall"] == pytest.approx(1.0)
    assert r["prec_at_90_recall"] == pytest.approx(1.0)
    assert r["per_category"]["Governing Law"]["aupr"] == pytest.approx(1.0)
    assert r["n_gold"] == 1


def test_monotone_precision_rule():
    gold = {("c1", "Insurance"): ["maintain insurance coverage"], ("c2", "Insurance"): ["alpha beta"]}
    preds = {("c1", "Insurance"): [("junk text", 0.95)], ("c2", "Insurance"): [("alpha beta", 0.6)]}
    r = evaluate(preds, gold)
    # raw curve: (R=0, P=0) for 0.94..0.60, then (R=0.5, P=0.5); monotone precision lifts
    # the first part to 0.5, so the area is 0.5 * 0.5 (not 0.125 as the raw trapezoid would be)
    assert r["aupr"] == pytest.approx(0.25)
    assert r["prec_at_80_recall"] == 0.0
    assert r["prec_at_90_recall"] == 0.0


def test_monotone_precisions_helper():
    assert monotone_precisions([1, math.nan, 0.2, 0.6, 0.4]) == [1, 0.6, 0.6, 0.6, 0.4]
    assert precision_at_recall([1, 0.5, 0.8, 0.3], [0, 0.5, 0.8, 0.9], 0.8) == 0.8
    assert aupr([1, 1, 0.5], [0, 0.5, 1.0]) == pytest.approx(0.5 + 0.375)


def test_parties_containment():
    gold = ["Acme Widgets, Inc."]
    long_pred = "This Agreement is made between Acme Widgets, Inc. and Beta Holdings LLC, a Delaware company"
    assert count_matches([long_pred], gold, containment="both") == (1, 0, 0)
    assert count_matches([long_pred], gold, containment=None) == (0, 1, 1)
    assert count_matches(["Acme"], gold, containment="both") == (1, 0, 0)  # prediction inside gold
    assert count_matches(["Acme"], gold, containment="gold_in_pred") == (0, 1, 1)
    r = evaluate({("c", "Parties"): [(long_pred, 0.7)], ("c", "Insurance"): [(long_pred, 0.7)]},
                 {("c", "Parties"): gold, ("c", "Insurance"): gold})
    assert r["per_category"]["Parties"]["aupr"] == pytest.approx(1.0)
    assert r["per_category"]["Insurance"]["aupr"] == 0.0


def test_empty_predictions():
    gold = {("c1", "Audit Rights"): ["right to audit the books"], ("c2", "Audit Rights"): []}
    r = evaluate({}, gold)
    assert r["aupr"] == 0.0 and r["prec_at_80_recall"] == 0.0 and r["prec_at_90_recall"] == 0.0
    # empty strings are not predictions
    r = evaluate({("c1", "Audit Rights"): [("", 0.9)]}, gold)
    assert r["aupr"] == 0.0


def test_predictions_without_gold_are_false_positives():
    gold = {("c1", "Audit Rights"): ["right to audit the books"], ("c2", "Audit Rights"): []}
    preds = {("c1", "Audit Rights"): [("right to audit the books", 0.5)], ("c2", "Audit Rights"): [("audit", 0.8)]}
    r = evaluate(preds, gold)
    # 0.79..0.50: P=0, R=0 ; 0.49..0: P=0.5, R=1 -> monotone area = 0.5
    assert r["aupr"] == pytest.approx(0.5)
    assert r["prec_at_80_recall"] == pytest.approx(0.5)


def test_duplicates_hitting_one_gold_count_once():
    gold = ["pay a royalty of five percent"]
    assert count_matches(["pay a royalty of five percent", "pay a royalty of five percent."], gold) == (1, 0, 0)
    assert count_matches(["pay a royalty of five percent", "unrelated"], gold) == (1, 1, 0)
    assert count_matches([], gold) == (0, 0, 1)
    assert count_matches(["x"], []) == (0, 1, 0)
