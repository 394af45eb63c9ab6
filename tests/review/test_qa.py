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
     ("Who are the parties?", "parties"), ("How do I pair the remote?", None),
     ("Who are the parties to this agreement?", "parties"), ("Which parties signed this contract?", "parties"),
     ("Who signed the agreement?", "parties"), ("Name the parties to the contract.", "parties"),
     ("Between whom is this agreement made?", "parties"),
     # a party named in a question about something else is not a question about the parties
     # (PolicyQA dev: 693 of 3,809 questions say "third party" or "first party")
     ("Does the company share my information with third parties?", None),
     ("Will you share my contact information with third party companies?", None),
     ("Does the user's choice applicable to first party collection of data?", None),
     ("How much notice must a party give to terminate the agreement?", None),
     ("Can either party assign this agreement?", None), ("What are the parties' obligations?", None),
     ("Which party pays the shipping costs?", None)],
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


# Party names as contracts write them: initials, "U.S.", "Co.", "Dr." and lower-case
# brands, each a ". " that a sentence splitter may take for a sentence end (CUAD dev has 28
# such key-term answers).
PARTY_NAMES = ["ARCA U.S. Treasury Fund", "Dr. George D. Green", "e.l.f. Beauty, Inc.", "A.B. Watley, Inc.",
               "Farids & Co. LLC", "R. C. Boyd Enterprises, LLC", "Beijing SINA Co. Ltd.", "Globex Holdings LLC"]


def _contract(first: str, second: str, notice_break: str):
    from core.models import Document

    text = (f"SERVICES AGREEMENT\n\nThis Services Agreement is made as of March 3, 2020 by and between {first} "
            f"(\"Supplier\") and {second} (\"Customer\").\n\n"
            "1. Term. This Agreement renews automatically for successive one (1) year terms unless a party gives written "
            f"notice of non-renewal at least sixty (60){notice_break}days before the end of the term.\n\n"
            "9. Governing Law. This Agreement is governed by the laws of the State of Delaware.")
    split = text.index("9. Governing")
    return Document(id=1, name="c.txt", text=text, page_spans=[[1, 0, split], [2, split, len(text)]])


@pytest.mark.unit
@pytest.mark.parametrize("first,second", [(a, b) for a in PARTY_NAMES for b in PARTY_NAMES if a != b][::3])
@pytest.mark.parametrize("notice_break", [" ", "\n"])
def test_every_sentence_of_a_key_term_answer_ends_with_its_verified_marker(first, second, notice_break):
    """The grounding invariant on the key-term path, read as the check reads an answer
    (generation.citations.split_sentences): a term's value is one claim, so a ". " inside a
    party's name or a line break inside the clause never leaves a sentence without its marker."""
    from generation.citations import cited_numbers, content_words, split_sentences, strip_citations
    from review.qa import answer_from_terms

    doc = _contract(first, second, notice_break)
    questions = ["Who are the parties to this agreement?", "How much notice is required to terminate renewal of this agreement?",
                 "How long is each renewal term of this agreement?", "Which law governs this agreement?",
                 "What is the date of this agreement?"]
    for q in questions:
        ans = answer_from_terms(q, doc)
        assert not ans.abstained and ans.citations, (q, ans.answer)
        sources = {c.source: c for c in ans.citations}
        for sentence in split_sentences(ans.answer):
            if content_words(strip_citations(sentence)):
                assert cited_numbers(sentence) and set(cited_numbers(sentence)) <= set(sources), (q, sentence, ans.answer)
        assert ans.answer.endswith("[1].") and len(split_sentences(ans.answer)) == 1, ans.answer
        for c in ans.citations:
            s, e = doc.page_span(c.page)
            assert c.quote and doc.text[c.char_start:c.char_end] == c.quote and s <= c.char_start < c.char_end <= e
    parties = " ".join(answer_from_terms(questions[0], doc).answer.split())  # a no-break space reads as a space
    assert first.rstrip(".") in parties and second.rstrip(".") in parties, parties
    notice = " ".join(answer_from_terms(questions[1], doc).answer.split())
    assert "sixty (60) days" in notice


@pytest.mark.unit
def test_a_value_that_still_splits_leaves_no_sentence_without_its_marker(monkeypatch):
    """Should a term's value read as several sentences after all (a splitter that changed),
    each of them carries the marker."""
    import review.qa as qa
    from generation.citations import cited_numbers, split_sentences

    monkeypatch.setattr(qa, "_one_claim", str)  # the value written as it stands, ". " and all
    ans = qa.answer_from_terms("Who are the parties to this agreement?", _contract("Dr. George D. Green", "A.B. Watley, Inc.", " "))
    pieces = split_sentences(ans.answer)
    assert len(pieces) > 1 and all(cited_numbers(p) == [1] for p in pieces), ans.answer
