"""The ingest pipeline end to end on real files, SQLite and PostgreSQL."""
from pathlib import Path

import pytest
from docgen import encrypt_pdf, make_image_only_pdf, make_pdf, multipage_pdf_with_unique_sentence

pytestmark = pytest.mark.slow


def _write(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    p.write_bytes(data)
    return p


def test_bad_files_never_sink_the_batch(runtime, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder, "good.pdf", make_pdf(["Invoices are payable within thirty days."]))
    _write(folder, "open.pdf", encrypt_pdf(make_pdf(["Empty password document about renewals."]), ""))
    _write(folder, "locked.pdf", encrypt_pdf(make_pdf(["x"]), "pw"))
    _write(folder, "scan.pdf", make_image_only_pdf())
    _write(folder, "empty.txt", b"")
    _write(folder, "corrupt.pdf", b"%PDF-1.4\n1 0 obj <<>> garbage")
    _write(folder, "notes.md", b"# Notes\n\nThe remote needs two AA batteries.")
    results = {Path(r.path).name: r for r in runtime.ingest([folder], "mixed")}
    assert results["good.pdf"].status == "indexed"
    assert results["open.pdf"].status == "indexed"
    assert results["notes.md"].status == "indexed"
    assert results["locked.pdf"].error == "encrypted PDF: password required"
    assert results["scan.pdf"].error == "no extractable text (scanned PDF? OCR is not enabled)"
    assert results["empty.txt"].error == "empty file (0 bytes)"
    assert "corrupt" in results["corrupt.pdf"].error
    docs = {d["name"]: d for d in runtime.list_documents("mixed")}
    assert docs["locked.pdf"]["status"] == "failed" and docs["locked.pdf"]["error"] == "encrypted PDF: password required"
    hits = runtime.search("how many batteries does the remote need", "mixed", k=1)
    assert hits[0].document_name == "notes.md"


def test_citation_points_at_page_three(runtime, tmp_path):
    unique = "The zebra-striped calibration valve must be tightened to 42 newton metres."
    pdf = _write(tmp_path, "manual.pdf", multipage_pdf_with_unique_sentence(unique, unique_page=3))
    [res] = runtime.ingest([pdf], "manuals")
    assert res.status == "indexed" and res.pages == 5
    hit = runtime.search(unique, "manuals", k=3)[0]
    assert hit.page_start == 3
    doc = runtime.store.get_document(hit.document_id)
    assert unique in doc.text[hit.char_start:hit.char_end]
    assert unique in hit.text


def test_reingest_identical_is_noop_and_changed_replaces(runtime, tmp_path):
    path = _write(tmp_path, "policy.pdf", make_pdf(["Refunds are issued within 14 days.", "Shipping is free over 50 euros."]))
    [first] = runtime.ingest([path], "p")
    coll = runtime.store.collection(runtime.settings.default_tenant, "p")
    ids_v1 = set(runtime.store.chunk_ids(first.document_id))
    [again] = runtime.ingest([path], "p")
    assert again.status == "unchanged" and again.document_id == first.document_id
    assert set(runtime.store.chunk_ids(first.document_id)) == ids_v1

    _write(tmp_path, "policy.pdf", make_pdf(["Refunds are issued within 30 days.", "Shipping is free over 50 euros."]))
    [changed] = runtime.ingest([path], "p")
    assert changed.status == "indexed" and changed.document_id == first.document_id
    ids_v2 = set(runtime.store.chunk_ids(first.document_id))
    assert ids_v2.isdisjoint(ids_v1)
    index = runtime.index(coll.id)
    assert index.vectors.ids() == ids_v2
    assert runtime.store.get_document(first.document_id).version == 2
    assert "30 days" in runtime.search("refund period", "p", k=1)[0].text


def test_delete_document_removes_rows_and_vectors(runtime, tmp_path):
    a = _write(tmp_path, "a.txt", b"Alpha document about the termination clause.")
    b = _write(tmp_path, "b.txt", b"Beta document about confidentiality obligations.")
    ra, rb = runtime.ingest([a, b], "d")
    runtime.delete_document(ra.document_id, "d")
    assert [h.document_name for h in runtime.search("termination clause", "d", k=5)] == ["b.txt"]
    coll = runtime.store.collection(runtime.settings.default_tenant, "d")
    assert runtime.index(coll.id).vectors.ids() == set(runtime.store.chunk_ids(rb.document_id))


def test_reconcile_repairs_index_after_crash(runtime, tmp_path, any_settings):
    """Rows committed but the index never saved (a crash): the next writer re-embeds them."""
    from retrieval.collection_index import forget_collection_index

    path = _write(tmp_path, "a.txt", b"Warranty lasts twenty-four months from delivery.")
    [res] = runtime.ingest([path], "r")
    coll = runtime.store.collection(runtime.settings.default_tenant, "r")
    runtime.index(coll.id).drop()  # simulate the lost index files
    forget_collection_index(any_settings, coll.id)
    assert runtime.search("how long is the warranty", "r", k=1, mode="dense") == []  # readers do not repair
    runtime.ingest([_write(tmp_path, "b.txt", b"Delivery is free.")], "r")  # the next writer does
    hits = runtime.search("how long is the warranty", "r", k=1)
    assert hits and hits[0].document_id == res.document_id


def test_same_base_name_in_subfolders_stays_distinct(runtime, tmp_path):
    root = tmp_path / "kb"
    (root / "tv").mkdir(parents=True)
    (root / "radio").mkdir()
    (root / "tv" / "README.md").write_text("The TV remote uses infrared.")
    (root / "radio" / "README.md").write_text("The radio tunes FM stations.")
    results = runtime.ingest([root], "kb")
    assert {r.status for r in results} == {"indexed"}
    assert sorted(d["name"] for d in runtime.list_documents("kb")) == ["radio/README.md", "tv/README.md"]
    # the same base name passed twice directly: the second is refused, the first kept
    a, b = root / "tv" / "README.md", root / "radio" / "README.md"
    first, second = runtime.ingest([a, b], "direct")
    assert first.status == "indexed" and second.status == "failed" and "unique" in second.error


def test_title_heads_every_chunk_in_the_indexes_but_not_the_citations(runtime, any_settings):
    """A caller's title (a manual's section path) is indexed with each chunk, so the section's
    later chunks match a question that names it; chunk texts stay exact document spans, and
    a crash-repaired index indexes the same text."""
    from retrieval.collection_index import forget_collection_index

    title = "Picture Settings > Motion Smoothing"
    filler = " ".join(f"Step {i}: select the option on screen number {i} and confirm with the centre key." for i in range(60))
    coll = runtime.store.collection(runtime.settings.default_tenant, "t", create=True)
    [res] = runtime.ingestor.ingest_texts(coll.id, [("motion.txt", filler.encode(), {"title": title})],
                                          runtime.index(coll.id, writer=True))
    assert res.status == "indexed" and res.chunks >= 3
    chunks = runtime.store.chunks_for_document(res.document_id)
    doc = runtime.store.get_document(res.document_id)
    assert doc.metadata_["title"] == title
    assert all(doc.text[c.char_start:c.char_end] == c.text and title not in c.text for c in chunks)

    def bm25_chunk_ids() -> set[int]:
        index = runtime.index(coll.id)
        return {cid for cid, _ in index.keywords.search("motion smoothing", 10)}

    assert bm25_chunk_ids() == {c.id for c in chunks}  # every chunk, though none contains the words
    runtime.index(coll.id).drop()
    forget_collection_index(any_settings, coll.id)
    runtime.index(coll.id, writer=True)  # the next writer re-indexes the rows
    assert bm25_chunk_ids() == {c.id for c in chunks}


def test_keyword_search_sees_a_document_whose_chunks_share_the_query(runtime, any_settings):
    """BM25 mixes a chunk's score with its whole document's, so a long clause that mentions
    royalties at its start and audits at its end outranks a short note on royalties alone
    for "royalty audit"; ingestion and crash repair both tell the index which document each
    chunk belongs to."""
    from retrieval.collection_index import forget_collection_index

    filler = " ".join(f"Clause {i} sets out what the parties agreed on the matters listed in schedule {i}." for i in range(40))
    long_text = f"The licensee pays a royalty every quarter. {filler} The licensor may audit the books once a year."
    coll = runtime.store.collection(runtime.settings.default_tenant, "kw", create=True)
    sink = runtime.index(coll.id, writer=True)
    results = runtime.ingestor.ingest_texts(
        coll.id, [("licence.txt", long_text.encode()), ("note.txt", b"A royalty is payable.")], sink)
    licence, note = (r.document_id for r in results)
    assert results[0].chunks >= 3
    first_chunk = runtime.store.chunks_for_document(licence)[0].id

    def order() -> list[int]:
        hits = runtime.index(coll.id).keywords.search("royalty audit", 10)
        return [cid for cid, _ in hits]

    note_chunk = runtime.store.chunk_ids(note)[0]
    ranked = order()
    assert ranked.index(first_chunk) < ranked.index(note_chunk)
    runtime.index(coll.id).drop()
    forget_collection_index(any_settings, coll.id)
    runtime.index(coll.id, writer=True)  # the next writer re-indexes the rows, documents included
    assert order() == ranked
    # An index written before chunks knew their documents: the next writer tells it.
    index = runtime.index(coll.id)
    texts = index.index_texts(sorted(index.keywords.ids()))
    index.keywords.add(list(texts), list(texts.values()))  # no groups
    index.save()
    assert index.keywords.ungrouped() == set(texts)
    forget_collection_index(any_settings, coll.id)
    assert runtime.index(coll.id, writer=True).keywords.ungrouped() == set()
    assert order() == ranked


def test_small_documents_share_model_calls_and_a_rejected_one_fails_alone(runtime, monkeypatch):
    """A corpus of one-clause documents is embedded a batch at a time, not a call per
    document; each still gets the vector it would get alone, results keep the input order,
    and a document the model rejects fails with its reason while the rest are indexed."""
    import dataclasses

    import numpy as np

    from ingestion import pipeline

    monkeypatch.setattr(pipeline, "EMBED_BATCH_CHUNKS", 8)
    real = runtime.ingestor.embedder
    chunk_calls: list[int] = []

    class Refusing:  # the real model, refusing one input as a broken model or tokenizer would
        dim, model_id = real.dim, real.model_id

        def embed_documents(self, texts):
            if any("POISON" in t for t in texts):
                raise RuntimeError("the model rejected this input")
            return real.embed_documents(texts)

        def embed_query(self, text):
            return real.embed_query(text)

    refusing = Refusing()
    ingestor = dataclasses.replace(runtime.ingestor, embedder=refusing, sentence_vectors=False)
    original = ingestor._embed
    monkeypatch.setattr(ingestor, "_embed", lambda docs, sink: chunk_calls.append(len(docs)) or original(docs, sink))
    texts = {f"clause-{i}.txt": f"Clause {i}: the supplier ships item code qx{i}z within {i + 2} days of an order."
             for i in range(20)}
    docs = [(name, text.encode()) for name, text in texts.items()]
    docs.insert(11, ("bad.txt", b"POISON clause that the model cannot read."))
    docs.insert(3, ("empty.txt", b""))
    coll = runtime.store.collection(runtime.settings.default_tenant, "clauses", create=True)
    sink = runtime.index(coll.id, writer=True)

    results = ingestor.ingest_texts(coll.id, docs, sink)

    assert [r.path for r in results] == [name for name, _ in docs]
    by_name = {r.path: r for r in results}
    assert by_name["bad.txt"].status == "failed" and "the model rejected this input" in by_name["bad.txt"].error
    assert by_name["empty.txt"].status == "failed"
    assert all(by_name[name].status == "indexed" for name in texts)
    # 21 one-chunk documents in batches of 8 chunks: the batch holding the rejected document
    # is retried one document at a time.
    assert chunk_calls == [8, 8] + [1] * 8 + [5]
    for name, text in texts.items():
        [cid] = runtime.store.chunk_ids(by_name[name].document_id)
        alone = real.embed_documents([text])[0]
        assert float(np.dot(sink.reconstruct([cid])[cid], alone)) > 0.999
    sink.save()
    [hit] = runtime.search("qx13z", "clauses", k=1, mode="bm25")
    assert hit.document_name == "clause-13.txt"
    docs_rows = {d["name"]: d for d in runtime.list_documents("clauses")}
    assert docs_rows["bad.txt"]["status"] == "failed"
