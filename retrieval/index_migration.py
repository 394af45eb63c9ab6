"""Moving a collection's index to another backend without re-embedding
(`docintel collections migrate NAME --to postgres|files`).

The vectors are copied as stored (`VectorIndex.reconstruct`); the keyword entries are
indexed again from what ingestion indexed, each chunk's text under its document's title,
read from the chunk rows with each chunk's document as its group (`CollectionIndex.index_texts`),
so no model runs. Both sides are opened through retrieval.index_factory (`with_backend`) and
their writer locks held throughout, so no ingest or delete changes the collection meanwhile.

The target's entries for the collection are removed and the copy written in batches, all
saved as one version (readers of the target see the old entries, then the new ones): running
it again replaces them, never duplicates them. At the end a fresh
instance of the target is checked against the source: the same ids on both sides and in the
chunk rows, the same counts, and a sample of vectors equal. The source is left as it was
(switching back is setting DOCINTEL_INDEX_BACKEND again, or migrating back).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import numpy as np

from core.errors import DocIntelError
from core.settings import Settings
from core.store import Store
from ingestion.embedding import Embedder
from retrieval.collection_index import CollectionIndex, forget_collection_index
from retrieval.index_factory import backend_name, collection_writer_lock, with_backend


class IndexMigrationError(DocIntelError):
    """A migration that cannot start, or whose copy does not match its source."""


def migrate_collection_index(
    settings: Settings,
    store: Store,
    embedder: Embedder,
    collection_id: int,
    target: str,
    source: str | None = None,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    sample: int = 64,
) -> dict[str, Any]:
    """Copy the collection's index from `source` (default: the settings' backend) to the
    backend `target`. `embedder` only names the model the vectors must come from (its dim
    and model id); it never embeds, unless the source had drifted from its chunk rows (a
    crash) and its repair embeds the chunks it lacks. `progress(done, total)` after each
    batch of chunks. Returns a summary (chunks, vectors, keywords, seconds, ...)."""
    source = source or backend_name(settings)
    if source == target:
        raise IndexMigrationError(f"the collection's index is read from the '{source}' backend already: name the "
                                  "backend to copy it to with --to, or the one to copy from with --from")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    sides = {source: with_backend(settings, source), target: with_backend(settings, target)}
    started = time.perf_counter()
    with ExitStack() as locks:
        for name in sorted(sides):  # one order for every migration: two in opposite directions cannot deadlock
            locks.enter_context(collection_writer_lock(sides[name], collection_id))
        src = CollectionIndex.build(sides[source], store, embedder, collection_id)
        repaired = src.reconcile()  # nothing to do on a source that is in step with its rows
        owners = store.chunk_documents(collection_id)  # chunk id -> document id
        ids = sorted(owners)
        dst = CollectionIndex.build(_graph_at_the_end(sides[target], len(ids)), store, embedder, collection_id)
        missing = set(ids) - src.vectors.ids()
        if missing:  # reconcile adds them where it can: only a source it cannot repair gets here
            raise IndexMigrationError(f"{len(missing)} chunks of the collection have no vector in the '{source}' "
                                      "index: repair or re-ingest the collection before migrating it")
        # Replaced in the same version as the copy is written: readers of the target never see it empty.
        replaced = sorted(dst.vectors.ids() | dst.keywords.ids())
        dst.remove(replaced)
        if progress is not None:
            progress(0, len(ids))
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            vectors = src.vectors.reconstruct(batch)
            dst.vectors.add(batch, np.stack([vectors[c] for c in batch]))
            texts = src.index_texts(batch)
            dst.keywords.add(batch, [texts[c] for c in batch], [owners[c] for c in batch])
            if progress is not None:
                progress(start + len(batch), len(ids))
        dst.save()
        forget_collection_index(sides[target], collection_id)  # this process's open copy, if any, is stale
        compared = _verify(sides[target], store, embedder, collection_id, src, ids, sample)
    return {
        "from": source, "to": target, "chunks": len(ids), "documents": len(set(owners.values())),
        "vectors": compared["vectors"], "keywords": compared["keywords"],
        "verified": {"same_ids": True, "vectors_compared": compared["sampled"]},
        "replaced": len(replaced), "repaired": sum(repaired.values()), "seconds": round(time.perf_counter() - started, 2),
    }


def _graph_at_the_end(settings: Settings, chunks: int) -> Settings:
    """The target's settings for the copy: a collection that will have an HNSW graph gets it
    built once, by the batch that completes the copy, instead of from the batch that crosses
    hnsw_min_vectors with every later vector inserted into it (about 4x slower at 1M chunks,
    docs/benchmarks.md). Later writers use the usual settings and find the graph there."""
    floor = settings.hnsw_min_vectors
    if not floor or chunks < floor:
        return settings
    return settings.model_copy(update={"hnsw_min_vectors": chunks})


def _verify(settings: Settings, store: Store, embedder: Embedder, collection_id: int, src: CollectionIndex,
            ids: list[int], sample: int) -> dict[str, int]:
    """A fresh instance of the target (what any process now reads) against the source and the rows."""
    copy = CollectionIndex.build(settings, store, embedder, collection_id)
    want = set(ids)
    for side, index in (("vectors", copy.vectors), ("keywords", copy.keywords)):
        got = index.ids()
        if got != want or len(index) != len(want):
            raise IndexMigrationError(
                f"the copy's {side} do not match the collection's {len(want)} chunks ({len(got)} ids, "
                f"{len(got - want)} extra, {len(want - got)} missing, count {len(index)}): run the migration again")
    if copy.keywords.ungrouped():
        raise IndexMigrationError("the copy's keyword entries lost their documents: run the migration again")
    picked = random.Random(collection_id).sample(ids, min(sample, len(ids)))
    before, after = src.vectors.reconstruct(picked), copy.vectors.reconstruct(picked)
    differ = [c for c in picked if not np.array_equal(before[c], after[c])]
    if differ:
        raise IndexMigrationError(f"{len(differ)} of {len(picked)} sampled vectors differ from the source's "
                                  f"(chunk {differ[0]} first): run the migration again")
    return {"vectors": len(copy.vectors), "keywords": len(copy.keywords), "sampled": len(picked)}
