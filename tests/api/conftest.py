"""An API app over real stores, embedded jobs, the tiny SmolLM2."""
from __future__ import annotations

import pytest
from apihelp import make_client, new_key
from conftest import PG_URL, pg_schema


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def api(request, tmp_path_factory):
    """A client, its runtime, and keys of tenants 'acme' (read/write/admin) and 'globex';
    once on SQLite, once on a PostgreSQL schema of its own."""
    from core.settings import Settings

    root = tmp_path_factory.mktemp("api")
    db = {}
    if request.param == "postgresql":
        schema, drop = pg_schema("docintel_api")
        request.addfinalizer(drop)
        db = {"database_url": PG_URL, "database_schema": schema}
    settings = Settings(data_dir=root / "var", llm_model="smollm2-135m-instruct-q4_1", rate_limit="100000/minute",
                        max_upload_bytes=2_000_000, max_upload_files=5, max_document_pages=20, api_key_cache_s=0.3, _env_file=None, **db)
    client, rt = make_client(settings)
    with client:
        yield {"client": client, "rt": rt, "root": root,
               "acme": new_key(rt, "acme", "write"), "acme_read": new_key(rt, "acme", "read"),
               "acme_admin": new_key(rt, "acme", "admin"), "globex": new_key(rt, "globex", "admin")}
    rt.store.engine.dispose()
