"""Key terms from contracts written for the test."""
import pytest

from review.dates import find_dates, find_durations
from review.terms import extract_terms

pytestmark = pytest.mark.unit

CONTRACT = """SUPPLY AGREEMENT

Source: ACME CORP, 10-K, 3/15/2021

This Supply Agreement (the "Agreement") is made and entered into as of the 3rd day of March, 2020 by and between
Acme Widgets, Inc., a Delaware corporation ("Supplier"), and Globex Holdings LLC, a Texas limited liability company ("Buyer").

1. TERM. This Agreement shall commence on the Effective Date and continue for an initial term of three (3) years.
Thereafter it shall automatically renew for successive one (1) year periods unless either party gives written notice of
non-renewal at least sixty (60) days prior to the end of the then-current term.

2. LIABILITY. In no event shall either party's aggregate liability under this Agreement exceed $500,000.

3. GOVERNING LAW. This Agreement shall be governed by and construed in accordance with the laws of the State of
Texas, without regard to conflicts of law principles.
"""


def test_every_key_term_with_its_span():
    terms = extract_terms(CONTRACT)
    assert terms["agreement_date"].value == "2020-03-03"  # not the filing date on the Source line
    assert terms["effective_date"].value == "2020-03-03"
    assert terms["expiration_date"].value == "2023-03-03"
    assert terms["renewal_term"].value == 365
    assert terms["notice_period_to_terminate_renewal"].value == 60
    assert terms["governing_law"].value == "Texas"
    assert terms["liability_cap"].value["amount"] == "$500,000"
    assert terms["parties"].value[:2] == ["Acme Widgets, Inc.", "Globex Holdings LLC"]
    for term in terms.values():
        assert CONTRACT[term.char_start:term.char_end] == term.text


def test_absent_terms_are_none():
    terms = extract_terms("This letter confirms our meeting. Thank you.")
    assert terms["governing_law"] is None and terms["renewal_term"] is None and terms["liability_cap"] is None


@pytest.mark.parametrize(
    "text,iso",
    [("March 3, 2020", "2020-03-03"), ("3 March 2020", "2020-03-03"), ("the 1 st day of May 2006", "2006-05-01"),
     ("12/31/2020", "2020-12-31"), ("2021-07-04", "2021-07-04"), ("Sept. 9, 1999", "1999-09-09")],
)
def test_dates(text, iso):
    assert find_dates(text)[0].iso == iso


def test_invalid_dates_are_ignored():
    assert find_dates("February 30, 2021 and 13/45/2020") == []


@pytest.mark.parametrize(
    "text,days", [("sixty (60) days", 60), ("one (1) year", 365), ("12 months", 365), ("90 calendar days", 90), ("two weeks", 14)]
)
def test_durations(text, days):
    assert find_durations(text)[0].days == days
