"""Sentence vectors for the reranker (ingestion/sentences.py embed_chunks): embedded on their
own (the default) or pooled from the chunk pass (OnnxInt8Embedder.embed_with_spans), on the
real int8 encoder: no mocks."""
from __future__ import annotations

import json

import numpy as np
import pytest

import ingestion.sentences as sentences
from core.settings import Settings
from ingestion.embedding import ONNX_RECIPE, OnnxInt8Embedder, build_onnx_model, onnx_model_path, resolve_model_dir
from ingestion.sentences import _groups, embed_chunks, embed_sentences, split_sentences

pytestmark = pytest.mark.slow

# Sentences about unrelated things, so each one's nearest neighbour is unambiguous.
CHUNK = (
    "Payment terms\n"
    "The customer must pay every invoice within thirty days of receiving it. "
    "Goods are shipped from the central warehouse in sealed containers. "
    "This agreement is governed by the laws of the State of New York. "
    "Either party may terminate on ninety days written notice to the other."
)


@pytest.fixture
def pooled(monkeypatch):
    """Sentence vectors pooled from the chunk pass (not the default: docs/benchmarks.md)."""
    monkeypatch.setattr(sentences, "POOLED", True)


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> OnnxInt8Embedder:
    settings = Settings(data_dir=tmp_path_factory.mktemp("pool") / "var", _env_file=None)
    build_onnx_model(settings)
    return OnnxInt8Embedder(settings, resolve_model_dir(settings))


def test_the_export_has_a_token_output_and_the_same_vectors_under_the_same_model_id(embedder):
    import onnx

    embedder.embed_query("load")
    meta = json.loads(onnx_model_path(embedder.settings).with_suffix(".json").read_text())
    assert meta["recipe"] == ONNX_RECIPE and meta["outputs"] == ["embedding", "token_embeddings"]
    assert meta["fusion"] == "none"
    ops = {n.op_type for n in onnx.load(str(embedder.path), load_external_data=False).graph.node}
    assert "MatMulNBits" in ops and "MultiHeadAttention" not in ops
    # The `embedding` output is recipe 2's, so indexes it built keep opening: same model id.
    from ingestion.embedding import model_label

    assert embedder.model_id == f"onnx-int8:{model_label(embedder.model_dir)}"


def test_the_fused_attention_export(embedder, tmp_path, monkeypatch):
    """FUSED_ATTENTION (off by default): ORT's BERT fusions before quantising; vectors close
    to the unfused export's, under another model id (so the two are never mixed)."""
    import onnx

    import ingestion.embedding as embedding

    monkeypatch.setattr(embedding, "FUSED_ATTENTION", True)
    settings = Settings(data_dir=tmp_path / "var", models_dir=tmp_path / "models", _env_file=None)
    fused = OnnxInt8Embedder(settings, resolve_model_dir(settings))
    vecs = fused.embed_documents([CHUNK, *split_sentences(CHUNK)])
    ops = {n.op_type for n in onnx.load(str(fused.path), load_external_data=False).graph.node}
    assert {"MultiHeadAttention", "SkipLayerNormalization", "BiasGelu", "MatMulNBits"} <= ops and "Softmax" not in ops
    assert json.loads(fused.path.with_suffix(".json").read_text())["fusion"].startswith("MultiHeadAttention")
    assert ((vecs * embedder.embed_documents([CHUNK, *split_sentences(CHUNK)])).sum(1) > 0.999).all()
    assert fused.model_id == embedder.model_id + "+fused"
    monkeypatch.setattr(embedding, "FUSED_ATTENTION", False)  # the cached fused file is not the unfused export
    assert build_onnx_model(settings)["status"] == "built"


def test_sentence_spans_cover_what_split_sentences_returns():
    texts = [CHUNK, "Short.\nA heading\nThen the text under the heading goes on here.", "one two",
             "\n".join(f"Line number {i} of a long list here." for i in range(60))]
    for text in texts:
        groups = _groups(text)
        assert [" ".join(text[s:e] for s, e in g) for g in groups] == split_sentences(text)
        for g, sent in zip(groups, split_sentences(text)):
            assert " ".join(text[g[0][0]: g[-1][1]].split()) == " ".join(sent.split())
    assert len(split_sentences(texts[-1])) == sentences.MAX_SENTENCES


def test_one_pass_gives_the_chunk_vector_and_sentence_vectors_that_match_their_sentences(embedder, pooled):
    sents = split_sentences(CHUNK)
    assert len(sents) == 4  # the heading travels with the first sentence
    vecs, blocks = embed_chunks(embedder, [CHUNK])
    np.testing.assert_allclose(vecs[0], embedder.embed_documents([CHUNK])[0], atol=1e-5)
    block = blocks[0]
    assert block.shape == (4, embedder.dim) and block.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, atol=1e-5)
    alone = embedder.embed_documents(sents)
    sim = block @ alone.T  # pooled sentence k against every sentence embedded on its own
    # Not the vectors of the sentences alone (each token saw the whole chunk), but nearest
    # to their own sentence for most, and far nearer to it than to the others on average.
    assert (sim.argmax(1) == np.arange(4)).sum() >= 3, sim
    assert np.diag(sim).mean() > sim[~np.eye(4, dtype=bool)].mean() + 0.3, sim
    # ... and a question about one sentence finds that sentence best, as the reranker asks.
    for k, question in enumerate(["How many days does the customer have to pay a bill?",
                                  "How are the goods packed for delivery?",
                                  "Which state's law applies to the contract?",
                                  "How much notice is needed to end the agreement?"]):
        assert int(np.argmax(block @ embedder.embed_query(question))) == k, question


@pytest.mark.parametrize("pool", [True, False])
def test_a_one_sentence_chunk_reuses_its_chunk_vector(embedder, monkeypatch, pool):
    monkeypatch.setattr(sentences, "POOLED", pool)
    text = "The supplier warrants that all goods are free from defects for one year."
    vecs, blocks = embed_chunks(embedder, [text, "   "])
    assert blocks[0].shape == (1, embedder.dim)
    np.testing.assert_array_equal(blocks[0][0], vecs[0])
    assert blocks[1].shape == (1, embedder.dim)  # white space only: its own vector, as before


def test_sentences_past_the_model_window_are_embedded_on_their_own(embedder, pooled):
    long = " ".join(f"Clause {i} says the seller ships part number {i} by road." for i in range(60))
    assert len(embedder._tokenizer.encode(long).ids) == 256  # truncated
    before = dict(sentences.STATS)
    _, [block] = embed_chunks(embedder, [long])
    sents = split_sentences(long)
    assert block.shape == (len(sents), embedder.dim) and not np.isnan(block).any()
    alone = sentences.STATS["separate"] - before["separate"]
    assert 0 < alone < len(sents)  # the head comes from the pass, the tail was embedded alone
    np.testing.assert_allclose(block[-alone:], embedder.embed_documents(sents[-alone:]), atol=1e-5)


@pytest.mark.parametrize("pool", [True, False])
def test_query_time_sentence_vectors_are_the_ingested_ones(embedder, monkeypatch, pool):
    """The reranker embeds a chunk ingested without sentence vectors the same way ingestion
    would have (embed_sentences gives embed_chunks' second half)."""
    monkeypatch.setattr(sentences, "POOLED", pool)
    _, blocks = embed_chunks(embedder, [CHUNK, "A single sentence here and nothing more."])
    again = embed_sentences(embedder, [CHUNK, "A single sentence here and nothing more."])
    for a, b in zip(blocks, again):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_by_default_every_sentence_is_embedded_on_its_own(embedder):
    assert sentences.POOLED is False
    vecs, [block] = embed_chunks(embedder, [CHUNK])
    np.testing.assert_allclose(block, embedder.embed_documents(split_sentences(CHUNK)), atol=1e-5)
    np.testing.assert_allclose(embed_sentences(embedder, [CHUNK])[0], block, atol=1e-5)


def test_a_sentence_in_two_overlapping_chunks_is_embedded_once(embedder):
    shared = "The customer must pay every invoice within thirty days of receiving it."
    first = f"Goods are shipped from the central warehouse in sealed containers. {shared}"
    second = f"{shared} Either party may terminate on ninety days written notice to the other."
    before = sentences.STATS["deduplicated"]
    _, [a, b] = embed_chunks(embedder, [first, second])
    assert sentences.STATS["deduplicated"] - before == 1
    np.testing.assert_array_equal(a[1], b[0])
    np.testing.assert_allclose(a[1], embedder.embed_documents([shared])[0], atol=1e-5)
