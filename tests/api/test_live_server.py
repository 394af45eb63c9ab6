"""`docintel serve` as a separate process on loopback, used by real clients: the official
`openai` client, concurrent SSE streams (one client vanishing mid-stream), schemathesis."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from apihelp import MANUAL, LiveServer, contract_pdf, free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("live") / "var")
    srv.populate()
    yield srv
    srv.stop()


def test_the_official_openai_client_works_unchanged(server):
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key=server.key)
    assert "docintel:legal" in [m.id for m in client.models.list()]
    q = [{"role": "user", "content": "How many batteries does the remote control need?"}]
    resp = client.chat.completions.create(model="docintel:legal", messages=q)
    content = resp.choices[0].message.content
    assert content and resp.choices[0].finish_reason == "stop" and resp.usage is not None
    citations = resp.model_extra["citations"]
    assert citations and all({"document_name", "page", "quote"} <= set(c) for c in citations)

    pieces, last = [], None
    for chunk in client.chat.completions.create(model="docintel:legal", messages=q, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert "".join(pieces) == content  # greedy, checked: the stream says what the response said
    assert last.choices[0].finish_reason == "stop" and last.model_extra["citations"] == citations


def _stream(server, question: str, out: dict, key: str, stop_after: int | None = None) -> None:
    t0 = time.perf_counter()
    events = []
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as c:
        with c.stream("POST", "/v1/answer", json={"collection": "legal", "question": question, "stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("event:"):
                    events.append(line[6:].strip())
                    if stop_after is not None and len(events) >= stop_after:
                        break  # the client goes away mid-stream
    out[key] = {"events": events, "seconds": time.perf_counter() - t0}


def test_concurrent_streams_and_a_client_that_disconnects(server):
    out: dict = {}
    threads = [threading.Thread(target=_stream, args=(server, "How many batteries does the remote control need?", out, "a")),
               threading.Thread(target=_stream, args=(server, "Which law governs the agreement?", out, "b")),
               threading.Thread(target=_stream, args=(server, "How can the agreement be terminated?", out, "gone", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads), "a stream blocked"
    for key in ("a", "b"):
        assert out[key]["events"][-1] == "answer", out
    # the model is free again: a new answer after the vanished client completes too
    after: dict = {}
    _stream(server, "When are invoices payable?", after, "next")
    assert after["next"]["events"][-1] == "answer"


def test_schemathesis_finds_no_server_errors(server, tmp_path):
    """Generated requests against the live OpenAPI schema (bounded): no 5xx anywhere. Last in
    this module: it may delete what the tests above read."""
    st = Path(sys.executable).with_name("st")
    p = subprocess.run([str(st), "run", server.url + "/openapi.json", "--checks", "not_a_server_error",
                        "--max-examples", "12", "--request-timeout", "120", "--generation-deterministic",
                        "-H", f"Authorization: Bearer {server.key}"],
                       capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-2000:]
