"""Key-term questions about one contract are answered from the extracted term, cited."""
import pytest
from docgen import make_pdf

from core.types import SearchFilters
from review.qa import term_intent

CONTRACT_PAGES = [
    "SERVICES AGREEMENT\nThis Services Agreement is made as of March 3, 2020 between Acme Widgets, Inc. (\"Supplier\")\nand Globex Holdings LLC (\"Customer\").",
    "1. Term. This Agreement continues for an initial term of two (2) years and renews automatically for\nsuccessive one (1) year terms unless a party gives written notice of non-renewal at least sixty (60) days\nbefore the end of the term.",
    "9. Governing Law. This Agreement is governed by the laws of the State of Delaware.",
]


@pytest.mark.unit
@pytest.mark.parametrize(
    "question,intent",
    [("Which law governs this agreement?", "governing_law"), ("What is the date of this agreement?", "agreement_date"),
     ("When does the agreement expire?", "expiration_date"), ("How long is each renewal term?", "renewal_term"),
     ("How much notice is needed to stop the renewal?", "notice_period_to_terminate_renewal"),
     ("Who are the parties?", "parties"), ("How do I pair the remote?", None)],
)
def test_intents(question, intent):
    assert term_intent(question) == intent


@pytest.mark.slow
def test_term_answers_cite_their_page(llm_settings, tmp_path):
    from workers.runtime import Runtime

    rt = Runtime.create(llm_settings)
    (tmp_path / "msa.pdf").write_bytes(make_pdf(CONTRACT_PAGES))
    [res] = rt.ingest([tmp_path / "msa.pdf"], "c")
    only = SearchFilters(document_ids=[res.document_id])
    law = rt.ask("Which law governs this agreement?", "c", filters=only)
    assert "Delaware" in law.answer and law.citations[0].page == 3
    notice = rt.ask("How much notice is required to terminate renewal?", "c", filters=only)
    assert "60 days" in notice.answer and notice.citations[0].page == 2
    doc = rt.store.get_document(res.document_id)
    for a in (law, notice):
        c = a.citations[0]
        s, e = doc.page_span(c.page)
        assert doc.text[c.char_start:c.char_end] == c.quote and s <= c.char_start < c.char_end <= e
    cap = rt.ask("What is the cap on liability?", "c", filters=only)
    assert cap.abstained and "does not state" in cap.answer


@pytest.mark.slow
def test_a_collection_of_one_contract_is_answered_from_its_terms(llm_settings, tmp_path):
    """No --document-id needed when the collection holds one contract; a collection of one
    manual still goes to the generator (its "expire" is not a contract term)."""
    from workers.runtime import Runtime

    rt = Runtime.create(llm_settings)
    (tmp_path / "msa.pdf").write_bytes(make_pdf(CONTRACT_PAGES))
    rt.ingest([tmp_path / "msa.pdf"], "one")
    law = rt.ask("Which state's or country's law governs this agreement?", "one")
    assert law.model == "rules:review.terms" and "Delaware" in law.answer and law.citations[0].page == 3
    assert law.answer.endswith("[1].")  # the marker follows the claim
    streamed = list(rt.ask_stream("Which law governs this agreement?", "one"))
    assert len(streamed) == 2 and streamed[-1].model == "rules:review.terms"
    assert streamed[0] == streamed[-1].display_text()

    (tmp_path / "tv.md").write_text("# Warranty\n\nThe warranty of this television expires two years after purchase.")
    rt.ingest([tmp_path / "tv.md"], "manual")
    assert rt.ask("When does the warranty expire?", "manual").model != "rules:review.terms"
    rt.ingest([tmp_path / "tv.md"], "one")  # two documents: the scope is no longer one contract
    assert rt.ask("Which law governs this agreement?", "one").model != "rules:review.terms"
