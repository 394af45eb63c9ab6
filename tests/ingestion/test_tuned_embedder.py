"""The retrieval-tuned MiniLM DocIntel ships as weight deltas (ingestion/model/), assembled
into the models directory on first use (ingestion.embedding.assemble_tuned_model)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.settings import Settings
from ingestion.embedding import (EmbeddingModelError, assemble_tuned_model, packaged_model_dir, resolve_model_dir,
                                 shipped_embedder_dir)

pytestmark = pytest.mark.slow


def test_default_model_is_the_tuned_one_assembled_from_the_installed_minilm_and_the_shipped_deltas(tmp_path):
    from safetensors.numpy import load_file

    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data")
    folder = resolve_model_dir(settings)
    assert folder == str(assemble_tuned_model(settings))  # assembled once, then reused
    manifest = json.loads((shipped_embedder_dir() / "manifest.json").read_text())
    assert (shipped_embedder_dir() / manifest["file"]).stat().st_size < 30e6  # the artefact stays small
    tuned, base = load_file(f"{folder}/model.safetensors"), load_file(f"{packaged_model_dir()}/model.safetensors")
    delta = load_file(str(shipped_embedder_dir() / manifest["file"]))
    assert set(tuned) == set(base) and len(delta) == manifest["tensors"]
    name = sorted(delta)[0]
    assert np.allclose(tuned[name], base[name] + delta[name].astype(np.float32), atol=1e-6)
    assert not np.array_equal(tuned[name], base[name])
    # The word embeddings were frozen: every word keeps its place, only the layers changed.
    assert np.array_equal(tuned["embeddings.word_embeddings.weight"], base["embeddings.word_embeddings.weight"])
    assert resolve_model_dir(Settings(models_dir=tmp_path / "models", embedding_model="minilm")) == str(packaged_model_dir())
    # An index records the embedder by model id: the same weights assembled in another
    # models directory (another machine, a container) are the same model, another one is not.
    from ingestion.embedding import get_embedder

    here = get_embedder(settings).model_id
    assert here == get_embedder(Settings(models_dir=tmp_path / "elsewhere", data_dir=tmp_path / "data")).model_id
    assert manifest["sha256"][:12] in here
    assert here != get_embedder(Settings(models_dir=tmp_path / "models", embedding_model="minilm")).model_id


def test_a_corrupt_shipped_file_is_a_clear_error_and_a_broken_assembly_is_redone(tmp_path):
    shipped = tmp_path / "shipped"
    shutil.copytree(shipped_embedder_dir(), shipped)
    settings = Settings(models_dir=tmp_path / "models")
    good = assemble_tuned_model(settings, shipped=shipped)
    # Someone edits the assembled weights: a new process (no per-process memo) rebuilds them.
    from ingestion import embedding

    before = (good / "model.safetensors").read_bytes()
    (good / "model.safetensors").write_bytes(b"not weights")
    embedding._ASSEMBLED.clear()
    assert (assemble_tuned_model(settings, shipped=shipped) / "model.safetensors").read_bytes() == before
    # An edit that keeps the file's size passes the start-up check (which hashes nothing) but
    # not the reader: torch and the ONNX export verify the weights' sha256 first.
    data = bytearray(before)
    data[-1] ^= 0xFF
    (good / "model.safetensors").write_bytes(bytes(data))
    embedding._ASSEMBLED.clear()
    embedding._VERIFIED.clear()
    assert assemble_tuned_model(settings, shipped=shipped) == good
    with pytest.raises(EmbeddingModelError, match=f"sha256.*delete {good}"):
        embedding.SentenceTransformerEmbedder(str(good)).embed_query("warranty")
    with pytest.raises(EmbeddingModelError, match=f"sha256.*delete {good}"):
        embedding.build_onnx_model(settings, str(good))
    (good / "model.safetensors").write_bytes(before)
    embedding._ASSEMBLED.clear()
    # A shipped delta that is not what the manifest says is refused, with what to do.
    manifest = json.loads((shipped / "manifest.json").read_text())
    data = bytearray((shipped / manifest["file"]).read_bytes())
    data[-1] ^= 0xFF
    (shipped / manifest["file"]).write_bytes(bytes(data))
    embedding._ASSEMBLED.clear()
    with pytest.raises(EmbeddingModelError, match="sha256.*DOCINTEL_EMBEDDING_MODEL=minilm"):
        assemble_tuned_model(Settings(models_dir=tmp_path / "other-models"), shipped=shipped)


def test_starting_a_process_does_not_hash_the_assembled_weights(tmp_path, monkeypatch):
    """Every API, worker and CLI process resolves the model at start; the default int8
    runtime never reads the float32 weights, so resolving must not hash their 91 MB."""
    from ingestion import embedding

    settings = Settings(models_dir=tmp_path / "models")
    folder = assemble_tuned_model(settings)
    embedding._ASSEMBLED.clear()
    hashed = []
    real = embedding.sha256_file
    monkeypatch.setattr(embedding, "sha256_file", lambda path: hashed.append(Path(path).name) or real(path))
    assert resolve_model_dir(settings) == str(folder)
    assert "model.safetensors" not in hashed
    # A record written before sizes were kept is checked in full once, not assembled again.
    record = json.loads((folder / "assembled.json").read_text())
    (folder / "assembled.json").write_text(json.dumps({k: v for k, v in record.items() if k != "size"}))
    embedding._ASSEMBLED.clear()
    hashed.clear()
    assert resolve_model_dir(settings) == str(folder)
    assert hashed == ["model.safetensors"]  # the shipped delta was not read: nothing assembled


def test_tuned_and_published_models_are_different_vector_spaces_that_never_mix(tmp_path):
    """A collection indexed by the published MiniLM refuses to open under the tuned one
    (the vectors would not be comparable) and says how to fix it."""
    from workers.runtime import Runtime

    base = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models", embedding_model="minilm")
    rt = Runtime.create(base)
    rt.ingest_texts([("a.txt", b"The supplier shall deliver the goods within thirty days of the order.")], "c")
    assert rt.search("delivery time", "c", k=1)
    tuned = Runtime.create(Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models"))
    with pytest.raises(Exception, match="reembed|re-ingest"):
        tuned.search("delivery time", "c", k=1)


def test_processes_assembling_at_once_all_get_the_same_verified_model(tmp_path):
    """An API and its workers starting together on a fresh models directory each assemble
    the model; none fails or reads half a folder, and one copy is left."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from core.settings import Settings; "
            "from ingestion.embedding import assemble_tuned_model; "
            "print(assemble_tuned_model(Settings(models_dir=Path(sys.argv[1]))))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "models")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-500:] for _, err in results]
    folders = {out.strip() for out, _ in results}
    assert len(folders) == 1
    from ingestion.embedding import _assembled_ok

    folder = next(iter(folders))
    assert _assembled_ok(Path(folder))
    assert [p.name for p in (tmp_path / "models").iterdir()] == [Path(folder).name]  # no temporary copies left
