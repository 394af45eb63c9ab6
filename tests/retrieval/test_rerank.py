"""The second-stage Reranker seam on real ingested documents with the real embedder."""
from __future__ import annotations

import dataclasses

import pytest

from core.types import SearchHit
from ingestion.sentences import pack, split_sentences, unpack
from retrieval.rerank import (
    BestSentenceReranker,
    CrossEncoderReranker,
    RerankerError,
    SentenceEmbeddingCache,
    get_reranker,
    mix,
)

pytestmark = pytest.mark.slow

QUERY = "How many days does the customer have to pay an invoice?"
# Shares the query's words (customer, days, pay, invoice) but is about something else.
KEYWORDS_ONLY = (
    "Customer days are our yearly festival for the customer community, held over three days in June. "
    "Visitors pay a small entry fee at the gate; the invoice printer in the lobby is shown as a museum piece. "
    "Many customer families return each year for the music, the food stalls and the customer parade."
)
# One sentence answers the query in other words; the rest of the chunk is unrelated.
ONE_SENTENCE = (
    "The supplier warrants that all goods are free from defects for one year. "
    "Goods are shipped from the central warehouse in sealed containers. "
    "The customer must settle each bill within thirty days after receiving it. "
    "Either party may assign this agreement to an affiliate with written notice. "
    "The supplier keeps insurance with a reputable carrier throughout the term."
)
OTHERS = [
    "The warehouse opens at eight in the morning on weekdays.",
    "Staff training happens every spring in the main office.",
    "Meeting rooms are booked through the front desk.",
]


def _runtime(settings, **update):
    """A runtime on these settings; without a reranker (the first stage alone) unless given."""
    from workers.runtime import Runtime

    return Runtime.create(settings.model_copy(update={"reranker": "none", **update}))


def _write_corpus(folder):
    folder.mkdir()
    (folder / "festival.txt").write_text(KEYWORDS_ONLY)
    (folder / "terms.txt").write_text(ONE_SENTENCE)
    for i, text in enumerate(OTHERS):
        (folder / f"other-{i}.txt").write_text(text)
    return folder


@pytest.fixture
def corpus(settings, tmp_path):
    folder = _write_corpus(tmp_path / "docs")
    rt = _runtime(settings)  # ingested without sentence vectors: the reranker embeds them on first use
    rt.ingest([folder], "r")
    yield settings
    rt.store.engine.dispose()


def _names(hits):
    return [h.document_name for h in hits]


def test_best_sentence_lifts_the_chunk_that_answers_above_a_keyword_match(corpus):
    plain = _runtime(corpus).search(QUERY, "r", k=5)
    assert _names(plain)[:2] == ["festival.txt", "terms.txt"]  # first stage: the keyword match wins
    reranked = _runtime(corpus, reranker="sentence", rerank_weight=1.0).search(QUERY, "r", k=5)
    assert _names(reranked)[:2] == ["terms.txt", "festival.txt"]
    assert len(reranked) == 5 and reranked[0].score > reranked[1].score
    # the score is the best sentence's cosine similarity, higher than the whole chunk's
    dense = {h.document_name: h.score for h in _runtime(corpus).search(QUERY, "r", k=5, mode="dense")}
    assert reranked[0].score > dense["terms.txt"] + 0.1


def test_reranker_none_and_weight_zero_leave_the_order_unchanged(corpus):
    base = _runtime(corpus).search(QUERY, "r", k=5)
    none = _runtime(corpus, reranker="none")
    assert none.search_service.reranker is None
    assert [(h.chunk_id, h.score) for h in none.search(QUERY, "r", k=5)] == [(h.chunk_id, h.score) for h in base]
    zero = _runtime(corpus, reranker="sentence", rerank_weight=0.0).search(QUERY, "r", k=5)
    assert [h.chunk_id for h in zero] == [h.chunk_id for h in base]


def test_only_the_candidates_are_reranked_and_k_is_respected(corpus):
    base = _runtime(corpus).search(QUERY, "r", k=5)
    two = _runtime(corpus, reranker="sentence", rerank_weight=1.0, rerank_candidates=2).search(QUERY, "r", k=5)
    assert {h.chunk_id for h in two[:2]} == {h.chunk_id for h in base[:2]}
    assert [h.chunk_id for h in two[2:]] == [h.chunk_id for h in base[2:]]  # tail keeps first-stage order
    one = _runtime(corpus, reranker="sentence", rerank_weight=1.0).search(QUERY, "r", k=1)
    assert _names(one) == ["terms.txt"]


def test_sentence_embeddings_are_cached_per_chunk(corpus):
    rt = _runtime(corpus, reranker="sentence")
    cache: SentenceEmbeddingCache = rt.search_service.reranker.cache
    rt.search(QUERY, "r", k=5)
    misses = cache.misses
    rt.search("When is a bill due?", "r", k=5)
    assert cache.misses == misses  # the same five chunks: nothing embedded again
    # a changed text under the same chunk id is embedded afresh, not served stale
    a = cache.get_many([(10**9, "Alpha beta gamma delta epsilon.")])[0]
    b = cache.get_many([(10**9, "Completely different words in this sentence here.")])[0]
    assert not (a.shape == b.shape and (a == b).all())


def test_split_sentences_joins_headings_to_their_text():
    text = "Remote Control\nPress the Home button to open the menu. Then choose Settings.\nOK"
    assert split_sentences(text) == [
        "Remote Control Press the Home button to open the menu.",
        "Then choose Settings. OK",
    ]
    assert split_sentences("Short.") == ["Short."]
    assert split_sentences("") == []


def test_mix_weights_first_stage_and_reranker():
    assert mix([2.0, 1.0], [0.0, 1.0], 0.5) == [0.5, 0.75]
    assert mix([0.0, 0.0], [0.2, 0.4], 1.0) == [0.2, 0.4]


def test_unknown_reranker_and_bad_weight_are_clear_errors(settings):
    with pytest.raises(RerankerError, match="unknown reranker 'colbert'"):
        get_reranker(settings.model_copy(update={"reranker": "colbert"}))
    with pytest.raises(RerankerError, match="rerank_weight must be between 0 and 1"):
        get_reranker(settings.model_copy(update={"reranker": "sentence", "rerank_weight": 1.5}))
    assert get_reranker(settings.model_copy(update={"reranker": "none"})) is None
    with pytest.raises(RerankerError, match="needs the embedder"):
        get_reranker(settings)  # the default, sentence, embeds with the product's embedder


def test_cross_encoder_with_a_bad_model_folder_is_a_clear_error(corpus, tmp_path):
    missing = tmp_path / "no-such-model"
    rt = _runtime(corpus, reranker="cross-encoder", reranker_model_path=str(missing))
    with pytest.raises(RerankerError, match=f"cross-encoder model folder not found: {missing}"):
        rt.search(QUERY, "r", k=3)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RerankerError, match="neither manifest.json .* nor config.json"):
        get_reranker(corpus.model_copy(update={"reranker": "cross-encoder", "reranker_model_path": str(empty)}))


@pytest.fixture
def tiny_cross_encoder(tmp_path):
    """A randomly initialised 2-layer BERT cross-encoder with MiniLM's tokenizer, saved to
    a temp folder: exercises the loading and scoring path without any download."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ingestion.embedding import packaged_model_dir

    folder = tmp_path / "tiny-ce"
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(packaged_model_dir())).save_pretrained(folder)
    return folder


def test_tiny_cross_encoder_reranks_through_the_search_service(corpus, tiny_cross_encoder):
    base = _runtime(corpus).search(QUERY, "r", k=5)
    rt = _runtime(corpus, reranker="cross-encoder", reranker_model_path=str(tiny_cross_encoder), rerank_weight=1.0)
    reranker = rt.search_service.reranker
    assert isinstance(reranker, CrossEncoderReranker)
    hits = rt.search(QUERY, "r", k=5)
    assert {h.chunk_id for h in hits} == {h.chunk_id for h in base}
    pair = dict(zip([h.chunk_id for h in base], reranker.pair_scores(QUERY, base)))
    assert all(0.0 < h.score < 1.0 for h in hits)
    assert [h.chunk_id for h in hits] == sorted(pair, key=lambda c: (-pair[c], [b.chunk_id for b in base].index(c)))
    assert [round(h.score, 6) for h in hits] == [round(pair[h.chunk_id], 6) for h in hits]


def test_sentence_reranker_on_hits_directly(corpus):
    rt = _runtime(corpus)
    reranker = get_reranker(corpus.model_copy(update={"reranker": "sentence", "rerank_weight": 1.0}),
                            rt.embedder, rt.search_service.embed_query)
    assert isinstance(reranker, BestSentenceReranker)
    hits = [SearchHit(1, "a", -1, 1, 1, 0, len(KEYWORDS_ONLY), 1.0, KEYWORDS_ONLY),
            SearchHit(2, "b", -2, 1, 1, 0, len(ONE_SENTENCE), 0.1, ONE_SENTENCE)]
    out = reranker.rerank(QUERY, hits, 1)
    assert [h.document_id for h in out] == [2]
    assert reranker.rerank(QUERY, [], 3) == []


def test_sentence_vectors_stored_at_ingestion_make_reranking_embed_nothing(settings, tmp_path, monkeypatch):
    import numpy as np

    import retrieval.rerank as rerank

    folder = _write_corpus(tmp_path / "docs")
    rt = _runtime(settings, reranker="sentence", rerank_weight=1.0)
    assert rt.ingestor.sentence_vectors
    rt.ingest([folder], "s")
    coll = rt.store.collection(rt.settings.default_tenant, "s")
    ids = rt.store.all_chunk_ids(coll.id)
    stored = rt.store.sentence_vectors(ids)
    assert set(stored) == set(ids)  # every chunk has its sentences
    terms = next(c for c in rt.store.chunks_by_ids(ids) if c.text.startswith("The supplier warrants"))
    block = unpack(stored[terms.id], rt.embedder.dim)
    assert block.shape == (len(split_sentences(terms.text)), rt.embedder.dim)
    # float16 storage of what the reranker would compute for the chunk at query time (pooled
    # from the chunk pass with the int8 default)
    from ingestion.sentences import embed_sentences

    assert np.allclose(block, embed_sentences(rt.embedder, [terms.text])[0], atol=2e-3)

    monkeypatch.setattr(rerank, "_SENTENCE_CACHES", {})  # a new process: nothing in the LRU
    searcher = _runtime(settings, reranker="sentence", rerank_weight=1.0)
    hits = searcher.search(QUERY, "s", k=5)
    cache = searcher.search_service.reranker.cache
    assert _names(hits)[0] == "terms.txt"
    assert cache.misses == 0 and cache.loaded == 5  # read from the rows, none embedded at query time
    rt.store.engine.dispose()
    searcher.store.engine.dispose()


def test_stored_sentence_vectors_of_another_width_are_ignored():
    import numpy as np

    block = np.ones((3, 4), dtype=np.float32) / 2
    assert np.array_equal(unpack(pack(block), 4), block)
    assert unpack(pack(block), 5) is None  # another model's vectors: embedded afresh instead
    assert unpack(None, 4) is None and unpack(b"", 4) is None


def test_the_sentence_reranker_is_the_default(settings):
    from core.settings import Settings
    from workers.runtime import Runtime

    assert Settings(_env_file=None).reranker == "sentence"
    rt = Runtime.create(settings)
    assert rt.ingestor.sentence_vectors and isinstance(rt.search_service.reranker, BestSentenceReranker)


@pytest.mark.parametrize("name, stored", [("sentence", True), (" Sentence ", True), ("none", False), ("", False),
                                          ("cross-encoder", False)])
def test_ingestion_stores_sentence_vectors_only_for_the_reranker_that_reads_them(settings, name, stored):
    from retrieval.rerank import needs_sentence_vectors
    from workers.runtime import Runtime

    configured = settings.model_copy(update={"reranker": name})
    assert needs_sentence_vectors(configured) is stored
    assert Runtime.create(configured).ingestor.sentence_vectors is stored


def test_chunks_without_stored_vectors_are_embedded_under_their_title_as_ingestion_would(corpus):
    from ingestion.chunking import index_text

    rt = _runtime(corpus)
    reranker = get_reranker(corpus.model_copy(update={"reranker": "sentence"}), rt.embedder, rt.search_service.embed_query)
    title = "Payment terms for enterprise customers"
    hit = SearchHit(1, "a", -3, 1, 1, 0, len(ONE_SENTENCE), 1.0, ONE_SENTENCE, metadata={"title": title})
    reranker.sentence_scores(QUERY, [hit])
    block = reranker.cache.get_many([(-3, index_text(ONE_SENTENCE, title))])[0]  # served from the LRU
    assert block.shape[0] == len(split_sentences(f"{title}\n{ONE_SENTENCE}")) == len(split_sentences(ONE_SENTENCE)) + 1


def _hits(texts):
    return [SearchHit(i, f"d{i}", i, 1, 1, 0, len(t), 1.0 - i / 100, t) for i, t in enumerate(texts)]


def test_an_exported_cross_encoder_scores_as_its_torch_model_without_torch(corpus, tiny_cross_encoder, tmp_path):
    """`docintel retrieval export` (int8 ONNX) keeps the torch model's scores within the
    quantisation's error, reading the same 128 tokens, and runs behind the same seam."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from evaluation.reranker_training import export_onnx
    from retrieval.rerank import OnnxCrossEncoderReranker

    out = tmp_path / "onnx"
    manifest = export_onnx(tiny_cross_encoder, out)
    assert manifest["max_tokens"] == 128 and (out / "model.onnx").stat().st_size == manifest["bytes"]
    rt = _runtime(corpus, reranker="cross-encoder", reranker_model_path=str(out), rerank_weight=1.0)
    reranker = rt.search_service.reranker
    assert isinstance(reranker, OnnxCrossEncoderReranker)
    texts = [ONE_SENTENCE * 4, KEYWORDS_ONLY, *OTHERS]  # the first is cut at 128 tokens
    got = np.array(reranker.pair_scores(QUERY, _hits(texts)))
    tok = AutoTokenizer.from_pretrained(str(tiny_cross_encoder))
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_cross_encoder)).eval()
    with torch.no_grad():
        enc = tok([QUERY] * len(texts), texts, truncation="longest_first", max_length=128, padding=True,
                  return_tensors="pt")
        want = torch.sigmoid(model(**enc).logits[:, 0]).numpy()
    assert np.abs(got - want).max() < 2e-3
    hits = rt.search(QUERY, "r", k=5)
    assert all(0.0 < h.score < 1.0 for h in hits)
    # a chunk is read under its document's title, as the first stage indexed it
    bare = _hits(["Press the MUTE key once."])[0]
    titled_hit = dataclasses.replace(bare, metadata={"title": "Sound > Muting the TV"})
    written_out = dataclasses.replace(bare, text="Sound > Muting the TV\nPress the MUTE key once.")
    scores = reranker.pair_scores("how to mute", [bare, titled_hit, written_out])
    assert scores[1] == pytest.approx(scores[2], abs=1e-6) and scores[1] != pytest.approx(scores[0], abs=1e-6)


def test_a_tampered_exported_model_is_refused_before_it_scores(tiny_cross_encoder, tmp_path):
    from evaluation.reranker_training import export_onnx
    from retrieval.rerank import OnnxCrossEncoderReranker

    out = tmp_path / "onnx"
    export_onnx(tiny_cross_encoder, out)
    data = bytearray((out / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (out / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(RerankerError, match="does not match the sha256"):
        OnnxCrossEncoderReranker(out, weight=1.0).pair_scores(QUERY, _hits(OTHERS))


def test_the_shipped_cross_encoder_is_verified_and_reads_query_and_clause_together(settings):
    """reranker=cross-encoder with no model path loads the model DocIntel ships (sha256
    checked), and it tells clauses of one topic from another's. (Within a topic it leans on
    shared words: MODEL_CARD.md's limits.)"""
    from retrieval.rerank import OnnxCrossEncoderReranker, shipped_cross_encoder_dir

    reranker = get_reranker(settings.model_copy(update={"reranker": "cross-encoder", "reranker_model_path": "",
                                                        "rerank_weight": 1.0}))
    assert isinstance(reranker, OnnxCrossEncoderReranker) and reranker.folder == shipped_cross_encoder_dir()
    assert (shipped_cross_encoder_dir() / "MODEL_CARD.md").exists()
    assert (shipped_cross_encoder_dir() / "model.onnx").stat().st_size <= 30 * 2**20
    clauses = [
        "Neither party shall be liable for indirect damages, and each party's total liability is capped at the fees paid "
        "in the twelve months before the claim.",
        "The liability of the parties is the subject of a separate agreement, which the parties intend to sign.",
        "This Agreement is governed by the laws of the State of New York.",
    ]
    assert reranker.rerank("governing law", _hits(clauses), 3)[0].document_id == 2
    assert reranker.rerank("cap on liability", _hits(clauses), 3)[-1].document_id == 2


def test_answers_can_rerank_with_the_cross_encoder_while_search_keeps_its_reranker(corpus):
    """answer_reranker gives the search behind answers its own second stage and candidate
    count; /search keeps `reranker`. Unset, both are one service."""
    from retrieval.rerank import OnnxCrossEncoderReranker

    rt = _runtime(corpus, reranker="sentence")
    assert rt.answer_search_service is rt.search_service
    # (the OpenAI-compatible backend connects on first use: no LLM is needed to build the service)
    rt = _runtime(corpus, reranker="sentence", answer_reranker=" Cross-Encoder ", answer_rerank_candidates=4,
                  llm_backend="openai")
    answers = rt.answer_search_service
    assert isinstance(rt.search_service.reranker, BestSentenceReranker)
    assert isinstance(answers.reranker, OnnxCrossEncoderReranker) and answers.settings.rerank_candidates == 4
    assert rt.answer_service.search is answers
    index = rt.index(rt.store.collection(rt.settings.default_tenant, "r").id)
    first = _runtime(corpus).search(QUERY, "r", k=4)  # the first stage alone
    hits = answers.search(index, QUERY, k=4)
    assert sorted(h.chunk_id for h in hits) == sorted(h.chunk_id for h in first)  # its 4 candidates, reordered
    assert [h.chunk_id for h in hits] == [h.chunk_id for h in answers.reranker.rerank(QUERY, first, 4)]
