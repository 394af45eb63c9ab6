"""Key terms from contracts written for the test."""
import pytest

from review.dates import add_business_days, add_months, add_years, find_dates, find_durations
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
    "text,days", [("sixty (60) days", 60), ("one (1) year", 365), ("12 months", 365), ("90 calendar days", 90), ("two weeks", 14),
                  ("thirty (30) calendar\nday", 30), ("ten business\n  days", 10)]
)
def test_durations(text, days):
    assert find_durations(text)[0].days == days


def test_a_duration_keeps_its_number_and_unit():
    [d] = find_durations("within ten (10) business days of receipt")
    assert (d.value, d.unit, d.days) == (10, "business day", 10)
    assert [(x.value, x.unit) for x in find_durations("two weeks, 18 months and one (1) year")] == [
        (2, "week"), (18, "month"), (1, "year")]


@pytest.mark.parametrize("start, months, end", [
    ("2025-01-31", 1, "2025-02-28"), ("2024-01-31", 1, "2024-02-29"),  # the month's last day, leap year or not
    ("2023-12-15", 2, "2024-02-15"), ("2024-08-31", 18, "2026-02-28"), ("2025-03-31", 1, "2025-04-30"),
])
def test_calendar_months(start, months, end):
    assert add_months(start, months) == end


@pytest.mark.parametrize("start, years, end", [
    ("2024-02-29", 1, "2025-02-28"), ("2024-02-29", 4, "2028-02-29"), ("2020-03-01", 1, "2021-03-01"),
    ("1900-02-28", 1, "1901-02-28"),
])
def test_anniversaries(start, years, end):
    assert add_years(start, years) == end


@pytest.mark.parametrize("start, n, end", [
    ("2025-01-03", 10, "2025-01-17"),  # Friday: two weekends crossed, a Friday again
    ("2025-01-02", 2, "2025-01-06"),  # Thursday: Friday, then Monday
    ("2025-01-04", 1, "2025-01-06"),  # Saturday: the first business day after it is Monday
    ("2025-01-05", 5, "2025-01-10"),  # Sunday: Monday to Friday
])
def test_business_days_skip_weekends(start, n, end):
    assert add_business_days(start, n) == end


@pytest.mark.parametrize("length, expected", [
    ("one hundred eighty (180) business days", "2025-09-12"),  # 36 weeks of business days, not six months
    ("eighteen (18) months", "2026-07-03"),
    ("two (2) years", "2027-01-03"),
])
def test_expiration_counts_the_term_in_its_unit(length, expected):
    text = ('This Agreement is made effective as of January 3, 2025 (the "Effective Date") between A Corp. ("A") and '
            f"B LLC (\"B\").\n\nThe term of this Agreement shall commence on the Effective Date and continue for {length}.")
    assert extract_terms(text)["expiration_date"].value == expected


def test_expiration_from_a_leap_day():
    text = ('This Agreement is made effective as of February 29, 2024 (the "Effective Date") between A Corp. ("A") and '
            'B LLC ("B").\n\nThe term of this Agreement shall commence on the Effective Date and continue for twelve (12) months.')
    assert extract_terms(text)["expiration_date"].value == "2025-02-28"


# -- agreement date: one test per rule, on snippets written for the test -------------------------
from review.terms import agreement_date  # noqa: E402


@pytest.mark.parametrize(
    "text,iso",
    [("the first day of July, 2017", "2017-07-01"), ("this twenty-first day of May 2006", "2006-05-21"),
     ("June 9 , 2011", "2011-06-09"), ("May 3,2006", "2006-05-03"), ("3-31-2016", "2016-03-31"),
     ("13/07/2005", "2005-07-13")],
)
def test_more_date_spellings(text, iso):
    assert find_dates(text)[0].iso == iso


def test_two_digit_years_only_when_asked():
    assert find_dates("Date: 3/21/08") == []
    assert [d.iso for d in find_dates("Date: 3/21/08  14/02/11", short_years=True)] == ["2008-03-21", "2011-02-14"]


def _ad(text):
    t = agreement_date(text)
    return t.value if t else None


def test_amendment_date_not_the_amended_agreements():
    text = ('AMENDMENT NO. 1 TO LICENSE AGREEMENT\n\nThis Amendment No. 1 (this "Amendment") to the Patent License '
            'Agreement dated as of June 2, 2015 (the "License") is entered into as of October 9, 2017 by and between '
            'Northwind Labs Inc. and Tailspin Toys LLC.')
    assert _ad(text) == "2017-10-09"


def test_referenced_documents_and_recitals_do_not_date_the_agreement():
    text = ('SERVICES AGREEMENT\n\nThis Services Agreement is made by and between Fabrikam Inc. ("Client") and '
            'Contoso LLC ("Vendor").\n\nWHEREAS, the parties entered into a Mutual Nondisclosure Agreement dated '
            'January 4, 2019; and WHEREAS, Client holds deposits as of March 31, 2019.\n\n1. Services. Vendor '
            'shall perform the services in that certain Statement of Work executed by the parties on May 1, 2019.')
    assert _ad(text) is None


def test_made_beats_effective():
    text = ('This Supply Agreement shall be effective as of May 1, 2021 (the "Commencement Date") and is made and '
            'entered into this 12th day of February, 2021 between Woodgrove Bank and Litware Inc.')
    assert _ad(text) == "2021-02-12"


def test_effective_cue_when_nothing_says_made():
    text = 'This Reseller Agreement is entered into effective January 1, 2010 by and between Adatum Corp. and Proseware Inc.'
    assert _ad(text) == "2010-01-01"
    assert _ad('ENDORSEMENT\n\nPolicy Number: 12345\nEffective Date: July 1, 2019\n\nThe policy is amended as follows.') == "2019-07-01"


def test_dated_for_reference():
    assert _ad("THIS AGREEMENT dated for reference the 5th day of December 2008.\n\nBETWEEN: Alpine Ski House Ltd.") == "2008-12-05"


def test_date_under_the_title():
    text = ("CONSULTING AGREEMENT\n\nAugust 14, 2018\n\nDear Ms. Kim:\n\nWe are pleased to offer you this consulting "
            "engagement. Your fees are based on our rate card as of June 30, 2018.")
    assert _ad(text) == "2018-08-14"
    assert _ad("PLACEMENT AGENCY AGREEMENT May 21, 2015 Blue Yonder Airlines Inc. Attention: the Board") == "2015-05-21"


def test_latest_signature_date_when_the_preamble_has_none():
    text = ("This Hosting Agreement is between Tailwind Traders Inc. and Wide World Importers Ltd.\n\n"
            "1. Fees. Invoices are due within thirty days.\n\n"
            "IN WITNESS WHEREOF, the parties have signed this Agreement.\n\n"
            "By: /s/ A. Jones          By: /s/ B. Smith\nDate: 3/18/08             Date: 3/21/08\n")
    assert _ad(text) == "2008-03-21"
    signed = "The parties agree as above.\n\nTHUS DONE AND SIGNED at Cape Town on this 31st day of March 2001."
    assert _ad(signed) == "2001-03-31"
    evidence = "In evidence whereof, the undersigned have caused this Agreement to be executed this 7th day of April, 2020."
    assert _ad(evidence) == "2020-04-07"


def test_a_statute_number_is_not_a_signature_date():
    text = ("This Franchise Agreement is between Lucerne Publishing and Margie's Travel.\n\n"
            "IN WITNESS WHEREOF the parties sign below.\n\nAddendum: see Section 9-08-06 of the state code.")
    assert _ad(text) is None


@pytest.mark.parametrize(
    "preamble,value",
    [("is made as of [___], 2020 by and between", "2020"),
     ("is effective as of the [·] day of [·], 2019 between", "2019"),
     ("is entered into as of September ___, 2019 by", "2019-09"),
     ("is made as of this _____ day of ______________ 2013 by", "2013"),
     ("is effective as of , 2020 (the blank lost) by", "2020")],
)
def test_template_dates_with_blanks(preamble, value):
    text = f'FORM OF LICENSE AGREEMENT\n\nThis License Agreement (the "Agreement") {preamble} Relecloud Inc. and VanArsdel Ltd.'
    assert _ad(text) == value


def test_blank_date_completed_by_a_date_that_agrees():
    text = ('This Endorsement Agreement is dated as of this ____ day of ________, 2012, but made effective as of '
            'February 20, 2012 between Contoso Health LLC and a celebrity.')
    assert _ad(text) == "2012-02-20"
    signed = ("This Services Agreement is made as of ____________, 2016 by Fourth Coffee Inc. and Graphic Design "
              "Institute.\n\nIN WITNESS WHEREOF the parties have executed this Agreement.\nDate: November 3, 2016")
    assert _ad(signed) == "2016-11-03"


def test_blank_date_under_the_title():
    assert _ad("AGENCY AGREEMENT\n\nNovember ___, 2006\n\nLadies and Gentlemen:\n\nThe Company proposes to sell shares.") == "2006-11"
    assert _ad("AGENCY AGREEMENT   , 2009\n\nLadies and Gentlemen:\n\nThe Company proposes to sell shares.") == "2009"


def test_parties_named_before_their_defined_names():
    text = ("CONSULTING AGREEMENT\n\nThis Consulting Agreement (the \"Agreement\") is entered into by and between "
            "Northwind Savings and Loan Association, a federal savings association with offices at 12 Main Street "
            "(the \"Bank\"), Tailspin Toys Limited of 4 High Street, London (\"Tailspin\"), and Jane Q. Doe, "
            "an individual (\"Consultant\").\n\nWHEREAS, the Bank wishes to engage the Consultant.")
    term = extract_terms(text)["parties"]
    assert term.value == ["Northwind Savings and Loan Association", "Tailspin Toys Limited", "Jane Q. Doe"]
    assert term.extra["aliases"] == ["Bank", "Tailspin", "Consultant"]
    for (s, e), name in zip(term.extra["spans"], term.value):
        assert text[s:e] == name


@pytest.mark.parametrize("clause, expected", [
    ("The term of this Agreement shall commence on the Effective Date and continue for twenty-four (24) months.", "2021-06-01"),
    ("This Agreement shall remain in effect until December 31, 2022, unless terminated earlier.", "2022-12-31"),
    ("This Agreement shall continue in full force and effect until terminated by either party.", "perpetual"),
    # a restriction that outlives the term is not the term
    ("Supplier shall not compete during the term of this Agreement and for a period of two (2) years thereafter.", None),
])
def test_expiration_date_reads_the_term_sentence(clause, expected):
    text = f'This Agreement is made effective as of June 1, 2019 (the "Effective Date") between A Corp. ("A") and B LLC ("B").\n\n{clause}'
    term = extract_terms(text)["expiration_date"]
    assert (term.value if term else None) == expected


@pytest.mark.parametrize("text, expected", [
    ("MARKETING AGREEMENT\n\nTHIS AGREEMENT made in duplicate this 20th day of November, 1995.\nB E T W E E N: A Corp. and B Ltd.", "1995-11-20"),
    ("OUTSOURCING AGREEMENT\n\nThis Outsourcing Agreement is effective as from the 1st day of January, 2009, by and between A S.A. and B S.L.", "2009-01-01"),
    ("Exhibit 10.33\n\nLast Updated: April 6, 2007\n\nAFFILIATE AGREEMENT\n\nThese terms govern your participation.", "2007-04-06"),
    ("CHANNEL AGREEMENT\n\nParty A and Party B agree as follows.\n\n14.6 This Agreement is dated April 29, 2010.", "2010-04-29"),
    ("COOPERATION AGREEMENT\n\nParty A and Party B agree.\n\nParty A: Fenyi County (seal) Rao Cheng (signature) June 25, 2014", "2014-06-25"),
    # a cover page and a table of contents push the preamble past the first pages
    ("COLLABORATION AGREEMENT\n\n" + "ARTICLE 1 Definitions 1\n" * 300 + '\nThis COLLABORATION AGREEMENT ("Agreement"), effective as of June 1, 2005, is made by and between A Inc. and B Ltd.', "2005-06-01"),
])
def test_agreement_date_other_drafting_patterns(text, expected):
    term = extract_terms(text)["agreement_date"]
    assert term is not None and term.value == expected
    assert text[term.char_start:term.char_end] == term.text


def test_late_preamble_date_is_not_a_later_clause():
    text = ("COVER PAGE\n\n" + "Table of contents line.\n" * 250 + "This Agreement is made and entered into as of ________ "
            "by and between A Corp. and B LLC.\n\n1. TERM. Either party may terminate this Agreement effective as of "
            "December 31, 2012 on notice.")
    term = extract_terms(text)["agreement_date"]
    assert term is None or term.value != "2012-12-31"


def test_absurd_term_length_is_ignored_not_a_crash():
    text = "This Agreement is made as of January 1, 2020 between A Inc. and B LLC.\n\nThe term of this Agreement shall be 9000 years."
    assert extract_terms(text)["expiration_date"] is None
