"""Helpers for the API and web tests: documents, clients over real stores, keys, waiting for jobs, a live server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from docgen import make_pdf

ROOT = Path(__file__).resolve().parents[1]

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

    from cli.composition import create_app  # the app as `docintel serve` composes it (with evaluations)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, data_dir: Path):
        self.env = {**os.environ, "DOCINTEL_DATA_DIR": str(data_dir), "DOCINTEL_LLM_MODEL": "smollm2-135m-instruct-q4_1",
                    "DOCINTEL_RATE_LIMIT": "100000/minute", "DOCINTEL_LOG_LEVEL": "WARNING", "DOCINTEL_ANSWER_MAX_TOKENS": "96"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = self.create_key("acme", "admin")
        self.headers = {"Authorization": f"Bearer {self.key}"}
        self.log = open(data_dir.parent / "server.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(self.port)], env=self.env,
                                     cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            assert self.proc.poll() is None, (data_dir.parent / "server.log").read_text()
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError("docintel serve did not come up")

    def create_key(self, tenant: str, scope: str) -> str:
        out = subprocess.run([sys.executable, "-m", "cli.main", "keys", "create", "--tenant", tenant, "--scope", scope,
                              "--json"], env=self.env, cwd=ROOT, capture_output=True, text=True, check=True)
        return json.loads(out.stdout)["key"]

    def populate(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=60) as c:
            c.post("/v1/collections", json={"name": "legal"}).raise_for_status()
            files = [("files", ("msa.pdf", contract_pdf(), "application/pdf")),
                     ("files", ("remote.md", MANUAL.encode(), "text/markdown"))]
            job = c.post("/v1/collections/legal/documents", files=files).json()
            deadline = time.time() + 240
            while job["status"] not in ("succeeded", "failed") and time.time() < deadline:
                time.sleep(0.3)
                job = c.get(f"/v1/jobs/{job['id']}").json()
            assert job["status"] == "succeeded", job

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
