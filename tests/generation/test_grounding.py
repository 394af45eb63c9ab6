"""The grounding invariant: an answer is abstained, or every claim in it carries a citation
the check verified; no answer starts with a marker or is a list of "[n] fragment" lines.

The generator is scripted (it returns the drafts a small model is seen to write); the
store, embedder, indexes and the check are the real ones, over a generated PDF.
"""
import random
import re

import pytest
from docgen import make_pdf

from generation.answer import Answer
from generation.base import Completion, Usage
from generation.citations import cited_numbers, content_words, split_sentences, strip_citations, support

pytestmark = pytest.mark.slow

PAGES = [
    "Master Services Agreement between Northwind Ltd and Contoso Inc.\nThis agreement starts on 1 March 2025.",
    "Fees.\nInvoices are payable within thirty days of receipt.\nLate payments bear interest of 1.5 percent per month.",
    "Termination.\nEither party may terminate this agreement with ninety days written notice.\n"
    "The governing law of this agreement is the law of the State of California.",
]
UNRELATED = ["Bananas are a popular yellow fruit.", "The moon orbits the earth every month.",
             "Penguins cannot fly but swim well.", "Here is the answer:", "I hope this helps."]


class ScriptedGenerator:
    """A Generator that answers with the next scripted draft, as generate() and as a stream."""

    model_id = "scripted"

    def __init__(self):
        self.drafts: list[str] = []

    def generate(self, messages, max_tokens=256, temperature=0.0, stop=None):
        text = self.drafts.pop(0)
        return Completion(text, self.model_id, Usage(10, 5), "stop", {"total": 0.01})

    def stream(self, messages, max_tokens=256, temperature=0.0, stop=None, cancel=None):
        text = self.drafts.pop(0)
        yield from re.findall(r"\S+\s*|\s+", text)
        yield Completion(text, self.model_id, Usage(10, 5), "stop", {"total": 0.01, "first_token": 0.001})


@pytest.fixture(scope="module")
def rt(tmp_path_factory):
    from core.settings import Settings
    from workers.runtime import Runtime

    root = tmp_path_factory.mktemp("grounding")
    runtime = Runtime.create(Settings(data_dir=root / "var", _env_file=None))
    (root / "msa.pdf").write_bytes(make_pdf(PAGES))
    (root / "faq.md").write_text("# FAQ\n\nThe remote control needs two AA batteries.")
    assert {r.status for r in runtime.ingest([root / "msa.pdf", root / "faq.md"], "legal")} == {"indexed"}
    runtime.generator = ScriptedGenerator()  # replaces the cached property: no model is loaded
    yield runtime
    runtime.store.engine.dispose()


def ask(rt, draft: str, question: str = "Which law governs the agreement and how can it be terminated?", stream=False) -> Answer:
    rt.generator.drafts.append(draft)
    if stream:
        items = list(rt.ask_stream(question, "legal"))
        assert all(isinstance(i, str) for i in items[:-1]) and isinstance(items[-1], Answer)
        # What a client shows (the pieces joined) is exactly the checked answer.
        assert "".join(items[:-1]) == items[-1].display_text(), items
        return items[-1]
    return rt.ask(question, "legal")


def assert_grounded(rt, answer: Answer):
    if answer.abstained:
        assert answer.abstain_reason and answer.citations == [] and answer.excerpt is None
        return
    assert answer.citations, answer
    assert not re.match(r"\s*\[\d", answer.answer), answer.answer
    assert not any(re.match(r"\s*\[\d", line) for line in answer.answer.splitlines()), answer.answer
    sources = {c.source: c for c in answer.all_citations()}
    for sentence in split_sentences(answer.answer):
        if not content_words(strip_citations(sentence)):
            continue
        numbers = cited_numbers(sentence)
        assert numbers, f"uncited claim {sentence!r} in {answer.answer!r}"
        assert not re.match(r"\s*\[\d", sentence)  # the markers follow the claim
        assert any(n in sources and support(sentence, sources[n].quote) >= rt.settings.citation_min_support
                   for n in numbers), (sentence, {n: sources[n].quote for n in numbers if n in sources})
    for c in answer.all_citations():
        doc = rt.store.get_document(c.document_id)
        start, end = doc.page_span(c.page)
        assert c.quote and doc.text[c.char_start:c.char_end] == c.quote and start <= c.char_start <= c.char_end <= end


def evidence_texts(rt, question) -> list[str]:
    coll = rt.store.collection(rt.settings.default_tenant, "legal")
    _, _, evidence, _ = rt.answer_service.prepare(rt.index(coll.id), question)
    return [ev.text for ev in evidence]


def test_an_unsupported_draft_is_never_returned_uncited(rt):
    answer = ask(rt, "Bananas are a popular yellow fruit. The moon orbits the earth [2].")
    assert_grounded(rt, answer)
    assert not answer.abstained and answer.extractive and answer.unsupported_sentences == 2
    assert "Bananas" not in answer.answer and "moon" not in answer.answer
    assert answer.draft.startswith("Bananas")


def test_unsupported_sentences_are_dropped_and_supported_ones_kept(rt):
    q = "Which law governs the agreement and how can it be terminated?"
    ev = evidence_texts(rt, q)
    law = next(i for i, t in enumerate(ev, 1) if "California" in t)
    answer = ask(rt, f"[{law}] The law of the State of California governs the agreement. Bananas are yellow [{law}].", q)
    assert_grounded(rt, answer)
    assert answer.answer.startswith("The law of the State of California governs the agreement") and "Bananas" not in answer.answer
    assert answer.unsupported_sentences == 1 and not answer.extractive


def test_a_list_of_markers_becomes_cited_claims(rt):
    """The 0.5B model often echoes its numbered evidence: "[1] California\\n[2] ..."."""
    q = "Which state's law governs this agreement?"
    n = len(evidence_texts(rt, q))
    draft = "\n".join(f"[{i}] California" for i in range(1, n + 1))
    answer = ask(rt, draft, q)
    assert_grounded(rt, answer)
    assert answer.answer.count("California") == 1  # the echoed claim once, with its markers


def test_decimals_and_abbreviations_are_not_cut_into_claims(rt):
    """"1.5 percent" must not become "1 [n]. 5 percent [n]." (a wrong rate, validly cited)."""
    q = "What interest do late payments bear?"
    ev = evidence_texts(rt, q)
    late = next(i for i, t in enumerate(ev, 1) if "interest" in t)
    answer = ask(rt, f"Late payments bear interest of 1.5 percent per month [{late}]. Acme, Inc. and Globex agree.", q)
    assert_grounded(rt, answer)
    assert answer.answer == f"Late payments bear interest of 1.5 percent per month [{late}]." and not answer.extractive


def test_stream_final_event_is_the_checked_form(rt):
    answer = ask(rt, "[1] Bananas are yellow.\n[2] Penguins swim.", stream=True)
    assert_grounded(rt, answer)
    assert answer.extractive and "Bananas" not in answer.answer


def test_abstain_instead_of_extractive_when_configured(rt):
    rt.settings.answer_unverified = "abstain"
    try:
        answer = ask(rt, "Bananas are a popular yellow fruit.")
    finally:
        rt.settings.answer_unverified = "extractive"
    assert answer.abstained and answer.abstain_reason.startswith("check:") and answer.draft


def test_invariant_holds_over_many_generated_drafts(rt):
    """Drafts mixing copied evidence, paraphrase fragments, unrelated sentences, markers
    before, after or inside sentences, right and wrong numbers, newlines and echoes."""
    questions = ["Which law governs the agreement?", "How much notice is needed to terminate?",
                 "When are invoices payable?", "What interest do late payments bear?"]
    rng = random.Random(7)
    for case in range(120):
        q = rng.choice(questions)
        ev = evidence_texts(rt, q)
        parts = []
        for _ in range(rng.randint(1, 5)):
            kind = rng.random()
            if kind < 0.4:
                text = rng.choice(ev)
            elif kind < 0.6:
                words = rng.choice(ev).split()
                text = " ".join(words[: rng.randint(1, len(words))])
            else:
                text = rng.choice(UNRELATED)
            marker = f"[{rng.randint(0, len(ev) + 1)}]" if rng.random() < 0.8 else ""
            where = rng.random()
            text = f"{marker} {text}" if where < 0.4 else f"{text} {marker}" if where < 0.8 else text
            parts.append(text.strip())
        draft = rng.choice(["\n", " ", "\n\n"]).join(parts)
        answer = ask(rt, draft, q)
        assert_grounded(rt, answer)
        # Checked sentence by sentence as it streams, the same draft gives the same answer.
        streamed = ask(rt, draft, q, stream=True)
        assert (streamed.display_text(), streamed.abstained) == (answer.display_text(), answer.abstained), draft
