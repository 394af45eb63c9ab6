"""Chunks are exact spans of the document text, within the model window, with correct pages."""
import pytest

from core.settings import Settings
from core.types import LoadedDocument
from ingestion.chunking import MODEL_WINDOW, Chunker, TokenChunker, get_chunker
from ingestion.embedding import resolve_model_dir
from ingestion.normalize import join_pages

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def chunker():
    return TokenChunker(resolve_model_dir(Settings(_env_file=None)), chunk_tokens=220, overlap_tokens=32)


def _doc(pages):
    text, spans = join_pages(pages)
    return LoadedDocument(text=text, pages=spans, mime="text/plain")


def test_offsets_map_back_to_exact_text_and_pages(chunker):
    pages = [" ".join(f"Sentence {p}-{i} about warranty terms and liability." for i in range(60)) for p in range(1, 5)]
    doc = _doc(pages)
    chunks = chunker.chunk(doc)
    assert len(chunks) > 4
    for c in chunks:
        assert doc.text[c.char_start:c.char_end] == c.text
        assert c.page_start == doc.page_of(c.char_start)
        assert c.page_end == doc.page_of(c.char_end - 1)
        assert c.page_start <= c.page_end
    # every character of every page is covered by some chunk
    covered = set()
    for c in chunks:
        covered.update(range(c.char_start, c.char_end))
    for p in doc.pages:
        assert all(i in covered for i in range(p.char_start, p.char_end) if not doc.text[i].isspace())


def test_no_chunk_exceeds_model_window(chunker):
    # Long unbroken tokens (hashes, URLs) and no sentence breaks stress the splitter.
    nasty = " ".join(["a3f9c2e1" * 20] * 40) + " " + "x" * 5000
    doc = _doc([nasty])
    chunks = chunker.chunk(doc)
    assert chunks
    for c in chunks:
        n = len(chunker.tokenizer.encode(c.text).ids)  # with [CLS]/[SEP]
        assert n <= MODEL_WINDOW, n
        assert doc.text[c.char_start:c.char_end] == c.text


def test_chunks_are_near_target_size(chunker):
    doc = _doc(["The supplier shall deliver the goods on time. " * 400])
    sizes = [c.token_count for c in chunker.chunk(doc)]
    assert max(sizes) <= 220
    assert sum(sizes[:-1]) / len(sizes[:-1]) >= 150  # not fragmented into tiny pieces


def test_overlap_between_neighbours(chunker):
    doc = _doc(["Clause %d reads the same way each time. " % i for i in range(300)])
    chunks = chunker.chunk(doc)
    assert any(b.char_start < a.char_end for a, b in zip(chunks, chunks[1:]))


def test_the_factory_builds_the_chunker_settings_describe():
    chunker = get_chunker(Settings(chunk_tokens=64, chunk_overlap_tokens=8, _env_file=None))
    assert isinstance(chunker, TokenChunker) and isinstance(chunker, Chunker)
    assert (chunker.chunk_tokens, chunker.overlap_tokens) == (64, 8)
    sizes = [c.token_count for c in chunker.chunk(_doc(["The supplier shall deliver the goods on time. " * 100]))]
    assert max(sizes) <= 64 and len(sizes) > 10


def test_the_runtime_chunks_with_the_factorys_chunker(settings):
    from workers.runtime import Runtime

    rt = Runtime.create(settings.model_copy(update={"chunk_tokens": 100, "chunk_overlap_tokens": 0}))
    assert rt.ingestor.chunker is rt.chunker and rt.chunker.chunk_tokens == 100
