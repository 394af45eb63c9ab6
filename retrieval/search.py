"""The search service: query -> ranked chunks with citations (document, pages, char span)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from core.store import Store
from core.types import SearchHit
from ingestion.embedding import Embedder
from retrieval.collection_index import CollectionIndex


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
    _query_cache: QueryEmbeddingCache | None = field(default=None, init=False)

    def embed_query(self, query: str) -> np.ndarray:
        if self._query_cache is None:
            self._query_cache = QueryEmbeddingCache(self.embedder)
        return self._query_cache(query)

    def search(self, index: CollectionIndex, query: str, k: int = 10) -> list[SearchHit]:
        if not query.strip():
            raise ValueError("query is empty")
        if k <= 0:
            raise ValueError("k must be at least 1")
        ranked = index.vectors.search(self.embed_query(query), k)
        rows = self.store.chunks_with_documents([cid for cid, _ in ranked])
        hits: list[SearchHit] = []
        for cid, score in ranked:
            if cid not in rows:  # a vector whose row was deleted by another process
                continue
            chunk, doc = rows[cid]
            hits.append(
                SearchHit(
                    document_id=doc.id, document_name=doc.name, chunk_id=chunk.id,
                    page_start=chunk.page_start, page_end=chunk.page_end,
                    char_start=chunk.char_start, char_end=chunk.char_end,
                    score=score, text=chunk.text, metadata=doc.metadata_ or {},
                )
            )
        return hits
