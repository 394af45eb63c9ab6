"""review/train.py end to end: a tiny training run on generated contracts in CUAD's layout."""
import json

import pytest
from docgen import make_contract_text, write_cuad_contracts

from review.classifier import MODEL_JSON, MODEL_NPZ, load_model
from review.rescoring import RESCORER_JSON, RESCORER_NPZ
from review.clauses import detect_clauses
from review.cuad_metric import is_match
from review.train import train

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = write_cuad_contracts(root / "cuad", 12)
    # every segment as a negative (the default samples 4%: too few in twelve short contracts)
    result = train(data, folds=3, out_dir=root / "model", neg_rate=1.0, min_df=2)
    return result, root / "model"


def test_training_writes_a_model_that_finds_the_planted_clause(trained):
    result, model_dir = trained
    assert result["contracts"] == 12 and result["data"]["fragments_not_found"] == 0
    assert result["segmentation_upper_bound"]["per_category"]["Governing Law"] == 1.0  # a segment matches every clause
    # weights and config, no pickle; on twelve contracts the rescorer does not pay, so it is not kept
    assert sorted(p.name for p in model_dir.iterdir()) == sorted([MODEL_JSON, MODEL_NPZ])
    assert result["rescorer"] is False and result["cv"]["aupr"] == result["cv_first_stage"]["aupr"]
    assert json.loads((model_dir / MODEL_JSON).read_text())["training_contracts"] == 12
    model = load_model(model_dir)
    text, law = make_contract_text(1000)  # a contract it never saw
    [found] = [m for m in detect_clauses(text, classifier=model, threshold=0.2) if m.category == "Governing Law"]
    # the clause, perhaps with its heading: a match by CUAD's rule
    assert law in found.text and is_match(found.text, law) and found.confidence > 0.9
    assert detect_clauses(text, classifier=model, threshold=0.2, categories=["Insurance", "Parties"]) == []  # never labelled


def test_a_contract_without_the_clause_gets_none(trained):
    model = load_model(trained[1])
    text, law = make_contract_text(2000, governing_law=False)
    assert law is None and detect_clauses(text, classifier=model, threshold=0.5, categories=["Governing Law"]) == []


def test_cross_validation_scores_held_out_contracts(trained):
    result, _ = trained
    gl = result["cv"]["per_category"]["Governing Law"]
    assert gl["n_gold"] == 12  # each contract scored once, by the fold model that did not see it
    assert gl["aupr"] > 0.5 and result["cv"]["aupr"] == pytest.approx(gl["aupr"])  # the one labelled category


def test_a_forced_rescorer_is_written_and_gives_the_confidences(tmp_path):
    import numpy as np

    from review.clauses import CANDIDATE_FLOOR, CANDIDATE_MAX_IOU, CANDIDATE_TOP_K, select_candidates
    from review.classifier import SegmentMeta
    from review.rescoring import candidate_features
    from review.segment import segment

    data = write_cuad_contracts(tmp_path / "cuad", 12)
    result = train(data, folds=3, out_dir=tmp_path / "model", neg_rate=1.0, min_df=2, rescore=True)
    assert result["rescorer"] is True
    assert {RESCORER_JSON, RESCORER_NPZ} <= {p.name for p in (tmp_path / "model").iterdir()}
    model = load_model(tmp_path / "model")
    assert model.rescorer is not None and json.loads((tmp_path / "model" / MODEL_JSON).read_text())["name"].endswith("+rescorer")
    text, _ = make_contract_text(1000)
    found = detect_clauses(text, classifier=model, threshold=CANDIDATE_FLOOR, top_k=CANDIDATE_TOP_K, max_iou=CANDIDATE_MAX_IOU,
                           categories=["Governing Law"])
    # what detect_clauses reports is the trees' confidence for that candidate, not the linear model's
    segs = segment(text)
    starts, ends = np.array([s.char_start for s in segs]), np.array([s.char_end for s in segs])
    probs = model.score([s.text for s in segs], SegmentMeta(starts, ends, len(text), [s.kind for s in segs]))
    chosen = {ci: select_candidates(starts, ends, probs[:, ci], CANDIDATE_TOP_K, CANDIDATE_FLOOR, CANDIDATE_MAX_IOU)
              for ci in range(probs.shape[1])}
    X, cands = candidate_features(starts, ends, [s.kind for s in segs], probs, chosen, len(text))
    expected = dict(zip(((c.category, segs[c.segment].char_start, segs[c.segment].char_end) for c in cands),
                        model.rescorer.predict_proba(X)))
    gl = model.categories.index("Governing Law")
    assert found and all(m.confidence == pytest.approx(expected[(gl, m.char_start, m.char_end)]) for m in found)
    assert any(abs(m.confidence - probs[[s.char_start for s in segs].index(m.char_start), gl]) > 1e-3 for m in found)
