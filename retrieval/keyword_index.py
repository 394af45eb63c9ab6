"""The KeywordIndex seam and its BM25 implementation (bm25s, English stemming).

A chunk's keyword score is its own BM25 score scaled by its whole document's (the document
being all chunks of one group, normally one ingested file): a clause or a manual section
split over several chunks still matches a query whose words are spread across it.
`document_weight` says how much the document counts (0 = chunks alone, 1 = fully).

bm25s has no incremental add/delete, so the index keeps each chunk's tokens (as ids
into a growing vocabulary) and rebuilds the BM25 matrix from them when it changes;
rebuilding from token ids is cheap next to tokenising. Tokens are persisted as numpy
arrays + JSON (no pickle), replaced atomically, with a versioned manifest for readers.
"""
from __future__ import annotations

import importlib.abc
import io
import json
import sys
import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from core.fileio import WatchedJson, atomic_write_bytes, atomic_write_json, remove_files


class KeywordIndex(Protocol):
    """The keyword (full-text) side of one collection, keyed by chunk id (the KeywordIndex seam).

    Built only by `retrieval.index_factory.make_keyword_index`; every implementation passes
    tests/index_conformance.py::KeywordIndexConformance. Between instances open on one
    collection the contract is VectorIndex's: a change is seen by its own instance at once and
    by others after `save()` and their `refresh()`, only ever as whole saved versions; ids
    are the caller's chunk ids and survive a reopen; a collection sees only its own entries.
    `add` of an id already present replaces its text.

    Each chunk may name its group (its document): a backend may let a chunk's score rise
    with its whole document's (`bm25_document_weight`).
    """

    def add(self, ids: list[int], texts: list[str], groups: list[int] | None = None) -> None:
        """Index `texts` under `ids`; `groups` gives each chunk's document (None: each stands alone)."""
        ...

    def remove(self, ids: list[int]) -> int:
        """Drop these ids (absent ones are ignored); returns how many were present."""
        ...

    def search(self, query: str, k: int, allowed_ids: set[int] | None = None,
               document_weight: float | None = None) -> list[tuple[int, float]]:
        """Up to k (id, score > 0) of chunks matching the query's terms, best first;
        `allowed_ids` filters inside the search, so k come back whenever k allowed chunks match.
        `document_weight` is this search's `bm25_document_weight` (None: the index's own). It
        is per call because one open index serves every caller in the process, whatever
        their settings (an evaluation run with `--set bm25_document_weight=0`, say)."""
        ...

    def ungrouped(self) -> set[int]:
        """Ids indexed without a group (by a release before groups); crash repair groups them."""
        ...

    def set_groups(self, groups: dict[int, int]) -> None:
        """Give indexed chunks their group (ids not indexed are ignored)."""
        ...

    def ids(self) -> set[int]:
        """Every indexed id (crash repair compares them with the chunk rows)."""
        ...

    def __len__(self) -> int: ...

    def save(self) -> None:
        """Make this instance's changes durable and visible to other instances, as one version."""
        ...

    def refresh(self) -> None:
        """Load the newest saved version if another instance saved one; cheap when none did."""
        ...

    def drop(self) -> None:
        """Delete the collection's stored entries; the instance is empty afterwards."""
        ...


def check_add(ids: list[int], texts: list[str], groups: list[int] | None) -> bool:
    """The argument checks of every backend's `KeywordIndex.add`: False when there is
    nothing to add; a ValueError unless each id has one text (and one group, when given)."""
    if len(texts) != len(ids):
        raise ValueError("one text per chunk id")
    if groups is not None and len(groups) != len(ids):
        raise ValueError("one group per chunk id")
    return len(ids) > 0


class _HideScipy(importlib.abc.MetaPathFinder):
    """Makes scipy unimportable for the thread that installed it (and no other)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if (name == "scipy" or name.startswith("scipy.")) and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named '{name}' (hidden while importing bm25s)", name=name)
        return None


def import_bm25s():
    """bm25s, imported without scipy. bm25s imports scipy.sparse when it is installed (the
    train and eval extras bring it), only to build its score matrix; this index has bm25s
    build it with numpy (CSC_BACKEND: the same arrays and scores, and what an install without
    scipy, the serving one, does anyway). Loading scipy was the largest single part of a
    `docintel search` process's start. Other threads import scipy as usual meanwhile."""
    global _BM25S
    # Not `sys.modules`: a module is there from the moment its import starts, so a second
    # thread would get it half initialised (concurrent first searches did).
    if _BM25S is None:
        with _BM25S_LOCK:
            if _BM25S is None:
                finder = _HideScipy()
                sys.meta_path.insert(0, finder)
                try:
                    import bm25s
                finally:
                    sys.meta_path.remove(finder)
                _BM25S = bm25s
    return _BM25S


_BM25S = None
_BM25S_LOCK = threading.Lock()


# bm25s' score matrix built with numpy, whether or not scipy is installed: scores do not
# depend on it (tests/retrieval/test_keyword_index.py); scipy builds ~15% faster at 50k
# chunks but costs its import in every process.
CSC_BACKEND = "numpy"


def bm25_tokens(texts: list[str], stemmer) -> list[list[str]]:
    """The keyword tokens of each text: bm25s' splitter, English stop words removed, stemmed
    (one function for every keyword backend, so they index and query alike)."""
    bm25s = import_bm25s()

    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


class Bm25KeywordIndex:
    FILE = "keywords.npz"
    VOCAB = "keywords.vocab.json"
    MANIFEST = "keywords.manifest.json"

    def __init__(self, folder: Path, k1: float = 1.2, b: float = 0.75, document_weight: float = 0.0):
        import Stemmer

        if not 0.0 <= document_weight <= 1.0:
            raise ValueError("document_weight must be between 0 and 1")
        self.folder = Path(folder)
        self._manifest_file = WatchedJson(self.folder / self.MANIFEST)
        self.k1, self.b = k1, b
        self.document_weight = document_weight
        self._stemmer = Stemmer.Stemmer("english")
        self._lock = threading.RLock()
        self._tokens: dict[int, np.ndarray] = {}
        self._groups: dict[int, int] = {}  # chunk id -> document id; absent = its own group
        self._vocab: dict[str, int] = {}
        self._version = 0
        self._bm25 = None  # built lazily; invalidated on change
        self._order: np.ndarray = np.zeros(0, dtype=np.int64)  # row -> chunk id
        self._doc_bm25 = None  # BM25 over whole documents, when any document has two chunks
        self._documents_built = False  # whether the last build included the documents' BM25
        self._row_doc: np.ndarray = np.zeros(0, dtype=np.int64)  # chunk row -> document row
        self._load()

    # -- tokenising ----------------------------------------------------------------
    def tokenize(self, texts: list[str]) -> list[list[str]]:
        return bm25_tokens(texts, self._stemmer)

    def _to_ids(self, tokens: list[str], grow: bool) -> np.ndarray:
        out = []
        for t in tokens:
            i = self._vocab.get(t)
            if i is None:
                if not grow:
                    continue
                i = self._vocab[t] = len(self._vocab)
            out.append(i)
        return np.asarray(out, dtype=np.int32)

    # -- changes -------------------------------------------------------------------
    def add(self, ids: list[int], texts: list[str], groups: list[int] | None = None) -> None:
        """Index chunks; `groups` gives each chunk's document (None: each chunk stands alone)."""
        if not check_add(ids, texts, groups):
            return
        tokenized = self.tokenize(list(texts))
        with self._lock:
            for n, (cid, toks) in enumerate(zip(ids, tokenized)):
                self._tokens[int(cid)] = self._to_ids(toks, grow=True)
                if groups is not None:
                    self._groups[int(cid)] = int(groups[n])
                else:
                    self._groups.pop(int(cid), None)
            self._bm25 = None

    def remove(self, ids: list[int]) -> int:
        with self._lock:
            n = sum(self._tokens.pop(int(i), None) is not None for i in ids)
            for i in ids:
                self._groups.pop(int(i), None)
            if n:
                self._bm25 = None
            return n

    def ungrouped(self) -> set[int]:
        """Chunks indexed without their document (e.g. by a version before documents counted)."""
        with self._lock:
            return set(self._tokens) - set(self._groups)

    def set_groups(self, groups: dict[int, int]) -> None:
        with self._lock:
            changed = {int(c): int(g) for c, g in groups.items() if int(c) in self._tokens and self._groups.get(int(c)) != int(g)}
            if changed:
                self._groups.update(changed)
                self._bm25 = None

    def ids(self) -> set[int]:
        with self._lock:
            return set(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    # -- search --------------------------------------------------------------------
    def _build(self, documents: bool):
        bm25s = import_bm25s()
        from bm25s.tokenization import Tokenized

        order = np.fromiter(sorted(self._tokens), dtype=np.int64, count=len(self._tokens))
        bm25 = bm25s.BM25(k1=self.k1, b=self.b, csc_backend=CSC_BACKEND)
        # bm25s needs at least one token per document; an empty chunk gets a sentinel.
        sentinel = len(self._vocab)
        vocab = {**self._vocab, "\x00empty": sentinel}
        docs = [self._tokens[int(c)].tolist() or [sentinel] for c in order]
        bm25.index(Tokenized(ids=docs, vocab=vocab), show_progress=False)
        self._bm25, self._order = bm25, order
        self._doc_bm25, self._row_doc = None, np.zeros(0, dtype=np.int64)
        self._documents_built = documents
        if documents:
            # A document's text is its chunks' tokens in chunk order (chunk overlaps count
            # twice; at 32 of 220 tokens that barely moves BM25).
            group = np.asarray([self._groups.get(int(c), -1 - int(c)) for c in order], dtype=np.int64)
            uniq, row_doc = np.unique(group, return_inverse=True)
            if len(uniq) < len(order):
                members: list[list[int]] = [[] for _ in uniq]
                for row, d in enumerate(row_doc):
                    members[d].extend(docs[row])
                doc_bm25 = bm25s.BM25(k1=self.k1, b=self.b, csc_backend=CSC_BACKEND)
                doc_bm25.index(Tokenized(ids=members, vocab=vocab), show_progress=False)
                self._doc_bm25, self._row_doc = doc_bm25, row_doc

    def search(self, query: str, k: int, allowed_ids: set[int] | None = None,
               document_weight: float | None = None) -> list[tuple[int, float]]:
        weight = self.document_weight if document_weight is None else document_weight
        if not 0.0 <= weight <= 1.0:
            raise ValueError("document_weight must be between 0 and 1")
        tokens = self.tokenize([query])[0]
        with self._lock:
            if not self._tokens or k <= 0:
                return []
            if self._bm25 is None or (weight > 0 and not self._documents_built):
                self._build(documents=weight > 0 or self._documents_built)
            known = [t for t in tokens if t in self._vocab]
            if not known:
                return []
            scores = self._bm25.get_scores(known)
            order = self._order
            doc_scores = None
            if weight > 0 and self._doc_bm25 is not None:
                doc_scores = self._doc_bm25.get_scores(known)[self._row_doc]
        if allowed_ids is not None:
            mask = np.isin(order, np.fromiter(allowed_ids, dtype=np.int64, count=len(allowed_ids)))
            scores = np.where(mask, scores, 0.0)
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0:
            return []
        if doc_scores is not None:
            # Only chunks that match themselves are candidates. Each is scaled by how well its
            # document matches, relative to the best document among them, so within a single
            # document (a filtered search) the ranking is the chunks' own. Scores are divided
            # by the best chunk's, so they lie in [0, 1] whatever the collection's BM25 scale.
            own, whole = scores[positive], doc_scores[positive]
            scale = 1.0  # documents that score nothing (cannot happen with BM25's positive idf) change nothing
            if whole.max() > 0:
                scale = 1.0 - weight + weight * whole / whole.max()
            mixed = own / own.max() * scale
            scores = np.zeros_like(scores)
            scores[positive] = mixed / mixed.max()
        if positive.size > k:  # a common word matches most chunks: partition, not a full sort
            positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
        top = positive[np.lexsort((positive, -scores[positive]))]  # best first; ties by row
        return [(int(order[i]), float(scores[i])) for i in top]

    # -- persistence ---------------------------------------------------------------
    def _manifest(self) -> dict:
        return self._manifest_file.read()

    def _load(self) -> None:
        manifest = self._manifest()
        path = self.folder / self.FILE
        self._tokens, self._groups, self._vocab, self._bm25 = {}, {}, {}, None
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                ids, offsets, flat = data["ids"], data["offsets"], data["tokens"]
                groups = data["groups"] if "groups" in data.files else None  # absent in files before groups
            self._tokens = {int(c): flat[offsets[i] : offsets[i + 1]] for i, c in enumerate(ids)}
            if groups is not None:
                self._groups = {int(c): int(g) for c, g in zip(ids, groups) if g >= 0}
            self._vocab = json.loads((self.folder / self.VOCAB).read_text())
        self._version = int(manifest.get("version", 0))

    def refresh(self) -> None:
        with self._lock:
            if int(self._manifest().get("version", 0)) != self._version:
                self._load()

    def save(self) -> None:
        with self._lock:
            ids = np.fromiter(self._tokens, dtype=np.int64, count=len(self._tokens))
            lengths = np.asarray([len(self._tokens[int(c)]) for c in ids], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            flat = np.concatenate([self._tokens[int(c)] for c in ids]) if len(ids) else np.zeros(0, np.int32)
            groups = np.asarray([self._groups.get(int(c), -1) for c in ids], dtype=np.int64)  # -1 = none
            buf = io.BytesIO()
            np.savez(buf, ids=ids, offsets=offsets, tokens=flat.astype(np.int32), groups=groups)
            # unique and increasing across processes, so a reader never mistakes a new file for its own
            self._version = max(self._version + 1, time.time_ns())
            # vocab first: the token file only references ids the vocab already has
            atomic_write_bytes(self.folder / self.VOCAB, json.dumps(self._vocab).encode())
            atomic_write_bytes(self.folder / self.FILE, buf.getvalue())
            atomic_write_json(self.folder / self.MANIFEST, {"version": self._version, "count": len(ids)})

    def drop(self) -> None:
        with self._lock:
            remove_files(self.folder, (self.FILE, self.VOCAB, self.MANIFEST))
            self._tokens, self._groups, self._vocab, self._bm25, self._version = {}, {}, {}, None, 0
