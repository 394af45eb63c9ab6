import pytest

from review.segment import KINDS, Segment, segment

pytestmark = pytest.mark.unit

CONTRACT = """Exhibit 10.1

DISTRIBUTION AGREEMENT

THIS DISTRIBUTION AGREEMENT (the "Agreement") is made on the 16t h day of May, 2017, by and between Acme Widgets, Inc., a Delaware corporation ("Acme"), and Beta Co. Ltd. ("Beta").

1. Term. This Agreement shall commence on June 1, 2017 and continue for five (5) years. It renews automatically for successive one-year terms unless either party gives 90 days' notice.

2. Assignment. Neither party may assign this Agreement without consent; provided, however, that (a) Acme may assign to an affiliate, and (b) Beta may assign upon a merger.

Section 3.1 Governing Law. This Agreement is governed by the laws of the State of New York, U.S.A. without regard to conflicts principles.
"""


def test_offsets_map_back_exactly():
    segs = segment(CONTRACT)
    assert segs
    for s in segs:
        assert isinstance(s, Segment)
        assert s.text == CONTRACT[s.char_start:s.char_end]
        assert s.text == s.text.strip() and s.text
        assert s.kind in KINDS


def test_spans_are_unique_and_sorted():
    segs = segment(CONTRACT)
    spans = [(s.char_start, s.char_end) for s in segs]
    assert len(spans) == len(set(spans))
    assert spans == sorted(spans)


def test_granularities():
    texts = {s.text for s in segment(CONTRACT)}
    # sentence, not split at "Inc." / "Co." / "U.S.A." / section numbers
    assert "This Agreement shall commence on June 1, 2017 and continue for five (5) years." in texts
    assert any(t.startswith("This Agreement is governed by the laws of the State of New York, U.S.A.") for t in texts) or \
        any("governed by the laws of the State of New York, U.S.A. without" in t for t in texts)
    # two consecutive sentences merged
    assert any("five (5) years. It renews automatically" in t for t in texts)
    # list items / semicolon pieces
    assert "Acme may assign to an affiliate, and" in texts or "(a) Acme may assign to an affiliate, and" in texts
    # dates (including OCR-split ordinals) and the title
    assert "June 1, 2017" in texts
    assert any(t.endswith("day of May, 2017") for t in texts)
    assert "DISTRIBUTION AGREEMENT" in texts


@pytest.mark.parametrize("text", ["", "   \n\n ", "no punctuation at all", "a.b.c. d", "(a) (b) ; ; :", "\u00e9t\u00e9 \u2014 \u201cquoted\u201d. Next one."])
def test_edge_cases_keep_offsets(text):
    for s in segment(text):
        assert text[s.char_start:s.char_end] == s.text


def test_crlf_and_tabs():
    text = "TITLE AGREEMENT\r\n\r\nFirst sentence here.\tSecond sentence here.\r\n"
    segs = segment(text)
    assert all(text[s.char_start:s.char_end] == s.text for s in segs)
    assert any(s.text == "First sentence here." for s in segs)
