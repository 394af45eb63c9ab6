"""The clause rescorer: its candidate features, and trees exported from scikit-learn that
numpy evaluates exactly as scikit-learn does."""
import numpy as np
import pytest

from review.clauses import select_candidates
from review.rescoring import (
    FEATURE_NAMES, TreeEnsemble, candidate_features, export_hist_gbm, load_rescorer, save_rescorer,
)
from review.taxonomy import N_CATEGORIES

pytestmark = pytest.mark.unit


def test_exported_trees_predict_what_sklearn_predicts(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, len(FEATURE_NAMES)))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0.3) ^ (X[:, 5] > 1.0)
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X, y)
    ens = export_hist_gbm(model)
    X_new = rng.normal(size=(500, len(FEATURE_NAMES)))
    assert np.allclose(ens.predict_proba(X_new), model.predict_proba(X_new)[:, 1], atol=1e-9)
    save_rescorer(ens, tmp_path)
    assert np.allclose(load_rescorer(tmp_path).predict_proba(X_new), ens.predict_proba(X_new), atol=1e-6)


def test_a_rescorer_for_other_features_is_refused(tmp_path):
    ens = TreeEnsemble([0], [0.0], [0], [0], [0.5], [True], [0], 0.0)
    save_rescorer(ens, tmp_path)
    cfg = (tmp_path / "clause_rescorer.json").read_text().replace('"logit"', '"something else"')
    (tmp_path / "clause_rescorer.json").write_text(cfg)
    with pytest.raises(ValueError, match="retrain"):
        load_rescorer(tmp_path)
    assert load_rescorer(tmp_path / "missing") is None  # no rescorer: the first stage alone


def test_a_sentence_inside_a_more_confident_paragraph_knows_it():
    # segment 0: a paragraph [0, 100); segment 1: a sentence inside it [10, 50); segment 2 elsewhere
    starts, ends = np.array([0, 10, 200]), np.array([100, 50, 260])
    probs = np.full((3, N_CATEGORIES), 0.01)
    probs[:, 3] = [0.9, 0.6, 0.2]
    chosen = {3: select_candidates(starts, ends, probs[:, 3], 30, 0.001, 0.5)}
    X, cands = candidate_features(starts, ends, ["line", "sent", "sent"], probs, chosen, 1000)
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    assert [c.segment for c in cands] == [0, 1, 2] and all(c.category == 3 for c in cands)
    sentence, elsewhere = X[1], X[2]
    assert sentence[col["inside_covering"]] == 1 and sentence[col["contains_covering"]] == 0
    assert sentence[col["covering_iou"]] == pytest.approx(0.4)
    assert sentence[col["covering_logit"]] == pytest.approx(np.log(0.9 / 0.1), rel=1e-4)
    assert sentence[col["rank"]] == 1 and sentence[col["gap_to_best"]] == pytest.approx(np.log(0.6 / 0.4) - np.log(0.9 / 0.1), rel=1e-4)
    assert elsewhere[col["n_covering"]] == 0 and elsewhere[col["inside_covering"]] == 0
    assert X[0][col["covered_logit"]] == pytest.approx(np.log(0.6 / 0.4), rel=1e-4)  # the paragraph holds the sentence
    assert X[0][col["category=3"]] == 1 and X[0][col["kind=line"]] == 1 and X[1][col["kind=sent"]] == 1
    assert X[0][col["top_category"]] == 1 and X[2][col["position"]] == pytest.approx(0.2)
