"""Helpers for the API tests: documents, clients over real stores, keys, waiting for jobs."""
from __future__ import annotations

import time

from docgen import make_pdf

CONTRACT = [
    "MASTER SERVICES AGREEMENT\nThis Agreement is made between Acme Corp. and Globex LLC.",
    "1. Term. This Agreement begins on January 1, 2025 and continues for two years.\n"
    "2. Termination. Either party may terminate this Agreement on 30 days written notice.",
    "3. Governing Law. This Agreement is governed by the laws of the State of Delaware.\n"
    "4. Fees. Invoices are payable within 45 days. Late payments bear interest of 1.5 percent per month.",
]
MANUAL = "# Remote control\n\nThe remote control needs two AA batteries. Press POWER to turn the television on."


def contract_pdf() -> bytes:
    return make_pdf(CONTRACT)


def make_client(settings):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from workers.runtime import Runtime

    rt = Runtime.create(settings)
    return TestClient(create_app(rt)), rt


def new_key(rt, tenant: str, *scopes: str) -> dict[str, str]:
    from core.apikeys import ApiKeyStore

    key, _ = ApiKeyStore(rt.store).create(tenant, "test", list(scopes))
    return {"Authorization": f"Bearer {key}"}


def wait_job(client, headers, job_id: str, timeout: float = 240.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


