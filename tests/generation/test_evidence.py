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


def test_evidence_window_extends_to_the_following_steps():
    import numpy as np

    from generation.evidence import select_evidence

    text = ("To pair the remote, open Settings. Select Connection. Hold Return and Play for 3 seconds. "
            "The TV shows Paired. Batteries last one year.")
    doc = " " * 100 + text
    hit = _hit(text)
    sents = [s[2] for s in sentences_of(hit)]

    def embed(texts):  # the question matches the first sentence only
        return np.asarray([[1.0, 0.0] if t.startswith("To pair") else [0.0, 1.0] for t in texts], dtype=np.float32)

    q = np.asarray([1.0, 0.0], dtype=np.float32)
    one = select_evidence(q, [hit], embed, n=1)
    assert one[0].text == sents[0]
    passage = select_evidence(q, [hit], embed, n=2, window=2)
    assert passage[0].text == " ".join(sents[:3])
    assert doc[passage[0].char_start:passage[0].char_end] == passage[0].text
    # the second passage starts after the first one's sentences, never inside them
    assert passage[1].char_start >= passage[0].char_end


def test_evidence_passages_never_overlap():
    import numpy as np

    from generation.evidence import select_evidence

    text = "Alpha step one here. Bravo step two here. Charlie step three. Delta step four."
    hit = _hit(text)
    rank = {"Bravo": 1.0, "Alpha": 0.9, "Charlie": 0.1, "Delta": 0.0}

    def embed(texts):
        return np.asarray([[rank[t.split()[0]], 1.0] for t in texts], dtype=np.float32)

    out = select_evidence(np.asarray([1.0, 0.0], dtype=np.float32), [hit], embed, n=3, window=1)
    spans = sorted((e.char_start, e.char_end) for e in out)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert out[0].text == "Bravo step two here. Charlie step three."
    assert out[1].text == "Alpha step one here."  # stops before Bravo, already quoted


def test_excerpt_takes_the_following_sentences_of_the_chunk():
    from generation.evidence import Evidence, excerpt

    text = "Open the Settings menu. Select Sound Output. Choose the soundbar. Press the OK button. It is done now."
    doc = " " * 100 + text
    hit = _hit(text)
    first = sentences_of(hit)[1]  # "Select Sound Output."
    ev = Evidence(hit, first[0], first[1], first[2], 0.9)
    two = excerpt(ev, 2)
    assert two.text == "Select Sound Output. Choose the soundbar. Press the OK button."
    assert doc[two.char_start:two.char_end] == two.text
    assert excerpt(ev, 10).text.endswith("It is done now.")  # never past the chunk
    assert excerpt(ev, 0) is ev


def test_excerpt_stops_at_the_next_heading():
    from generation.evidence import Evidence, excerpt

    text = "Insert two AA batteries into the back.\nThe light blinks three times.\n\n## Pairing the remote\nHold Back and Home."
    hit = _hit(text)
    first = sentences_of(hit)[0]
    passage = excerpt(Evidence(hit, first[0], first[1], first[2], 0.9), 4)
    assert passage.text == "Insert two AA batteries into the back.\nThe light blinks three times."
