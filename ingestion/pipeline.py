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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.errors import LoaderError
from core.store import Store, text_sha256
from core.types import ChunkDraft, IngestResult
from ingestion.chunking import Chunker, index_text
from ingestion.embedding import Embedder
from ingestion.loaders import LOADERS, load_bytes
from ingestion.sentences import embed_sentences
from ingestion.sentences import pack as pack_sentences

log = logging.getLogger(__name__)

SAVE_EVERY_S = 60.0


class IndexSink(Protocol):
    """What ingestion needs from a collection's indexes."""

    def reconstruct(self, ids: list[int]) -> dict[int, np.ndarray]: ...

    def replace(
        self, remove_ids: list[int], add_ids: list[int], vectors: np.ndarray, texts: list[str], document_id: int
    ) -> None: ...

    def save(self) -> None: ...


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
class Ingestor:
    store: Store
    embedder: Embedder
    chunker: Chunker
    # Also embed every chunk's sentences for the sentence reranker (settings.reranker).
    sentence_vectors: bool = False

    def ingest_file(
        self, collection_id: int, path: Path, sink: IndexSink, metadata: dict | None = None, name: str | None = None
    ) -> IngestResult:
        name = name or path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            return IngestResult(str(path), None, "failed", error=f"cannot read file: {exc.strerror or exc}")
        return self.ingest_bytes(collection_id, name, data, sink, metadata={"source_path": str(path), **(metadata or {})}, path=str(path))

    def ingest_bytes(
        self, collection_id: int, name: str, data: bytes, sink: IndexSink, metadata: dict | None = None, path: str | None = None
    ) -> IngestResult:
        path = path or name
        metadata = dict(metadata or {})
        # The caller's title heads every chunk in the indexes (chunking.index_text). Titles
        # the loaders read (PDF /Title, HTML <title>) are kept as metadata "file_title" only:
        # in PDFs they are often a file name or "Microsoft Word - ...".
        title = str(metadata.get("title") or "").strip() or None
        sha = hashlib.sha256(data).hexdigest()
        existing = self.store.find_document(collection_id, name)
        if existing is not None and existing.sha256 == sha and existing.status == "indexed":
            return IngestResult(path, existing.id, "unchanged", existing.pages, self.store.chunk_count(existing.id))
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
        texts = [index_text(c.text, title) for c in chunks]
        metadata = {**loaded.metadata, **metadata}  # what the caller says wins over what the file says
        # Vectors of the previous version are reusable only if they were made under the same title.
        same_title = existing is not None and (existing.metadata_ or {}).get("title") == title
        vectors = self._embed(chunks, texts, existing.id if same_title else None, sink)

        def apply(old_ids: list[int], new_ids: list[int], document_id: int) -> None:
            # In memory only; the caller saves the index (see ingest_paths). Rows committed
            # before a crash are re-embedded when the collection index is next opened.
            sink.replace(old_ids, new_ids, vectors, texts, document_id)

        doc_id, _ = self.store.save_document_version(
            collection_id, name, sha, loaded.mime, loaded.text, loaded.pages, metadata, chunks, apply
        )
        return IngestResult(path, doc_id, "indexed", len(loaded.pages), len(chunks))

    def _embed(
        self, chunks: list[ChunkDraft], texts: list[str], previous_doc_id: int | None, sink: IndexSink
    ) -> np.ndarray:
        """Embed the chunks' index texts (and, with `sentence_vectors`, their sentences onto
        the drafts), reusing what the previous version computed for unchanged chunk texts."""
        reuse: dict[str, np.ndarray] = {}
        reuse_sentences: dict[str, bytes] = {}
        if previous_doc_id is not None:
            old = self.store.chunks_for_document(previous_doc_id)
            vecs = sink.reconstruct([c.id for c in old])
            reuse = {c.text_sha256: vecs[c.id] for c in old if c.id in vecs}
            if self.sentence_vectors:
                blobs = self.store.sentence_vectors([c.id for c in old])
                reuse_sentences = {c.text_sha256: blobs[c.id] for c in old if c.id in blobs}
        hashes = [text_sha256(c.text) for c in chunks]
        todo = [i for i, h in enumerate(hashes) if h not in reuse]
        fresh = self.embedder.embed_documents([texts[i] for i in todo]) if todo else None
        out = np.zeros((len(chunks), self.embedder.dim), dtype=np.float32)
        for j, i in enumerate(todo):
            out[i] = fresh[j]
        for i, h in enumerate(hashes):
            if h in reuse:
                out[i] = reuse[h]
        if self.sentence_vectors:
            missing = [i for i, h in enumerate(hashes) if h not in reuse_sentences]
            for i, block in zip(missing, embed_sentences(self.embedder, [texts[i] for i in missing])):
                chunks[i].sentence_vectors = pack_sentences(block)
            for i, h in enumerate(hashes):
                if h in reuse_sentences:
                    chunks[i].sentence_vectors = reuse_sentences[h]
        return out

    def _ingest_file_safely(self, collection_id: int, path: Path, name: str, sink: IndexSink) -> IngestResult:
        try:
            return self.ingest_file(collection_id, path, sink, name=name)
        except Exception as exc:  # an unexpected bug is still reported per file
            log.exception("ingest crashed", extra={"document": str(path)})
            error = f"internal error: {type(exc).__name__}: {exc}"
            try:
                doc_id = self.store.record_failure(collection_id, name, None, None, error, {"source_path": str(path)})
            except Exception:
                doc_id = None
            return IngestResult(str(path), doc_id, "failed", error=error)

    def ingest_paths(
        self,
        collection_id: int,
        paths: Iterable[str | Path],
        sink: IndexSink,
        on_result: Callable[[IngestResult], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest every file; one bad file never stops the batch."""

        def attempts() -> Iterator[IngestResult]:
            seen: dict[str, Path] = {}
            for path, name in iter_files(paths):
                first = seen.setdefault(name, path)
                if first != path:
                    # Same name twice in one call: the second would silently replace the first.
                    error = f"another file named '{name}' ({first}) is in this batch; document names must be unique in a collection"
                    yield IngestResult(str(path), None, "failed", error=error)
                else:
                    yield self._ingest_file_safely(collection_id, path, name, sink)

        return self._batch(attempts(), sink, on_result)

    def ingest_texts(
        self,
        collection_id: int,
        documents: Iterable[tuple[str, bytes] | tuple[str, bytes, dict]],
        sink: IndexSink,
        on_result: Callable[[IngestResult], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest (name, bytes[, metadata]) documents that are not files, e.g. a benchmark corpus."""
        attempts = (self.ingest_bytes(collection_id, d[0], d[1], sink, metadata=d[2] if len(d) > 2 else None)
                    for d in documents)
        return self._batch(attempts, sink, on_result)

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
