"""The VectorIndex and KeywordIndex factories: the only place that branches on
`settings.index_backend` (DOCINTEL_INDEX_BACKEND).

Each backend is one `IndexBackend` entry: how to build a collection's vector index and its
keyword index, what identifies a collection's stored index (the per-process cache key of
retrieval.collection_index), and the lock that makes one writer per collection. Callers ask
through the functions below, never by name; every backend passes the shared conformance
suite in tests/index_conformance.py.

- `files` (default): FAISS and bm25s files per collection under
  <data_dir>/indexes/collections/<collection id>/, replaced atomically; the writer lock is
  an flock beside them (one machine, or a shared volume that honours it). Saved apart from
  the chunk rows, so writers repair drift after a crash.
- `postgres`: pgvector and BM25 postings tables per collection in the store's PostgreSQL
  database (retrieval/pg_index.py), written in the chunk rows' transaction (nothing to
  repair); the writer lock is a PostgreSQL advisory lock.

`with_backend` names another backend for one operation (a migration opens both sides).
"""
from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from retrieval.keyword_index import Bm25KeywordIndex, KeywordIndex
from retrieval.vector_index import FaissVectorIndex, HnswOptions, VectorIndex


@dataclass(frozen=True)
class IndexBackend:
    # (settings, collection id, dimension, embedder model id) -> the collection's vectors
    vectors: Callable[[Settings, int, int, str | None], VectorIndex]
    # (settings, collection id) -> the collection's keyword index
    keywords: Callable[[Settings, int], KeywordIndex]
    # (settings, collection id) -> what identifies the collection's stored index in this process
    location: Callable[[Settings, int], tuple]
    # (settings, collection id) -> held by the collection's one writer, across threads and processes
    writer_lock: Callable[[Settings, int], AbstractContextManager[None]]
    # Whether a collection's entries can drift from its chunk rows (entries saved apart from
    # the rows' commit, so a crash in between leaves rows without entries or the reverse) and
    # its writers must repair them first (retrieval.collection_index.CollectionIndex.reconcile).
    needs_reconcile: bool = True


# -- files -------------------------------------------------------------------------------
def collection_folder(settings: Settings, collection_id: int) -> Path:
    return settings.index_dir / "collections" / str(collection_id)


def _files_vectors(settings: Settings, collection_id: int, dim: int, model_id: str | None) -> VectorIndex:
    hnsw = HnswOptions(min_vectors=settings.hnsw_min_vectors, ef_search=settings.hnsw_ef_search)
    return FaissVectorIndex(collection_folder(settings, collection_id), dim, hnsw, model_id=model_id)


def _files_keywords(settings: Settings, collection_id: int) -> KeywordIndex:
    return Bm25KeywordIndex(collection_folder(settings, collection_id), document_weight=settings.bm25_document_weight)


def _files_location(settings: Settings, collection_id: int) -> tuple:
    return ("files", os.path.abspath(collection_folder(settings, collection_id)))  # no realpath syscalls per search


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_LOCK = threading.Lock()


@contextmanager
def _files_writer_lock(settings: Settings, collection_id: int) -> Iterator[None]:
    """An exclusive flock on <collections>/<id>.lock, plus a thread lock (flock is per open
    file, so threads of one process need their own)."""
    folder = settings.index_dir / "collections"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{collection_id}.lock"
    with _THREAD_LOCKS_LOCK:
        thread_lock = _THREAD_LOCKS.setdefault(str(path.resolve()), threading.Lock())
    with thread_lock, open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- postgres ----------------------------------------------------------------------------
def _pg_vectors(settings: Settings, collection_id: int, dim: int, model_id: str | None) -> VectorIndex:
    from retrieval.pg_index import PgVectorIndex

    return PgVectorIndex(settings, collection_id, dim, model_id)


def _pg_keywords(settings: Settings, collection_id: int) -> KeywordIndex:
    from retrieval.pg_index import PgKeywordIndex

    return PgKeywordIndex(settings, collection_id, document_weight=settings.bm25_document_weight)


def _pg_location(settings: Settings, collection_id: int) -> tuple:
    from retrieval.pg_index import location

    return location(settings, collection_id)


def _pg_writer_lock(settings: Settings, collection_id: int) -> AbstractContextManager[None]:
    from retrieval.pg_index import writer_lock

    return writer_lock(settings, collection_id)


BACKENDS: dict[str, IndexBackend] = {
    "files": IndexBackend(_files_vectors, _files_keywords, _files_location, _files_writer_lock),
    "postgres": IndexBackend(_pg_vectors, _pg_keywords, _pg_location, _pg_writer_lock, needs_reconcile=False),
}


def _backend(settings: Settings) -> IndexBackend:
    return _named(settings.index_backend)


def _named(name: str) -> IndexBackend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown index_backend '{name}' (use {', '.join(BACKENDS)})") from None


def backend_name(settings: Settings) -> str:
    """The index backend these settings choose (DOCINTEL_INDEX_BACKEND)."""
    _backend(settings)
    return settings.index_backend


def with_backend(settings: Settings, name: str) -> Settings:
    """The same settings with the index backend `name`: every function below then builds,
    locates and locks that backend's indexes (a migration opens both sides this way)."""
    _named(name)
    return settings.model_copy(update={"index_backend": name})


# -- the factories ---------------------------------------------------------------------
def make_vector_index(settings: Settings, collection_id: int, dim: int, model_id: str | None = None) -> VectorIndex:
    """The VectorIndex factory: a new instance on the collection's stored vectors, made by
    the embedder `model_id` with `dim` dimensions (None accepts whichever made them)."""
    return _backend(settings).vectors(settings, collection_id, dim, model_id)


def make_keyword_index(settings: Settings, collection_id: int) -> KeywordIndex:
    """The KeywordIndex factory: a new instance on the collection's stored keyword entries."""
    return _backend(settings).keywords(settings, collection_id)


def index_location(settings: Settings, collection_id: int) -> tuple:
    """What identifies the collection's stored index (two settings naming the same storage
    give the same key): the cache key of open collection indexes."""
    return _backend(settings).location(settings, collection_id)


def collection_writer_lock(settings: Settings, collection_id: int) -> AbstractContextManager[None]:
    """The lock the collection's one writer holds, across threads and processes."""
    return _backend(settings).writer_lock(settings, collection_id)


def index_needs_reconcile(settings: Settings) -> bool:
    """Whether a collection's writers repair its entries against the chunk rows (see
    IndexBackend.needs_reconcile): not when entries commit with the rows."""
    return _backend(settings).needs_reconcile
