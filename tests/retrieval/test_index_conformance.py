"""The index seams' conformance suites (tests/index_conformance.py) on every backend of
retrieval/index_factory.py, each opened only through the factories.

A new backend is one more entry in BACKENDS (one that needs a service is marked integration).
"""
from __future__ import annotations

import pytest
from index_conformance import (
    DIM,
    CollectionIndexConformance,
    KeywordIndexConformance,
    VectorIndexConformance,
    hashing_runtime,
)

from core.settings import Settings
from retrieval.index_factory import make_keyword_index, make_vector_index

BACKENDS = [pytest.param("files", marks=pytest.mark.unit), pytest.param("postgres", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def backend_settings(request, tmp_path) -> Settings:
    """Settings on a fresh storage for the backend (a data directory; a schema of a
    PostgreSQL that has pgvector)."""
    if request.param == "postgres":
        return request.getfixturevalue("pgvector_settings")
    return Settings(data_dir=tmp_path / "var", _env_file=None)


class TestVectorIndex(VectorIndexConformance):
    # Exact search only, and with the approximate graph from the first vector (HNSW in the files backend).
    @pytest.fixture(params=[0, 1], ids=["exact", "graph"])
    def open_vectors(self, request, backend_settings):
        settings = backend_settings.model_copy(update={"hnsw_min_vectors": request.param})

        def open_(collection_id: int = 1, dim: int = DIM, model_id: str | None = None):
            return make_vector_index(settings, collection_id, dim, model_id)

        return open_


class TestKeywordIndex(KeywordIndexConformance):
    @pytest.fixture
    def open_keywords(self, backend_settings):
        return lambda collection_id=1: make_keyword_index(backend_settings, collection_id)


class TestCollectionIndex(CollectionIndexConformance):
    @pytest.fixture
    def index_runtime(self, backend_settings):
        rt = hashing_runtime(backend_settings)
        yield rt
        rt.store.engine.dispose()
