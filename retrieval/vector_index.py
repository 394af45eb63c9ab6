"""The VectorIndex seam and its FAISS implementation (one index per tenant+collection).

Vectors are keyed by chunk id (IndexIDMap2), so ids survive restarts and a document's
vectors can be removed by id. The file is replaced atomically; a reader notices a new
version through the sidecar manifest and reloads.

Large collections also get an HNSW graph next to the exact index (`hnsw_min_vectors`):
the exact scan costs ~15-20 ms at 100k vectors on two cores, the graph under a
millisecond. The exact index stays the source of truth (removal, reconstruction, filters
that keep few chunks); HNSW cannot remove, so removed ids are excluded at query time
and the graph is rebuilt when they pile up. Only writers build the graph (at save).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import EmbedderMismatchError
from core.fileio import WatchedJson, atomic_write_bytes, atomic_write_json, remove_files


class VectorIndex(Protocol):
    """The dense vectors of one collection, keyed by chunk id (the VectorIndex seam).

    Built only by `retrieval.index_factory.make_vector_index`; every implementation passes
    tests/index_conformance.py::VectorIndexConformance. Several instances may be open on one
    collection's stored index (processes, API replicas); the contract between them:

    - A change (add, remove) is seen at once by the instance that made it and by no other
      until it calls `save()`; another instance sees the saved version after `refresh()`.
      A reader only ever sees whole saved versions, never part of a save.
    - Ids are the chunk ids the caller gives; they are the same after a reopen. `add` takes
      ids the index does not hold: a chunk is replaced by `remove` then `add`.
    - A collection's index sees only its own vectors (tenants are separated by collection).
    - Opening a collection whose vectors another embedder made (`model_id`) or whose
      dimension differs raises an error that says to re-ingest.

    One writer per collection at a time (retrieval.collection_index.collection_writer);
    readers any number, from any thread.
    """

    dim: int

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        """Index `vectors` (one normalised row per id) under `ids`."""
        ...

    def remove(self, ids: list[int]) -> int:
        """Drop these ids (absent ones are ignored); returns how many were present."""
        ...

    def search(self, query: np.ndarray, k: int, allowed_ids: set[int] | None = None) -> list[tuple[int, float]]:
        """Up to k (id, cosine score), best first. `allowed_ids` restricts the search to those
        ids inside the search itself, so k come back whenever k allowed ids are indexed; an
        empty set finds nothing."""
        ...

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]:
        """The stored vectors of those ids that are present (unchanged chunks reuse theirs)."""
        ...

    def ids(self) -> set[int]:
        """Every indexed id (crash repair compares them with the chunk rows)."""
        ...

    def __len__(self) -> int: ...

    def save(self) -> None:
        """Make this instance's changes durable and visible to other instances, as one version."""
        ...

    def refresh(self) -> None:
        """Load the newest saved version if another instance saved one; cheap when none did
        (readers call it before every search)."""
        ...

    def drop(self) -> None:
        """Delete the collection's stored vectors; the instance is empty afterwards."""
        ...


@dataclass(frozen=True)
class HnswOptions:
    min_vectors: int = 0  # build the graph from this many vectors on; 0 = exact search only
    m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    # Filters keeping less than this share of the collection search exactly: a graph walk
    # through mostly excluded nodes misses results.
    min_allowed_share: float = 0.5
    max_stale_share: float = 0.2  # removed-but-still-in-graph ids before a rebuild


_FAISS_THREADS: int | None = None


def set_faiss_threads(threads: int) -> None:
    """FAISS's OpenMP team size for this process's searches (0 = every core), applied in
    each thread that searches. Torch reads OpenMP's setting of the thread it starts in:
    call this at the start of a serving process, before torch starts (torch then sets its
    own team); called after, it would leave the embedder on one thread (measured: a
    worker's ingest 1.6x slower)."""
    global _FAISS_THREADS
    if threads != _FAISS_THREADS:
        _FAISS_THREADS = threads
        _apply_faiss_threads()


# OpenMP keeps the team size per thread: set in one thread, it leaves every other thread
# (the API's request threads) on one thread per core, whose team spins after each query
# (measured: ~14 ms of CPU per 7 ms search at one client). Each searching thread applies
# the process's setting once.
_TEAM = threading.local()


def _apply_faiss_threads() -> None:
    if _FAISS_THREADS is not None and getattr(_TEAM, "size", None) != _FAISS_THREADS:
        import faiss

        faiss.omp_set_num_threads(_FAISS_THREADS if _FAISS_THREADS > 0 else os.cpu_count() or 1)
        _TEAM.size = _FAISS_THREADS


class FaissVectorIndex:
    """Inner-product search over normalised vectors (cosine similarity): exact, plus an
    HNSW graph for large collections."""

    FILE = "vectors.faiss"
    HNSW_FILE = "vectors.hnsw"
    MANIFEST = "manifest.json"

    def __init__(self, folder: Path, dim: int, hnsw: HnswOptions | None = None, model_id: str | None = None):
        self.folder = Path(folder)
        self._manifest_file = WatchedJson(self.folder / self.MANIFEST)
        self.dim = dim
        self.model_id = model_id  # the document embedder; recorded so vectors of two models never mix
        self.hnsw = hnsw or HnswOptions()
        self._lock = threading.RLock()
        self._version = 0
        self._index = None
        self._graph = None  # IndexIDMap2(IndexHNSWFlat) or None
        self._stale: set[int] = set()  # ids removed from the exact index but still in the graph
        self._load()

    def _new(self):
        import faiss

        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _manifest(self) -> dict:
        return self._manifest_file.read()

    def _load(self) -> None:
        import faiss

        manifest = self._manifest()
        path = self.folder / self.FILE
        if path.exists():
            index = faiss.deserialize_index(np.frombuffer(path.read_bytes(), dtype=np.uint8))
            if index.d != self.dim:
                raise RuntimeError(
                    f"index {path} has dimension {index.d}, the embedder has {self.dim}: "
                    "re-ingest the collection after changing the embedding model"
                )
            built_by = manifest.get("model_id")
            if self.model_id and built_by and built_by != self.model_id and index.ntotal:
                # Same dimension, other vectors (e.g. torch vs int8 ONNX documents): mixing them
                # would quietly skew every score, so refuse.
                raise EmbedderMismatchError(
                    f"index {path} was built with the embedder {built_by!r}, this process embeds documents "
                    f"with {self.model_id!r}: set DOCINTEL_EMBEDDING_MODEL / DOCINTEL_EMBEDDING_RUNTIME back "
                    "(minilm for an index built before the tuned model was the default), or re-ingest the collection"
                )
            self._index = index
            # An index saved before model ids were recorded keeps "unknown": stamping it with
            # whatever embedder opens it first would bless vectors it did not make.
            self._legacy = bool(index.ntotal) and not built_by
            self._recorded_model_id = built_by
        else:
            self._index = self._new()
            self._legacy, self._recorded_model_id = False, None
        self._graph, self._stale = None, set()
        graph_path = self.folder / self.HNSW_FILE
        if self.hnsw.min_vectors and manifest.get("hnsw") and graph_path.exists():
            graph = faiss.deserialize_index(np.frombuffer(graph_path.read_bytes(), dtype=np.uint8))
            exact_ids = set(_ids(self._index))
            graph_ids = set(_ids(graph))
            missing = sorted(exact_ids - graph_ids)  # added after the graph was saved (a crash)
            if missing:
                vecs = self.reconstruct(missing)
                graph.add_with_ids(np.stack([vecs[i] for i in missing]), np.asarray(missing, dtype=np.int64))
            self._graph, self._stale = graph, graph_ids - exact_ids
        self._version = int(manifest.get("version", 0))

    def _model_id_to_record(self) -> str | None:
        if self._recorded_model_id is None and self.model_id and not self._legacy:
            self._recorded_model_id = self.model_id
        return self._recorded_model_id

    def refresh(self) -> None:
        """Reload if another process saved a newer version."""
        with self._lock:
            if int(self._manifest().get("version", 0)) != self._version:
                self._load()

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        id_array = np.asarray(ids, dtype=np.int64)
        with self._lock:
            self._index.add_with_ids(vectors, id_array)
            if self._graph is not None:
                if self._stale.intersection(ids):  # an id back in the graph would be a duplicate
                    self._graph = None
                else:
                    self._graph.add_with_ids(vectors, id_array)

    def remove(self, ids: list[int]) -> int:
        if len(ids) == 0:
            return 0
        with self._lock:
            removed = int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))
            if self._graph is not None:
                self._stale.update(int(i) for i in ids)
            return removed

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        with self._lock:
            for i in ids:
                try:
                    out[i] = self._index.reconstruct(int(i))
                except RuntimeError:  # id not present
                    continue
        return out

    def search(self, query: np.ndarray, k: int, allowed_ids: set[int] | None = None) -> list[tuple[int, float]]:
        import faiss

        if allowed_ids is not None and not allowed_ids:
            return []
        _apply_faiss_threads()
        with self._lock:
            n = self._index.ntotal
            if n == 0 or k <= 0:
                return []
            q = np.asarray(query, dtype=np.float32).reshape(1, self.dim)
            graph = self._graph
            if graph is not None and (allowed_ids is None or len(allowed_ids) >= self.hnsw.min_allowed_share * n):
                params = faiss.SearchParametersHNSW(efSearch=max(self.hnsw.ef_search, k))
                if allowed_ids is not None:
                    params.sel = _batch(allowed_ids - self._stale)
                elif self._stale:
                    params.sel = faiss.IDSelectorNot(_batch(self._stale))
                scores, ids = graph.search(q, min(k, n), params=params)
            else:
                params = None
                if allowed_ids is not None:
                    # The selector filters inside the scan, so k results come back whenever k exist.
                    params = faiss.SearchParameters(sel=_batch(allowed_ids))
                scores, ids = self._index.search(q, min(k, n), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def _build_graph(self):
        import faiss

        ids = _ids(self._index)
        hnsw = faiss.IndexHNSWFlat(self.dim, self.hnsw.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.hnsw.ef_construction
        graph = faiss.IndexIDMap2(hnsw)
        if len(ids):
            graph.add_with_ids(self._index.index.reconstruct_n(0, self._index.ntotal), ids)
        return graph

    def _maintain_graph(self) -> None:
        """Build the graph once the collection is large enough; rebuild it when removed ids pile up."""
        n = self._index.ntotal
        if not self.hnsw.min_vectors or n < self.hnsw.min_vectors:
            self._graph, self._stale = None, set()
            return
        if self._graph is None or len(self._stale) > self.hnsw.max_stale_share * max(n, 1):
            self._graph, self._stale = self._build_graph(), set()

    @property
    def uses_graph(self) -> bool:
        return self._graph is not None

    def ids(self) -> set[int]:
        with self._lock:
            return set(_ids(self._index).tolist())

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def save(self) -> None:
        import faiss

        with self._lock:
            self._maintain_graph()
            data = faiss.serialize_index(self._index).tobytes()
            atomic_write_bytes(self.folder / self.FILE, data)
            if self._graph is not None:
                atomic_write_bytes(self.folder / self.HNSW_FILE, faiss.serialize_index(self._graph).tobytes())
            # unique and increasing across processes, so a reader never mistakes a new file for its own
            self._version = max(self._version + 1, time.time_ns())
            atomic_write_json(self.folder / self.MANIFEST, {"version": self._version, "dim": self.dim, "count": len(self),
                                                            "hnsw": self._graph is not None, "model_id": self._model_id_to_record()})
            if self._graph is None:
                (self.folder / self.HNSW_FILE).unlink(missing_ok=True)

    def drop(self) -> None:
        with self._lock:
            remove_files(self.folder, (self.FILE, self.HNSW_FILE, self.MANIFEST))
            self._index = self._new()
            self._graph, self._stale = None, set()
            self._legacy, self._recorded_model_id = False, None  # the next vectors stamp it anew
            self._version = 0


def _ids(index) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map).astype(np.int64)


def _batch(ids: set[int]):
    import faiss

    return faiss.IDSelectorBatch(np.fromiter(ids, dtype=np.int64, count=len(ids)))
