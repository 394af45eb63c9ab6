"""The int8 ONNX MiniLM against the torch model it is exported from (real models, no mocks)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.settings import Settings
from ingestion.embedding import (
    EmbeddingModelError,
    OnnxInt8Embedder,
    SentenceTransformerEmbedder,
    build_onnx_model,
    document_runtime,
    get_embedder,
    onnx_model_path,
    resolve_model_dir,
)

pytestmark = pytest.mark.slow

SENTENCES = [
    "What is the governing law of this agreement?",
    "The Supplier shall indemnify the Customer against all third-party claims arising from a breach.",
    "Press the Home button on the Samsung Smart Remote, then select Settings > Picture > Expert Settings.",
    "hello",
    "termination " * 300,  # longer than the 256-token window: both runtimes truncate
]


@pytest.fixture(scope="session")
def onnx_settings(tmp_path_factory) -> Settings:
    """One export per test session (about 10 s), into the session's models directory
    (tests/conftest.py); the tests below share the built file."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("onnx") / "var", _env_file=None)
    assert build_onnx_model(settings)["status"] in ("built", "present")
    return settings


@pytest.fixture(scope="session")
def onnx_embedder(onnx_settings) -> OnnxInt8Embedder:
    return OnnxInt8Embedder(onnx_settings, resolve_model_dir(onnx_settings))


def test_vectors_are_unit_norm_and_close_to_torch(onnx_settings, onnx_embedder):
    torch_vecs = SentenceTransformerEmbedder(resolve_model_dir(onnx_settings)).embed_documents(SENTENCES)
    docs = onnx_embedder.embed_documents(SENTENCES)
    queries = np.vstack([onnx_embedder.embed_query(s) for s in SENTENCES])
    for vecs in (docs, queries):
        assert vecs.shape == (len(SENTENCES), 384) and vecs.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
        assert ((vecs * torch_vecs).sum(1) > 0.99).all()
    assert onnx_embedder.embed_documents([]).shape == (0, 384)


def test_tokenisation_matches_the_models_auto_tokenizer(onnx_settings, onnx_embedder):
    from transformers import AutoTokenizer

    onnx_embedder.embed_query("load")
    auto = AutoTokenizer.from_pretrained(resolve_model_dir(onnx_settings), local_files_only=True)
    for text in SENTENCES:
        want = auto(text, truncation=True, max_length=256)["input_ids"]
        assert onnx_embedder._tokenizer.encode(text).ids == want


def test_cached_model_is_reused(onnx_settings, onnx_embedder):
    path = onnx_model_path(onnx_settings)
    before = path.stat().st_mtime_ns
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["opset"] == 17 and meta["source_model_dir"] == str(Path(resolve_model_dir(onnx_settings)).resolve())
    assert build_onnx_model(onnx_settings)["status"] == "present"
    again = OnnxInt8Embedder(onnx_settings, resolve_model_dir(onnx_settings))
    np.testing.assert_allclose(again.embed_query(SENTENCES[0]), onnx_embedder.embed_query(SENTENCES[0]), atol=1e-6)
    assert path.stat().st_mtime_ns == before


def test_corrupt_cached_model_is_rebuilt(onnx_settings, tmp_path):
    settings = Settings(data_dir=tmp_path / "var", models_dir=tmp_path / "models", _env_file=None)  # its own models
    src, dst = onnx_model_path(onnx_settings), onnx_model_path(settings)
    assert dst.parent == tmp_path / "models"
    dst.parent.mkdir(parents=True, exist_ok=True)  # the tuned embedder may be assembled there already
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    data = bytearray(src.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64  # flipped bytes inside the weights
    dst.write_bytes(bytes(data))
    embedder = OnnxInt8Embedder(settings, resolve_model_dir(settings))
    vec = embedder.embed_query(SENTENCES[0])  # verified on load -> rebuilt
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-4
    assert build_onnx_model(settings)["status"] == "present"  # the rebuilt file matches its sidecar


def test_unbuildable_source_is_a_clear_error(tmp_path):
    settings = Settings(data_dir=tmp_path / "var", models_dir=tmp_path / "models",
                        embedding_model_path=str(tmp_path / "no-model"), _env_file=None)
    with pytest.raises(EmbeddingModelError, match="could not build the ONNX encoder"):
        build_onnx_model(settings)


def test_models_are_shared_by_data_directories(onnx_settings, tmp_path):
    """A second data directory finds the encoder built for the first (one models location),
    and still verifies it."""
    from ingestion.embedding import onnx_model_status

    other = Settings(data_dir=tmp_path / "other-var", models_dir=onnx_settings.models_dir, _env_file=None)
    assert onnx_model_path(other) == onnx_model_path(onnx_settings)
    assert not onnx_model_path(other).is_relative_to(other.data_dir)
    row = onnx_model_status(other, verify=True)
    assert row["present"] and row["verified"]
    assert build_onnx_model(other)["status"] == "present"


def test_factory_runtimes(onnx_settings):
    split = get_embedder(onnx_settings.model_copy(update={"embedding_runtime": "torch", "query_embedding_runtime": "onnx-int8"}))
    # The index is named by what built its vectors, whatever embeds the queries.
    assert split.model_id.startswith("sentence-transformers:") and split.dim == 384
    onnx = get_embedder(onnx_settings.model_copy(update={"embedding_runtime": "onnx-int8", "query_embedding_runtime": ""}))
    assert onnx.model_id.startswith("onnx-int8:")
    torch_only = get_embedder(onnx_settings.model_copy(update={"embedding_runtime": "torch", "query_embedding_runtime": "torch"}))
    assert isinstance(torch_only, SentenceTransformerEmbedder)
    with pytest.raises(ValueError, match="unknown embedding runtime"):
        get_embedder(onnx_settings.model_copy(update={"query_embedding_runtime": "tensorrt"}))
    # A model of the user's own stays on torch for documents and queries: the export assumes MiniLM.
    custom = onnx_settings.model_copy(update={"embedding_model_path": resolve_model_dir(onnx_settings),
                                              "embedding_runtime": "onnx-int8", "query_embedding_runtime": "onnx-int8"})
    assert document_runtime(custom) == "torch" and document_runtime(onnx_settings.model_copy(
        update={"embedding_runtime": "onnx-int8"})) == "onnx-int8"
    assert isinstance(get_embedder(custom), SentenceTransformerEmbedder)


def test_models_status_reports_and_verifies_the_encoder(onnx_settings, tmp_path):
    from ingestion.embedding import onnx_model_status

    row = onnx_model_status(onnx_settings, verify=True)
    assert row["present"] and row["verified"] and row["size"] > 10_000_000
    settings = Settings(data_dir=tmp_path / "var", models_dir=tmp_path / "models", _env_file=None)  # an empty models location
    assert onnx_model_status(settings, verify=True)["present"] is False
    src, dst = onnx_model_path(onnx_settings), onnx_model_path(settings)
    dst.parent.mkdir(parents=True, exist_ok=True)  # the tuned embedder may be assembled there already
    dst.write_bytes(src.read_bytes()[:-10])  # truncated file, sidecar of the full one
    dst.with_suffix(".json").write_text(src.with_suffix(".json").read_text())
    row = onnx_model_status(settings, verify=True)
    assert row["present"] and not row["verified"] and "docintel models install" in row["reason"]


def test_a_query_does_not_wait_for_the_model_lock_but_documents_do(onnx_settings):
    """A search while an answer decodes: the one-thread query encoder runs beside the LLM's
    model call instead of queueing behind it; document batches (all cores) take turns."""
    import threading

    from core.compute import MODEL_CALL

    settings = onnx_settings.model_copy(update={"embedding_runtime": "onnx-int8", "embedding_threads": 0,
                                                "query_embedding_runtime": "onnx-int8", "query_embedding_threads": 1})
    embedder = get_embedder(settings)
    embedder.embed_query("warm up")
    embedder.embed_documents(["warm up"])
    assert MODEL_CALL.acquire()  # an answer is being decoded
    try:
        assert embedder.embed_query("What is the governing law?").shape == (384,)
        done = threading.Event()
        worker = threading.Thread(target=lambda: (embedder.embed_documents(["a clause"]), done.set()))
        worker.start()
        assert not done.wait(0.5), "a document batch ran while the model lock was held"
    finally:
        MODEL_CALL.release()
    assert done.wait(10)
    worker.join()


def test_dynamic_runtime_is_its_own_file_and_vector_space(onnx_settings, onnx_embedder):
    """onnx-int8-dynamic (the recipe for CPUs without VNNI) builds its own verified file,
    gives vectors close to the blockwise ones, and names its index differently, so an index
    built by one runtime is never extended or queried with the other's vectors."""
    from ingestion.embedding import onnx_model_status

    settings = onnx_settings.model_copy(update={"embedding_runtime": "onnx-int8-dynamic", "query_embedding_runtime": ""})
    built = build_onnx_model(settings, runtime="onnx-int8-dynamic")
    assert built["model"] == "minilm-onnx-int8-dynamic" and built["status"] in ("built", "present")
    assert Path(built["path"]) != onnx_model_path(onnx_settings)
    meta = json.loads(Path(built["path"]).with_suffix(".json").read_text())
    assert meta["quantization"].startswith("MatMulInteger")
    assert onnx_model_status(settings, verify=True, runtime="onnx-int8-dynamic")["verified"]
    dynamic = get_embedder(settings)
    assert dynamic.model_id.startswith("onnx-int8-dynamic:") and dynamic.model_id != onnx_embedder.model_id
    vecs = dynamic.embed_documents(SENTENCES)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert ((vecs * onnx_embedder.embed_documents(SENTENCES)).sum(1) > 0.97).all()
    # A text's vector does not depend on what it is embedded with (one activation scale per
    # tensor would otherwise be shared by a batch): alone, or beside longer texts, the same.
    for i, text in enumerate(SENTENCES):
        np.testing.assert_allclose(dynamic.embed_documents([text])[0], vecs[i], atol=1e-6)
    # The blockwise file's sidecar does not pass for the dynamic recipe (and so is never taken for it).
    from ingestion.embedding import _cached_ok

    assert _cached_ok(onnx_model_path(onnx_settings), str(Path(resolve_model_dir(settings)).resolve()),
                      "onnx-int8-dynamic")[0] is False
