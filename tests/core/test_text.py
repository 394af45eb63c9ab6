"""The shared sentence splitter: offsets, and the documented differences between its presets."""
import pytest

from core.text import ANSWER, CHUNK, CLAUSE, NUMBER_WORDS, PROSE

pytestmark = pytest.mark.unit

TEXT = "  Fees are due. (See Schedule 2.) The rate is 1.5 percent.\nLate fees\napply. \n\n Notice: 30 days.  "


@pytest.mark.parametrize("splitter", [CHUNK, ANSWER, PROSE, CLAUSE])
def test_spans_are_exact_stripped_and_cover_every_word(splitter):
    spans = splitter.spans(TEXT)
    assert spans and all(TEXT[s:e] == TEXT[s:e].strip() != "" for s, e in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert " ".join(TEXT[s:e] for s, e in spans).split() == TEXT.split()
    assert splitter.sentences(TEXT) == [TEXT[s:e] for s, e in spans]


def test_the_presets_differ_where_documented():
    # a line break: a boundary in a chunk and an answer, a PDF wrap in prose
    assert CHUNK.sentences("Late fees\napply.") == ["Late fees", "apply."] == ANSWER.sentences("Late fees\napply.")
    assert PROSE.sentences("Late fees\napply.") == ["Late fees\napply."]
    assert PROSE.sentences("First page ends\n\nSecond page") == ["First page ends", "Second page"]
    # an opening bracket alone opens a sentence in an answer and in prose, not in a chunk
    assert CHUNK.sentences("Fees are due. (see below)") == ["Fees are due. (see below)"]
    assert ANSWER.sentences("Fees are due. (see below)") == ["Fees are due.", "(see below)"]
    # an answer's sentences end at spaces, not across a line break that the marker leads
    assert ANSWER.sentences("It renews.\n[2] Next.") == ["It renews.", "[2] Next."]
    # numbers never open a clause's sentence: "Section 6.1" numbering stays inside
    text = "The term ends. 6.1 Renewal follows."
    assert CHUNK.sentences(text) == ["The term ends.", "6.1 Renewal follows."]
    assert CLAUSE.around(text, text.index("6.1"), text.index("6.1") + 3) == (0, len(text))


def test_the_sentence_around_a_span():
    text = "Preamble here. This Agreement is governed by the laws of Texas. Next clause.\nlower line"
    s, e = CLAUSE.around(text, text.index("Texas"), text.index("Texas") + 5)
    assert text[s:e] == "This Agreement is governed by the laws of Texas."
    s, e = CLAUSE.around(text, text.index("clause"), text.index("clause") + 6)
    assert text[s:e] == "Next clause."  # . then a line break ends it, whatever follows
    s, e = CLAUSE.around(text, text.index("Texas"), text.index("Texas") + 5, limit=10)
    assert e - s <= 5 + 2 * 10


def test_a_span_that_begins_a_sentence_does_not_pull_in_the_one_before():
    # the boundary's look-ahead needs the text at the span's start: it used to stop there
    text = "Preamble here. This Agreement is governed by the laws of Texas. Next clause."
    s, e = CLAUSE.around(text, text.index("This"), text.index("Texas") + 5)
    assert text[s:e] == "This Agreement is governed by the laws of Texas."
    text = "12.3. Governing Law. This Agreement is governed by the laws of Texas."
    s, e = CLAUSE.around(text, text.index("Governing"), text.index("Texas") + 5)
    assert text[s:e] == "Governing Law. This Agreement is governed by the laws of Texas."
    text = "Fees are due. Late."
    assert CLAUSE.around(text, text.index("Late"), text.index("Late")) == (text.index("Late"), len(text))
    # a two-character opener: a bracket, then a capital
    text = "Fees are due. (See Schedule 2.) The rate is 1.5 percent."
    s, e = CHUNK.around(text, text.index("("), text.index("2.)"))
    assert text[s:e] == "(See Schedule 2.) The rate is 1.5 percent."


def test_the_sentence_around_a_span_at_its_edges():
    # a span that starts in the gap, or inside a run of blank lines
    text = "Fees are due.   Late fees apply."
    assert CLAUSE.around(text, text.index("Late") - 2, text.index("Late") + 4) == (text.index("Late"), len(text))
    text = "First para\n\n\nSecond para here"
    assert CLAUSE.around(text, text.index("\n") + 1, text.index("Second") + 6) == (text.index("Second"), len(text))
    # `$` in the look-ahead matches where a search ends: ". " then no gap is still no boundary,
    # as in spans()
    text = "See Article 3.Governing Law applies. Next."
    s, e = CLAUSE.around(text, text.index("Governing"), text.index("Law"))
    assert text[s:e] == "See Article 3.Governing Law applies." == CLAUSE.sentences(text)[0]
    # the text's two ends, and a sentence longer than the limit
    text = "Fees are due. Late."
    assert CLAUSE.around(text, 0, 0) == (0, len("Fees are due.")) and CLAUSE.around(text, len(text), len(text)) == (len(text), len(text))
    text = "Fees are due. " + "x" * 50 + " Late fees apply."
    s, e = CLAUSE.around(text, text.index("Late"), text.index("Late") + 4, limit=20)
    assert s == text.index("Late") - 20


def test_number_words():
    assert NUMBER_WORDS["zero"] == 0 and NUMBER_WORDS["fourteen"] == 14 and NUMBER_WORDS["ninety"] == 90
    from review.dates import find_durations

    # the shared table reads every word up to twenty, not only the common periods
    assert [d.days for d in find_durations("within fourteen (14) days, then thirteen weeks")] == [14, 91]
