"""Evidence sentences keep exact document offsets and sensible boundaries."""
import pytest

from core.types import SearchHit
from generation.evidence import sentences_of

pytestmark = pytest.mark.unit


def _hit(text, offset=100):
    return SearchHit(1, "d", 1, 1, 1, offset, offset + len(text), 0.0, text)


def test_pdf_line_breaks_do_not_end_sentences_and_offsets_are_exact():
    text = "3.3 Either party may terminate upon sixty (60) days prior\nwritten notice. 3.4 Breach ends it.\n\nNext page starts."
    doc = " " * 100 + text
    sents = sentences_of(_hit(text))
    assert [s[2] for s in sents] == [
        "3.3 Either party may terminate upon sixty (60) days prior\nwritten notice.", "3.4 Breach ends it.", "Next page starts."]
    for start, end, sentence in sents:
        assert doc[start:end] == sentence


def test_markdown_headings_are_separate():
    sents = [s[2] for s in sentences_of(_hit("## Getting started\nInsert two AA batteries into the back."))]
    assert sents == ["## Getting started", "Insert two AA batteries into the back."]
