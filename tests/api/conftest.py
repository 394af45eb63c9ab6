"""An API app over real stores, embedded jobs, the tiny SmolLM2."""
from __future__ import annotations

import pytest
from apihelp import make_client, new_key


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A client, its runtime, and keys of tenants 'acme' (read/write/admin) and 'globex'."""
    from core.settings import Settings

    root = tmp_path_factory.mktemp("api")
    settings = Settings(data_dir=root / "var", llm_model="smollm2-135m-instruct-q4_1", rate_limit="100000/minute",
                        max_upload_bytes=2_000_000, max_upload_files=5, max_document_pages=20, _env_file=None)
    client, rt = make_client(settings)
    with client:
        yield {"client": client, "rt": rt, "root": root,
               "acme": new_key(rt, "acme", "write"), "acme_read": new_key(rt, "acme", "read"),
               "acme_admin": new_key(rt, "acme", "admin"), "globex": new_key(rt, "globex", "admin")}
    rt.store.engine.dispose()
