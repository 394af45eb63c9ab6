"""The review's operating point: which candidates are clauses (and reach the playbook),
which are listed to "also check", and what the line scored on held-out contracts."""
import pytest

from core.types import LoadedDocument, PageSpan
from review.clauses import OperatingPoint, operating_point
from review.report import render_html
from review.service import review_document

from clausegen import keyword_clause_model

pytestmark = pytest.mark.unit

TEXT = ("This Agreement shall be governed by the laws of New York.\n\n"
        "Customer may audit the records of the Supplier once a year.\n")
# Held-out (cross-validated) pooled recall and precision per confidence threshold, as
# review/train.py stores them in the model.
POINTS = [{"threshold": 0.5, "recall": 0.6, "precision": 0.9}, {"threshold": 0.2, "recall": 0.7, "precision": 0.8},
          {"threshold": 0.04, "recall": 0.85, "precision": 0.5}, {"threshold": 0.001, "recall": 0.95, "precision": 0.1}]


def model(points=POINTS):
    """'governed' scores 0.88 for Governing Law; 'audit' shares its sentence with three
    words of no weight and scores 0.047 for Audit Rights; everything else 0.0003."""
    clf = keyword_clause_model({"governed": "Governing Law", "audit": "Audit Rights"}, bias=-8.0,
                               dilute=("records", "supplier", "year"))
    clf.config["operating_points"] = points
    return clf


def review(recall=None, clf=None):
    return review_document(LoadedDocument(TEXT, [PageSpan(1, 0, len(TEXT))], "text/plain"), "c.txt",
                           classifier=clf or model(), recall=recall)


def categories(items):
    return [c["category"] for c in items]


def overlaps_a_clause(candidate, clauses):
    return any(c["category"] == candidate["category"] and candidate["char_start"] < c["char_end"]
               and c["char_start"] < candidate["char_end"] for c in clauses)


def test_the_default_line_lists_the_weak_candidate_to_also_check_and_the_playbook_misses_it():
    r = review()
    assert categories(r.clauses) == ["Governing Law"]
    [audit] = [c for c in r.also_check if c["category"] == "Audit Rights"]
    assert 0.001 < audit["confidence"] < 0.2
    assert all(overlaps_a_clause(c, r.clauses) for c in r.also_check if c["category"] == "Governing Law")
    assert r.operating_point == {"threshold": 0.2, "recall": 0.7, "precision": 0.8, "requested_recall": None}
    assert "audit-rights" in {f.rule for f in r.findings}
    out = r.to_dict()
    assert "Audit Rights" in categories(out["also_check"])  # the JSON keeps every candidate
    assert "Also check" in render_html(r)


def test_a_recall_operating_point_lowers_the_line_to_the_held_out_threshold_that_reaches_it():
    r = review(recall=0.8)
    assert r.operating_point == {"threshold": 0.04, "recall": 0.85, "precision": 0.5, "requested_recall": 0.8}
    assert categories(r.clauses) == ["Governing Law", "Audit Rights"]
    assert all(overlaps_a_clause(c, r.clauses) for c in r.also_check)  # only spans around those two remain
    # A playbook rule keeps its own bar (min_confidence, 0.5 by default): a 5% candidate is
    # worth a look, not proof that the required clause is there.
    assert "audit-rights" in {f.rule for f in r.findings}
    html = render_html(r)
    assert "chosen to find 80% of clauses" in html and "recall 85%, precision 50%" in html
    assert "Customer may audit the records" in html  # a 5% clause is shown when the reader chose the line


def test_recall_out_of_reach_or_unmeasured_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="at most 0.95 recall"):
        operating_point(0.97, model())
    with pytest.raises(ValueError, match="between 0 and 1"):
        operating_point(1.5, model())
    with pytest.raises(ValueError, match="no held-out operating points"):
        operating_point(0.8, model(points=[]))
    assert operating_point(None, model(points=[])) == OperatingPoint(0.2)


def test_the_shipped_model_carries_its_held_out_operating_points():
    from review.clauses import default_classifier

    points = default_classifier().config["operating_points"]
    assert len(points) > 50 and all(0 <= p["recall"] <= 1 and 0 <= p["precision"] <= 1 for p in points)
    assert operating_point(0.8).recall >= 0.8


def test_nested_candidates_are_kept_but_the_clauses_show_each_place_once():
    """The candidate list may hold a sentence and the passage around it (both go to the
    JSON, for the whole precision-recall curve); above the line only the more confident
    one is a clause, the other is listed to also check."""
    text = ("This Agreement shall be governed by the laws of New York. "
            "Notices go by registered mail to the addresses given above. "
            "It is governed by New York law as well.\n")
    clf = keyword_clause_model({"governed": "Governing Law"}, long_penalty=2.0)
    clf.config["operating_points"] = POINTS
    r = review_document(LoadedDocument(text, [PageSpan(1, 0, len(text))], "text/plain"), "c.txt", classifier=clf)
    laws = [c for c in r.clauses if c["category"] == "Governing Law"]
    spans = sorted((c["char_start"], c["char_end"]) for c in laws)
    assert len(laws) == 2 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no place twice
    nested = [c for c in r.also_check if c["category"] == "Governing Law" and c["confidence"] >= r.operating_point["threshold"]]
    assert nested and all(overlaps_a_clause(c, laws) for c in nested)  # above the line, but a place already shown
    assert len(r.to_dict()["clauses"]) + len(r.to_dict()["also_check"]) == len(r.clauses) + len(r.also_check)


def test_the_same_words_found_again_are_a_clause_once():
    """A title found at each use of the words (a running header "Supply Agreement", as the
    Document Name) is listed once above the line; the other places stay in the JSON, to
    also check."""
    text = "Supply Agreement\n\nGoods are shipped weekly.\n\nSupply  Agreement\n\nPayment is due monthly.\n"
    clf = keyword_clause_model({"agreement": "Document Name"}, dilute=("goods", "shipped", "payment", "due"))
    clf.config["operating_points"] = POINTS
    r = review_document(LoadedDocument(text, [PageSpan(1, 0, len(text))], "text/plain"), "c.txt", classifier=clf)
    [name] = [c for c in r.clauses if c["category"] == "Document Name"]  # not the passage after the repeat either
    assert name["text"] == "Supply Agreement" and name["char_start"] == 0
    [again] = [c for c in r.also_check if c["category"] == "Document Name" and c["text"] == "Supply  Agreement"]
    assert again["confidence"] == name["confidence"] >= r.operating_point["threshold"]  # as sure, but said already
