"""Retrieval: per-collection indexes behind the VectorIndex and KeywordIndex seams, and the search service."""
from retrieval.collection_index import CollectionIndex, forget_collection_index, open_collection_index
from retrieval.index_factory import make_keyword_index, make_vector_index
from retrieval.keyword_index import KeywordIndex
from retrieval.search import SearchService
from retrieval.vector_index import VectorIndex

__all__ = [
    "CollectionIndex", "KeywordIndex", "SearchService", "VectorIndex",
    "forget_collection_index", "make_keyword_index", "make_vector_index", "open_collection_index",
]
