"""The shared conformance suites of the index seams: every VectorIndex and KeywordIndex
backend passes them, and so does a collection's index searched through the search service.

Haystack's document-store test mixins are the model: a backend's test class subclasses a
suite and provides its one fixture (see tests/retrieval/test_index_conformance.py, which
runs them for every backend of retrieval/index_factory.py). The suites know nothing of a
backend: they open indexes through that fixture and use only the Protocols' methods.

What they pin down: add then search in score order; remove; replacing a document's chunks
(no duplicates); filtered search still returning k when k exist (by allowed chunk ids here,
by document, name and metadata through SearchService); collection and tenant scoping; ids
and results stable across a reopen; refresh seeing another instance's save, and never an
unsaved change; drop; one writer adding and saving while readers search (no error, only
whole saved versions, every id exactly once at the end); refusing another embedder's
vectors; a write failing inside the store transaction leaving nothing behind; crash repair
of a collection against its chunk rows (on a backend that needs it).
"""
from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Callable

import numpy as np
import pytest

from core.errors import EmbedderMismatchError
from core.types import SearchFilters

DIM = 16


def unit_vectors(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, ids: list[int], query: np.ndarray, k: int, allowed: set[int] | None = None) -> list[int]:
    """The ids a brute-force cosine search ranks first."""
    scores = vectors @ query
    order = [ids[i] for i in np.argsort(-scores, kind="stable")]
    return [i for i in order if allowed is None or i in allowed][:k]


def assert_ranked(hits: list[tuple[int, float]]) -> None:
    """Best first, each id once."""
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True), hits
    assert len({i for i, _ in hits}) == len(hits), f"an id came back twice: {hits}"


def run_writer_and_readers(write_batch: Callable[[int], None], readers: list[Callable[[], None]], batches: int) -> None:
    """One writer thread writes `batches` batches while every reader runs in its own thread
    until the writer is done (and once more after); any exception fails the test."""
    done = threading.Event()
    errors: list[BaseException] = []

    def guarded(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                done.set()
        return run

    def write() -> None:
        try:
            for b in range(batches):
                write_batch(b)
        finally:
            done.set()

    def read_loop(read: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            while not done.is_set():
                read()
            read()  # once more, on the final version
        return run

    threads = [threading.Thread(target=guarded(write))] + [threading.Thread(target=guarded(read_loop(r))) for r in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer or reader thread hung"
    if errors:
        raise errors[0]


# =========================================================================================
class VectorIndexConformance:
    """Subclass and provide the fixture `open_vectors`: a function
    `open_vectors(collection_id=1, dim=DIM, model_id=None) -> VectorIndex` returning a new
    instance on that collection's stored vectors. All instances it opens within one test
    share one storage (one data directory, one database), as processes of one deployment do."""

    @pytest.fixture
    def open_vectors(self):
        raise NotImplementedError("a backend's test class provides the open_vectors fixture")

    def test_add_then_search_finds_them_in_score_order(self, open_vectors):
        vecs = unit_vectors(np.random.default_rng(0), 60)
        ids = list(range(1000, 1060))
        idx = open_vectors()
        idx.add(ids, vecs)
        for state in ("unsaved", "saved"):  # a backend may search its saved form another way (a graph)
            top = idx.search(vecs[7], 5)
            assert top[0][0] == 1007 and top[0][1] == pytest.approx(1.0, abs=1e-4), state
            assert [i for i, _ in top] == exact_top(vecs, ids, vecs[7], 5), state
            assert [s for _, s in top] == pytest.approx([float(vecs[ids.index(i)] @ vecs[7]) for i, _ in top], abs=1e-4)
            assert_ranked(top)
            idx.save()
        assert len(idx) == 60 and idx.ids() == set(ids)

    def test_empty_index_and_k_beyond_its_size(self, open_vectors):
        idx = open_vectors()
        query = unit_vectors(np.random.default_rng(1), 1)[0]
        assert idx.search(query, 5) == [] and len(idx) == 0 and idx.ids() == set()
        idx.add([1], unit_vectors(np.random.default_rng(2), 1))
        assert [i for i, _ in idx.search(query, 5)] == [1]
        assert idx.search(query, 0) == []
        idx.add([], np.zeros((0, DIM), np.float32))  # nothing to add is not an error
        assert len(idx) == 1

    def test_remove(self, open_vectors):
        vecs = unit_vectors(np.random.default_rng(3), 10)
        idx = open_vectors()
        idx.add(list(range(10)), vecs)
        idx.save()
        assert idx.remove([3, 4, 99]) == 2  # absent ids are ignored
        assert idx.remove([]) == 0 and idx.remove([3]) == 0
        for state in ("unsaved", "saved"):
            assert {i for i, _ in idx.search(vecs[3], 10)} == set(range(10)) - {3, 4}, state
            assert len(idx) == 8 and idx.ids() == set(range(10)) - {3, 4}
            idx.save()
        assert open_vectors().ids() == set(range(10)) - {3, 4}

    def test_replacing_a_documents_chunks_leaves_no_duplicates(self, open_vectors):
        rng = np.random.default_rng(4)
        old, new, other = unit_vectors(rng, 6), unit_vectors(rng, 6), unit_vectors(rng, 3)
        idx = open_vectors()
        idx.add([1, 2, 3, 4, 5, 6], old)  # document A
        idx.add([7, 8, 9], other)  # document B
        idx.save()
        # A changes: chunks 1-3 keep their ids with new vectors, 4-6 give way to 10-12 (as ingestion replaces).
        idx.remove([1, 2, 3, 4, 5, 6])
        idx.add([1, 2, 3, 10, 11, 12], new)
        expected = {1, 2, 3, 7, 8, 9, 10, 11, 12}
        for state, index in (("unsaved", idx), ("saved", idx), ("reopened", None)):
            if state == "saved":
                idx.save()
            index = index or open_vectors()
            assert index.ids() == expected and len(index) == 9, state
            hits = index.search(new[0], 20)
            assert_ranked(hits)
            assert {i for i, _ in hits} == expected, state
            assert hits[0][0] == 1 and hits[0][1] == pytest.approx(1.0, abs=1e-4)
            assert all(s < 0.999 for _, s in index.search(old[0], 20)), "an old vector is still indexed"
            assert np.allclose(index.reconstruct([1])[1], new[0], atol=1e-5)

    def test_filtered_search_returns_k_when_k_exist(self, open_vectors):
        """The filter applies inside the search, not to its top k: the allowed ids come back
        even when every unfiltered neighbour of the query is excluded."""
        vecs = unit_vectors(np.random.default_rng(5), 200)
        ids = list(range(200))
        idx = open_vectors()
        idx.add(ids, vecs)
        query = vecs[0]
        worst = exact_top(-vecs, ids, query, 12)  # the 12 least similar
        narrow = set(worst) | {5000}  # an id the index does not hold is ignored
        wide = set(ids) - set(exact_top(vecs, ids, query, 40))  # most ids, but none of the nearest 40
        for state in ("unsaved", "saved"):
            hits = idx.search(query, 5, narrow)
            assert [i for i, _ in hits] == exact_top(vecs, ids, query, 5, narrow), state
            hits = idx.search(query, 10, wide)
            assert len(hits) == 10 and {i for i, _ in hits} <= wide, state
            assert hits[0][0] == exact_top(vecs, ids, query, 1, wide)[0]
            assert_ranked(hits)
            assert len(idx.search(query, 50, set(worst))) == 12  # fewer than k exist: all of them
            assert idx.search(query, 5, set()) == [] and idx.search(query, 5, {5000}) == []
            idx.save()

    def test_ids_and_results_are_stable_across_reopen(self, open_vectors):
        rng = np.random.default_rng(6)
        ids = sorted(int(i) for i in rng.choice(10**12, 40, replace=False))  # chunk ids are big and sparse
        vecs = unit_vectors(rng, 40)
        idx = open_vectors()
        idx.add(ids, vecs)
        idx.remove(ids[:5])
        idx.save()
        again = open_vectors()
        assert again.ids() == set(ids[5:]) and len(again) == 35
        for q in vecs[5:10]:
            before, after = idx.search(q, 5), again.search(q, 5)
            assert [i for i, _ in after] == [i for i, _ in before]
            assert [s for _, s in after] == pytest.approx([s for _, s in before], abs=1e-5)
        assert set(again.reconstruct([ids[5], ids[0]])) == {ids[5]}
        assert np.allclose(again.reconstruct([ids[5]])[ids[5]], vecs[5], atol=1e-5)
        again.add([7], unit_vectors(rng, 1))  # a second writer session on the reopened index
        again.save()
        assert open_vectors().ids() == set(ids[5:]) | {7}

    def test_refresh_sees_another_instances_save_and_never_an_unsaved_change(self, open_vectors):
        vecs = unit_vectors(np.random.default_rng(7), 3)
        writer, reader = open_vectors(), open_vectors()
        writer.add([1, 2], vecs[:2])
        reader.refresh()
        assert reader.ids() == set() and reader.search(vecs[0], 5) == []
        writer.save()
        reader.refresh()
        assert reader.ids() == {1, 2} and reader.search(vecs[0], 1)[0][0] == 1
        writer.remove([1])
        writer.add([3], vecs[2:])
        writer.save()
        reader.refresh()
        assert reader.ids() == {2, 3} and len(reader) == 2
        assert all(i != 1 for i, _ in reader.search(vecs[0], 5))
        reader.refresh()  # nothing new: nothing changes
        assert reader.ids() == {2, 3}

    def test_drop_empties_the_collection_only(self, open_vectors):
        rng = np.random.default_rng(8)
        idx, other = open_vectors(1), open_vectors(2)
        idx.add([1, 2, 3], unit_vectors(rng, 3))
        other.add([4, 5], unit_vectors(rng, 2))
        idx.save()
        other.save()
        reader = open_vectors(1)
        idx.drop()
        assert len(idx) == 0 and idx.ids() == set() and idx.search(unit_vectors(rng, 1)[0], 5) == []
        assert open_vectors(1).ids() == set()
        reader.refresh()
        assert reader.ids() == set()
        assert open_vectors(2).ids() == {4, 5}
        idx.add([6], unit_vectors(rng, 1))  # the collection can be indexed again
        idx.save()
        assert open_vectors(1).ids() == {6}
        idx.drop()
        idx.drop()  # dropping an empty collection is not an error

    def test_collections_are_scoped(self, open_vectors):
        """A collection belongs to one tenant, so this is tenant scoping too."""
        rng = np.random.default_rng(9)
        va, vb = unit_vectors(rng, 3), unit_vectors(rng, 2)
        a, b = open_vectors(1), open_vectors(2)
        a.add([1, 2, 3], va)
        b.add([11, 12], vb)
        a.save()
        b.save()
        for a_, b_ in ((a, b), (open_vectors(1), open_vectors(2))):
            assert a_.ids() == {1, 2, 3} and b_.ids() == {11, 12} and len(b_) == 2
            assert {i for i, _ in b_.search(va[0], 10)} == {11, 12}
            assert b_.search(va[0], 10, {1, 2, 3}) == []
            assert b_.reconstruct([1]) == {}
        assert b.remove([1, 2, 3]) == 0
        b.save()
        assert open_vectors(1).ids() == {1, 2, 3}

    def test_refuses_vectors_another_embedder_made(self, open_vectors):
        idx = open_vectors(model_id="embedder-a")
        idx.add([1, 2, 3], unit_vectors(np.random.default_rng(10), 3))
        idx.save()
        assert len(open_vectors(model_id="embedder-a")) == 3
        with pytest.raises(EmbedderMismatchError, match="re-ingest"):
            open_vectors(model_id="embedder-b")
        assert len(open_vectors(model_id=None)) == 3  # a caller that does not say accepts any
        with pytest.raises(Exception, match="re-ingest"):
            open_vectors(dim=DIM * 2)

    def test_one_writer_and_concurrent_readers(self, open_vectors):
        """A writer adds and saves batch after batch while readers search: readers on their
        own instances (other processes) and two sharing one (request threads of one
        process) never fail and only ever see whole saved batches, in order; at the end
        every id is there exactly once."""
        batches, size = 25, 4
        vecs = unit_vectors(np.random.default_rng(11), batches * size)
        writer, shared = open_vectors(), open_vectors()

        def write_batch(b: int) -> None:
            ids = list(range(b * size, (b + 1) * size))
            writer.add(ids, vecs[ids])
            writer.save()

        def reader(idx) -> Callable[[], None]:
            seen = [0]

            def read() -> None:
                idx.refresh()
                ids = idx.ids()
                n = len(ids)
                assert n % size == 0 and ids == set(range(n)), f"a partial version: {sorted(ids)}"
                assert n >= seen[0], "a reader went back to an older version"
                seen[0] = n
                if n:
                    hits = idx.search(vecs[n - 1], 3)
                    assert hits[0][0] == n - 1 and hits[0][1] == pytest.approx(1.0, abs=1e-4)
                    assert_ranked(hits)
                    assert {i for i, _ in idx.search(vecs[0], 3, {0, 1})} == {0, 1}
            return read

        run_writer_and_readers(write_batch, [reader(open_vectors()), reader(open_vectors()),
                                             reader(shared), reader(shared)], batches)
        final = open_vectors()
        total = batches * size
        assert final.ids() == set(range(total)) and len(final) == total
        hits = final.search(vecs[0], total)
        assert_ranked(hits)
        assert hits[0][0] == 0


# =========================================================================================
TEXTS = {
    1: "The licensee shall pay royalties quarterly.",
    2: "Replace part XK-9472 when the filter light blinks.",
    3: "Royalty payments are due within thirty days.",
    4: "The licensor may audit royalty records and royalty reports once a year.",
    5: "Delivery is free for orders over fifty euros.",
}


class KeywordIndexConformance:
    """Subclass and provide the fixture `open_keywords`: a function
    `open_keywords(collection_id=1) -> KeywordIndex` returning a new instance on that
    collection's stored entries; all instances it opens within one test share one storage."""

    @pytest.fixture
    def open_keywords(self):
        raise NotImplementedError("a backend's test class provides the open_keywords fixture")

    def _filled(self, open_keywords, collection_id: int = 1):
        idx = open_keywords(collection_id)
        idx.add(list(TEXTS), list(TEXTS.values()))
        return idx

    def test_add_then_search_finds_them_in_score_order(self, open_keywords):
        idx = self._filled(open_keywords)
        hits = idx.search("royalty audit", 10)
        assert {i for i, _ in hits} == {1, 3, 4}  # stemmed: royalties, royalty
        assert hits[0][0] == 4  # both words, one twice
        assert all(s > 0 for _, s in hits)
        assert_ranked(hits)
        assert idx.search("xk-9472", 5)[0][0] == 2
        assert idx.search("unrelated words entirely", 5) == []
        assert idx.search("the of and", 5) == []  # stopwords only
        assert len(idx.search("royalty", 1)) == 1 and idx.search("royalty", 0) == []
        assert len(idx) == 5 and idx.ids() == set(TEXTS)
        idx.add([], [])
        assert open_keywords(1).search("royalty", 5) == []  # not saved yet

    def test_document_weight_is_chosen_per_search(self, open_keywords):
        """One open index serves callers with different settings: the weight of a chunk's
        document is each search's own, in either order, and the index's default is unchanged."""
        idx = open_keywords(1)
        # document 7 speaks of royalties in one chunk and of audits in the next; document 8
        # has one short chunk that matches "royalty" better than chunk 1 does alone
        idx.add([1, 2, 3], ["The licensee pays royalties to the licensor at the end of each calendar quarter.",
                            "The licensor may audit those payments yearly.", "Royalties paid quarterly."], [7, 7, 8])
        idx.save()

        def ranked(weight):
            return [i for i, _ in idx.search("royalty audit", 3, document_weight=weight)]

        default = ranked(None)
        for _ in range(2):  # back and forth: nothing sticks from the previous search
            chunks_only, documents = ranked(0.0), ranked(1.0)
            assert chunks_only.index(3) < chunks_only.index(1)
            assert documents.index(1) < documents.index(3)  # chunk 1's document also speaks of audits
        assert ranked(None) == default
        with pytest.raises(ValueError, match="document_weight"):
            idx.search("royalty", 3, document_weight=1.5)

    def test_remove(self, open_keywords):
        idx = self._filled(open_keywords)
        idx.save()
        assert idx.remove([1, 42]) == 1 and idx.remove([]) == 0
        for state in ("unsaved", "saved"):
            assert {i for i, _ in idx.search("royalty", 5)} == {3, 4}, state
            assert idx.ids() == {2, 3, 4, 5} and len(idx) == 4
            idx.save()
        assert open_keywords().ids() == {2, 3, 4, 5}

    def test_replacing_a_documents_chunks_leaves_no_duplicates(self, open_keywords):
        idx = self._filled(open_keywords)
        idx.save()
        # Chunk 3 keeps its id with new text; 4 gives way to 6 (as ingestion replaces: remove, then add).
        idx.remove([3, 4])
        idx.add([3, 6], ["Invoices are payable within thirty days.", "Royalty audits happen yearly."], [7, 7])
        # add of an id already present replaces its text (crash repair re-adds)
        idx.add([5], ["Royalty statements accompany each delivery."])
        for state in ("unsaved", "saved", "reopened"):
            if state == "saved":
                idx.save()
            index = idx if state != "reopened" else open_keywords()
            assert index.ids() == {1, 2, 3, 5, 6} and len(index) == 5, state
            hits = index.search("royalty invoices", 10)
            assert_ranked(hits)
            assert {i for i, _ in hits} == {1, 3, 5, 6}, state
            assert index.search("records reports", 5) == []  # chunk 4's words are gone
            assert index.search("free orders euros", 5) == []  # and chunk 5's old ones

    def test_filtered_search_returns_k_when_k_exist(self, open_keywords):
        idx = open_keywords()
        strong = {i: "royalty royalty royalty royalty" for i in range(1, 21)}
        weak = {i: f"A long clause number {i} that mentions a royalty once among many other words." for i in range(30, 36)}
        idx.add(list(strong) + list(weak), list(strong.values()) + list(weak.values()))
        for state in ("unsaved", "saved"):
            assert {i for i, _ in idx.search("royalty", 3)} <= set(strong)
            hits = idx.search("royalty", 3, set(weak) | {999})
            assert len(hits) == 3 and {i for i, _ in hits} <= set(weak), state
            assert_ranked(hits)
            assert {i for i, _ in idx.search("royalty", 50, set(weak))} == set(weak)
            assert idx.search("royalty", 5, set()) == [] and idx.search("royalty", 5, {999}) == []
            idx.save()

    def test_groups_are_kept_and_repaired(self, open_keywords):
        idx = self._filled(open_keywords)
        assert idx.ungrouped() == set(TEXTS)
        idx.set_groups({1: 7, 3: 7, 99: 8})  # an id not indexed is ignored
        assert idx.ungrouped() == {2, 4, 5}
        idx.add([6], ["Royalty audits happen yearly."], [7])
        assert 6 not in idx.ungrouped()
        idx.save()
        again = open_keywords()
        assert again.ungrouped() == {2, 4, 5}
        again.add([1], [TEXTS[1]])  # re-added without its document: ungrouped again
        assert again.ungrouped() == {1, 2, 4, 5}
        with pytest.raises(ValueError):
            again.add([8, 9], ["a", "b"], [7])  # one group per chunk

    def test_ids_and_results_are_stable_across_reopen(self, open_keywords):
        rng = np.random.default_rng(12)
        big = sorted(int(i) for i in rng.choice(10**12, 5, replace=False))
        idx = open_keywords()
        idx.add(big, list(TEXTS.values()), [1, 1, 2, 2, 3])
        idx.save()
        again = open_keywords()
        assert again.ids() == set(big) and len(again) == 5
        for query in ("royalty audit", "filter light", "thirty days"):
            before, after = idx.search(query, 5), again.search(query, 5)
            assert [i for i, _ in after] == [i for i, _ in before]
            assert [s for _, s in after] == pytest.approx([s for _, s in before])
        again.add([7], ["Royalty audits happen yearly."])
        again.save()
        assert open_keywords().ids() == set(big) | {7}

    def test_refresh_sees_another_instances_save_and_never_an_unsaved_change(self, open_keywords):
        writer, reader = open_keywords(), open_keywords()
        writer.add([1, 3], [TEXTS[1], TEXTS[3]])
        reader.refresh()
        assert reader.ids() == set() and reader.search("royalty", 5) == []
        writer.save()
        reader.refresh()
        assert reader.ids() == {1, 3} and {i for i, _ in reader.search("royalty", 5)} == {1, 3}
        writer.remove([1])
        writer.add([4], [TEXTS[4]])
        writer.save()
        reader.refresh()
        assert reader.ids() == {3, 4} and {i for i, _ in reader.search("royalty", 5)} == {3, 4}
        reader.refresh()
        assert len(reader) == 2

    def test_drop_empties_the_collection_only(self, open_keywords):
        idx, other = self._filled(open_keywords, 1), open_keywords(2)
        other.add([11], ["Royalty audits happen yearly."])
        idx.save()
        other.save()
        reader = open_keywords(1)
        idx.drop()
        assert len(idx) == 0 and idx.ids() == set() and idx.search("royalty", 5) == []
        assert open_keywords(1).ids() == set()
        reader.refresh()
        assert reader.ids() == set() and reader.search("royalty", 5) == []
        assert open_keywords(2).ids() == {11}
        idx.add([6], ["Royalty audits happen yearly."])
        idx.save()
        assert open_keywords(1).ids() == {6}
        idx.drop()
        idx.drop()

    def test_collections_are_scoped(self, open_keywords):
        a = self._filled(open_keywords, 1)
        b = open_keywords(2)
        b.add([11, 12], ["Royalty audits happen yearly.", "Warranty lasts two years."])
        a.save()
        b.save()
        for a_, b_ in ((a, b), (open_keywords(1), open_keywords(2))):
            assert a_.ids() == set(TEXTS) and b_.ids() == {11, 12}
            assert {i for i, _ in b_.search("royalty licensee payments", 10)} == {11}
            assert b_.search("royalty", 10, set(TEXTS)) == []
        assert b.remove(list(TEXTS)) == 0

    def test_one_writer_and_concurrent_readers(self, open_keywords):
        batches, size = 25, 4
        texts = [f"common clause {i} term{i} royalty" for i in range(batches * size)]
        writer, shared = open_keywords(), open_keywords()

        def write_batch(b: int) -> None:
            ids = list(range(b * size, (b + 1) * size))
            writer.add(ids, [texts[i] for i in ids], [b] * size)
            writer.save()

        def reader(idx) -> Callable[[], None]:
            seen = [0]

            def read() -> None:
                idx.refresh()
                ids = idx.ids()
                n = len(ids)
                assert n % size == 0 and ids == set(range(n)), f"a partial version: {sorted(ids)}"
                assert n >= seen[0], "a reader went back to an older version"
                seen[0] = n
                hits = idx.search("common", batches * size)
                found = {i for i, _ in hits}
                assert len(found) % size == 0 and found == set(range(len(found))) and len(found) >= n
                assert_ranked(hits)
                if n:
                    assert idx.search(f"term{n - 1}", 1)[0][0] == n - 1
            return read

        run_writer_and_readers(write_batch, [reader(open_keywords()), reader(open_keywords()),
                                             reader(shared), reader(shared)], batches)
        final = open_keywords()
        total = batches * size
        assert final.ids() == set(range(total)) and len(final) == total
        hits = final.search("common", total + 10)
        assert_ranked(hits)
        assert {i for i, _ in hits} == set(range(total))


# =========================================================================================
class HashingEmbedder:
    """Words hashed into 64 dimensions, normalised: deterministic, instant, and close enough
    to meaning for these tests (texts that share words are near). Stands in for MiniLM so a
    collection's index is tested without loading a model."""

    model_id = "test:hashing-64"
    dim = 64
    model_dir = ""

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed_query(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for word in re.findall(r"\w+", text.lower()):
            v[zlib.crc32(word.encode()) % self.dim] += 1.0
        norm = np.linalg.norm(v)
        return v / norm if norm else v


def _clause(i: int) -> str:
    # ~90 words: several chunks at 40 tokens each, every one of them naming the warranty
    parts = [f"Clause {i} part {p}: the warranty of the supplier covers item {i}{p} and its spare parts "
             f"for the agreed period, as schedule {i} sets out." for p in range(4)]
    return " ".join(parts)


BEST = "Warranty period: the warranty lasts twenty four months. Warranty period months warranty."
MODES = ("dense", "bm25", "hybrid")


def corpus_documents() -> list[tuple[str, bytes, dict]]:
    """The suite's collection: one short best match, three clauses of several chunks each."""
    docs = [("best.txt", BEST.encode(), {"team": "support"})]
    return docs + [(f"clause-{i}.txt", _clause(i).encode(), {"team": "legal"}) for i in range(3)]


def hashing_runtime(settings, embedder=None):
    """A workers.runtime.Runtime on these settings as the suite wants it: a HashingEmbedder
    (or `embedder`), chunks of about 40 tokens, no reranker. Dispose of `rt.store.engine` after."""
    from workers.runtime import Runtime

    rt = Runtime.create(settings.model_copy(update={"reranker": "none", "chunk_tokens": 40, "chunk_overlap_tokens": 8}))
    rt.__dict__["embedder"] = embedder or HashingEmbedder()  # Runtime.embedder is a cached property
    return rt


class CollectionIndexConformance:
    """A collection's index through the runtime and the search service: filters resolved to
    chunk ids, document replacement and deletion, crash repair, tenants. Subclass and
    provide the fixture `index_runtime`: a workers.runtime.Runtime on the backend whose
    embedder is a HashingEmbedder, chunks of about 40 tokens and no reranker (`hashing_runtime`)."""

    @pytest.fixture
    def index_runtime(self):
        raise NotImplementedError("a backend's test class provides the index_runtime fixture")

    @pytest.fixture
    def corpus(self, index_runtime):
        rt = index_runtime
        results = rt.ingest_texts(corpus_documents(), "c")
        assert [r.status for r in results] == ["indexed"] * 4 and all(r.chunks >= 2 for r in results[1:])
        return rt

    def _in_step(self, rt, collection: str = "c", tenant: str | None = None) -> set[int]:
        """The collection's index holds exactly its chunk rows, in both seams."""
        coll = rt.store.collection(rt.tenant_name(tenant), collection)
        index = rt.index(coll.id)
        rows = set(rt.store.all_chunk_ids(coll.id))
        assert index.vectors.ids() == rows and index.keywords.ids() == rows
        assert len(index.vectors) == len(index.keywords) == len(rows)
        return rows

    @pytest.mark.parametrize("mode", MODES)
    def test_filters_by_document_name_and_metadata_return_k_when_k_exist(self, corpus, mode):
        rt = corpus
        docs = {d["name"]: d["document_id"] for d in rt.list_documents("c")}
        query = "warranty period months"
        assert rt.search(query, "c", k=1, mode=mode)[0].document_name == "best.txt"
        for filters in (SearchFilters(metadata={"team": "legal"}), SearchFilters(name_glob="clause-*"),
                        SearchFilters(document_ids=[docs["clause-0.txt"], docs["clause-1.txt"], docs["clause-2.txt"]])):
            hits = rt.search(query, "c", k=4, mode=mode, filters=filters)
            assert len(hits) == 4 and all(h.document_name.startswith("clause-") for h in hits), (filters, hits)
            assert len({h.chunk_id for h in hits}) == 4
        only = rt.search(query, "c", k=10, mode=mode, filters=SearchFilters(document_ids=[docs["clause-1.txt"]]))
        assert {h.document_name for h in only} == {"clause-1.txt"}
        assert {h.chunk_id for h in only} == set(rt.store.chunk_ids(docs["clause-1.txt"]))
        assert rt.search(query, "c", k=5, mode=mode, filters=SearchFilters(metadata={"team": "nobody"})) == []
        assert rt.search(query, "c", k=5, mode=mode, filters=SearchFilters(document_ids=[999999])) == []

    def test_runtimes_with_different_document_weights_share_the_open_index(self, index_runtime):
        """Two runtimes of one process (an evaluation run with `--set`, a worker's jobs) open the
        same cached collection index: each search uses its own runtime's bm25_document_weight."""
        rt = index_runtime
        # licence.txt speaks of royalties in one chunk and of audits in another; short.txt has
        # one short chunk that matches "royalty" better than the licence's royalties chunk does
        royalties = "The licensee pays royalties to the licensor at the end of each calendar quarter. " * 2
        filler = "Each party keeps its own records in good order and in writing. " * 2
        audits = "The licensor may audit those payments once a year on thirty days notice. " * 2
        rt.ingest_texts([("licence.txt", "\n\n".join([royalties, filler, audits]).encode()),
                         ("short.txt", b"Royalties paid quarterly.")], "w")

        def royalty_hits(runtime):
            hits = runtime.search("royalty audit", "w", k=5, mode="bm25")
            return [h.document_name for h in hits if "royalt" in h.text.lower()]

        chunks_only = hashing_runtime(rt.settings.model_copy(update={"bm25_document_weight": 0.0}))
        try:
            for _ in range(2):  # alternate: neither leaves its weight on the shared index
                assert royalty_hits(chunks_only) == ["short.txt", "licence.txt"]  # each chunk on its own words
                assert royalty_hits(rt) == ["licence.txt", "short.txt"]  # lifted by its document's audits
        finally:
            chunks_only.store.engine.dispose()

    def test_replacing_and_deleting_a_document_keeps_the_index_in_step(self, corpus):
        rt = corpus
        before = self._in_step(rt)
        doc = next(d for d in rt.list_documents("c") if d["name"] == "clause-1.txt")
        old = set(rt.store.chunk_ids(doc["document_id"]))
        [res] = rt.ingest_texts([("clause-1.txt", b"Clause 1 now speaks of indemnity and nothing else.", {"team": "legal"})], "c")
        assert res.status == "indexed" and res.document_id == doc["document_id"]
        after = self._in_step(rt)
        assert old.isdisjoint(after) and after - before == set(rt.store.chunk_ids(doc["document_id"]))
        assert all(h.document_name != "clause-1.txt" for h in rt.search("item 11 spare parts", "c", k=20, mode="bm25"))
        assert rt.search("indemnity", "c", k=1, mode="bm25")[0].document_name == "clause-1.txt"
        best = next(d for d in rt.list_documents("c") if d["name"] == "best.txt")
        best_chunks = set(rt.store.chunk_ids(best["document_id"]))
        rt.delete_document(best["document_id"], "c")
        assert self._in_step(rt) == after - best_chunks
        for mode in MODES:
            assert all(h.document_name != "best.txt" for h in rt.search("warranty period months", "c", k=20, mode=mode))

    def test_a_writer_repairs_the_index_against_the_chunk_rows(self, corpus):
        """Rows without entries (a crash before the save) are indexed again, entries without
        rows removed, by the next writer; readers never repair. Only on a backend that saves
        its entries apart from the rows: one that commits them together has no drift to
        repair (test_a_failed_write_leaves_neither_rows_nor_entries holds it to that)."""
        from retrieval.collection_index import forget_collection_index
        from retrieval.index_factory import index_needs_reconcile

        rt = corpus
        if not index_needs_reconcile(rt.settings):
            pytest.skip("the backend commits index entries with the chunk rows: nothing to repair")
        rows = self._in_step(rt)
        coll = rt.store.collection(rt.settings.default_tenant, "c")
        index = rt.index(coll.id)
        expected = [h.chunk_id for h in rt.search("warranty period months", "c", k=5, mode="hybrid")]
        stray = 10**12 + 1
        index.vectors.remove(sorted(rows)[:3])
        index.keywords.remove(sorted(rows)[3:5])
        index.vectors.add([stray], HashingEmbedder().embed_documents(["warranty warranty"]))
        index.keywords.add([stray], ["warranty warranty"])
        index.save()
        forget_collection_index(rt.settings, coll.id)
        assert stray in rt.index(coll.id).vectors.ids()  # a reader leaves it be
        forget_collection_index(rt.settings, coll.id)
        rt.index(coll.id, writer=True)
        assert self._in_step(rt) == rows
        assert [h.chunk_id for h in rt.search("warranty period months", "c", k=5, mode="hybrid")] == expected
        rt.index(coll.id).drop()  # every entry lost
        forget_collection_index(rt.settings, coll.id)
        assert rt.search("warranty period months", "c", k=5, mode="dense") == []
        with rt.writing(coll.id):
            pass
        assert self._in_step(rt) == rows

    def test_a_failed_write_leaves_neither_rows_nor_entries(self, corpus, monkeypatch):
        """An error inside the store transaction after the index writes (a new document, a
        replaced one, the first document of a new collection) leaves no chunk rows of it and
        the previous version searchable. A backend that commits entries with the rows leaves
        no entries either, at once; one that saves them apart leaves them for its next writer
        to repair (test_a_writer_repairs_the_index_against_the_chunk_rows)."""
        from retrieval.collection_index import CollectionIndex, forget_collection_index
        from retrieval.index_factory import index_needs_reconcile

        rt = corpus
        rows = self._in_step(rt)
        coll = rt.store.collection(rt.settings.default_tenant, "c")
        before = {mode: [(h.chunk_id, h.score) for h in rt.search("warranty period months", "c", k=8, mode=mode)]
                  for mode in MODES}
        replace = CollectionIndex.replace

        def replace_then_fail(index, *args, **kwargs):
            replace(index, *args, **kwargs)
            raise RuntimeError("the worker died after writing the index")

        monkeypatch.setattr(CollectionIndex, "replace", replace_then_fail)
        docs = [("new.txt", b"Indemnity: the supplier indemnifies the buyer.", {"team": "legal"}),
                ("clause-1.txt", b"Clause 1 now speaks of indemnity and nothing else.", {"team": "legal"})]
        assert [r.status for r in rt.ingest_texts(docs, "c")] == ["failed", "failed"]
        assert [r.status for r in rt.ingest_texts(docs[:1], "fresh")] == ["failed"]
        monkeypatch.undo()
        fresh = rt.store.collection(rt.settings.default_tenant, "fresh")
        assert set(rt.store.all_chunk_ids(coll.id)) == rows and rt.store.all_chunk_ids(fresh.id) == []
        if index_needs_reconcile(rt.settings):
            for cid in (coll.id, fresh.id):
                with rt.writing(cid):
                    pass
        for reopen in (False, True):  # the instances that wrote, then new ones
            if reopen:
                forget_collection_index(rt.settings, coll.id)
                forget_collection_index(rt.settings, fresh.id)
            assert self._in_step(rt) == rows and self._in_step(rt, "fresh") == set()
            for mode in MODES:
                after = [(h.chunk_id, h.score) for h in rt.search("warranty period months", "c", k=8, mode=mode)]
                assert [i for i, _ in after] == [i for i, _ in before[mode]], mode
                assert [s for _, s in after] == pytest.approx([s for _, s in before[mode]], abs=1e-6)
                assert rt.search("indemnity", "fresh", k=5, mode=mode) == []
        assert rt.search("indemnity", "c", k=5, mode="bm25") == []
        # and the collections take the same documents afterwards
        assert [r.status for r in rt.ingest_texts(docs, "c")] == ["indexed", "indexed"]
        assert [r.status for r in rt.ingest_texts(docs[:1], "fresh")] == ["indexed"]
        self._in_step(rt)
        assert rt.search("indemnity", "fresh", k=1, mode="bm25")[0].document_name == "new.txt"

    def test_tenants_and_collections_never_see_each_other(self, corpus):
        rt = corpus
        rt.ingest_texts([("other.txt", BEST.encode(), {"team": "legal"})], "c", tenant="t2")
        rt.ingest_texts([("third.txt", BEST.encode())], "d")
        for mode in MODES:
            assert all(h.document_name != "other.txt" and h.document_name != "third.txt"
                       for h in rt.search("warranty period months", "c", k=20, mode=mode))
            assert {h.document_name for h in rt.search("warranty period months", "c", k=20, mode=mode,
                                                     tenant="t2")} == {"other.txt"}
        rows = self._in_step(rt)
        self._in_step(rt, tenant="t2")
        rt.delete_collection("c", tenant="t2")
        assert self._in_step(rt) == rows and self._in_step(rt, "d")
