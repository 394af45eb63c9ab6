"""Answer latency while an ingest runs beside it, by thread settings.

    python -m bench.answer_under_load --cuad ../shared/data/cuad-dev [--questions 24] \\
        [--configs quiet,default,split] [--rounds 2] [--json OUT]

Each question is a CUAD key-term question put to the LLM path (retrieval, evidence,
the embedded model, the check) over one contract. The load is a real `docintel ingest`
of CUAD PDFs in another process with its own data directory, restarted whenever it
finishes, so both processes compete for the cores as an API and a worker on one small
machine do. Configurations:

- quiet:   no load (the reference)
- default: load; both processes on their defaults (every core each: llama.cpp
           threads = cores, torch's own pool = cores)
- split:   load; the thread settings add up to the cores: the answering process's LLM
           and embedder on cores - 1 threads (they take turns, core/compute.py), the
           ingest's embedder on the rest (1 and 1 on two cores)

Configurations alternate per round (A/B/A/B) so machine drift cancels; p50/p95 over all
rounds. The answering process's model is loaded before the clock starts.
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.fileio import atomic_write_json
from core.settings import Settings
from core.types import SearchFilters
from workers.runtime import Runtime

csv.field_size_limit(sys.maxsize)
QUESTIONS = [
    "Which state's or country's law governs this agreement?",
    "What is the date of this agreement?",
    "When does the initial term of this agreement expire?",
    "How long is each renewal term of this agreement?",
    "How much notice is required to terminate renewal of this agreement?",
    "Who are the parties to this agreement?",
]


class IngestLoad:
    """`docintel ingest` of PDFs in a loop, in its own process and data directory."""

    def __init__(self, pdfs: list[Path], threads: int):
        self.pdfs, self.threads = pdfs, threads
        self.proc: subprocess.Popen | None = None
        self.root = Path(tempfile.mkdtemp(prefix="docintel-load-"))

    def _start(self) -> None:
        shutil.rmtree(self.root / "var", ignore_errors=True)
        env = {**os.environ, "DOCINTEL_DATA_DIR": str(self.root / "var"), "DOCINTEL_EMBEDDING_THREADS": str(self.threads)}
        exe = Path(sys.executable).with_name("docintel")
        self.proc = subprocess.Popen([str(exe), "ingest", *map(str, self.pdfs), "--collection", "load", "--json"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self):
        self._start()
        time.sleep(8)  # past its imports and model load: the load is embedding when questions start
        return self

    def keep_going(self) -> None:
        if self.proc and self.proc.poll() is not None:
            self._start()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        shutil.rmtree(self.root, ignore_errors=True)


def answer_latencies(rt: Runtime, index, doc_ids: list[int], n: int, seed: int, load: IngestLoad | None) -> list[float]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if load:
            load.keep_going()
        t0 = time.perf_counter()
        rt.answer_service.answer(index, rng.choice(QUESTIONS), filters=SearchFilters(document_ids=[rng.choice(doc_ids)]))
        out.append(time.perf_counter() - t0)
    return out


def ask_in_child(args) -> int:
    """One configuration's questions in a fresh process, so its thread settings take effect
    (torch's pool and llama.cpp's context are per process). Prints the latencies as JSON."""
    import json

    settings = Settings(data_dir=args.data_dir, database_url="", _env_file=None)  # threads from DOCINTEL_* env
    rt = Runtime(settings)
    rt.generator  # loaded outside the clock
    coll = rt.store.collection(settings.default_tenant, "contracts")
    ids = [d.id for d in rt.store.list_documents(coll.id)]
    index = rt.index(coll.id)
    rt.search_service.embed_query("warm up")
    load = IngestLoad(args.load_pdf_paths, args.load_threads) if args.load_threads is not None else None
    if load:
        with load:
            lat = answer_latencies(rt, index, ids, args.questions, args.seed, load)
    else:
        lat = answer_latencies(rt, index, ids, args.questions, args.seed, None)
    print(json.dumps(lat))
    return 0


def main(argv=None) -> int:
    import json

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", type=Path, required=True)
    ap.add_argument("--contracts", type=int, default=6, help="contracts the questions are asked of")
    ap.add_argument("--load-pdfs", type=int, default=40, help="CUAD PDFs the load process ingests (in a loop)")
    ap.add_argument("--questions", type=int, default=24, help="questions per configuration and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", default="quiet,default,split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--load-threads", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    pdfs = sorted((args.cuad / "pdf").glob("*.pdf"))[: args.load_pdfs]
    if args.child:
        args.load_pdf_paths = pdfs
        return ask_in_child(args)
    cores = len(os.sched_getaffinity(0))
    answer_threads = max(1, cores - 1)
    configs = {  # threads of the answering process (LLM and its embedder) and of the ingest
        "quiet": {"answer_threads": 0, "load_threads": None},
        "default": {"answer_threads": 0, "load_threads": 0},
        "split": {"answer_threads": answer_threads, "load_threads": max(1, cores - answer_threads)},
    }
    chosen = [c for c in args.configs.split(",") if c]
    txts = sorted((args.cuad / "txt").glob("*.txt"))
    docs = [(p.name, p.read_bytes()) for p in random.Random(args.seed).sample(txts, args.contracts)]
    data_dir = Path(tempfile.mkdtemp(prefix="docintel-answer-load-"))
    base = Settings(data_dir=data_dir, database_url="", _env_file=None)
    Runtime(base).ingest_texts(docs, "contracts")
    from generation.models import install

    install(base, base.llm_model)
    lat: dict[str, list[float]] = {c: [] for c in chosen}
    for rnd in range(args.rounds):
        for name in chosen:
            cfg = configs[name]
            t = str(cfg["answer_threads"])
            env = {**os.environ, "DOCINTEL_LLM_THREADS": t, "DOCINTEL_EMBEDDING_THREADS": t}
            cmd = [sys.executable, "-m", "bench.answer_under_load", "--child", "--cuad", str(args.cuad),
                   "--data-dir", str(data_dir), "--questions", str(args.questions), "--seed", str(args.seed + rnd),
                   "--load-pdfs", str(args.load_pdfs)]
            if cfg["load_threads"] is not None:
                cmd += ["--load-threads", str(cfg["load_threads"])]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            lat[name] += json.loads(out.stdout.strip().splitlines()[-1])
            print(f"round {rnd + 1} {name}: p50 {np.percentile(lat[name], 50):.2f}s", file=sys.stderr)
    report = {
        "cores": cores, "configs": {c: configs[c] for c in chosen}, "questions_per_config": args.questions * args.rounds,
        "latency_s": {c: {"p50": round(float(np.percentile(v, 50)), 2), "p95": round(float(np.percentile(v, 95)), 2),
                          "mean": round(float(np.mean(v)), 2)} for c, v in lat.items()},
    }
    print(report)
    if args.json:
        atomic_write_json(args.json, report)
    shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
