"""`docintel collections migrate` (Runtime.migrate_collection, retrieval/index_migration.py):
a collection's index copied from the files backend to the postgres one and back, without
an embedder call, searching as before, verified, and idempotent."""
from __future__ import annotations

import random
import re
import zlib

import numpy as np
import pytest
from index_conformance import MODES, HashingEmbedder, corpus_documents, hashing_runtime

from retrieval.index_migration import IndexMigrationError

_rng = random.Random(19)
WORDS = sorted({"".join(_rng.choice("bdfgklmnprstvz") + _rng.choice("aeiou") for _ in range(3)) for _ in range(300)})


def generated_documents(n: int = 8, words: int = 150) -> list[tuple[str, bytes, dict]]:
    """Documents of random words (several chunks each): no two chunks score alike, so both
    backends must rank every hit in the same order."""
    rng = random.Random(7)
    return [(f"doc-{i}.txt", " ".join(rng.choice(WORDS) for _ in range(words)).encode(), {"team": "legal" if i % 2 else "support"})
            for i in range(n)]


QUERIES = [" ".join(random.Random(q).sample(WORDS, 3)) for q in range(6)]


class WeightedHashingEmbedder(HashingEmbedder):
    """The suite's embedder with a weight per word (from its hash), so that no two chunks of
    random words score alike: the backends break ties differently, and this test compares
    whole rankings."""

    model_id = "test:weighted-hashing-64"

    def embed_query(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for word in re.findall(r"\w+", text.lower()):
            h = zlib.crc32(word.encode())
            v[h % self.dim] += 1.0 + (h >> 16) / 65536
        return v / (np.linalg.norm(v) or 1.0)


class RefusingEmbedder(WeightedHashingEmbedder):
    """The test's embedder, for a runtime that must not embed anything."""

    def embed_documents(self, texts):
        raise AssertionError(f"the migration embedded {len(texts)} texts")

    def embed_query(self, text):
        raise AssertionError("the migration embedded a query")


def _hits(rt, collection: str = "c") -> dict:
    """Every hit of each query and mode (k beyond the collection's size: no cut between ties)."""
    return {(q, mode): [(h.chunk_id, h.score) for h in rt.search(q, collection, k=500, mode=mode)]
            for q in QUERIES for mode in MODES}


def _assert_same(before: dict, after: dict) -> None:
    """The same hits with the same scores in the same order; hits whose scores tie (to float32
    precision: bm25s scores in float32, PostgreSQL in float64) may come in either order."""
    for key, hits in before.items():
        got = after[key]
        assert [s for _, s in got] == pytest.approx([s for _, s in hits], abs=1e-5), key
        tied: list[int] = []  # positions of one run of scores within 1e-5 of each other
        for n in range(len(hits) + 1):
            if tied and (n == len(hits) or abs(hits[n][1] - hits[tied[-1]][1]) > 1e-5):
                assert {got[i][0] for i in tied} == {hits[i][0] for i in tied}, (key, [hits[i] for i in tied])
                tied = []
            tied.append(n)
        assert len(hits) > 3, key  # the queries find something to compare


@pytest.mark.integration
def test_migrate_to_postgres_and_back_embeds_nothing_and_searches_alike(pgvector_settings):
    files = hashing_runtime(pgvector_settings.model_copy(update={"index_backend": "files"}), WeightedHashingEmbedder())
    docs = generated_documents()
    assert {r.status for r in files.ingest_texts(docs, "c")} == {"indexed"}
    files.ingest_texts(generated_documents(2), "other")  # another collection is left alone
    before = _hits(files)
    coll = files.store.collection(files.settings.default_tenant, "c")
    rows = set(files.store.all_chunk_ids(coll.id))

    migrating = hashing_runtime(files.settings, RefusingEmbedder())
    seen: list[tuple[int, int]] = []
    out = migrating.migrate_collection("c", "postgres", batch_size=7, progress=lambda done, total: seen.append((done, total)))
    assert out["from"] == "files" and out["to"] == "postgres" and "DOCINTEL_INDEX_BACKEND=postgres" in out["next"]
    assert out["chunks"] == out["vectors"] == out["keywords"] == len(rows) and out["documents"] == len(docs)
    assert out["verified"] == {"same_ids": True, "vectors_compared": min(64, len(rows))}
    assert out["replaced"] == 0 and out["repaired"] == 0 and out["seconds"] >= 0
    assert seen[0] == (0, len(rows)) and seen[-1] == (len(rows), len(rows)) and len(seen) == 1 + -(-len(rows) // 7)

    pg = hashing_runtime(pgvector_settings, WeightedHashingEmbedder())
    pg_index = pg.index(coll.id)
    assert pg_index.vectors.ids() == pg_index.keywords.ids() == rows
    _assert_same(before, _hits(pg))
    other = pg.store.collection(pg.settings.default_tenant, "other")  # only the named collection was copied
    assert pg.index(other.id).vectors.ids() == set() and pg.search(QUERIES[0], "other") == []

    # Again: replaced, not duplicated; a reader of the postgres index still searches alike.
    again = migrating.migrate_collection("c", "postgres")
    assert again["replaced"] == len(rows) and again["vectors"] == again["keywords"] == len(rows)
    assert len(pg_index.vectors) == len(pg_index.keywords) == len(rows) and pg_index.vectors.ids() == rows
    _assert_same(before, _hits(pg))

    # And back, from postgres (the configured backend now) to files, after a change made on postgres.
    pg.delete_document(next(d["document_id"] for d in pg.list_documents("c") if d["name"] == "doc-0.txt"), "c")
    changed = _hits(pg)
    back = hashing_runtime(pgvector_settings, RefusingEmbedder()).migrate_collection("c", "files")
    assert back["from"] == "postgres" and back["to"] == "files" and back["replaced"] == len(rows)
    assert back["chunks"] == len(pg.store.all_chunk_ids(coll.id)) < len(rows)
    files_again = hashing_runtime(files.settings, WeightedHashingEmbedder())
    _assert_same(changed, _hits(files_again))
    for rt in (files, migrating, pg, files_again):
        rt.store.engine.dispose()


@pytest.mark.integration
def test_a_migration_to_the_configured_backend_or_an_unknown_one_is_refused(pgvector_settings):
    rt = hashing_runtime(pgvector_settings, RefusingEmbedder())
    rt.create_collection("c")
    with pytest.raises(IndexMigrationError, match="'postgres' backend already"):
        rt.migrate_collection("c", "postgres")
    with pytest.raises(ValueError, match="unknown index_backend 'elastic'"):
        rt.migrate_collection("c", "elastic")
    rt.store.engine.dispose()


@pytest.mark.unit
def test_migrating_to_postgres_needs_a_postgresql_store(settings):
    rt = hashing_runtime(settings)
    rt.ingest_texts(corpus_documents()[:1], "c")
    with pytest.raises(ValueError, match="this store is SQLite: set DOCINTEL_DATABASE_URL to a PostgreSQL database "
                                         "that has the pgvector extension"):
        rt.migrate_collection("c", "postgres")
    coll = rt.store.collection(rt.settings.default_tenant, "c")
    assert len(rt.index(coll.id)) == len(rt.store.all_chunk_ids(coll.id))  # the source is untouched
    rt.store.engine.dispose()


@pytest.mark.integration
def test_a_source_that_drifted_is_repaired_before_the_copy(pgvector_settings):
    """Rows whose vectors a crash lost: the files index is repaired (those chunks embedded)
    before it is copied, and the copy holds every chunk."""
    files = hashing_runtime(pgvector_settings.model_copy(update={"index_backend": "files"}))
    files.ingest_texts(corpus_documents(), "c")
    coll = files.store.collection(files.settings.default_tenant, "c")
    rows = sorted(files.store.all_chunk_ids(coll.id))
    index = files.index(coll.id)
    index.vectors.remove(rows[:2])
    index.save()
    out = files.migrate_collection("c", "postgres")
    assert out["repaired"] == 2 and out["chunks"] == len(rows)
    copy = hashing_runtime(pgvector_settings).index(coll.id)
    assert copy.vectors.ids() == set(rows)
    expected = HashingEmbedder().embed_documents(list(files.index(coll.id).index_texts(rows[:1]).values()))[0]
    assert np.allclose(copy.vectors.reconstruct(rows[:1])[rows[0]], expected, atol=1e-6)
    files.store.engine.dispose()


@pytest.mark.integration
def test_a_collection_past_the_graph_floor_gets_its_graph_built_once_after_the_copy(pgvector_settings):
    """Building the HNSW graph over the whole copy is ~4x faster than inserting most of the
    vectors into a graph built early (docs/benchmarks.md): the graph comes with the last batch."""
    import sqlalchemy as sa

    from retrieval.pg_index import engine_for

    files = hashing_runtime(pgvector_settings.model_copy(update={"index_backend": "files", "hnsw_min_vectors": 0}),
                            WeightedHashingEmbedder())
    files.ingest_texts(generated_documents(), "c")
    coll = files.store.collection(files.settings.default_tenant, "c")
    rows = len(files.store.all_chunk_ids(coll.id))
    settings = files.settings.model_copy(update={"hnsw_min_vectors": 3})
    sent: list[str] = []
    engine = engine_for(settings)
    record = lambda conn, cursor, statement, *args: sent.append(" ".join(statement.split()))  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        hashing_runtime(settings, RefusingEmbedder()).migrate_collection("c", "postgres", batch_size=4)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    inserts = [n for n, s in enumerate(sent) if s.startswith(f"INSERT INTO docintel_vec_{coll.id} ")]
    graph = [n for n, s in enumerate(sent) if "USING hnsw" in s]
    assert rows > 8 and len(inserts) == -(-rows // 4) and len(graph) == 1 and graph[0] > inserts[-1]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"),
                            {"t": f'"{settings.database_schema}".docintel_vec_{coll.id}_hnsw'}).scalar()
    files.store.engine.dispose()
