import numpy as np
import pytest

from review.classifier import ClauseClassifier, MODEL_DIR, load_model
from review.clauses import ClauseMatch, detect_clauses
from review.taxonomy import ATTRIBUTION, CATEGORIES, CATEGORY_NAMES, get_category

from clausegen import keyword_clause_model

pytestmark = pytest.mark.unit

TEXT = (
    "MASTER SERVICES AGREEMENT\n\n"
    "This Agreement shall be governed by the laws of the State of New York. "
    "The Agreement is governed by New York law as well.\n\n"
    "Each party shall maintain insurance with reputable insurers.\n"
)


def keyword_model():
    """'governed' -> Governing Law, 'insurance' -> Insurance (probability sigmoid(5) = 0.9933);
    a span over 14 words loses 2 from its logit (0.9526), so the single sentences win."""
    return keyword_clause_model({"governed": "Governing Law", "insurance": "Insurance"}, long_penalty=2.0)


def test_shipped_model_class_conforms_to_protocol():
    assert isinstance(keyword_model(), ClauseClassifier) and isinstance(load_model(), ClauseClassifier)


def test_detect_clauses_offsets_and_nms():
    matches = detect_clauses(TEXT, classifier=keyword_model(), threshold=0.5)
    assert matches and all(isinstance(m, ClauseMatch) for m in matches)
    for m in matches:
        assert TEXT[m.char_start:m.char_end] == m.text
    for cat in {m.category for m in matches}:
        spans = sorted((m.char_start, m.char_end) for m in matches if m.category == cat)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "same-category spans must not overlap"
    gl = [m for m in matches if m.category == "Governing Law"]
    # two separate sentences survive, the passage holding both is suppressed
    assert [m.text for m in gl] == ["This Agreement shall be governed by the laws of the State of New York.",
                                    "The Agreement is governed by New York law as well."]
    assert [m.confidence for m in gl] == pytest.approx([1 / (1 + np.exp(-5))] * 2, rel=1e-4)
    assert [m.text for m in matches if m.category == "Insurance"] == ["Each party shall maintain insurance with reputable insurers."]
    assert {m.category for m in matches} == {"Governing Law", "Insurance"}


def test_detect_clauses_threshold_top_k_and_empty():
    assert detect_clauses("", classifier=keyword_model()) == []
    assert detect_clauses(TEXT, classifier=keyword_model(), threshold=0.995) == []  # the best is 0.9933
    [only] = detect_clauses(TEXT, classifier=keyword_model(), threshold=0.5, top_k=1, categories=["Governing Law"])
    assert only.category == "Governing Law" and "State of New York" in only.text


def test_taxonomy():
    assert len(CATEGORIES) == 41 and len(set(CATEGORY_NAMES)) == 41
    assert get_category("cap on liability").name == "Cap on Liability"
    assert get_category("Cap On Liability").name == "Cap on Liability"
    assert {c.kind for c in CATEGORIES} <= {"title", "party", "date", "value", "clause"}
    assert "CC BY 4.0" in ATTRIBUTION


def test_shipped_model_scores_and_detects():
    model = load_model()
    assert model.categories == CATEGORY_NAMES
    probs = model.score(["This Agreement shall be governed by the laws of the State of Delaware.", "Random words."])
    assert probs.shape == (2, 41)
    assert np.all((probs >= 0) & (probs <= 1))
    assert probs[0, CATEGORY_NAMES.index("Governing Law")] > probs[1, CATEGORY_NAMES.index("Governing Law")]
    found = detect_clauses(TEXT, threshold=0.05)
    assert any(m.category == "Governing Law" for m in found)
    for m in found:
        assert TEXT[m.char_start:m.char_end] == m.text


def test_no_pickle_in_model_dir():
    for p in MODEL_DIR.glob("*"):
        assert p.suffix not in {".pkl", ".pickle", ".joblib"}


def test_candidates_keep_a_passage_that_only_partly_overlaps_a_better_span():
    """With `max_iou`, the passage holding both Governing Law sentences is suppressed only
    if it mostly covers one of them; it covers each by well under half, so it stays as a
    lower-confidence candidate (the span a reviewer's gold clause may match)."""
    strict = detect_clauses(TEXT, classifier=keyword_model(), threshold=0.5, categories=["Governing Law"])
    loose = detect_clauses(TEXT, classifier=keyword_model(), threshold=0.5, categories=["Governing Law"], max_iou=0.5)
    assert len(strict) == 2
    extra = [m for m in loose if m not in strict]
    assert any("New York." in m.text and "as well." in m.text for m in extra)  # the passage holding both
    assert all(m.confidence < strict[0].confidence for m in extra)

    def iou(a, b):
        inter = min(a.char_end, b.char_end) - max(a.char_start, b.char_start)
        return inter / (max(a.char_end, b.char_end) - min(a.char_start, b.char_start))

    # each kept span covers every more confident one by less than half (IoU < 0.5): the
    # line "This Agreement ... as well." (IoU 0.58 with the first sentence) was dropped
    assert all(iou(a, b) < 0.5 for a in loose for b in loose if a is not b)
    assert not any(m.char_start == strict[0].char_start and m.text.endswith("as well.") for m in extra)


def test_a_review_names_the_shipped_model_and_its_held_out_aupr():
    from review.service import model_info

    info = model_info()
    config = load_model().config
    assert info["name"] == config["name"] and info["cv_pooled_aupr"] == config["cv"]["aupr"] > 0.5
    assert "CC BY 4.0" in info["attribution"]
