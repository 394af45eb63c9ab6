"""Re-embedding a collection with the configured embedder (`docintel collections reembed NAME`).

A collection's vector index records the embedder that made its vectors (`model_id`, e.g.
`sentence-transformers:...` for torch, `onnx-int8:...`). When DOCINTEL_EMBEDDING_RUNTIME
changes, opening it raises EmbedderMismatchError rather than mixing vectors of two runtimes
(they differ slightly, so mixed scores would be quietly skewed). This is the explicit way
forward: every chunk is embedded again, from what ingestion embedded (its text under its
document's title), and the vectors replace the old ones; the keyword index is untouched.

Order, so that a crash at any point leaves no mix: (1) all vectors are embedded while the
old index is left as it was; (2) the chunks' stored sentence vectors (the reranker's) are
cleared, so until they are refilled the reranker embeds sentences at query time with the
searching process's embedder, which matches the index it could open; (3) the vector index is
dropped and written again with the new vectors, stamped with the new model id; (4) the
sentence vectors are refilled batch by batch where the configured reranker uses them. The
collection's writer lock is held throughout, so no ingest interleaves. A crash in (3) leaves
chunks without vectors, which the next writer embeds with its (the new) embedder.

Only the runtime (or any change that keeps the vector dimension, such as the int8 export
with fused attention, model id `onnx-int8:...+fused`) is handled: a model of another dimension means
re-ingesting the collection. The sentence vectors of (4) are made as ingestion makes them
(ingestion.sentences.embed_sentences).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from core.errors import EmbedderMismatchError
from core.settings import Settings
from core.store import Store
from ingestion.embedding import Embedder
from ingestion.sentences import embed_sentences, pack
from retrieval.collection_index import CollectionIndex, forget_collection_index
from retrieval.index_factory import collection_writer_lock, make_keyword_index, make_vector_index
from retrieval.rerank import needs_sentence_vectors


def reembed_collection_index(
    settings: Settings,
    store: Store,
    embedder: Embedder,
    collection_id: int,
    batch_size: int = 256,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Embed every chunk of the collection with `embedder` and replace its vectors (and
    stored sentence vectors). Does nothing when the index already records `embedder`'s model
    id, unless `force` (e.g. an index saved before model ids were recorded).
    `progress(done, total)` in chunks, over the embedding of chunks and then of sentences."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    with collection_writer_lock(settings, collection_id):
        try:
            make_vector_index(settings, collection_id, embedder.dim, embedder.model_id)
            up_to_date = True
        except EmbedderMismatchError:
            up_to_date = False
        owners = store.chunk_documents(collection_id)
        ids = sorted(owners)
        if up_to_date and not force:
            return {"chunks": len(ids), "reembedded": 0, "model_id": embedder.model_id, "up_to_date": True,
                    "seconds": round(time.perf_counter() - started, 2)}
        # Opened accepting whichever embedder made it: only to read texts and to drop it.
        old = CollectionIndex(store, embedder, collection_id, make_vector_index(settings, collection_id, embedder.dim),
                              make_keyword_index(settings, collection_id), needs_reconcile=False)
        sentences = needs_sentence_vectors(settings)
        total = len(ids) * (2 if sentences else 1)
        vectors = np.zeros((len(ids), embedder.dim), dtype=np.float32)
        texts: list[str] = []  # read once, embedded again for the sentences in (4)
        for start in range(0, len(ids), batch_size):  # (1)
            batch = ids[start : start + batch_size]
            found = old.index_texts(batch)
            texts.extend(found[c] for c in batch)
            vectors[start : start + len(batch)] = embedder.embed_documents(texts[start:])
            if progress is not None:
                progress(start + len(batch), total)
        store.set_sentence_vectors(collection_id, None)  # (2)
        old.vectors.drop()  # (3): also forgets the recorded model id
        new = make_vector_index(settings, collection_id, embedder.dim, embedder.model_id)
        new.add(ids, vectors)
        new.save()
        forget_collection_index(settings, collection_id)  # this process's open copy is stale
        if sentences:  # (4)
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                blocks = embed_sentences(embedder, texts[start : start + len(batch)])
                store.set_sentence_vectors(collection_id, {c: pack(b) for c, b in zip(batch, blocks)})
                if progress is not None:
                    progress(len(ids) + start + len(batch), total)
    return {"chunks": len(ids), "reembedded": len(ids), "sentence_vectors": len(ids) if sentences else 0,
            "model_id": embedder.model_id, "up_to_date": False, "seconds": round(time.perf_counter() - started, 2)}
