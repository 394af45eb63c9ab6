"""Playbook validation and rules firing on present / absent / out-of-bounds cases."""
import pytest

from review.playbook import PlaybookError, evaluate, load_playbook, parse_playbook
from review.terms import extract_terms

pytestmark = pytest.mark.unit

PLAYBOOK = {
    "name": "test",
    "rules": [
        {"id": "cap", "type": "clause_required", "clause": "Cap on Liability", "severity": "high"},
        {"id": "nc", "type": "clause_forbidden", "clause": "non-compete", "severity": "medium"},
        {"id": "uncapped", "type": "clause_without", "clause": "Uncapped Liability", "without": "Cap On Liability", "severity": "high"},
        {"id": "notice", "type": "term_max", "term": "notice_period_to_terminate_renewal", "max": 90, "severity": "medium",
         "message": "Notice is {value} days (max {max})."},
        {"id": "law", "type": "term_in", "term": "governing_law", "allowed": ["New York", "Delaware"], "severity": "low"},
    ],
}


def _contract(notice_days: str, law: str) -> str:
    return (
        "This Agreement renews automatically for successive one (1) year terms unless a party gives written notice of "
        f"non-renewal at least {notice_days} days before the end of the term. This Agreement is governed by the laws of the State of {law}."
    )


def _clause(category, text="...", confidence=0.9):
    return {"category": category, "text": text, "page": 1, "char_start": 0, "char_end": 3, "confidence": confidence}


def test_rules_fire_on_out_of_bounds_and_missing():
    pb = parse_playbook(PLAYBOOK)
    terms = {k: (v.to_dict() | {"page": 1}) if v else None for k, v in extract_terms(_contract("one hundred twenty (120)", "Texas")).items()}
    clauses = [_clause("Non-Compete", "Supplier shall not compete."), _clause("Uncapped Liability", "Liability for IP claims is unlimited.")]
    found = {f.rule: f for f in evaluate(pb, clauses, terms)}
    assert set(found) == {"cap", "nc", "uncapped", "notice", "law"}
    assert found["notice"].message == "Notice is 120 days (max 90.0)."
    assert found["nc"].clauses[0]["text"] == "Supplier shall not compete."
    assert found["notice"].clauses[0]["text"] in _contract("one hundred twenty (120)", "Texas")
    assert [f.severity for f in evaluate(pb, clauses, terms)][:2] == ["high", "high"]  # sorted by severity


def test_rules_stay_quiet_when_the_contract_complies():
    pb = parse_playbook(PLAYBOOK)
    terms = {k: (v.to_dict() | {"page": 1}) if v else None for k, v in extract_terms(_contract("sixty (60)", "New York")).items()}
    clauses = [_clause("Cap on Liability"), _clause("Uncapped Liability"), _clause("Non-Compete", confidence=0.2)]
    assert evaluate(pb, clauses, terms) == []  # capped; the non-compete is below min_confidence


def test_invalid_playbook_lists_every_problem():
    bad = {"name": "x", "rules": [
        {"id": "a", "type": "clause_required", "clause": "Cap On Liabilty", "severity": "high"},
        {"id": "b", "type": "term_max", "term": "notice", "max": 5, "severity": "urgent"},
        {"id": "c", "type": "teleport", "severity": "low"},
    ]}
    with pytest.raises(PlaybookError) as info:
        parse_playbook(bad, "team.yaml")
    msg = str(info.value)
    assert "team.yaml is not a valid playbook" in msg
    assert "did you mean 'Cap on Liability'" in msg
    assert "unknown term 'notice'" in msg and "severity" in msg and "teleport" in msg


def test_duplicate_ids_and_bad_yaml(tmp_path):
    with pytest.raises(PlaybookError, match="repeated: a"):
        parse_playbook({"name": "x", "rules": [{"id": "a", "type": "clause_required", "clause": "Audit Rights", "severity": "low"}] * 2})
    bad = tmp_path / "p.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(PlaybookError, match="not valid YAML"):
        load_playbook(bad)
    with pytest.raises(PlaybookError, match="playbook not found"):
        load_playbook(tmp_path / "missing.yaml")


def test_default_playbook_is_valid():
    assert len(load_playbook().rules) >= 10
