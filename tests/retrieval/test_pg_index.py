"""What the `postgres` index backend adds to the shared conformance suite: it learns once per
instance that a collection's tables exist (no DDL on every add, no existence check on every
search), and still answers as the empty index when another instance dropped them."""
from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from index_conformance import DIM, unit_vectors

from retrieval.index_factory import make_keyword_index, make_vector_index

pytestmark = pytest.mark.integration


@pytest.fixture
def statements(pgvector_settings):
    """The SQL the index backend sends, in order."""
    from retrieval.pg_index import engine_for

    sent: list[str] = []

    def record(conn, cursor, statement, *args):
        sent.append(" ".join(statement.split()))

    engine = engine_for(pgvector_settings)
    sa.event.listen(engine, "before_cursor_execute", record)
    yield sent
    sa.event.remove(engine, "before_cursor_execute", record)


def _count(sent: list[str], fragment: str) -> int:
    return sum(fragment in s for s in sent)


def test_tables_are_created_and_checked_once_per_instance(pgvector_settings, statements):
    rng = np.random.default_rng(0)
    vecs = unit_vectors(rng, 6)
    vectors, keywords = make_vector_index(pgvector_settings, 1, DIM), make_keyword_index(pgvector_settings, 1)
    for n in range(3):
        vectors.add([2 * n, 2 * n + 1], vecs[2 * n : 2 * n + 2])
        keywords.add([2 * n, 2 * n + 1], ["royalty clause", "warranty clause"], [n, n])
        vectors.save()
        keywords.save()
    assert _count(statements, "CREATE TABLE") == 6  # one vector table, five keyword tables, once
    assert _count(statements, "CREATE INDEX") == 2
    statements.clear()
    reader_v, reader_k = make_vector_index(pgvector_settings, 1, DIM), make_keyword_index(pgvector_settings, 1)
    for _ in range(3):
        assert reader_v.search(vecs[0], 2)[0][0] == 0
        assert reader_k.search("royalty", 3)
    assert _count(statements, "to_regclass") == 2  # the first search of each instance
    assert _count(statements, "CREATE") == 0


def test_a_drop_by_another_instance_reads_as_empty_and_the_tables_come_back(pgvector_settings):
    rng = np.random.default_rng(1)
    vecs = unit_vectors(rng, 3)
    writer_v, writer_k = make_vector_index(pgvector_settings, 1, DIM), make_keyword_index(pgvector_settings, 1)
    writer_v.add([1, 2], vecs[:2])
    writer_k.add([1, 2], ["royalty clause", "warranty clause"])
    writer_v.save()
    writer_k.save()
    reader_v, reader_k = make_vector_index(pgvector_settings, 1, DIM), make_keyword_index(pgvector_settings, 1)
    assert reader_v.ids() == {1, 2} and reader_k.ids() == {1, 2}  # both know the tables now
    make_vector_index(pgvector_settings, 1, DIM).drop()
    make_keyword_index(pgvector_settings, 1).drop()
    assert reader_v.search(vecs[0], 5) == [] and reader_v.ids() == set() and reader_v.reconstruct([1]) == {}
    assert reader_k.search("royalty", 5) == [] and reader_k.ids() == set() and reader_k.ungrouped() == set()
    assert reader_v.remove([1]) == 0 and reader_k.remove([1]) == 0
    # the instances that saw the tables go create them again on their next add
    reader_v.add([3], vecs[2:])
    reader_k.add([3], ["indemnity clause"])
    reader_v.save()
    reader_k.save()
    assert make_vector_index(pgvector_settings, 1, DIM).ids() == {3}
    assert [i for i, _ in make_keyword_index(pgvector_settings, 1).search("indemnity", 5)] == [3]


def test_a_write_after_another_instances_drop_fails_once_then_recreates(pgvector_settings):
    """A writer that knew the tables cannot tell they went without asking on every write:
    its next change fails (PostgreSQL has aborted the transaction it was in), and the one
    after creates them again."""
    vecs = unit_vectors(np.random.default_rng(2), 3)
    writer = make_vector_index(pgvector_settings, 1, DIM)
    writer.add([1], vecs[:1])
    writer.save()
    make_vector_index(pgvector_settings, 1, DIM).drop()
    with pytest.raises(sa.exc.ProgrammingError, match="docintel_vec_1"):
        writer.add([2], vecs[1:2])
    writer.add([3], vecs[2:])
    writer.save()
    assert make_vector_index(pgvector_settings, 1, DIM).ids() == {3}


WORDS = ("royalty licence term termination notice party agreement warranty indemnity liability damages "
         "governing law state court exclusive non compete territory payment fee invoice audit confidential "
         "information disclosure assignment consent insurance").split()


def _texts(rng, n: int) -> list[str]:
    # a Zipf-like draw: a few words in most chunks, most words in few
    p = 1 / np.arange(1, len(WORDS) + 1)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(0, 30)), p=p / p.sum())) for _ in range(n)]


def _same_ranking(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose([s for _, s in a], [s for _, s in b], rtol=1e-5)
    # ties aside: equal scores may come in either order only if bm25s' float32 scores tie
    for (ia, sa_), (ib, _) in zip(a, b):
        if ia != ib:
            assert any(i == ia and abs(s - sa_) <= 1e-5 * abs(sa_) for i, s in b), (a, b)


def _check_tables(pgvector_settings, c: int = 1) -> None:
    """The term table, the documents' postings and the document count equal what the chunk
    postings give."""
    from retrieval.pg_index import engine_for

    with engine_for(pgvector_settings).connect() as conn:
        q = lambda sql: sorted(tuple(r) for r in conn.execute(sa.text(sql)))  # noqa: E731
        assert q(f"SELECT term, df, gdf FROM docintel_kwterm_{c}") == q(
            f"SELECT term, count(*), count(DISTINCT group_id) FROM docintel_post_{c} GROUP BY term")
        assert q(f"SELECT term, group_id, tf FROM docintel_kwgpost_{c}") == q(
            f"SELECT term, group_id, sum(tf) FROM docintel_post_{c} GROUP BY term, group_id")
        assert q(f"SELECT p.chunk_id, p.length, p.group_id FROM docintel_post_{c} p") == q(
            f"SELECT p.chunk_id, k.length, k.group_id FROM docintel_post_{c} p JOIN docintel_kw_{c} k USING (chunk_id)")
        assert q(f"SELECT groups FROM docintel_index_keywords WHERE collection_id = {c}") == q(
            f"SELECT count(*) FROM docintel_kwgroup_{c}")


def test_bm25_in_sql_ranks_as_bm25s_through_changes(pgvector_settings):
    """Random texts in documents, then replacements, removals and moved documents: every
    query ranks as bm25s does, unfiltered and filtered; the derived tables (term and
    document frequencies, document postings, document count) stay equal to what the
    postings give."""
    from retrieval.index_factory import with_backend

    rng = np.random.default_rng(7)
    files = make_keyword_index(with_backend(pgvector_settings, "files"), 1)
    sql = make_keyword_index(pgvector_settings, 1)
    for index in (files, sql):
        index.document_weight = 1.0
    n = 240
    texts, groups = _texts(rng, n), [int(g) for g in rng.integers(0, 30, n)]
    ungrouped = list(range(200, 240))
    for index in (files, sql):
        index.add(list(range(200)), texts[:200], groups[:200])
        index.add(ungrouped, texts[200:])
        index.save()
    _check_tables(pgvector_settings)

    def compare() -> None:
        for q in ["royalty", "party agreement", "termination notice party", "audit audit fee insurance",
                  " ".join(WORDS), "consent assignment law", "unknownword", "the"]:
            for k in (1, 5, 50):
                _same_ranking(files.search(q, k), sql.search(q, k))
                allowed = {int(i) for i in rng.choice(240, 40, replace=False)}
                _same_ranking(files.search(q, k, allowed), sql.search(q, k, allowed))

    compare()
    replaced = [int(i) for i in rng.choice(200, 30, replace=False)]
    new_texts = _texts(rng, 30)
    new_groups = [int(g) for g in rng.integers(0, 30, 30)]
    for index in (files, sql):
        index.add(replaced, new_texts, new_groups)  # replaces their texts
        assert index.remove(list(range(0, 200, 7)) + [999]) == len(range(0, 200, 7))
        index.set_groups({i: 100 + i % 3 for i in ungrouped[:20]} | {1: 5, 2: 5, 3: 17})
        index.save()
    _check_tables(pgvector_settings)
    compare()


def test_a_collection_of_the_layout_before_is_rebuilt_on_first_open(pgvector_settings):
    """Tables written before the term and document-postings tables: the first instance to
    find them rebuilds them (once), and searches rank as before."""
    from retrieval.pg_index import KEYWORD_META, engine_for

    rng = np.random.default_rng(3)
    texts, groups = _texts(rng, 80), [int(g) for g in rng.integers(0, 8, 80)]
    writer = make_keyword_index(pgvector_settings, 1)
    writer.document_weight = 1.0
    writer.add(list(range(80)), texts, groups)
    writer.save()
    expected = {q: writer.search(q, 10) for q in ("royalty", "party agreement notice", "fee audit")}
    with engine_for(pgvector_settings).begin() as conn:  # back to the layout before
        conn.execute(sa.text("DROP TABLE docintel_kwterm_1, docintel_kwgpost_1"))
        conn.execute(sa.text("ALTER TABLE docintel_post_1 DROP COLUMN length, DROP COLUMN group_id"))
        conn.execute(sa.text(f"UPDATE {KEYWORD_META} SET groups = NULL"))
    reader = make_keyword_index(pgvector_settings, 1)
    reader.document_weight = 1.0
    for q, hits in expected.items():
        _same_ranking(hits, reader.search(q, 10))
    _check_tables(pgvector_settings)
    reader.add([80], ["royalty royalty"], [3])  # and it takes writes
    reader.save()
    _check_tables(pgvector_settings)
    assert 80 in [i for i, _ in reader.search("royalty", 100)]


def test_a_schema_never_sees_another_deployments_tables_in_public(pgvector_settings, pgvector_url):
    """The search path is `schema, public`: a collection's tables in public (another
    deployment on the same database, without a schema) must not be read or changed through
    a schema that lacks them."""
    public = pgvector_settings.model_copy(update={"database_schema": ""})
    rng = np.random.default_rng(3)
    vecs = unit_vectors(rng, 2)
    theirs_v, theirs_k = make_vector_index(public, 987654, DIM), make_keyword_index(public, 987654)
    try:
        theirs_v.add([1], vecs[:1])
        theirs_k.add([1], ["their royalty clause"], [1])
        theirs_v.save()
        theirs_k.save()
        ours_v, ours_k = make_vector_index(pgvector_settings, 987654, DIM), make_keyword_index(pgvector_settings, 987654)
        assert ours_v.search(vecs[0], 3) == [] and len(ours_v) == 0
        assert ours_k.search("royalty", 3) == [] and len(ours_k) == 0
        ours_v.add([2], vecs[1:2])
        ours_k.add([2], ["our warranty clause"], [2])
        ours_v.save()
        ours_k.save()
        assert [i for i, _ in ours_v.search(vecs[1], 3)] == [2]
        assert [i for i, _ in ours_k.search("warranty royalty", 3)] == [2]
        assert [i for i, _ in theirs_k.search("warranty royalty", 3)] == [1]
        assert len(theirs_v) == 1
    finally:
        theirs_v.drop()
        theirs_k.drop()
