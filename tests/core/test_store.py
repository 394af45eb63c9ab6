"""The SQL store on SQLite and on real PostgreSQL (integration)."""
import pytest

from core.errors import NotFoundError
from core.store import Store
from core.types import ChunkDraft, PageSpan

pytestmark = pytest.mark.unit

PAGES = [PageSpan(1, 0, 40)]


def _chunks(texts):
    return [ChunkDraft(i, t, i * 10, i * 10 + len(t), 1, 1, 5) for i, t in enumerate(texts)]


@pytest.fixture
def store(any_settings):
    s = Store.from_settings(any_settings)
    yield s
    s.engine.dispose()


def _heads_and_drift(store: Store):
    """(the revisions the database is at, differences between its schema and core.models)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.models import Base

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_schemas": False})
        return ctx.get_current_heads(), compare_metadata(ctx, Base.metadata)


def test_migrations_are_idempotent(any_settings):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from core.store import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    [head] = ScriptDirectory.from_config(cfg).get_heads()
    first = Store.from_settings(any_settings)
    coll = first.collection("t", "c", create=True)
    doc_id, _ = first.save_document_version(coll.id, "a.txt", "h", "text/plain", "t", PAGES, {}, _chunks(["x"]), lambda o, n, d: None)
    first.engine.dispose()
    second = Store.from_settings(any_settings)  # the second upgrade changes nothing
    try:
        heads, drift = _heads_and_drift(second)
        assert heads == (head,)  # at the newest revision, recorded once
        assert drift == []  # the migrations build exactly the schema the models declare
        assert second.get_document(doc_id).name == "a.txt" and second.collection("t", "c").id == coll.id
    finally:
        second.engine.dispose()


def _alembic_config():
    from alembic.config import Config

    from core.store import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def test_the_head_is_read_from_the_scripts_as_alembic_reads_it():
    from alembic.script import ScriptDirectory

    from core.store import head_revision

    assert ScriptDirectory.from_config(_alembic_config()).get_heads() == [head_revision()]


def test_an_up_to_date_database_opens_without_alembic_a_behind_one_is_upgraded(any_settings, monkeypatch):
    """Every CLI command opens the store: on a database at the newest revision that is one
    query, no upgrade; a database one revision behind (an older DocIntel's) is upgraded."""
    from alembic import command

    import core.store

    upgrades = []
    real_upgrade = core.store.upgrade
    monkeypatch.setattr(core.store, "upgrade", lambda engine: (upgrades.append(engine), real_upgrade(engine)))
    first = Store.from_settings(any_settings)  # fresh: migrated
    coll = first.collection("t", "c", create=True)
    assert len(upgrades) == 1
    first.engine.dispose()
    second = Store.from_settings(any_settings)
    assert len(upgrades) == 1  # up to date: no upgrade
    cfg = _alembic_config()
    with second.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    assert core.store.current_revisions(second.engine) != (core.store.head_revision(),)
    second.engine.dispose()
    third = Store.from_settings(any_settings)
    try:
        assert len(upgrades) == 2
        heads, drift = _heads_and_drift(third)
        assert heads == (core.store.head_revision(),) and drift == []
        assert third.collection("t", "c").id == coll.id  # the data survived
    finally:
        third.engine.dispose()


OPEN_WHEN_TOLD = """
import sys, time
from pathlib import Path
from core.settings import Settings
from core.store import Store
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.005)
Store.from_settings(Settings(_env_file=None)).collection("t", "c", create=True)
"""


def test_processes_opening_a_fresh_database_at_once_all_succeed(any_settings, tmp_path):
    """Two workers (or a worker and the CLI) starting on a new database: the first migrates,
    the others wait for it and find the schema there (before, all but one failed with
    'table alembic_version already exists')."""
    import os
    import subprocess
    import sys
    import time

    from core.store import head_revision

    env = {**os.environ, "DOCINTEL_DATA_DIR": str(any_settings.data_dir),
           "DOCINTEL_DATABASE_URL": any_settings.database_url, "DOCINTEL_DATABASE_SCHEMA": any_settings.database_schema}
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_WHEN_TOLD, str(tmp_path / f"ready{i}"), str(go)], env=env,
                              stderr=subprocess.PIPE, text=True) for i in range(3)]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(3)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    store = Store.from_settings(any_settings)
    try:
        heads, drift = _heads_and_drift(store)
        assert heads == (head_revision(),) and drift == []
        assert [c["name"] for c in store.list_collections("t")] == ["c"]
    finally:
        store.engine.dispose()


def test_collections_are_per_tenant(store):
    a = store.collection("acme", "contracts", create=True)
    b = store.collection("globex", "contracts", create=True)
    assert a.id != b.id
    assert store.collection("acme", "contracts").id == a.id
    with pytest.raises(NotFoundError, match="collection 'nope' does not exist"):
        store.collection("acme", "nope")
    assert [c["name"] for c in store.list_collections("acme")] == ["contracts"]


def test_document_versions_replace_chunks(store):
    coll = store.collection("t", "c", create=True)
    seen = []
    doc_id, ids1 = store.save_document_version(
        coll.id, "a.txt", "h1", "text/plain", "text", PAGES, {"k": "v"}, _chunks(["one", "two"]),
        lambda old, new, doc: seen.append((old, new, doc)),
    )
    doc_id2, ids2 = store.save_document_version(
        coll.id, "a.txt", "h2", "text/plain", "text2", PAGES, {}, _chunks(["three"]),
        lambda old, new, doc: seen.append((old, new, doc)),
    )
    assert doc_id2 == doc_id
    assert seen[1][0] == ids1 and seen[1][1] == ids2
    assert seen[0][2] == seen[1][2] == doc_id  # the index is told whose chunks these are
    doc = store.get_document(doc_id)
    assert doc.version == 2 and doc.sha256 == "h2" and doc.status == "indexed"
    assert [c.text for c in store.chunks_for_document(doc_id)] == ["three"]
    assert set(store.all_chunk_ids(coll.id)) == set(ids2)


def test_failed_index_update_rolls_back_rows(store):
    coll = store.collection("t", "c", create=True)

    def boom(old, new, doc):
        raise RuntimeError("index write failed")

    with pytest.raises(RuntimeError):
        store.save_document_version(coll.id, "a.txt", "h", "text/plain", "x", PAGES, {}, _chunks(["x"]), boom)
    assert store.find_document(coll.id, "a.txt") is None
    assert store.all_chunk_ids(coll.id) == []


def test_failure_is_recorded_and_keeps_good_version(store):
    coll = store.collection("t", "c", create=True)
    doc_id = store.record_failure(coll.id, "bad.pdf", "h", None, "corrupt", {})
    assert store.get_document(doc_id).error == "corrupt"
    good_id, _ = store.save_document_version(coll.id, "a.txt", "h1", "text/plain", "t", PAGES, {}, _chunks(["x"]), lambda o, n, d: None)
    store.record_failure(coll.id, "a.txt", "h2", None, "empty file (0 bytes)", {})
    doc = store.get_document(good_id)
    assert doc.status == "indexed" and doc.error == "empty file (0 bytes)"


def test_delete_document_and_collection(store):
    coll = store.collection("t", "c", create=True)
    doc_id, ids = store.save_document_version(coll.id, "a.txt", "h", "text/plain", "t", PAGES, {}, _chunks(["x", "y"]), lambda o, n, d: None)
    removed = []
    store.delete_document(doc_id, removed.extend)
    assert removed == ids
    with pytest.raises(NotFoundError):
        store.get_document(doc_id)
    store.save_document_version(coll.id, "b.txt", "h", "text/plain", "t", PAGES, {}, _chunks(["x"]), lambda o, n, d: None)
    store.delete_collection(coll.id)
    assert store.list_collections("t") == []


@pytest.mark.integration
def test_a_schema_is_migrated_even_when_public_holds_an_up_to_date_database(pgvector_settings):
    """The search path is `schema, public`: another deployment's alembic_version in public
    must not make a new schema look migrated."""
    import sqlalchemy as sa

    import core.store

    engine = sa.create_engine(pgvector_settings.database_url)
    with engine.begin() as conn:
        created = conn.execute(sa.text("SELECT to_regclass('public.alembic_version') IS NULL")).scalar()
        if created:
            conn.execute(sa.text("CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO public.alembic_version VALUES (:v)"), {"v": core.store.head_revision()})
    store = None
    try:
        store = Store.from_settings(pgvector_settings)
        assert store.collection("t", "c", create=True).id
        with engine.connect() as conn:
            schema = pgvector_settings.database_schema
            assert conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f'"{schema}".collections'}).scalar()
    finally:
        if store is not None:
            store.engine.dispose()
        if created:
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE public.alembic_version"))
        engine.dispose()
