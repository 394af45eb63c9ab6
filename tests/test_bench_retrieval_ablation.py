"""bench.retrieval_ablation: picking a default by cross-validation by query."""
import pytest

from bench.retrieval_ablation import cross_validate, folds_of


@pytest.mark.unit
def test_folds_cover_every_query_once_and_depend_on_the_seed():
    ids = [f"q{i}" for i in range(23)]
    folds = folds_of(ids, 5, seed=0)
    assert set(folds) == set(ids) and set(folds.values()) == set(range(5))
    assert max(list(folds.values()).count(f) for f in range(5)) - min(list(folds.values()).count(f) for f in range(5)) <= 1
    assert folds_of(list(reversed(ids)), 5, seed=0) == folds  # order of the input does not matter
    assert folds_of(ids, 5, seed=1) != folds


@pytest.mark.unit
def test_each_fold_is_scored_with_the_configuration_best_on_the_other_folds():
    queries = [f"q{i}" for i in range(10)]
    # "lucky" is best on exactly one query and poor elsewhere; "steady" is a little better
    # than the default everywhere. A held-out query never chooses its own configuration.
    table = {
        "default": {"a": {q: 0.5 for q in queries}, "b": {q: 0.8 for q in queries}},
        "steady": {"a": {q: 0.55 for q in queries}, "b": {q: 0.8 for q in queries}},
        "lucky": {"a": {q: (1.0 if q == "q3" else 0.1) for q in queries}, "b": {q: 0.8 for q in queries}},
    }
    cv = cross_validate(table, k=5, seed=0)
    assert cv["picked_per_fold"] == ["steady"] * 5
    assert cv["held_out"] == pytest.approx({"a": 0.55, "b": 0.8})
    assert cv["queries"] == {"a": 10, "b": 10}
    # sets are weighed relative to the default: a set with larger numbers does not dominate
    table["steady"]["b"] = {q: 0.74 for q in queries}  # -7.5 % on b, +10 % on a: a net gain, though b loses more in absolute terms
    assert cross_validate(table, k=5, seed=0)["picked_per_fold"] == ["steady"] * 5
    # a query missing from one configuration's run is left out of every configuration
    del table["lucky"]["a"]["q9"]
    assert cross_validate(table, k=5, seed=0)["queries"]["a"] == 9
