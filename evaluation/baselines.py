"""Baseline retrieval pipelines the evaluation scores the product against.

`PlainHybrid` is what a user would assemble from the usual parts without DocIntel: one
MiniLM vector per document (its first 256 tokens, the model window), BM25 over the whole
document (bm25s, English stop words, Snowball stemmer), and reciprocal-rank fusion
(k = 60) of the two top-100 lists. No chunking, no document-level weighting, no reranker,
nothing tuned. It runs in memory over a BEIR corpus (`docintel eval run -s beir --option
pipeline=plain`), so a default that only wins on the queries it was tuned on shows as a
loss against it on the rest (issue 18).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60
DEPTH = 100  # per retriever, before fusion


class PlainHybrid:
    """Dense + BM25 over whole documents, fused by reciprocal rank."""

    def __init__(self, embedder, ids: Sequence[str], texts: Sequence[str], show_progress: bool = True):
        import Stemmer

        from retrieval.keyword_index import bm25_tokens, import_bm25s

        bm25s = import_bm25s()
        self.ids = list(ids)
        self.embedder = embedder
        # The embedder truncates each text to the model window: the document's first 256 tokens.
        self.vectors = np.asarray(embedder.embed_documents(list(texts), show_progress=show_progress), dtype=np.float32)
        self._stemmer = Stemmer.Stemmer("english")
        self._bm25 = bm25s.BM25()
        self._bm25.index(bm25_tokens(list(texts), self._stemmer), show_progress=False)

    def _bm25_scores(self, query: str) -> np.ndarray:
        from retrieval.keyword_index import bm25_tokens

        tokens = bm25_tokens([query], self._stemmer)[0]
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def rank(self, query: str, pool: Sequence[int] | None = None, depth: int = DEPTH) -> list[str]:
        """Document ids, best first: the fused top of the whole corpus, or of the documents at
        the row numbers in `pool` only."""
        rows = np.arange(len(self.ids)) if pool is None else np.asarray(sorted(set(pool)), dtype=np.int64)
        if rows.size == 0:
            return []
        from retrieval.fusion import reciprocal_rank_fusion

        q = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        rankings = []
        for scores in (self.vectors[rows] @ q, self._bm25_scores(query)[rows]):
            order = np.argsort(-scores, kind="stable")[:depth]
            rankings.append([(int(i), float(scores[i])) for i in order])
        # a document without a query word is no BM25 hit
        rankings[1] = [(i, s) for i, s in rankings[1] if s > 0]
        best = reciprocal_rank_fusion(rankings, k=RRF_K)[:depth]
        return [self.ids[int(rows[i])] for i, _ in best]
