"""Domain types shared by every package. Plain dataclasses: typed inputs and outputs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PageSpan:
    """Page `number` (1-based) covers document text[char_start:char_end]."""

    number: int
    char_start: int
    char_end: int


@dataclass
class LoadedDocument:
    """A file turned into text, with the page map that lets offsets be cited by page."""

    text: str
    pages: list[PageSpan]
    mime: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def page_of(self, offset: int) -> int:
        """Page number holding character `offset` (offsets between pages go to the next page)."""
        for page in self.pages:
            if offset < page.char_end:
                return page.number
        return self.pages[-1].number if self.pages else 1


@dataclass
class ChunkDraft:
    """A chunk before it has a database id."""

    ordinal: int
    text: str
    char_start: int
    char_end: int
    page_start: int
    page_end: int
    token_count: int
    sentence_vectors: bytes | None = None  # packed by ingestion/sentences.py, for the reranker


@dataclass
class SearchFilters:
    """Restrict a search to some documents. Applied before top-k is cut."""

    document_ids: list[int] | None = None
    name_glob: str | None = None  # fnmatch pattern on the document name, e.g. "*.pdf"
    metadata: dict[str, Any] | None = None  # every key must equal the given value

    def is_empty(self) -> bool:
        return self.document_ids is None and not self.name_glob and not self.metadata


@dataclass
class SearchHit:
    document_id: int
    document_name: str
    chunk_id: int
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    score: float
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "document_name": self.document_name,
            "chunk_id": self.chunk_id,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "char_start": self.char_start,
            "char_end": self.char_end,
            "score": round(float(self.score), 6),
            "text": self.text,
        }


@dataclass
class IngestResult:
    path: str
    document_id: int | None
    status: str  # indexed | unchanged | failed
    pages: int = 0
    chunks: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "document_id": self.document_id,
            "status": self.status,
            "pages": self.pages,
            "chunks": self.chunks,
            "error": self.error,
        }
