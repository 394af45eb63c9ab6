"""`docintel collections migrate` as a user runs it: a real subprocess, JSON summary, exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCINTEL_DATA_DIR": str(tmp_path / "var"), **env}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, cwd=tmp_path)


@pytest.mark.unit
def test_migrating_to_postgres_on_a_sqlite_store_says_what_to_set(tmp_path):
    from workers.runtime import Runtime

    rt = Runtime.create(Settings(data_dir=tmp_path / "var", _env_file=None))
    rt.create_collection("c")
    rt.store.engine.dispose()
    p = run(tmp_path, "collections", "migrate", "c", "--to", "postgres", "--json")
    assert p.returncode == 1, p.stderr
    assert "set DOCINTEL_DATABASE_URL to a PostgreSQL database that has the pgvector extension" in json.loads(p.stdout)["error"]
    p = run(tmp_path, "collections", "migrate", "c", "--to", "files")
    assert p.returncode == 1 and "'files' backend already" in p.stderr


@pytest.mark.integration
@pytest.mark.slow  # the real embedder ingests and searches
def test_ingest_migrate_then_search_on_postgres(tmp_path, pgvector_settings):
    env = {"DOCINTEL_DATABASE_URL": pgvector_settings.database_url, "DOCINTEL_DATABASE_SCHEMA": pgvector_settings.database_schema,
           "DOCINTEL_INDEX_BACKEND": "files"}
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("The warranty lasts twenty-four months from delivery.")
    (tmp_path / "docs" / "b.txt").write_text("Either party may terminate with ninety days written notice.")
    assert run(tmp_path, "ingest", "docs", "-c", "legal", "--json", **env).returncode == 0
    query = ["search", "how long is the warranty", "-c", "legal", "--json"]
    before = json.loads(run(tmp_path, *query, **env).stdout)["results"]

    p = run(tmp_path, "collections", "migrate", "legal", "--to", "postgres", **env)
    assert p.returncode == 0, p.stderr
    summary, _, hint = p.stdout.rpartition("}")
    summary = json.loads(summary + "}")
    assert summary["chunks"] == summary["vectors"] == summary["keywords"] >= 2 and summary["seconds"] >= 0
    assert "set DOCINTEL_INDEX_BACKEND=postgres" in hint

    after = json.loads(run(tmp_path, *query, **{**env, "DOCINTEL_INDEX_BACKEND": "postgres"}).stdout)["results"]
    assert [(r["chunk_id"], round(r["score"], 4)) for r in after] == [(r["chunk_id"], round(r["score"], 4)) for r in before]
    assert after[0]["document_name"] == "a.txt"
