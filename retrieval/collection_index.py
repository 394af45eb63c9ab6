"""A collection's indexes (its VectorIndex and KeywordIndex), kept in step with the SQL chunk rows.

Both are built by retrieval.index_factory and used only through their Protocols: nothing
here knows which backend holds them.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import numpy as np

from core.errors import EmbedderMismatchError
from core.settings import Settings
from core.store import Store
from ingestion.chunking import index_text
from ingestion.embedding import Embedder
from retrieval.index_factory import (
    collection_writer_lock,
    index_location,
    index_needs_reconcile,
    make_keyword_index,
    make_vector_index,
)
from retrieval.keyword_index import KeywordIndex
from retrieval.vector_index import VectorIndex

log = logging.getLogger(__name__)


class CollectionIndex:
    """Dense vectors and keywords for one collection, kept in step with each other and
    with the chunk rows; satisfies ingestion's IndexSink."""

    def __init__(self, store: Store, embedder: Embedder, collection_id: int, vectors: VectorIndex, keywords: KeywordIndex,
                 needs_reconcile: bool = True):
        self.store = store
        self.embedder = embedder
        self.collection_id = collection_id
        self.vectors = vectors
        self.keywords = keywords
        # False when the backend commits entries with the chunk rows: there is no drift to repair.
        self.needs_reconcile = needs_reconcile
        self.reconciled = False

    @classmethod
    def build(cls, settings: Settings, store: Store, embedder: Embedder, collection_id: int) -> "CollectionIndex":
        """A new instance on the collection's stored index, from the seams' factories
        (open_collection_index keeps one per collection per process: use that)."""
        try:
            vectors = make_vector_index(settings, collection_id, embedder.dim, embedder.model_id)
        except EmbedderMismatchError as exc:
            raise EmbedderMismatchError(f"{exc}. {reembed_hint(store, collection_id)}") from None
        return cls(store, embedder, collection_id, vectors, make_keyword_index(settings, collection_id),
                   index_needs_reconcile(settings))

    REPAIRS = ("vectors_added", "vectors_removed", "keywords_added", "keywords_removed", "keywords_grouped")

    def reconcile(self) -> dict[str, int]:
        """Repair drift after a crash: rows without vectors are embedded, vectors without rows
        dropped. Nothing to do (and no query) on a backend whose entries commit with the rows."""
        if not self.needs_reconcile:
            return dict.fromkeys(self.REPAIRS, 0)
        owners = self.store.chunk_documents(self.collection_id)
        db_ids = set(owners)
        vec_ids, kw_ids = self.vectors.ids(), self.keywords.ids()
        missing_vec, extra_vec = sorted(db_ids - vec_ids), sorted(vec_ids - db_ids)
        missing_kw, extra_kw = sorted(db_ids - kw_ids), sorted(kw_ids - db_ids)
        self.vectors.remove(extra_vec)
        self.keywords.remove(extra_kw)
        if missing_vec:
            texts = self.index_texts(missing_vec)
            self.vectors.add(list(texts), self.embedder.embed_documents(list(texts.values())))
        if missing_kw:
            texts = self.index_texts(missing_kw)
            self.keywords.add(list(texts), list(texts.values()), [owners[cid] for cid in texts])
        # Chunks indexed before the keyword index knew documents learn theirs now.
        ungrouped = {cid: owners[cid] for cid in self.keywords.ungrouped() if cid in owners}
        self.keywords.set_groups(ungrouped)
        report = dict(zip(self.REPAIRS, (len(missing_vec), len(extra_vec), len(missing_kw), len(extra_kw),
                                         len(ungrouped))))
        if any(report.values()):
            log.warning("index reconciled", extra={"collection_id": self.collection_id, **report})
            self.save()
        return report

    def index_texts(self, chunk_ids: list[int]) -> dict[int, str]:
        """What ingestion indexed for each chunk: its text under its document's title."""
        out: dict[int, str] = {}
        for i in range(0, len(chunk_ids), 1000):
            rows = self.store.hit_rows(chunk_ids[i : i + 1000])
            out.update((cid, index_text(row[-1], (row[3] or {}).get("title"))) for cid, row in rows.items())
        return out

    # -- IndexSink -----------------------------------------------------------------
    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]:
        return self.vectors.reconstruct(ids)

    def replace(
        self, remove_ids: list[int], add_ids: list[int], vectors: np.ndarray, texts: list[str], document_id: int
    ) -> None:
        self.vectors.remove(remove_ids)
        self.keywords.remove(remove_ids)
        self.vectors.add(add_ids, vectors)
        self.keywords.add(add_ids, texts, [document_id] * len(add_ids))

    def remove(self, ids: list[int]) -> None:
        self.vectors.remove(ids)
        self.keywords.remove(ids)

    def save(self) -> None:
        self.vectors.save()
        self.keywords.save()

    def writing(self):
        """IndexSink: its writer already holds it for the whole run (see collection_writer)."""
        return nullcontext()

    def refresh(self) -> None:
        self.vectors.refresh()
        self.keywords.refresh()

    def drop(self) -> None:
        """Delete the collection's stored index (vectors and keywords)."""
        self.vectors.drop()
        self.keywords.drop()

    def __len__(self) -> int:
        return len(self.vectors)


def reembed_hint(store: Store, collection_id: int) -> str:
    """The command that re-embeds the collection with the configured runtime."""
    from core.models import Collection

    with store.session() as s:
        coll = s.get(Collection, collection_id)
        name, tenant = (coll.name, coll.tenant.name) if coll is not None else (str(collection_id), None)
    # Not "set the runtime back": the encoder build (e.g. fused attention) may differ too.
    return (f"To keep its vectors, go back to the encoder that built it (DOCINTEL_EMBEDDING_RUNTIME and its build); "
            f"to re-embed it with the configured one, run `docintel collections reembed {name}"
            + (f" --tenant {tenant}`" if tenant else "`"))


_OPEN: dict[tuple, CollectionIndex] = {}
_OPEN_LOCK = threading.Lock()


def open_collection_index(
    settings: Settings, store: Store, embedder: Embedder, collection_id: int, writer: bool = False
) -> CollectionIndex:
    """The collection-index factory: one instance per collection per process.

    Only a writer (ingest, delete) reconciles the index with the chunk rows: a reader that
    repaired and saved would race the one writer of the collection."""
    # The embedder is part of the key: a runtime with another embedding model must open the
    # index itself, so the vector index's model check refuses it instead of letting it
    # search vectors another model made with its own query vectors.
    key = (index_location(settings, collection_id), collection_id, getattr(embedder, "model_id", None))
    with _OPEN_LOCK:
        index = _OPEN.get(key)
        if index is None:
            index = CollectionIndex.build(settings, store, embedder, collection_id)
            _OPEN[key] = index
        else:
            index.refresh()
        if writer and not index.reconciled:
            index.reconcile()
            index.reconciled = True
        return index


@contextmanager
def collection_writer(
    settings: Settings, store: Store, embedder: Embedder, collection_id: int, repair: bool = True
) -> Iterator[CollectionIndex]:
    """The one writer of a collection's index, across threads and processes.

    The backend's writer lock (retrieval.index_factory.collection_writer_lock) is held for
    the whole write: the index is reloaded if another process saved a newer version, and
    repaired against the chunk rows where the backend needs it (a worker killed mid-ingest
    leaves rows without vectors, which the next writer embeds), then changed and saved. Two ingests into one collection
    take turns; into different collections they run side by side."""
    with collection_writer_lock(settings, collection_id):
        index = open_collection_index(settings, store, embedder, collection_id)
        index.refresh()
        if repair:  # not for a collection about to be dropped
            index.reconcile()
            index.reconciled = True
        yield index


class BatchedCollectionWriter:
    """An IndexSink for ingest jobs: parsing and embedding run without the collection's
    writer lock, and each batch of documents is written under it (reload the index if
    another process saved, write rows and entries, save, release). Two workers ingesting
    into one collection thus embed side by side and take turns only for the writes. The
    first write of each writer repairs the index against the rows (a worker killed
    between a commit and its save left rows without vectors)."""

    # Chunks per write (as many as one embedding batch): each write saves the whole index,
    # 14 ms at 1,500 chunks, so a few percent of the embedding time of the same chunks; a
    # job's progress moves at every write.
    flush_chunks = 64

    def __init__(self, settings: Settings, store: Store, embedder: Embedder, collection_id: int):
        self.settings, self.store, self.embedder, self.collection_id = settings, store, embedder, collection_id
        self._index: CollectionIndex | None = None
        self._repaired = self._changed = False

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]:
        # Vectors of existing chunk ids never change, so a copy that is not the newest will do.
        return open_collection_index(self.settings, self.store, self.embedder, self.collection_id).reconstruct(ids)

    @contextmanager
    def writing(self) -> Iterator[None]:
        with collection_writer(self.settings, self.store, self.embedder, self.collection_id,
                               repair=not self._repaired) as index:
            self._repaired, self._index, self._changed = True, index, False
            try:
                yield
                if self._changed:  # an all-unchanged batch (a re-delivered job) writes nothing
                    index.save()
            finally:
                self._index = None

    def replace(self, remove_ids: list[int], add_ids: list[int], vectors: np.ndarray, texts: list[str],
                document_id: int) -> None:
        if self._index is None:
            raise RuntimeError("BatchedCollectionWriter.replace outside writing()")
        self._index.replace(remove_ids, add_ids, vectors, texts, document_id)
        self._changed = True

    def save(self) -> None:
        """Each write is saved before its lock is released; nothing is left to save."""


def forget_collection_index(settings: Settings, collection_id: int) -> None:
    location = index_location(settings, collection_id)
    with _OPEN_LOCK:
        for key in [k for k in _OPEN if k[:2] == (location, collection_id)]:
            del _OPEN[key]
