"""The FAISS VectorIndex beyond the shared contract: atomic files, dimension and embedder
checks, the HNSW graph. The contract itself is tests/index_conformance.py."""
import numpy as np
import pytest

from retrieval.keyword_index import Bm25KeywordIndex
from retrieval.vector_index import FaissVectorIndex, HnswOptions

pytestmark = pytest.mark.unit


def _unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class TestFaissVectorIndex:
    """What the files backend adds to the shared contract (tests/index_conformance.py, run
    on it by tests/retrieval/test_index_conformance.py)."""

    dim = 16

    def test_save_leaves_no_temp_files(self, tmp_path):
        idx = FaissVectorIndex(tmp_path, self.dim)
        idx.add([1], _unit(np.random.default_rng(5), 1, self.dim))
        idx.save()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "vectors.faiss"]

    def test_dimension_mismatch_is_explained(self, tmp_path):
        idx = FaissVectorIndex(tmp_path, self.dim)
        idx.save()
        with pytest.raises(RuntimeError, match="re-ingest the collection"):
            FaissVectorIndex(tmp_path, 32)

    def test_drop_removes_its_files_and_an_interrupted_write_then_the_empty_folder(self, tmp_path):
        folder = tmp_path / "collection"
        vectors, keywords = FaissVectorIndex(folder, self.dim, HnswOptions(min_vectors=1)), Bm25KeywordIndex(folder)
        vectors.add([1], _unit(np.random.default_rng(6), 1, self.dim))
        keywords.add([1], ["royalty"])
        vectors.save()
        keywords.save()
        (folder / ".vectors.faiss.abc123.tmp").write_bytes(b"half a file")
        vectors.drop()
        assert sorted(p.name for p in folder.iterdir()) == ["keywords.manifest.json", "keywords.npz", "keywords.vocab.json"]
        keywords.drop()
        assert not folder.exists()


class TestFaissWithHnsw:
    """The HNSW graph (on from the first vector here): how it is kept and when it is used."""

    dim = 16

    def make(self, folder, dim):
        return FaissVectorIndex(folder, dim, HnswOptions(min_vectors=1))

    def test_graph_serves_unfiltered_queries_and_never_returns_removed_ids(self, tmp_path):
        rng = np.random.default_rng(7)
        vecs = _unit(rng, 400, self.dim)
        idx = self.make(tmp_path, self.dim)
        idx.add(list(range(400)), vecs)
        idx.save()
        assert idx.uses_graph and (tmp_path / "vectors.hnsw").exists()
        assert idx.search(vecs[5], 1)[0][0] == 5
        idx.remove([5, 6])
        assert all(i not in (5, 6) for i, _ in idx.search(vecs[5], 50))
        # A reader loading the saved graph excludes ids removed after it was written.
        idx.save()
        reader = self.make(tmp_path, self.dim)
        assert reader.uses_graph and all(i not in (5, 6) for i, _ in reader.search(vecs[6], 50))
        # A selective filter searches exactly: the allowed ids come back, k of them.
        allowed = {10, 200, 399}
        assert {i for i, _ in reader.search(vecs[0], 3, allowed)} == allowed

    def test_graph_is_rebuilt_when_removed_ids_pile_up(self, tmp_path):
        rng = np.random.default_rng(8)
        idx = FaissVectorIndex(tmp_path, self.dim, HnswOptions(min_vectors=1, max_stale_share=0.1))
        vecs = _unit(rng, 100, self.dim)
        idx.add(list(range(100)), vecs)
        idx.save()
        idx.remove(list(range(20)))
        assert len(idx._stale) == 20
        idx.save()
        assert idx._stale == set() and idx.uses_graph and idx._graph.ntotal == 80

    def test_small_collections_stay_exact(self, tmp_path):
        idx = FaissVectorIndex(tmp_path, self.dim, HnswOptions(min_vectors=1000))
        idx.add(list(range(10)), _unit(np.random.default_rng(9), 10, self.dim))
        idx.save()
        assert not idx.uses_graph and not (tmp_path / "vectors.hnsw").exists()


def test_an_index_saved_before_model_ids_stays_unstamped(tmp_path):
    import json

    rng = np.random.default_rng(1)
    idx = FaissVectorIndex(tmp_path, 8, model_id="a")
    idx.add([1, 2], rng.normal(size=(2, 8)).astype(np.float32))
    idx.save()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["model_id"]  # as written by an older release
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    legacy = FaissVectorIndex(tmp_path, 8, model_id="b")  # unknown maker: opened, not blessed
    legacy.add([3], rng.normal(size=(1, 8)).astype(np.float32))
    legacy.save()
    assert json.loads((tmp_path / "manifest.json").read_text())["model_id"] is None


def test_searches_from_any_thread_use_the_configured_faiss_team(tmp_path):
    """OpenMP keeps its team size per thread: the setting made at a server's start must
    hold in the request threads that search, or each idle team spins a core."""
    import threading

    import faiss

    from retrieval import vector_index

    idx = FaissVectorIndex(tmp_path, dim=4)
    idx.add([1, 2], np.eye(4, dtype=np.float32)[:2])
    before = vector_index._FAISS_THREADS
    try:
        vector_index.set_faiss_threads(1)
        seen = {}

        def search_in_a_new_thread():
            seen["hits"] = idx.search(np.eye(4, dtype=np.float32)[0], 1)
            seen["after"] = faiss.omp_get_max_threads()

        t = threading.Thread(target=search_in_a_new_thread)
        t.start()
        t.join()
        assert seen["hits"][0][0] == 1
        assert seen["after"] == 1
    finally:
        vector_index._FAISS_THREADS = before
