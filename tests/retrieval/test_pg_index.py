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
    assert _count(statements, "CREATE TABLE") == 4  # one vector table, three keyword tables, once
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
