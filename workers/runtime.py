"""The runtime: settings + store + embedder + chunker + indexes wired once per process.

The CLI, the API and the Celery tasks all call these plain functions with typed inputs
and outputs, so they stay thin wrappers.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from core.errors import NotFoundError
from core.settings import Settings, get_settings
from core.store import Store
from core.types import IngestResult, SearchFilters, SearchHit
from generation.base import Message
from ingestion.chunking import Chunker, get_chunker
from ingestion.embedding import get_embedder
from ingestion.pipeline import Ingestor
from retrieval.collection_index import CollectionIndex, collection_writer, forget_collection_index, open_collection_index
from retrieval.rerank import needs_sentence_vectors
from retrieval.search import SearchService


@dataclass
class Runtime:
    settings: Settings

    @classmethod
    def create(cls, settings: Settings | None = None) -> "Runtime":
        return cls(settings or get_settings())

    @cached_property
    def store(self) -> Store:
        return Store.from_settings(self.settings)

    @cached_property
    def embedder(self):
        return get_embedder(self.settings)

    @cached_property
    def chunker(self) -> Chunker:
        return get_chunker(self.settings)

    @cached_property
    def ingestor(self) -> Ingestor:
        # The sentence reranker's vectors are computed once here rather than per query.
        return Ingestor(self.store, self.embedder, self.chunker, sentence_vectors=needs_sentence_vectors(self.settings))

    @cached_property
    def search_service(self) -> SearchService:
        return SearchService(self.store, self.embedder, self.settings)

    @cached_property
    def generator(self):
        from generation.factory import get_generator

        return get_generator(self.settings)

    @cached_property
    def answer_service(self):
        from generation.answer import AnswerService

        return AnswerService(self.store, self.answer_search_service, self.generator, self.settings)

    @cached_property
    def answer_search_service(self) -> SearchService:
        """The search behind answers: the same as search_service unless answer_reranker
        names another second stage (e.g. the cross-encoder, too slow for /search)."""
        s = self.settings
        if not s.answer_reranker or (s.answer_reranker == s.reranker
                                     and s.answer_rerank_candidates == s.rerank_candidates):
            return self.search_service
        return SearchService(self.store, self.embedder, s.model_copy(
            update={"reranker": s.answer_reranker, "rerank_candidates": s.answer_rerank_candidates}))

    @cached_property
    def job_queue(self):
        from workers.queue import get_job_queue

        return get_job_queue(self.settings, lambda: self)

    @cached_property
    def jobs(self):
        from core.jobs import JobStore

        return JobStore(self.store)

    def submit_job(self, kind: str, payload: dict[str, Any], collection: str | None = None, tenant: str | None = None,
                   idempotency_key: str | None = None, callback_url: str | None = None) -> dict[str, Any]:
        """Create (or find, by idempotency key) a job row and enqueue it; returns its summary."""
        from workers.queue import submit

        return submit(self, self.job_queue, kind, payload, collection, tenant, idempotency_key, callback_url)

    def tenant_job(self, job_id: str, kind: str, tenant: str | None = None):
        """A job of one kind within the tenant; any other is "not found"."""
        job = self.jobs.get(job_id, self.tenant_name(tenant))
        if job.kind != kind:
            raise NotFoundError(f"{kind} {job_id} does not exist")
        return job

    def tenant_name(self, tenant: str | None) -> str:
        return tenant or self.settings.default_tenant

    def index(self, collection_id: int, writer: bool = False) -> CollectionIndex:
        return open_collection_index(self.settings, self.store, self.embedder, collection_id, writer=writer)

    def writing(self, collection_id: int, repair: bool = True):
        """The collection's index as its one writer (a lock across processes; see collection_writer)."""
        return collection_writer(self.settings, self.store, self.embedder, collection_id, repair)

    # -- use cases ---------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | Path],
        collection: str,
        tenant: str | None = None,
        on_result: Callable[[IngestResult], None] | None = None,
        metadata: dict | None = None,
    ) -> list[IngestResult]:
        """Files, or every supported file in folders (named by their path in the folder)."""
        from ingestion.pipeline import iter_files

        return self.ingest_named(iter_files(paths), collection, tenant, on_result, metadata)

    def ingest_named(
        self,
        files: Iterable[tuple[Path, str]],
        collection: str,
        tenant: str | None = None,
        on_result: Callable[[IngestResult], None] | None = None,
        metadata: dict | None = None,
    ) -> list[IngestResult]:
        """Ingest (file, document name) pairs, e.g. uploads staged under their hash. Parsing
        and embedding run beside other writers of the collection; only each batch's write
        takes its lock (retrieval.collection_index.BatchedCollectionWriter)."""
        from retrieval.collection_index import BatchedCollectionWriter

        coll = self.store.collection(self.tenant_name(tenant), collection, create=True)
        sink = BatchedCollectionWriter(self.settings, self.store, self.embedder, coll.id)
        return self.ingestor.ingest_named(coll.id, files, sink, on_result=on_result, metadata=metadata)

    def stage_upload(self, data: bytes) -> Path:
        """Keep an uploaded file under its sha256 (the original, for viewers and reviews) and
        return its path; the same bytes uploaded twice are stored once."""
        import hashlib

        from core.fileio import atomic_write_bytes

        path = self._upload_path(hashlib.sha256(data).hexdigest())
        if not path.exists():
            atomic_write_bytes(path, data)
        return path

    def _upload_path(self, sha256: str) -> Path:
        return self.settings.data_dir / "uploads" / sha256[:2] / sha256

    def original_file(self, doc) -> Path | None:
        """The stored original of a document: its upload, or the file it was ingested from
        when that still has the same bytes."""
        from core.fileio import sha256_file

        if not doc.sha256:
            return None
        staged = self._upload_path(doc.sha256)
        if staged.is_file():
            return staged
        source = (doc.metadata_ or {}).get("source_path")
        if source and Path(source).is_file() and sha256_file(Path(source)) == doc.sha256:
            return Path(source)
        return None

    def create_collection(self, collection: str, tenant: str | None = None) -> dict[str, Any]:
        coll = self.store.collection(self.tenant_name(tenant), collection, create=True)
        return {"id": coll.id, "name": coll.name, "documents": len(self.store.list_documents(coll.id))}

    def tenant_document(self, document_id: int, tenant: str | None = None) -> dict[str, Any]:
        """A document by id, within the tenant (another tenant's is not found)."""
        doc, coll = self.store.tenant_document(self.tenant_name(tenant), document_id)
        out = document_summary(doc)
        out["collection"] = coll.name
        out["chunks"] = self.store.chunk_count(doc.id)
        return out

    def document_chunks(self, document_id: int, tenant: str | None = None) -> list[dict[str, Any]]:
        doc, _ = self.store.tenant_document(self.tenant_name(tenant), document_id)
        return [{"chunk_id": c.id, "ordinal": c.ordinal, "page_start": c.page_start, "page_end": c.page_end,
                 "char_start": c.char_start, "char_end": c.char_end, "token_count": c.token_count, "text": c.text}
                for c in self.store.chunks_for_document(doc.id)]

    def document_file(self, document_id: int, tenant: str | None = None) -> tuple[Path, str, str]:
        """(path, name, mime) of a document's original file."""
        doc, _ = self.store.tenant_document(self.tenant_name(tenant), document_id)
        path = self.original_file(doc)
        if path is None:
            raise NotFoundError(f"the original file of document {document_id} is not stored "
                                "(it was ingested from a path that no longer holds it)")
        return path, doc.name, doc.mime or "application/octet-stream"

    def delete_tenant_document(self, document_id: int, tenant: str | None = None) -> dict[str, Any]:
        doc, coll = self.store.tenant_document(self.tenant_name(tenant), document_id)
        return self.delete_document(doc.id, coll.name, tenant)

    def ingest_texts(
        self,
        documents: Iterable[tuple[str, bytes] | tuple[str, bytes, dict]],
        collection: str,
        tenant: str | None = None,
        on_result: Callable[[IngestResult], None] | None = None,
    ) -> list[IngestResult]:
        """Ingest (name, bytes[, metadata]) documents that are not files (a benchmark corpus,
        an API upload); small ones share embedding calls."""
        coll = self.store.collection(self.tenant_name(tenant), collection, create=True)
        with self.writing(coll.id) as index:
            return self.ingestor.ingest_texts(coll.id, documents, index, on_result=on_result)

    def search(
        self,
        query: str,
        collection: str,
        k: int = 10,
        tenant: str | None = None,
        mode: str | None = None,
        filters: SearchFilters | None = None,
    ) -> list[SearchHit]:
        collection_id = self.store.collection_id(self.tenant_name(tenant), collection)
        return self.search_service.search(self.index(collection_id), query, k, mode=mode, filters=filters)

    def ask(
        self,
        question: str,
        collection: str,
        k: int | None = None,
        tenant: str | None = None,
        history: Sequence[Message] = (),
        filters: SearchFilters | None = None,
    ):
        """A grounded, cited answer (generation.answer.Answer).

        A question about one contract's key term (governing law, dates, renewal, notice,
        parties, liability cap) is answered from the extracted term when
        settings.contract_terms_qa is on: measured far more accurate than the small LLM."""
        import time

        coll = self.store.collection(self.tenant_name(tenant), collection)
        t0 = time.perf_counter()
        routed = self._contract_term_answer(question, coll.id, history, filters)
        if routed is not None:
            routed.timings = {"total": time.perf_counter() - t0}
            return routed
        return self.answer_service.answer(self.index(coll.id), question, k, history, filters)

    def _contract_term_answer(self, question, collection_id, history, filters):
        """The key-term answer when the scope is one contract: a single --document-id, or a
        collection holding one document (when that document reads as a contract)."""
        if not self.settings.contract_terms_qa or history:
            return None
        from review.qa import answer_from_terms, term_intent

        if term_intent(question) is None:
            return None
        if filters is not None and filters.document_ids:
            if len(filters.document_ids) != 1:
                return None
            return answer_from_terms(question, self.store.get_document(filters.document_ids[0], collection_id))
        if filters is not None and (filters.name_glob or filters.metadata):
            return None
        doc = self.store.only_document(collection_id)
        return answer_from_terms(question, doc, require_contract=True) if doc is not None else None

    def ask_stream(
        self,
        question: str,
        collection: str,
        k: int | None = None,
        tenant: str | None = None,
        history: Sequence[Message] = (),
        filters: SearchFilters | None = None,
        cancel=None,
    ) -> Iterator:
        """The checked answer in pieces, then the Answer as the last item; the pieces join to
        `Answer.display_text()` (generation.answer.AnswerService.stream). Setting `cancel`
        (a threading.Event) stops it: the caller went away."""
        coll = self.store.collection(self.tenant_name(tenant), collection)
        routed = self._contract_term_answer(question, coll.id, history, filters)
        if routed is not None:
            return iter([routed.display_text(), routed])
        return self.answer_service.stream(self.index(coll.id), question, k, history, filters, cancel)

    def review(
        self, path: Path, collection: str | None = None, tenant: str | None = None, playbook_path: str | None = None,
        name: str | None = None, document_id: int | None = None, recall: float | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Review a contract: ingest it into the collection first (so its clauses are
        searchable), then clauses, key terms and playbook findings. Returns (the
        `review --json` shape, the HTML report)."""
        from review.report import render_html
        from review.service import review_file

        name = name or path.name
        if collection:
            [ingested] = self.ingest_named([(path, name)], collection, tenant)
            if ingested.status == "failed":
                raise ValueError(f"{name}: {ingested.error}")
            document_id = ingested.document_id
        generator = self.generator if self.settings.review_explain else None
        result = review_file(path, playbook_path, generator, self.settings.citation_min_support, name, recall)
        out = result.to_dict()
        if document_id is not None:
            out["document"] = {**out.get("document", {}), "document_id": document_id, "collection": collection}
        return out, render_html(result)

    def list_collections(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return self.store.list_collections(self.tenant_name(tenant))

    def delete_collection(self, collection: str, tenant: str | None = None) -> dict[str, Any]:
        coll = self.store.collection(self.tenant_name(tenant), collection)
        docs = len(self.store.list_documents(coll.id))
        with self.writing(coll.id, repair=False) as index:  # not while an ingest writes it
            self.store.delete_collection(coll.id)
            # Rows first: a crash in between leaves orphan files, never rows without an index.
            index.drop()
            forget_collection_index(self.settings, coll.id)
        return {"collection": collection, "deleted_documents": docs}

    def migrate_collection(self, collection: str, to: str, tenant: str | None = None, source: str | None = None,
                           batch_size: int = 1000, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Copy a collection's index to the index backend `to` (from `source`, default the
        configured one) without re-embedding, verified (retrieval.index_migration); the
        summary says which DOCINTEL_INDEX_BACKEND then serves it. `progress(done, total)` in chunks."""
        from retrieval.index_migration import migrate_collection_index

        coll = self.store.collection(self.tenant_name(tenant), collection)
        out = migrate_collection_index(self.settings, self.store, self.embedder, coll.id, to, source,
                                       batch_size=batch_size, progress=progress)
        return {"collection": collection, **out,
                "next": f"set DOCINTEL_INDEX_BACKEND={out['to']} to search and ingest with the copy; the "
                        f"{out['from']} index is left as it was"}

    def reembed_collection(self, collection: str, tenant: str | None = None, batch_size: int = 256, force: bool = False,
                           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Embed every chunk of a collection again with the configured document runtime and
        replace its vectors (retrieval.reembed): the explicit step after changing
        DOCINTEL_EMBEDDING_RUNTIME, whose collections otherwise refuse to open rather than mix."""
        from ingestion.embedding import document_runtime
        from retrieval.reembed import reembed_collection_index

        coll = self.store.collection(self.tenant_name(tenant), collection)
        out = reembed_collection_index(self.settings, self.store, self.embedder, coll.id, batch_size, force, progress)
        return {"collection": collection, "runtime": document_runtime(self.settings), **out}

    def list_documents(self, collection: str, tenant: str | None = None) -> list[dict[str, Any]]:
        coll = self.store.collection(self.tenant_name(tenant), collection)
        chunks = self.store.chunk_counts(coll.id)
        return [{**document_summary(d), "chunks": chunks.get(d.id, 0)} for d in self.store.list_documents(coll.id)]

    def show_document(self, document_id: int, collection: str, tenant: str | None = None) -> dict[str, Any]:
        coll = self.store.collection(self.tenant_name(tenant), collection)
        doc = self.store.get_document(document_id, coll.id)
        out = document_summary(doc)
        out["chunks"] = self.store.chunk_count(doc.id)
        out["text_chars"] = len(doc.text or "")
        return out

    def delete_document(self, document_id: int, collection: str, tenant: str | None = None) -> dict[str, Any]:
        coll = self.store.collection(self.tenant_name(tenant), collection)
        doc = self.store.get_document(document_id, coll.id)
        with self.writing(coll.id) as index:

            def apply(ids: list[int]) -> None:
                index.remove(ids)
                index.save()

            self.store.delete_document(doc.id, apply)
        return {"document_id": doc.id, "name": doc.name, "deleted": True}

    # -- a passage on its page (the web UI's citation panel) ---------------------------
    @cached_property
    def page_images(self):
        """Drawn pages of this process (ingestion.page_images.PageImageCache): LRU within
        settings.page_cache_bytes."""
        from ingestion.page_images import PageImageCache

        return PageImageCache(self.settings.page_cache_bytes)

    PAGE_WIDTH_MIN, PAGE_WIDTH_MAX = 200, 2000

    def page_image(self, document_id: int, page: int, width: int = 1000, tenant: str | None = None,
                   client_etags: Sequence[str] = ()) -> tuple[bytes | None, str]:
        """(PNG, ETag) of page `page` (1-based) of a PDF document drawn `width` pixels wide
        (clamped to 200..2000, fewer when past settings.page_image_max_pixels). The PNG is
        None when the ETag is among `client_etags`: the caller's copy is current.
        NotFoundError for a page the PDF does not have; NoPageImagesError when the document
        is not a PDF (show its text instead)."""
        from ingestion.page_images import render_page_png

        width = min(max(int(width), self.PAGE_WIDTH_MIN), self.PAGE_WIDTH_MAX)
        doc, path = self._pdf_original(document_id, tenant)
        etag = f'"{doc.sha256[:32]}-p{page}-w{width}"'
        if etag in client_etags or "*" in client_etags:  # served before, so the page exists
            return None, etag
        key = (doc.sha256, page, width)
        image = self.page_images.get(key)
        if image is None:
            image = render_page_png(path, page, width, self.settings.page_image_max_pixels)
            self.page_images.put(key, image)
        return image.png, etag

    def _pdf_original(self, document_id: int, tenant: str | None):
        """(document row, stored original) of a PDF document within the tenant."""
        from ingestion.page_images import PDF_MIME, NoPageImagesError

        doc, _ = self.store.tenant_document(self.tenant_name(tenant), document_id)
        if doc.mime != PDF_MIME:
            raise NoPageImagesError(f"document {document_id} ({doc.name}) is not a PDF ({doc.mime or 'unknown type'}): "
                                    "it has no page images; show its text instead")
        path = self.original_file(doc)
        if path is None:
            raise NotFoundError(f"the original file of document {document_id} is not stored "
                                "(it was ingested from a path that no longer holds it)")
        return doc, path

    HIGHLIGHT_CONTEXT = 600  # characters of text shown before and after a passage

    def highlight(self, document_id: int, char_start: int, char_end: int, tenant: str | None = None) -> dict[str, Any]:
        """A span of a document's normalised text (as citations, search hits and clauses
        carry it) with its text around it and, for a PDF, its boxes on each page it touches:
        fractions of the page (0..1, origin top-left), one box per line. InvalidSpanError
        when the span is not within the text."""
        from ingestion.page_images import PDF_MIME, InvalidSpanError, NoPageImagesError, passage_boxes

        doc, _ = self.store.tenant_document(self.tenant_name(tenant), document_id)
        text = doc.text or ""
        if not 0 <= char_start < char_end <= len(text):
            raise InvalidSpanError(f"char_start and char_end must satisfy 0 <= char_start < char_end <= {len(text)} "
                                   f"(the length of document {document_id}'s text); got {char_start} and {char_end}")
        before = text[max(0, char_start - self.HIGHLIGHT_CONTEXT):char_start]
        if char_start > self.HIGHLIGHT_CONTEXT and " " in before:
            before = before[before.index(" ") + 1:]  # from a word's start
        after = text[char_end:char_end + self.HIGHLIGHT_CONTEXT]
        if char_end + self.HIGHLIGHT_CONTEXT < len(text) and " " in after:
            after = after[:after.rindex(" ")]  # to a word's end
        pages: list[dict[str, Any]] = []
        kind = "text"
        path = self.original_file(doc) if doc.mime == PDF_MIME else None
        if path is not None:
            try:
                pages = passage_boxes(path, text, doc.page_spans or [], char_start, char_end)
                kind = "pdf"
            except (NoPageImagesError, NotFoundError):  # unreadable by PDFium, or its pages differ
                pages = []
        return {"document_id": doc.id, "document_name": doc.name, "kind": kind, "char_start": char_start,
                "char_end": char_end, "quote": text[char_start:char_end], "before": before, "after": after,
                "page": doc.page_of(char_start), "pages": pages}


def document_summary(doc) -> dict[str, Any]:
    return {
        "document_id": doc.id,
        "name": doc.name,
        "status": doc.status,
        "error": doc.error,
        "sha256": doc.sha256,
        "mime": doc.mime,
        "pages": doc.pages,
        "version": doc.version,
        "metadata": doc.metadata_ or {},
        "updated_at": doc.updated_at.isoformat() if doc.updated_at else None,
    }


__all__ = ["NotFoundError", "Runtime", "document_summary"]
