"""The VectorIndex seam and its FAISS implementation (one index per tenant+collection).

Vectors are keyed by chunk id (IndexIDMap2), so ids survive restarts and a document's
vectors can be removed by id. The file is replaced atomically; a reader notices a new
version through the sidecar manifest and reloads.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from core.fileio import atomic_write_bytes, atomic_write_json


class VectorIndex(Protocol):
    dim: int

    def add(self, ids: list[int], vectors: np.ndarray) -> None: ...

    def remove(self, ids: list[int]) -> int: ...

    def search(self, query: np.ndarray, k: int, allowed_ids: set[int] | None = None) -> list[tuple[int, float]]: ...

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]: ...

    def __len__(self) -> int: ...

    def save(self) -> None: ...


class FaissVectorIndex:
    """Exact inner-product search over normalised vectors (cosine similarity)."""

    FILE = "vectors.faiss"
    MANIFEST = "manifest.json"

    def __init__(self, folder: Path, dim: int):
        self.folder = Path(folder)
        self.dim = dim
        self._lock = threading.RLock()
        self._version = 0
        self._index = None
        self._load()

    def _new(self):
        import faiss

        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _manifest(self) -> dict:
        path = self.folder / self.MANIFEST
        return json.loads(path.read_text()) if path.exists() else {}

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
            self._index = index
        else:
            self._index = self._new()
        self._version = int(manifest.get("version", 0))

    def refresh(self) -> None:
        """Reload if another process saved a newer version."""
        with self._lock:
            if int(self._manifest().get("version", 0)) != self._version:
                self._load()

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        with self._lock:
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> int:
        if len(ids) == 0:
            return 0
        with self._lock:
            return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

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

        params = None
        if allowed_ids is not None:
            if not allowed_ids:
                return []
            # The selector filters inside the scan, so k results come back whenever k exist.
            sel = faiss.IDSelectorBatch(np.fromiter(allowed_ids, dtype=np.int64, count=len(allowed_ids)))
            params = faiss.SearchParameters(sel=sel)
        with self._lock:
            n = self._index.ntotal
            if n == 0 or k <= 0:
                return []
            q = np.asarray(query, dtype=np.float32).reshape(1, self.dim)
            scores, ids = self._index.search(q, min(k, n), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def save(self) -> None:
        import faiss

        with self._lock:
            data = faiss.serialize_index(self._index).tobytes()
            atomic_write_bytes(self.folder / self.FILE, data)
            # unique and increasing across processes, so a reader never mistakes a new file for its own
            self._version = max(self._version + 1, time.time_ns())
            atomic_write_json(self.folder / self.MANIFEST, {"version": self._version, "dim": self.dim, "count": len(self)})

    def drop(self) -> None:
        with self._lock:
            for name in (self.FILE, self.MANIFEST):
                (self.folder / name).unlink(missing_ok=True)
            self._index = self._new()
            self._version = 0


def faiss_ids(index: FaissVectorIndex) -> set[int]:
    import faiss

    with index._lock:
        return set(int(i) for i in faiss.vector_to_array(index._index.id_map))
