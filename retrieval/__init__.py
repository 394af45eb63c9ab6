"""Retrieval: per-collection indexes and the search service."""
from retrieval.collection_index import CollectionIndex, forget_collection_index, open_collection_index
from retrieval.search import SearchService
from retrieval.vector_index import FaissVectorIndex, VectorIndex

__all__ = [
    "CollectionIndex", "FaissVectorIndex", "SearchService", "VectorIndex",
    "forget_collection_index", "open_collection_index",
]
