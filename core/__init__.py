"""Core: settings, domain types, errors and the SQL store."""
from core.errors import DocIntelError, LoaderError, NotFoundError
from core.settings import Settings, get_settings
from core.store import Store
from core.types import ChunkDraft, IngestResult, LoadedDocument, PageSpan, SearchFilters, SearchHit

__all__ = [
    "ChunkDraft", "DocIntelError", "IngestResult", "LoadedDocument", "LoaderError", "NotFoundError",
    "PageSpan", "SearchFilters", "SearchHit", "Settings", "Store", "get_settings",
]
