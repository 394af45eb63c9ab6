"""`docintel collections reembed` (Runtime.reembed_collection, retrieval/reembed.py): a
collection built by one document runtime refuses to open under another, naming the command,
and after it searches again with vectors (and sentence vectors) of the configured runtime only."""
from __future__ import annotations

import json

import numpy as np
import pytest
from index_conformance import HashingEmbedder, corpus_documents

from core.errors import EmbedderMismatchError
from ingestion.sentences import unpack


class OtherRuntime(HashingEmbedder):
    """The same model under another runtime: same dimension, slightly different vectors."""

    model_id = "test:hashing-64-other-runtime"

    def embed_query(self, text: str) -> np.ndarray:
        v = super().embed_query(text) + 0.01
        return v / np.linalg.norm(v)


def _runtime(settings, embedder):
    from workers.runtime import Runtime

    rt = Runtime.create(settings.model_copy(update={"reranker": "sentence", "chunk_tokens": 40, "chunk_overlap_tokens": 8}))
    rt.__dict__["embedder"] = embedder  # Runtime.embedder is a cached property
    return rt


def _forget(rt):
    from retrieval.collection_index import _OPEN

    _OPEN.clear()  # a new process: nothing open
    rt.store.engine.dispose()


@pytest.mark.integration
def test_a_collection_of_another_runtime_is_refused_then_reembedded(any_settings):
    old = _runtime(any_settings, HashingEmbedder())
    old.ingest_texts(corpus_documents(), "c")
    ids = sorted(old.store.chunk_documents(old.store.collection(old.settings.default_tenant, "c").id))
    before = old.store.sentence_vectors(ids)
    assert len(before) == len(ids)
    _forget(old)

    rt = _runtime(any_settings, OtherRuntime())
    with pytest.raises(EmbedderMismatchError, match=r"docintel collections reembed c --tenant"):
        rt.search("warranty of the supplier", "c")
    with pytest.raises(EmbedderMismatchError):  # nor is anything added to it
        rt.ingest_texts([("new.txt", b"the warranty covers spare parts for ten years")], "c")

    seen = []
    out = rt.reembed_collection("c", progress=lambda done, total: seen.append((done, total)))
    assert (out["reembedded"], out["sentence_vectors"], out["up_to_date"]) == (len(ids), len(ids), False)
    assert out["model_id"] == OtherRuntime.model_id and seen[-1] == (2 * len(ids), 2 * len(ids))
    hits = rt.search("warranty of the supplier", "c", k=3)
    assert hits and hits[0].score > 0.5
    cid = rt.store.collection(rt.settings.default_tenant, "c").id
    vecs = rt.index(cid).vectors.reconstruct(ids)
    texts = rt.index(cid).index_texts(ids)
    np.testing.assert_allclose(np.stack([vecs[c] for c in ids]), OtherRuntime().embed_documents([texts[c] for c in ids]),
                               atol=1e-6)
    after = rt.store.sentence_vectors(ids)
    assert set(after) == set(ids) and any(after[c] != before[c] for c in ids)
    assert unpack(after[ids[0]], 64).shape[1] == 64
    # new documents now go in with the configured runtime, and a second run has nothing to do
    rt.ingest_texts([("new.txt", b"the warranty covers spare parts for ten years")], "c")
    assert rt.reembed_collection("c")["up_to_date"] is True
    _forget(rt)

    back = _runtime(any_settings, HashingEmbedder())  # the old runtime now refuses it: never mixed
    with pytest.raises(EmbedderMismatchError, match="reembed"):
        back.search("warranty", "c")
    _forget(back)


@pytest.mark.slow
def test_torch_built_collection_after_switching_to_onnx_int8(tmp_path, capsys):
    """Real models: a collection ingested with embedding_runtime=torch, the setting switched
    to onnx-int8, then the CLI command; search finds the same best document."""
    from typer.testing import CliRunner

    from cli.main import app
    from core.settings import Settings
    from ingestion.embedding import build_onnx_model
    from workers.runtime import Runtime

    base = Settings(data_dir=tmp_path / "var", _env_file=None, reranker="none")
    assert build_onnx_model(base)["status"] in ("built", "present")
    docs = corpus_documents()
    torch_rt = Runtime.create(base.model_copy(update={"embedding_runtime": "torch"}))
    torch_rt.ingest_texts(docs, "c")
    query = "warranty of the supplier for spare parts"
    best = torch_rt.search(query, "c", k=1)[0].document_id
    _forget(torch_rt)

    int8_rt = Runtime.create(base.model_copy(update={"embedding_runtime": "onnx-int8"}))
    with pytest.raises(EmbedderMismatchError, match=r"sentence-transformers:.*onnx-int8:.*docintel collections reembed c"):
        int8_rt.search(query, "c")
    _forget(int8_rt)

    env = {"DOCINTEL_DATA_DIR": str(base.data_dir), "DOCINTEL_EMBEDDING_RUNTIME": "onnx-int8", "DOCINTEL_RERANKER": "none"}
    res = CliRunner().invoke(app, ["collections", "reembed", "c", "--json"], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["model_id"].startswith("onnx-int8:") and out["reembedded"] > 0 and out["runtime"] == "onnx-int8"

    int8_rt = Runtime.create(base.model_copy(update={"embedding_runtime": "onnx-int8"}))
    assert int8_rt.search(query, "c", k=1)[0].document_id == best
    _forget(int8_rt)
