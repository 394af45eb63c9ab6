"""Load on the HTTP API from a second process on loopback.

    python -m bench.api_load --cuad ../shared/data/cuad-dev [--contracts 20] \\
        [--clients 1,8,32] [--seconds 20] [--answer-clients 4] [--answers 16] [--rounds 3] [--json OUT] \\
        [--client h11|httpx] [--data-dir DIR] [--workers N]

Starts `docintel serve` (embedded jobs, the default model, auth on) with its own data
directory, uploads the first N CUAD dev contracts through `POST /v1/collections/{name}/documents`
and waits for the ingest job. Then, from this process:

- `/v1/search` (hybrid, k=10, unique queries made of CUAD clause phrases, so that the
  query-vector cache does not answer them) with 1, 8 and 32 concurrent clients
  for `--seconds` each, repeated `--rounds` times: requests/s and p50/p95/p99 latency,
  the median over rounds. Each client holds one keep-alive connection; the default
  client speaks HTTP/1.1 through h11, because the load generator shares the two cores
  with the server and httpx spends ~1.5 ms of CPU per request there (`--client httpx`
  measures with it).
- `/v1/answer` streamed with `--answer-clients` concurrent clients: answers per minute
  and time to the first checked text (`delta` event) and to the final `answer` event.

The server logs at WARNING (an access line per request would be part of what is measured).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from core.fileio import atomic_write_json

QUERIES = [
    "termination for convenience", "governing law", "non-compete obligations", "exclusivity", "limitation of liability",
    "audit rights", "change of control", "anti-assignment", "revenue sharing", "minimum commitment", "insurance",
    "warranty duration", "most favored nation", "license grant", "renewal term", "notice period to terminate renewal",
    "liquidated damages", "uncapped liability", "covenant not to sue", "third party beneficiary", "source code escrow",
    "post-termination services", "IP ownership assignment", "price restrictions", "volume restriction",
]
QUESTIONS = [
    "Which state's law governs the agreement?", "How can the agreement be terminated?",
    "What are the confidentiality obligations?", "Is there a limitation of liability?",
    "Can the agreement be assigned to a third party?", "What happens on a change of control?",
    "How long does the agreement last?", "What insurance must be maintained?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, workers: int = 1):
        self.env = {**os.environ, "DOCINTEL_DATA_DIR": str(data_dir), "DOCINTEL_LOG_LEVEL": "WARNING",
                    "DOCINTEL_RATE_LIMIT": "10000000/minute"}
        self.worker = None
        if workers > 1:  # several API processes only enqueue; a Celery worker runs the jobs
            self.env.update(DOCINTEL_JOB_QUEUE="celery", DOCINTEL_QUEUE_PREFIX=f"bench{os.getpid()}")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cli = [sys.executable, "-m", "cli.main"]
        subprocess.run(cli + ["models", "install"], env=self.env, check=True, capture_output=True)
        out = subprocess.run(cli + ["keys", "create", "--scope", "admin", "--json"], env=self.env, check=True,
                             capture_output=True, text=True)
        self.headers = {"Authorization": f"Bearer {json.loads(out.stdout)['key']}"}
        if workers > 1:
            self.worker = subprocess.Popen(cli + ["worker", "--queues", "ingest,index,llm", "--concurrency", "1"], env=self.env)
        self.proc = subprocess.Popen(cli + ["serve", "--port", str(self.port), "--workers", str(workers)], env=self.env)
        for _ in range(600):
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit("docintel serve did not start")

    def stop(self) -> None:
        for proc in (self.proc, self.worker):
            if proc is not None:
                proc.terminate()
                proc.wait(60)


def ingest_job(c: httpx.Client, collection: str, files: list) -> dict:
    """Upload files into a collection and wait for their ingest job to succeed."""
    job = c.post(f"/v1/collections/{collection}/documents", files=files).json()
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.5)
        job = c.get(f"/v1/jobs/{job['id']}").json()
    if job["status"] != "succeeded":
        raise SystemExit(f"ingest failed: {job}")
    return job


def upload(server: Server, pdfs: list[Path]) -> dict:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=600) as c:
        have = c.get("/v1/collections/cuad/documents")
        if have.status_code == 200 and len(have.json()["documents"]) >= len(pdfs):  # --data-dir of an earlier run
            return {"contracts": len(pdfs), "ingest_seconds": None}
        c.post("/v1/collections", json={"name": "cuad"}).raise_for_status()
        t0 = time.perf_counter()
        for i in range(0, len(pdfs), 5):  # five files per request, as a batch client would
            files = [("files", (p.name, p.read_bytes(), "application/pdf")) for p in pdfs[i:i + 5]]
            ingest_job(c, "cuad", files)
        return {"contracts": len(pdfs), "ingest_seconds": round(time.perf_counter() - t0, 1)}


class H11Connection:
    """One keep-alive HTTP/1.1 connection driven by h11 over asyncio streams: a load
    generator that costs the shared two cores a fraction of what httpx's stack does
    (~0.3 against ~1.5 ms of CPU per request here), so that less of what is measured is
    the client's own work."""

    def __init__(self, url: str, headers: dict[str, str]):
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.headers = [("Host", f"{host}:{port}"), ("Content-Type", "application/json"), *headers.items()]
        self.reader = self.writer = self.conn = None

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        import h11

        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.conn = h11.Connection(h11.CLIENT)
        elif self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        data = json.dumps(body).encode()
        out = self.conn.send(h11.Request(method="POST", target=path,
                                         headers=[*self.headers, ("Content-Length", str(len(data)))]))
        out += self.conn.send(h11.Data(data=data)) + self.conn.send(h11.EndOfMessage())
        self.writer.write(out)
        status, chunks = 0, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status, b"".join(chunks)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def search_load(server: Server, clients: int, seconds: float, seed: int, client: str = "h11") -> dict:
    """`clients` closed-loop clients, each on its own keep-alive connection."""
    rng = random.Random(seed)
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=60, limits=limits) as c:
        async def one() -> None:
            nonlocal errors
            conn = H11Connection(server.url, server.headers) if client == "h11" else None
            try:
                while time.perf_counter() < stop:
                    # Unique queries: the query-vector cache would otherwise answer most of them.
                    query = f"{rng.choice(QUERIES)} {rng.choice(QUERIES)} section {rng.randint(1, 10**6)}"
                    body = {"collection": "cuad", "query": query, "k": 10}
                    t0 = time.perf_counter()
                    if conn is not None:
                        status, _ = await conn.post("/v1/search", body)
                    else:
                        status = (await c.post("/v1/search", json=body)).status_code
                    latencies.append(time.perf_counter() - t0)
                    errors += status != 200
            finally:
                if conn is not None:
                    await conn.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {"clients": clients, "client": client, "requests": len(ms), "errors": errors, "rps": round(len(ms) / elapsed, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1)}


async def answer_load(server: Server, clients: int, answers: int) -> dict:
    todo = [QUESTIONS[i % len(QUESTIONS)] for i in range(answers)]
    first, total, abstained, failed = [], [], 0, []
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=600) as c:
        async def client() -> None:
            nonlocal abstained
            while todo:
                question = todo.pop()
                t0, got_first, answered = time.perf_counter(), None, False
                async with c.stream("POST", "/v1/answer",
                                    json={"collection": "cuad", "question": question, "stream": True}) as r:
                    event = None
                    async for line in r.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                            if event == "delta" and got_first is None:
                                got_first = time.perf_counter() - t0
                        elif line.startswith("data:") and event == "answer":
                            abstained += json.loads(line[5:])["abstained"]
                            answered = True
                if not answered:  # an error status or an `error` event is not an answer
                    failed.append(f"{r.status_code}: {question}")
                    continue
                total.append(time.perf_counter() - t0)
                first.append(got_first if got_first is not None else total[-1])

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    if failed:
        raise SystemExit(f"{len(failed)} of {answers} answers failed, e.g. {failed[0]}")
    return {"clients": clients, "answers": len(total), "abstained": abstained,
            "answers_per_minute": round(len(total) / elapsed * 60, 1),
            "first_text_p50_s": round(float(np.percentile(first, 50)), 2),
            "first_text_p95_s": round(float(np.percentile(first, 95)), 2),
            "total_p50_s": round(float(np.percentile(total, 50)), 2), "total_p95_s": round(float(np.percentile(total, 95)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", type=Path, required=True)
    ap.add_argument("--contracts", type=int, default=20)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--answer-clients", type=int, default=4)
    ap.add_argument("--answers", type=int, default=16)
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--client", choices=["h11", "httpx"], default="h11",
                    help="the search load's HTTP client: h11 (lean) or httpx (what an application would use)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers (> 1 runs with the celery job queue on Redis)")
    args = ap.parse_args()
    pdfs = sorted((args.cuad / "pdf").glob("*.PDF"))[: args.contracts]
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="docintel-apiload-")) / "var"
    server = Server(data_dir, args.workers)
    try:
        out: dict = {"machine": f"{os.cpu_count()} cores", "client": args.client, **upload(server, pdfs)}
        asyncio.run(search_load(server, 2, 3, 0, args.client))  # warm-up: query encoder, indexes, connections
        runs: dict[int, list[dict]] = {}
        for r in range(args.rounds):
            for n in (int(x) for x in args.clients.split(",")):
                runs.setdefault(n, []).append(asyncio.run(search_load(server, n, args.seconds, r, args.client)))
                print(json.dumps(runs[n][-1]), file=sys.stderr)
        out["search"] = [{"clients": n, "rounds": len(rs), "errors": sum(x["errors"] for x in rs),
                          **{k: statistics.median(x[k] for x in rs) for k in ("rps", "p50_ms", "p95_ms", "p99_ms")},
                          "p95_ms_each_round": [x["p95_ms"] for x in rs]} for n, rs in runs.items()]
        if args.answers:
            out["answer"] = asyncio.run(answer_load(server, args.answer_clients, args.answers))
    finally:
        server.stop()
    print(json.dumps(out, indent=2))
    if args.json:
        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
