"""Search modes and filters end to end on real ingested documents."""
import pytest

from core.types import SearchFilters

pytestmark = pytest.mark.slow

TOPICS = [
    "Invoices are sent monthly and payable within thirty days of receipt.",
    "The supplier warrants that all goods are free from defects for one year.",
    "Either party may terminate this agreement with ninety days notice.",
    "Confidential information must not be disclosed to third parties.",
    "The customer may audit the supplier's records once per calendar year.",
    "All disputes are settled by arbitration in London under LCIA rules.",
]


@pytest.fixture
def corpus(runtime, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    # Every document mentions a part number of the same shape; only one has the one asked
    # for, and nothing else about it matches the question better than its neighbours.
    codes = ["88413", "88411", "88402", "88312", "88419"]
    for i, (text, code) in enumerate(zip(TOPICS[:5], codes)):
        (folder / f"clause-{i}.txt").write_text(f"{text} Filter kit ZQ-{code}-K ships within five days.")
    (folder / "parts.md").write_text(f"{TOPICS[5]} Filter kit ZQ-88412-K ships within five days.")
    runtime.ingest([folder], "s")
    return runtime


def test_keyword_only_match_found_by_hybrid_not_dense(corpus):
    query = "ZQ-88412-K"
    dense = [h.document_name for h in corpus.search(query, "s", k=1, mode="dense")]
    hybrid = [h.document_name for h in corpus.search(query, "s", k=1, mode="hybrid")]
    bm25 = [h.document_name for h in corpus.search(query, "s", k=1, mode="bm25")]
    assert bm25 == ["parts.md"]
    assert hybrid == ["parts.md"]
    assert dense != ["parts.md"]


def test_semantic_match_still_works_in_hybrid(corpus):
    hits = corpus.search("How can the contract be ended?", "s", k=1, mode="hybrid")
    assert [h.document_name for h in hits] == ["clause-2.txt"]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_filters_apply_before_top_k(corpus, mode):
    docs = {d["name"]: d["document_id"] for d in corpus.list_documents("s")}
    # A glob that excludes the best matches still returns k results.
    hits = corpus.search("filter kit ZQ-88412-K", "s", k=3, mode=mode, filters=SearchFilters(name_glob="clause-*"))
    assert len(hits) == 3 and all(h.document_name.startswith("clause-") for h in hits)
    only = corpus.search("filter kit shipping", "s", k=5, mode=mode, filters=SearchFilters(document_ids=[docs["clause-4.txt"]]))
    assert {h.document_name for h in only} == {"clause-4.txt"}
    assert corpus.search("anything", "s", k=5, mode=mode, filters=SearchFilters(document_ids=[999999])) == []


def test_metadata_filter(corpus):
    hits = corpus.search("filter kits", "s", k=10, filters=SearchFilters(metadata={"source_path": "nope"}))
    assert hits == []
    parts = next(d for d in corpus.list_documents("s") if d["name"] == "parts.md")
    hits = corpus.search("filter kits", "s", k=10, filters=SearchFilters(metadata={"source_path": parts["metadata"]["source_path"]}))
    assert [h.document_name for h in hits] == ["parts.md"]


def test_delete_removes_from_both_indexes(corpus):
    parts = next(d for d in corpus.list_documents("s") if d["name"] == "parts.md")
    coll = corpus.store.collection(corpus.settings.default_tenant, "s")
    gone = set(corpus.store.chunk_ids(parts["document_id"]))
    corpus.delete_document(parts["document_id"], "s")
    index = corpus.index(coll.id)
    assert gone.isdisjoint(index.vectors.ids()) and gone.isdisjoint(index.keywords.ids())
    assert index.vectors.ids() == index.keywords.ids() == set(corpus.store.all_chunk_ids(coll.id))
    for mode in ("dense", "bm25", "hybrid"):
        assert all(h.document_name != "parts.md" for h in corpus.search("ZQ-88412-K", "s", k=10, mode=mode))


def test_unknown_mode_is_a_clear_error(corpus):
    with pytest.raises(ValueError, match="unknown search mode 'fuzzy'"):
        corpus.search("x", "s", mode="fuzzy")


def test_concurrent_searches_rank_as_one_alone(corpus):
    """A search alone overlaps BM25 with the query embedding; with others in flight it runs
    BM25 inline: either way each gets exactly the ranking it gets alone."""
    from concurrent.futures import ThreadPoolExecutor

    from retrieval import search as search_module

    queries = [f"{topic.split()[1]} filter kit ZQ-8841{i % 10}-K" for i, topic in enumerate(TOPICS * 4)]
    alone = {q: [(h.chunk_id, round(h.score, 6)) for h in corpus.search(q, "s", k=4)] for q in set(queries)}
    with search_module._in_flight():  # another search "in flight": every search takes the inline path
        inline = {q: [(h.chunk_id, round(h.score, 6)) for h in corpus.search(q, "s", k=4)] for q in set(queries)}
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: [(h.chunk_id, round(h.score, 6)) for h in corpus.search(q, "s", k=4)], queries))
    assert inline == alone
    assert together == [alone[q] for q in queries]
