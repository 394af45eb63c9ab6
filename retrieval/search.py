"""The search service: query -> ranked chunks with citations (document, pages, char span).

Modes: dense (MiniLM + FAISS), bm25 (bm25s), hybrid (weighted reciprocal-rank fusion).
Filters are resolved to the allowed chunk ids first and applied inside each retriever,
so a filtered query still returns k results whenever k exist. An optional Reranker
(retrieval/rerank.py, settings.reranker) reorders the best rerank_candidates hits.
"""
from __future__ import annotations

import fnmatch
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from core.settings import Settings
from core.store import Store
from core.types import SearchFilters, SearchHit
from ingestion.embedding import Embedder
from retrieval.collection_index import CollectionIndex
from retrieval.fusion import convex_combination, reciprocal_rank_fusion
from retrieval.rerank import Reranker, get_reranker

MODES = ("dense", "bm25", "hybrid")
_POOL: ThreadPoolExecutor | None = None
# Overlapping BM25 with the query embedding pays only while a core is idle: a search that
# runs alone uses the pool thread; while others are in flight the cores are busy anyway and
# each hand-off between threads is pure cost, so it runs BM25 inline.
_IN_FLIGHT = [0]
_IN_FLIGHT_LOCK = threading.Lock()


@contextmanager
def _in_flight():
    """Counts this search among those running; yields True when it is the only one."""
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT[0] += 1
        alone = _IN_FLIGHT[0] == 1
    try:
        yield alone
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT[0] -= 1


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="retriever")
    return _POOL


class QueryEmbeddingCache:
    """Per-process LRU of query embeddings: a repeated question costs nothing."""

    def __init__(self, embedder: Embedder, size: int = 1024):
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, query: str) -> np.ndarray:
        vec = self._cache.get(query)
        if vec is not None:
            self._cache.move_to_end(query)
            return vec
        vec = self.embedder.embed_query(query)
        self._cache[query] = vec
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return vec


@dataclass
class SearchService:
    store: Store
    embedder: Embedder
    settings: Settings = field(default_factory=Settings)
    _query_cache: QueryEmbeddingCache | None = field(default=None, init=False)
    _reranker: Reranker | None = field(default=None, init=False)
    _reranker_ready: bool = field(default=False, init=False)

    def embed_query(self, query: str) -> np.ndarray:
        if self._query_cache is None:
            self._query_cache = QueryEmbeddingCache(self.embedder)
        return self._query_cache(query)

    @property
    def reranker(self) -> Reranker | None:
        """The configured second stage (None for reranker=none); built on first use, and a
        bad configuration (e.g. a missing cross-encoder folder) raises RerankerError."""
        if not self._reranker_ready:
            self._reranker = get_reranker(self.settings, self.embedder, self.embed_query, self.store.sentence_vectors)
            self._reranker_ready = True
        return self._reranker

    def allowed_chunk_ids(self, collection_id: int, filters: SearchFilters | None) -> set[int] | None:
        if filters is None or filters.is_empty():
            return None
        docs = self.store.document_filter_rows(collection_id)
        keep = []
        wanted = set(filters.document_ids) if filters.document_ids is not None else None
        for doc_id, name, meta in docs:
            if wanted is not None and doc_id not in wanted:
                continue
            if filters.name_glob and not fnmatch.fnmatchcase(name, filters.name_glob):
                continue
            if filters.metadata and any((meta or {}).get(k) != v for k, v in filters.metadata.items()):
                continue
            keep.append(doc_id)
        return self.store.chunk_ids_for_documents(keep)

    def rank(
        self, index: CollectionIndex, query: str, k: int, mode: str, allowed: set[int] | None
    ) -> list[tuple[int, float]]:
        """Ranked (chunk id, score) without touching the SQL rows: used by benchmarks too."""
        if mode == "dense":
            return index.vectors.search(self.embed_query(query), k, allowed)
        doc_weight = self.settings.bm25_document_weight  # per call: the open index is shared by every caller
        if mode == "bm25":
            return index.keywords.search(query, k, allowed, doc_weight)
        depth = max(k, self.settings.hybrid_candidates)
        # BM25 runs on a second thread while the query is embedded and the vectors searched:
        # torch, FAISS and numpy release the GIL, so the two overlap on two cores.
        with _in_flight() as alone:
            pending = _pool().submit(index.keywords.search, query, depth, allowed, doc_weight) if alone else None
            dense = index.vectors.search(self.embed_query(query), depth, allowed)
            sparse = pending.result() if pending is not None else index.keywords.search(query, depth, allowed, doc_weight)
        weights = [self.settings.dense_weight, self.settings.bm25_weight]
        if self.settings.fusion == "rrf":
            fused = reciprocal_rank_fusion([dense, sparse], weights, k=self.settings.rrf_k)
        elif self.settings.fusion == "convex":
            fused = convex_combination([dense, sparse], weights)
        else:
            raise ValueError(f"unknown fusion '{self.settings.fusion}' (use rrf or convex)")
        return fused[:k]

    def search(
        self,
        index: CollectionIndex,
        query: str,
        k: int = 10,
        mode: str | None = None,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        mode = mode or self.settings.search_mode
        if mode not in MODES:
            raise ValueError(f"unknown search mode '{mode}' (use one of: {', '.join(MODES)})")
        if not query.strip():
            raise ValueError("query is empty")
        if k <= 0:
            raise ValueError("k must be at least 1")
        allowed = self.allowed_chunk_ids(index.collection_id, filters)
        if allowed is not None and not allowed:
            return []
        reranker = self.reranker
        n_rerank = max(self.settings.rerank_candidates, 0) if reranker is not None else 0
        ranked = self.rank(index, query, max(k, n_rerank), mode, allowed)
        rows = self.store.hit_rows([cid for cid, _ in ranked])
        hits: list[SearchHit] = []
        for cid, score in ranked:
            if cid not in rows:  # a vector whose row was deleted by another process
                continue
            doc_id, collection_id, name, metadata, page_start, page_end, char_start, char_end, text = rows[cid]
            if collection_id != index.collection_id:  # never another collection's text
                continue
            hits.append(SearchHit(document_id=doc_id, document_name=name, chunk_id=cid, page_start=page_start,
                                  page_end=page_end, char_start=char_start, char_end=char_end, score=score, text=text,
                                  metadata=metadata or {}))
        if reranker is not None and n_rerank > 1 and len(hits) > 1:
            # The head is reordered; anything ranked below the reranked candidates keeps
            # its first-stage order (and score) after them.
            head = reranker.rerank(query, hits[:n_rerank], min(k, n_rerank))
            hits = head + hits[n_rerank:]
        return hits[:k]
