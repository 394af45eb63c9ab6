"""The optional second stage: a Reranker reorders the head of a first-stage ranking.

    reranker = get_reranker(settings, embedder, embed_query)   # None when settings.reranker == "none"
    hits = reranker.rerank(query, hits[: settings.rerank_candidates], top_k)

Implementations (settings.reranker):
- "sentence": no extra model. Each candidate chunk is scored by the cosine similarity of
  the query to the chunk's best-matching sentence, embedded with the product's embedder
  (ingestion/sentences.py embed_chunks). Ingestion stores every chunk's sentence vectors,
  so a query costs one small matrix product; chunks ingested without them are embedded on
  first use the same way, and a per-process LRU keyed by chunk id and text keeps what was
  read or embedded.
- "cross-encoder": a model that reads the query and each candidate chunk together. By
  default the one DocIntel ships (retrieval/model/: MiniLM fine-tuned here, int8 ONNX, its
  sha256 checked on load; `docintel retrieval train` and `export` rebuild it). A folder in
  settings.reranker_model_path is used instead: an exported folder (manifest.json +
  model.onnx) on ONNX Runtime, or a sentence-transformers CrossEncoder folder on torch.

Either score is mixed with the first-stage score:
    final = w * reranker_score + (1 - w) * first_stage_score / max(first_stage_scores)
with w = settings.rerank_weight, so w = 1 ranks by the reranker alone and w = 0 keeps
the first-stage order. Whether turning it on helps is measured in docs/benchmarks.md.
"""
from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from core.errors import DocIntelError
from core.settings import Settings
from core.types import SearchHit
from ingestion.chunking import index_text
from ingestion.embedding import Embedder, ort_session
from ingestion.sentences import embed_sentences, unpack

log = logging.getLogger(__name__)

RERANKERS = ("none", "sentence", "cross-encoder")


class RerankerError(DocIntelError):
    """The configured reranker cannot be used (unknown name, missing or broken model folder)."""


@runtime_checkable
class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: Sequence[SearchHit], top_k: int) -> list[SearchHit]:
        """The best `top_k` of `hits`, reordered, each with its new score."""


def mix(first_stage: Sequence[float], second_stage: Sequence[float], weight: float) -> list[float]:
    """weight * second_stage + (1 - weight) * first-stage score divided by the best one
    (floored at 0, as convex fusion normalises)."""
    hi = max(first_stage, default=0.0)
    norm = [max(s, 0.0) / hi if hi > 1e-12 else 0.0 for s in first_stage]
    return [weight * b + (1.0 - weight) * a for a, b in zip(norm, second_stage)]


def titled(hit: SearchHit) -> str:
    """What a reranker reads of a chunk: its text under its document's title, as the first
    stage indexed it (a manual's later chunks only name their section in the title)."""
    return index_text(hit.text, (hit.metadata or {}).get("title"))


def reorder(hits: Sequence[SearchHit], scores: Sequence[float], top_k: int) -> list[SearchHit]:
    """Hits sorted by score (ties keep the first-stage order), cut to top_k, scores replaced."""
    order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))[:top_k]
    return [replace(hits[i], score=float(scores[i])) for i in order]


class SentenceEmbeddingCache:
    """LRU of each chunk's sentence embeddings, keyed by (chunk id, text digest): a chunk
    id reused for other text (a new version of a document) is never served stale vectors."""

    def __init__(self, embedder: Embedder, size: int = 4096):
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[tuple[int, bytes], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0  # served from the LRU
        self.loaded = 0  # read from the chunk rows
        self.misses = 0  # embedded at query time (chunks ingested without sentence vectors)

    @staticmethod
    def key(chunk_id: int, text: str) -> tuple[int, bytes]:
        return chunk_id, hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()

    def get_many(
        self, chunks: Sequence[tuple[int, str]], stored: Callable[[list[int]], dict[int, bytes]] | None = None
    ) -> list[np.ndarray]:
        """(n_sentences, dim) unit vectors per (chunk id, text): from the LRU, else from
        `stored` (the vectors ingestion kept, by chunk id), else embedded in one batch."""
        keys = [self.key(cid, text) for cid, text in chunks]
        found: dict[tuple[int, bytes], np.ndarray] = {}
        with self._lock:
            for k in keys:
                vecs = self._cache.get(k)
                if vecs is not None:
                    self._cache.move_to_end(k)
                    found[k] = vecs
        todo = list({k: text for k, (_, text) in zip(keys, chunks) if k not in found}.items())
        self.hits += len(keys) - len(todo)
        new: dict[tuple[int, bytes], np.ndarray] = {}
        if todo and stored is not None:
            blobs = stored([k[0] for k, _ in todo])
            for k, _ in todo:
                block = unpack(blobs.get(k[0]), self.embedder.dim)
                if block is not None:
                    new[k] = block
            self.loaded += len(new)
            todo = [(k, text) for k, text in todo if k not in new]
        self.misses += len(todo)
        if todo:
            new.update(zip((k for k, _ in todo), embed_sentences(self.embedder, [text for _, text in todo])))
        if new:
            with self._lock:
                for k, block in new.items():
                    self._cache[k] = block
                    self._cache.move_to_end(k)
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
            found.update(new)
        return [found[k] for k in keys]


_SENTENCE_CACHES: dict[str, SentenceEmbeddingCache] = {}
_CACHES_LOCK = threading.Lock()


def sentence_cache(embedder: Embedder) -> SentenceEmbeddingCache:
    """One cache per embedding model per process (every SearchService of it shares it)."""
    key = getattr(embedder, "model_dir", "") or getattr(embedder, "model_id", "") or str(id(embedder))
    with _CACHES_LOCK:
        cache = _SENTENCE_CACHES.get(key)
        if cache is None or cache.embedder is not embedder:
            cache = _SENTENCE_CACHES[key] = SentenceEmbeddingCache(embedder)
        return cache


class BestSentenceReranker:
    """Query-to-best-sentence cosine similarity, mixed with the first-stage score."""

    name = "sentence"

    def __init__(
        self,
        embedder: Embedder,
        embed_query: Callable[[str], np.ndarray],
        weight: float,
        stored: Callable[[list[int]], dict[int, bytes]] | None = None,
    ):
        self.embed_query = embed_query
        self.weight = weight
        self.cache = sentence_cache(embedder)
        self.stored = stored

    def sentence_scores(self, query: str, hits: Sequence[SearchHit]) -> list[float]:
        q = np.asarray(self.embed_query(query), dtype=np.float32)
        # The text ingestion embedded the sentences of (the chunk under its document's title),
        # so chunks without stored vectors get the same vectors as those with them.
        texts = [(h.chunk_id, titled(h)) for h in hits]
        blocks = self.cache.get_many(texts, self.stored)
        return [float(np.max(block @ q)) if len(block) else 0.0 for block in blocks]

    def rerank(self, query: str, hits: Sequence[SearchHit], top_k: int) -> list[SearchHit]:
        if not hits:
            return []
        second = self.sentence_scores(query, hits)
        return reorder(hits, mix([h.score for h in hits], second, self.weight), top_k)


class _PairScoring:
    """A reranker that scores (query, chunk) pairs with `pair_scores` (0-1) and mixes them in."""

    weight: float

    def pair_scores(self, query: str, hits: Sequence[SearchHit]) -> list[float]:
        raise NotImplementedError

    def rerank(self, query: str, hits: Sequence[SearchHit], top_k: int) -> list[SearchHit]:
        if not hits:
            return []
        second = self.pair_scores(query, hits)
        return reorder(hits, mix([h.score for h in hits], second, self.weight), top_k)


class CrossEncoderReranker(_PairScoring):
    """A sentence-transformers CrossEncoder loaded from a local folder (never downloaded).
    Its scores go through a sigmoid (single-logit models), so they mix on a 0-1 scale."""

    name = "cross-encoder"

    def __init__(self, model_path: str, weight: float, device: str = "cpu", batch_size: int = 32):
        self.model_path = check_model_folder(model_path)
        self.weight = weight
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import CrossEncoder
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # no weight-loading bars in CLI output
                    try:
                        self._model = CrossEncoder(self.model_path, device=self.device, local_files_only=True)
                    except Exception as exc:
                        raise RerankerError(
                            f"cannot load the cross-encoder at {self.model_path}: {type(exc).__name__}: {exc}"
                        ) from exc
        return self._model

    def pair_scores(self, query: str, hits: Sequence[SearchHit]) -> list[float]:
        import torch

        raw = self.model.predict([(query, titled(h)) for h in hits], batch_size=self.batch_size,
                                 activation_fn=torch.nn.Identity(), show_progress_bar=False)
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim == 2:  # several labels: the last one is "relevant" by convention
            raw = raw[:, -1]
        return [1.0 / (1.0 + math.exp(-float(x))) for x in raw]


class OnnxCrossEncoderReranker(_PairScoring):
    """A cross-encoder exported by `docintel retrieval export` (evaluation/reranker_training.py
    export_onnx) on ONNX Runtime: no torch or transformers import. The ONNX file's sha256 is
    checked against the manifest before the first score; query and chunk together are cut
    to the manifest's max_tokens, the length the model was trained at (reading more costs
    time and is text it never learnt to weigh)."""

    name = "cross-encoder"

    def __init__(self, model_path: str | Path, weight: float, threads: int = 0, batch_size: int = 32):
        self.folder = Path(model_path)
        self.weight = weight
        self.threads = threads
        self.batch_size = batch_size
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        import json

        from tokenizers import Tokenizer

        from core.fileio import sha256_file

        try:
            manifest = json.loads((self.folder / "manifest.json").read_text())
            model = self.folder / manifest["file"]
            for path, key in ((model, "sha256"), (self.folder / "tokenizer.json", "tokenizer_sha256")):
                if sha256_file(path) != manifest[key]:
                    raise RerankerError(f"{path} does not match the sha256 in {self.folder / 'manifest.json'}: "
                                        "a corrupt or partial copy; reinstall DocIntel or re-run `docintel retrieval export`")
            tok = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        except RerankerError:
            raise
        except Exception as exc:  # missing files, bad JSON, a tokenizer it cannot read
            raise RerankerError(f"cannot load the cross-encoder in {self.folder}: {type(exc).__name__}: {exc}") from exc
        # longest_first cuts the chunk, not a short query; a query longer than the chunk is
        # cut too instead of failing.
        tok.enable_truncation(int(manifest["max_tokens"]), strategy="longest_first")
        tok.enable_padding(pad_id=tok.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        self._session = ort_session(model, self.threads)
        self._tokenizer = tok

    def pair_scores(self, query: str, hits: Sequence[SearchHit]) -> list[float]:
        from core.compute import MODEL_CALL

        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._load()
        out: list[float] = []
        for start in range(0, len(hits), self.batch_size):
            enc = self._tokenizer.encode_batch([(query, titled(h)) for h in hits[start:start + self.batch_size]])
            feed = {name: np.array([getattr(e, attr) for e in enc], dtype=np.int64)
                    for name, attr in (("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                       ("token_type_ids", "type_ids"))}
            with MODEL_CALL:
                logits = self._session.run(["logit"], feed)[0]
            out.extend(1.0 / (1.0 + math.exp(-float(x))) for x in logits.reshape(-1))
        return out


def shipped_cross_encoder_dir() -> Path:
    """The cross-encoder DocIntel ships (MODEL_CARD.md beside it)."""
    return Path(__file__).resolve().parent / "model"


def check_model_folder(model_path: str) -> str:
    """The cross-encoder folder to load: settings.reranker_model_path, or the shipped one."""
    folder = Path(model_path).expanduser() if model_path else shipped_cross_encoder_dir()
    if not folder.is_dir():
        raise RerankerError(f"cross-encoder model folder not found: {folder} (DOCINTEL_RERANKER_MODEL_PATH)")
    if not (folder / "manifest.json").exists() and not (folder / "config.json").exists():
        raise RerankerError(f"cross-encoder model folder {folder} has neither manifest.json (an exported model) "
                            "nor config.json (a transformers model folder)")
    return str(folder)


def reranker_name(settings: Settings) -> str:
    """The configured reranker, normalised ("none" when unset)."""
    return (settings.reranker or "none").strip().lower()


def needs_sentence_vectors(settings: Settings) -> bool:
    """Whether the configured reranker reads the sentence vectors ingestion can store with
    each chunk (so ingestion computes them once instead of every query)."""
    return reranker_name(settings) == "sentence"


def get_reranker(
    settings: Settings,
    embedder: Embedder | None = None,
    embed_query: Callable[[str], np.ndarray] | None = None,
    stored_sentences: Callable[[list[int]], dict[int, bytes]] | None = None,
) -> Reranker | None:
    """The reranker factory: None for "none"; a clear RerankerError for a bad configuration.
    `stored_sentences(chunk_ids)` reads the sentence vectors ingestion kept (Store.sentence_vectors)."""
    name = reranker_name(settings)
    if name not in RERANKERS:
        raise RerankerError(f"unknown reranker '{settings.reranker}' (use one of: {', '.join(RERANKERS)})")
    if not 0.0 <= settings.rerank_weight <= 1.0:
        raise RerankerError(f"rerank_weight must be between 0 and 1, not {settings.rerank_weight}")
    if name == "none":
        return None
    if name == "sentence":
        if embedder is None:
            raise RerankerError("reranker=sentence needs the embedder")
        return BestSentenceReranker(embedder, embed_query or embedder.embed_query, settings.rerank_weight, stored_sentences)
    folder = check_model_folder(settings.reranker_model_path)
    if (Path(folder) / "manifest.json").exists():
        return OnnxCrossEncoderReranker(folder, settings.rerank_weight)
    return CrossEncoderReranker(folder, settings.rerank_weight, settings.embedding_device)
