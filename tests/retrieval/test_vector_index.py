"""Conformance tests every VectorIndex implementation must pass (one mixin, many backends)."""
import numpy as np
import pytest

from core.errors import EmbedderMismatchError
from retrieval.vector_index import FaissVectorIndex, HnswOptions, faiss_ids

pytestmark = pytest.mark.unit


def _unit(rng, n, d):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class VectorIndexConformance:
    """Subclass and provide `make(folder, dim)` to check a new backend."""

    dim = 16

    def make(self, folder, dim):
        raise NotImplementedError

    def test_add_search_stable_ids(self, tmp_path):
        rng = np.random.default_rng(0)
        idx = self.make(tmp_path, self.dim)
        vecs = _unit(rng, 50, self.dim)
        ids = list(range(1000, 1050))
        idx.add(ids, vecs)
        top = idx.search(vecs[7], 3)
        assert top[0][0] == 1007 and top[0][1] == pytest.approx(1.0, abs=1e-5)
        assert len(idx) == 50

    def test_remove_by_id(self, tmp_path):
        rng = np.random.default_rng(1)
        idx = self.make(tmp_path, self.dim)
        vecs = _unit(rng, 10, self.dim)
        idx.add(list(range(10)), vecs)
        assert idx.remove([3, 4, 99]) == 2
        assert all(i not in (3, 4) for i, _ in idx.search(vecs[3], 10))
        assert len(idx) == 8

    def test_persist_and_reload(self, tmp_path):
        rng = np.random.default_rng(2)
        idx = self.make(tmp_path, self.dim)
        vecs = _unit(rng, 5, self.dim)
        idx.add([10, 20, 30, 40, 50], vecs)
        idx.save()
        again = self.make(tmp_path, self.dim)
        assert len(again) == 5
        assert again.search(vecs[2], 1)[0][0] == 30
        assert set(again.reconstruct([10, 999])) == {10}

    def test_empty_index_and_k_larger_than_size(self, tmp_path):
        idx = self.make(tmp_path, self.dim)
        assert idx.search(np.ones(self.dim, np.float32), 5) == []
        idx.add([1], _unit(np.random.default_rng(3), 1, self.dim))
        assert len(idx.search(np.ones(self.dim, np.float32), 5)) == 1


class TestFaissVectorIndex(VectorIndexConformance):
    def make(self, folder, dim):
        return FaissVectorIndex(folder, dim)

    def test_reader_reloads_new_version(self, tmp_path):
        writer = FaissVectorIndex(tmp_path, self.dim)
        reader = FaissVectorIndex(tmp_path, self.dim)
        writer.add([1, 2], _unit(np.random.default_rng(4), 2, self.dim))
        writer.save()
        assert len(reader) == 0
        reader.refresh()
        assert len(reader) == 2 and faiss_ids(reader) == {1, 2}

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


class TestFaissWithHnsw(VectorIndexConformance):
    """The same contract with the HNSW graph on from the first vector."""

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


def test_an_index_refuses_another_embedders_vectors(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3, 8)).astype(np.float32)
    idx = FaissVectorIndex(tmp_path, 8, model_id="sentence-transformers:minilm")
    idx.add([1, 2, 3], vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    idx.save()
    assert len(FaissVectorIndex(tmp_path, 8, model_id="sentence-transformers:minilm")) == 3
    with pytest.raises(EmbedderMismatchError, match="re-ingest"):
        FaissVectorIndex(tmp_path, 8, model_id="onnx-int8:minilm")
    assert len(FaissVectorIndex(tmp_path, 8)) == 3  # a caller that does not say accepts any


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
