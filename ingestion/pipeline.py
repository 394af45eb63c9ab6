"""The ingest pipeline: file -> load -> chunk -> embed -> index sink + SQL rows.

The index is handed in as an `IndexSink` (retrieval's collection index satisfies it),
so ingestion does not depend on how vectors or keywords are stored.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import LoaderError
from core.store import Store, text_sha256
from core.types import ChunkDraft, IngestResult, LoadedDocument
from ingestion.chunking import Chunker, index_text
from ingestion.embedding import Embedder
from ingestion.loaders import LOADERS, load_bytes
from ingestion.sentences import embed_chunks, embed_sentences
from ingestion.sentences import pack as pack_sentences

log = logging.getLogger(__name__)

SAVE_EVERY_S = 60.0
# Small documents are embedded together until they hold this many chunks: sentence-
# transformers pays per call, and one clause per call left the batches nearly empty.
EMBED_BATCH_CHUNKS = 64


class IndexSink(Protocol):
    """What ingestion needs from a collection's indexes.

    `writing()` is held around each write of a batch of documents (their rows and their
    index entries): parsing and embedding happen outside it, so a sink that takes a lock
    there lets other writers parse and embed meanwhile. `flush_chunks` (optional) is how
    many chunks such a sink wants per write."""

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]: ...

    def replace(
        self, remove_ids: list[int], add_ids: list[int], vectors: np.ndarray, texts: list[str], document_id: int
    ) -> None: ...

    def save(self) -> None: ...

    def writing(self) -> AbstractContextManager: ...


def iter_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, str]]:
    """(file, document name). Files named directly are always tried and named by their base
    name; inside folders only supported types are taken (sorted), named by their path
    relative to the folder, so two README.md files in different subfolders stay distinct."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and Path(name).suffix.lower() in LOADERS:
                        full = Path(root) / name
                        yield full, full.relative_to(path).as_posix()
        else:
            yield path, path.name


@dataclass
class _Prepared:
    """A document loaded and chunked, waiting for its vectors."""

    collection_id: int
    name: str
    path: str
    sha: str
    loaded: LoadedDocument
    chunks: list[ChunkDraft]
    texts: list[str]  # what is embedded and keyword-indexed: chunk text under the title
    metadata: dict
    previous_doc_id: int | None  # a version whose vectors may be reused for unchanged chunks


@dataclass
class Ingestor:
    store: Store
    embedder: Embedder
    chunker: Chunker
    # Also embed every chunk's sentences for the sentence reranker (settings.reranker).
    sentence_vectors: bool = False

    def ingest_file(
        self, collection_id: int, path: Path, sink: IndexSink, metadata: dict | None = None, name: str | None = None
    ) -> IngestResult:
        [result] = self._run([self._prepare_file(collection_id, path, name or path.name, metadata)], sink)
        return result

    def ingest_bytes(
        self, collection_id: int, name: str, data: bytes, sink: IndexSink, metadata: dict | None = None, path: str | None = None
    ) -> IngestResult:
        [result] = self._run([self._prepare(collection_id, name, data, metadata, path)], sink)
        return result

    def _prepare(
        self, collection_id: int, name: str, data: bytes, metadata: dict | None = None, path: str | None = None
    ) -> IngestResult | _Prepared:
        """Load and chunk one document: its final result when it fails or is unchanged,
        otherwise a _Prepared waiting for its vectors."""
        path = path or name
        metadata = dict(metadata or {})
        # The caller's title heads every chunk in the indexes (chunking.index_text). Titles
        # the loaders read (PDF /Title, HTML <title>) are kept as metadata "file_title" only:
        # in PDFs they are often a file name or "Microsoft Word - ...".
        title = str(metadata.get("title") or "").strip() or None
        sha = hashlib.sha256(data).hexdigest()
        existing = self.store.find_document(collection_id, name)
        if unchanged := self._unchanged(existing, sha, path):
            return unchanged
        try:
            loaded = load_bytes(data, name)
        except LoaderError as exc:
            doc_id = self.store.record_failure(collection_id, name, sha, None, str(exc), metadata)
            log.info("ingest failed", extra={"document": name, "error": str(exc)})
            return IngestResult(path, doc_id, "failed", error=str(exc))
        chunks = self.chunker.chunk(loaded)
        if not chunks:
            error = "no text content after normalisation"
            doc_id = self.store.record_failure(collection_id, name, sha, loaded.mime, error, metadata)
            return IngestResult(path, doc_id, "failed", error=error)
        # Vectors of the previous version are reusable only if they were made under the same title.
        same_title = existing is not None and (existing.metadata_ or {}).get("title") == title
        return _Prepared(
            collection_id, name, path, sha, loaded, chunks, [index_text(c.text, title) for c in chunks],
            {**loaded.metadata, **metadata},  # what the caller says wins over what the file says
            existing.id if same_title else None,
        )

    def _unchanged(self, existing, sha: str, path: str) -> IngestResult | None:
        """"unchanged" when these bytes are already indexed under this name. Asked before the
        work and again under the writer's lock: another writer (two jobs given the same file at
        once) may have indexed them in between, and writing them again would only make a
        second version of the same bytes."""
        if existing is not None and existing.sha256 == sha and existing.status == "indexed":
            return IngestResult(path, existing.id, "unchanged", existing.pages, self.store.chunk_count(existing.id))
        return None

    def _save(self, doc: _Prepared, vectors: np.ndarray, sink: IndexSink) -> IngestResult:
        def apply(old_ids: list[int], new_ids: list[int], document_id: int) -> None:
            # In memory only; the caller saves the index (see _batch). Rows committed
            # before a crash are re-embedded when the collection index is next opened.
            sink.replace(old_ids, new_ids, vectors, doc.texts, document_id)

        loaded = doc.loaded
        doc_id, _ = self.store.save_document_version(
            doc.collection_id, doc.name, doc.sha, loaded.mime, loaded.text, loaded.pages, doc.metadata, doc.chunks, apply
        )
        return IngestResult(doc.path, doc_id, "indexed", len(loaded.pages), len(doc.chunks))

    def _run(self, items: Iterable[IngestResult | _Prepared], sink: IndexSink) -> Iterator[IngestResult]:
        """Results in input order. Prepared documents are held until they add up to
        EMBED_BATCH_CHUNKS chunks and embedded together: one model call for many small
        documents (clauses, FAQ entries) instead of one each."""
        held: list[IngestResult | _Prepared] = []
        n_chunks = 0
        flush_at = getattr(sink, "flush_chunks", EMBED_BATCH_CHUNKS)
        for item in items:
            held.append(item)
            if isinstance(item, _Prepared):
                n_chunks += len(item.chunks)
                if n_chunks >= flush_at:
                    yield from self._flush(held, sink)
                    held, n_chunks = [], 0
        yield from self._flush(held, sink)

    def _flush(self, held: list[IngestResult | _Prepared], sink: IndexSink) -> Iterator[IngestResult]:
        docs = [d for d in held if isinstance(d, _Prepared)]
        vectors: list[np.ndarray | Exception]
        try:
            vectors = list(self._embed(docs, sink))
        except Exception:
            # Embed one by one, so that a document the model cannot take fails alone.
            log.exception("batch embedding failed; embedding its documents one by one", extra={"documents": len(docs)})
            vectors = []
            for doc in docs:
                try:
                    vectors.append(self._embed([doc], sink)[0])
                except Exception as exc:
                    vectors.append(exc)
        # Only the write holds the sink (and its lock, for a job's writer); results are
        # reported after it, so a progress callback never runs under the lock.
        results: list[IngestResult] = []
        n = 0
        with sink.writing():
            for item in held:
                if not isinstance(item, _Prepared):
                    results.append(item)
                    continue
                try:
                    if isinstance(vectors[n], Exception):
                        raise vectors[n]
                    now = self.store.find_document(item.collection_id, item.name)
                    results.append(self._unchanged(now, item.sha, item.path) or self._save(item, vectors[n], sink))
                except Exception as exc:  # an unexpected bug is still reported per document
                    results.append(self._internal_failure(item.collection_id, item.name, item.path, exc))
                n += 1
        yield from results

    def _internal_failure(self, collection_id: int, name: str, path: str, exc: Exception) -> IngestResult:
        log.error("ingest crashed", exc_info=exc, extra={"document": path})
        error = f"internal error: {type(exc).__name__}: {exc}"
        try:
            doc_id = self.store.record_failure(collection_id, name, None, None, error, {"source_path": path})
        except Exception:
            doc_id = None
        return IngestResult(path, doc_id, "failed", error=error)

    def _embed(self, docs: list[_Prepared], sink: IndexSink) -> list[np.ndarray]:
        """Each document's chunk vectors (and, with `sentence_vectors`, their sentences onto
        the drafts), reusing what a previous version computed for unchanged chunk texts; what
        is left is embedded in one call for all documents."""
        outs: list[np.ndarray] = []
        todo: list[tuple[int, int]] = []  # (document, chunk) still to embed
        todo_sentences: list[tuple[int, int]] = []  # (document, chunk) whose sentences to embed
        for d, doc in enumerate(docs):
            reuse: dict[str, np.ndarray] = {}
            reuse_sentences: dict[str, bytes] = {}
            if doc.previous_doc_id is not None:
                old = self.store.chunks_for_document(doc.previous_doc_id)
                vecs = sink.reconstruct([c.id for c in old])
                reuse = {c.text_sha256: vecs[c.id] for c in old if c.id in vecs}
                if self.sentence_vectors:
                    blobs = self.store.sentence_vectors([c.id for c in old])
                    reuse_sentences = {c.text_sha256: blobs[c.id] for c in old if c.id in blobs}
            out = np.zeros((len(doc.chunks), self.embedder.dim), dtype=np.float32)
            for i, chunk in enumerate(doc.chunks):
                h = text_sha256(chunk.text)
                if h in reuse:
                    out[i] = reuse[h]
                else:
                    todo.append((d, i))
                if self.sentence_vectors:
                    if h in reuse_sentences:
                        chunk.sentence_vectors = reuse_sentences[h]
                    else:
                        todo_sentences.append((d, i))
            outs.append(out)
        # A chunk that needs both gets them from one pass where the embedder can (embed_chunks
        # pools its sentence vectors from the chunk's token states); the rest as they need.
        sentences = set(todo_sentences)
        both = [x for x in todo if x in sentences]
        vectors_only = [x for x in todo if x not in sentences]
        pending = set(todo)
        sentences_only = [x for x in todo_sentences if x not in pending]
        text = [docs[d].texts[i] for d, i in both + vectors_only + sentences_only]
        fresh, blocks = embed_chunks(self.embedder, text[: len(both)])
        if vectors_only:
            fresh = np.vstack([fresh, self.embedder.embed_documents(text[len(both): len(both) + len(vectors_only)])])
        blocks += embed_sentences(self.embedder, text[len(both) + len(vectors_only):])
        for (d, i), vec in zip(both + vectors_only, fresh):
            outs[d][i] = vec
        for (d, i), block in zip(both + sentences_only, blocks):
            docs[d].chunks[i].sentence_vectors = pack_sentences(block)
        return outs

    def _prepare_file(
        self, collection_id: int, path: Path, name: str, metadata: dict | None = None
    ) -> IngestResult | _Prepared:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return IngestResult(str(path), None, "failed", error=f"cannot read file: {exc.strerror or exc}")
        try:
            return self._prepare(collection_id, name, data, {**(metadata or {}), "source_path": str(path)}, str(path))
        except Exception as exc:  # an unexpected bug is still reported per file
            return self._internal_failure(collection_id, name, str(path), exc)

    def ingest_named(
        self,
        collection_id: int,
        files: Iterable[tuple[Path, str]],
        sink: IndexSink,
        on_result: Callable[[IngestResult], None] | None = None,
        metadata: dict | None = None,
    ) -> list[IngestResult]:
        """Ingest (file, document name) pairs: an upload stored under its hash keeps its own name."""

        def prepared() -> Iterator[IngestResult | _Prepared]:
            seen: dict[str, Path] = {}
            for path, name in files:
                first = seen.setdefault(name, path)
                if first != path:
                    # Same name twice in one call: the second would silently replace the first.
                    error = f"another file named '{name}' ({first}) is in this batch; document names must be unique in a collection"
                    yield IngestResult(str(path), None, "failed", error=error)
                else:
                    yield self._prepare_file(collection_id, path, name, metadata)

        return self._batch(self._run(prepared(), sink), sink, on_result)

    def ingest_texts(
        self,
        collection_id: int,
        documents: Iterable[tuple[str, bytes] | tuple[str, bytes, dict]],
        sink: IndexSink,
        on_result: Callable[[IngestResult], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest (name, bytes[, metadata]) documents that are not files, e.g. a benchmark corpus."""
        prepared = (self._prepare(collection_id, d[0], d[1], d[2] if len(d) > 2 else None) for d in documents)
        return self._batch(self._run(prepared, sink), sink, on_result)

    def _batch(
        self, attempts: Iterable[IngestResult], sink: IndexSink, on_result: Callable[[IngestResult], None] | None
    ) -> list[IngestResult]:
        """Collect a batch's results, saving the index every `SAVE_EVERY_S` seconds and at the
        end (also when interrupted), not per document: rewriting a large index after every
        small document would dominate the run."""
        results: list[IngestResult] = []
        last_save = time.monotonic()
        dirty = False
        try:
            for result in attempts:
                dirty = dirty or result.status == "indexed"
                results.append(result)
                if on_result:
                    on_result(result)
                if dirty and time.monotonic() - last_save > SAVE_EVERY_S:
                    sink.save()
                    last_save, dirty = time.monotonic(), False
        finally:
            if dirty:
                sink.save()
        return results
