"""`docintel ingest` against the LangChain baseline a user would write (issue 17).

    python -m bench.ingest_vs_langchain [--cuad ../shared/data/cuad-dev] [--pdfs 20] [--rounds 3] \\
        [--policyqa ../shared/data/policyqa-dev/dev.json] [--questions 200] [--seed 0] \\
        [--bench-venv .bench-venv] [--profile] [--json bench/out/ingest_vs_langchain.json] \\
        [--variant NAME:SETTING=VALUE[,SETTING=VALUE...] ...]

Speed: N CUAD PDFs (evenly spaced over the sorted `pdf/` folder), ingested by whole
processes, import and model loading included, alternating A/B/A/B for `--rounds` rounds so
that machine drift hits both alike:

- A: `docintel ingest <PDFs> --collection bench --json`, default settings (no DOCINTEL_*
  variable but DOCINTEL_DATA_DIR, a fresh directory each run);
- each `--variant` (e.g. `dynamic:embedding_runtime=onnx-int8-dynamic`): A again with those
  settings (as DOCINTEL_* variables), run after A in every round, reported as its own
  pipeline against B;
- B: bench/langchain_baseline.py in a separate virtualenv (not a project dependency;
  created on demand): PyPDFLoader -> RecursiveCharacterTextSplitter(1000, 200) ->
  HuggingFaceEmbeddings(the same MiniLM folder) -> FAISS.from_documents -> save_local.

Pages are counted once with pypdf; each process's peak RSS comes from wait4. Both run with
HF_HUB_OFFLINE=1. `--profile` adds one py-spy-sampled run of each (not in the medians) and
says where its time goes.

Quality: the same run samples `--questions` PolicyQA questions (seeded), has each pipeline
ingest the policies' text and retrieve 5 passages per question within the question's own
policy (A: Runtime.search with a document filter, default settings; B: FAISS
similarity_search with a source filter); a hit is a gold answer text inside one of the 5
(case, Unicode form and whitespace normalised).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from bench.ingest_jobs import where_time_goes
from bench.page_images import cpu_model
from bench.pg_index_scale import loadavg
from core.fileio import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
BASELINE = Path(__file__).resolve().with_name("langchain_baseline.py")
BENCH_PACKAGES = ["torch==2.13.0", "langchain-community", "langchain-huggingface", "langchain-text-splitters",
                  "sentence-transformers", "faiss-cpu", "pypdf", "py-spy"]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# Sampled stacks claimed by a stage before bench.ingest_jobs's innermost-frame categories apply.
STAGES = [("imports", r"_find_and_load"),
          ("load model", r"__init__ \([^)]*sentence_transformers/(sentence_transformer|base)/model\.py"),
          ("sentence vectors (reranker)", r"ingestion/sentences")]
PIPELINES = ("docintel", "langchain")  # A, B: run in this order in every round (variants after A)


def pick_pdfs(folder: Path, n: int) -> list[Path]:
    pdfs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".pdf")
    return [pdfs[i * len(pdfs) // n] for i in range(min(n, len(pdfs)))]


def count_pages(pdfs: list[Path]) -> int:
    from pypdf import PdfReader

    return sum(len(PdfReader(p).pages) for p in pdfs)


def bench_venv(path: Path) -> Path:
    """The bench virtualenv's python, created on first use; refuses a CUDA torch."""
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *BENCH_PACKAGES], check=True)
    cuda = subprocess.run([str(python), "-c", "import torch; print(torch.version.cuda or '')"],
                          capture_output=True, text=True, check=True).stdout.strip()
    if cuda:
        raise SystemExit(f"{path}: torch is a CUDA build ({cuda}); install torch==2.13.0 (the CPU wheel)")
    return python


def run_child(cmd: list[str], env: dict, workdir: Path) -> dict:
    """Run one process; wall seconds, peak RSS (wait4) and its stdout."""
    out, err = workdir / "stdout", workdir / "stderr"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=fo, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd[:3]} exited {proc.returncode}:\n{err.read_text()[-3000:]}")
    return {"seconds": seconds, "peak_rss_mb": round(usage.ru_maxrss / 1024), "stdout": out.read_text()}


def parse_variant(spec: str) -> tuple[str, dict[str, str]]:
    """"NAME:key=value,key=value" -> ("docintel-NAME", {key: value})."""
    name, _, assignments = spec.partition(":")
    pairs = [a.split("=", 1) for a in assignments.split(",") if a]
    if not name or not pairs or any(len(p) != 2 for p in pairs):
        raise SystemExit(f"--variant {spec!r}: expected NAME:SETTING=VALUE[,SETTING=VALUE...]")
    return f"docintel-{name}", {k.strip(): v.strip() for k, v in pairs}


def command(name: str, pdfs: list[Path], workdir: Path, py_b: Path, model: Path,
            settings: dict[str, str] | None = None) -> tuple[list[str], dict]:
    """The process of pipeline `name`, writing into workdir, and its environment."""
    # Default settings: no DOCINTEL_* variable but where the models are cached (a location,
    # not a setting; the int8 encoder is built there before the rounds, untimed).
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCINTEL_") or k == "DOCINTEL_MODELS_DIR"} | OFFLINE
    paths = [str(p) for p in pdfs]
    if name.startswith("docintel"):
        docintel = str(Path(sys.executable).with_name("docintel"))
        variables = {f"DOCINTEL_{k.upper()}": v for k, v in (settings or {}).items()}
        return ([docintel, "ingest", *paths, "--collection", "bench", "--json"],
                env | variables | {"DOCINTEL_DATA_DIR": str(workdir / "var")})
    return [str(py_b), str(BASELINE), "ingest", "--model", str(model), "--out", str(workdir / "faiss"), *paths], env


def run_pipeline(name: str, pdfs: list[Path], pages: int, root: Path, py_b: Path, model: Path,
                 settings: dict[str, str] | None = None) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    try:
        res = run_child(*command(name, pdfs, workdir, py_b, model, settings), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = json.loads(res["stdout"])
    row = {"seconds": round(res["seconds"], 1), "pages_per_s": round(pages / res["seconds"], 3),
           "peak_rss_mb": res["peak_rss_mb"]}
    if name.startswith("docintel"):
        docs = out["documents"]
        bad = [d for d in docs if d["status"] != "indexed"]
        if bad:
            raise SystemExit(f"docintel did not index: {bad}")
        row.update(pages=sum(d["pages"] for d in docs), chunks=sum(d["chunks"] for d in docs))
    else:
        row.update(pages=out["pages"], chunks=out["chunks"], stages_s=out["stages_s"])
    return row


def profiled(name: str, pdfs: list[Path], root: Path, py_b: Path, model: Path) -> dict:
    """One py-spy-sampled run of the pipeline; its time_shares."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-spy-", dir=root))
    raw = root / f"{name}-spy.txt"
    cmd, env = command(name, pdfs, workdir, py_b, model)
    spy = [str(py_b.with_name("py-spy")), "record", "-f", "raw", "-o", str(raw), "-r", "50", "--nonblocking",
           "--subprocesses", "--", *cmd]
    try:
        run_child(spy, env, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return time_shares(raw)


def time_shares(raw: Path) -> dict[str, float]:
    """Shares of a py-spy raw file's samples: STAGES, then bench.ingest_jobs's categories."""
    lines = raw.read_text().splitlines()
    shares, rest = {}, lines
    for label, pattern in STAGES:  # a stage anywhere on the stack claims the sample
        found = [bool(re.search(pattern, ln)) for ln in rest]
        shares[label] = _samples([ln for ln, f in zip(rest, found) if f])
        rest = [ln for ln, f in zip(rest, found) if not f]
    rest_file = raw.with_suffix(".rest.txt")
    rest_file.write_text("\n".join(rest))
    shares.update({k: v * _samples(rest) for k, v in where_time_goes(rest_file).items()})
    total = _samples(lines) or 1
    return {k: round(v / total, 3) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


def _samples(lines: list[str]) -> int:
    return sum(int(ln.rsplit(" ", 1)[1]) for ln in lines)


# -- quality --------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def hit_at_5(passages: list[str], answers: list[str]) -> bool:
    texts = [_norm(p) for p in passages[:5]]
    return any(_norm(a) in t for a in answers if a.strip() for t in texts)


def policyqa_sample(path: Path, n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(policies [{name, text}], questions [{question, policy, answers}]), n questions sampled."""
    from evaluation.datasets import load_squad, squad_document_name

    docs, questions = load_squad(path)
    first: dict[str, int] = {}  # as the squad suite: a title names its first document
    for i, d in enumerate(docs):
        first.setdefault(d.title, i)
    sample = random.Random(seed).sample(questions, min(n, len(questions)))
    policies = [{"name": squad_document_name(i, docs[i].title), "text": docs[i].joined()[0]}
                for i in sorted({first[q.title] for q in sample})]
    return policies, [{"question": q.question, "policy": squad_document_name(first[q.title], q.title),
                       "answers": [a.text for a in q.answers]} for q in sample]


def docintel_top5(policies: list[dict], questions: list[dict], root: Path,
                  settings: dict[str, str] | None = None) -> list[list[str]]:
    from core.settings import Settings
    from core.types import SearchFilters
    from workers.runtime import Runtime

    rt = Runtime.create(Settings(data_dir=Path(tempfile.mkdtemp(prefix="docintel-qa-", dir=root)), _env_file=None,
                                 **(settings or {})))
    results = rt.ingest_texts([(p["name"], p["text"].encode("utf-8")) for p in policies], "policyqa")
    ids = {p["name"]: r.document_id for p, r in zip(policies, results)}
    top = [[h.text for h in rt.search(q["question"], "policyqa", k=5, filters=SearchFilters(document_ids=[ids[q["policy"]]]))]
           for q in questions]
    rt.store.engine.dispose()
    return top


def langchain_top5(policies: list[dict], questions: list[dict], root: Path, py_b: Path, model: Path) -> list[list[str]]:
    inp, outp = root / "qa-in.json", root / "qa-out.json"
    inp.write_text(json.dumps({"policies": policies, "questions": questions}), encoding="utf-8")
    env = dict(os.environ) | OFFLINE
    subprocess.run([str(py_b), str(BASELINE), "qa", "--model", str(model), "--input", str(inp), "--output", str(outp)],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads(outp.read_text(encoding="utf-8"))["top5"]


def recall(tops: list[list[str]], questions: list[dict]) -> float:
    return round(sum(hit_at_5(t, q["answers"]) for t, q in zip(tops, questions)) / len(questions), 3)


# -- report ---------------------------------------------------------------------------------
def summarise(rounds: list[dict]) -> dict:
    names = list(rounds[0])
    med = {name: {key: statistics.median(r[name][key] for r in rounds) for key in ("seconds", "pages_per_s", "peak_rss_mb")}
           for name in names}
    ratios = [r["docintel"]["pages_per_s"] / r["langchain"]["pages_per_s"] for r in rounds]
    out = {"median": med, "ratio_a_over_b": round(med["docintel"]["pages_per_s"] / med["langchain"]["pages_per_s"], 3),
           "ratio_per_round": [round(x, 3) for x in ratios]}
    for name in names:
        if name.startswith("docintel-"):
            out[f"ratio_{name}_over_b"] = round(med[name]["pages_per_s"] / med["langchain"]["pages_per_s"], 3)
            out[f"ratio_{name}_per_round"] = [round(r[name]["pages_per_s"] / r["langchain"]["pages_per_s"], 3) for r in rounds]
    return out


def format_report(out: dict) -> str:
    lines = [f"{out['pdfs']} PDFs, {out['pages']} pages, {len(out['rounds'])} rounds (A/B alternating); "
             f"{out['machine']}; git {out['git']}; load {out['loadavg_before']} -> {out['loadavg_after']}",
             "| round | A docintel s | A pages/s | A peak RSS MB | B langchain s | B pages/s | B peak RSS MB | A/B |",
             "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(out["rounds"], 1):
        a, b = r["docintel"], r["langchain"]
        lines.append(f"| {i} | {a['seconds']} | {a['pages_per_s']} | {a['peak_rss_mb']} | {b['seconds']} | "
                     f"{b['pages_per_s']} | {b['peak_rss_mb']} | {out['summary']['ratio_per_round'][i - 1]} |")
    ma, mb = out["summary"]["median"]["docintel"], out["summary"]["median"]["langchain"]
    lines.append(f"| **median** | {ma['seconds']} | **{ma['pages_per_s']}** | {ma['peak_rss_mb']} | {mb['seconds']} | "
                 f"**{mb['pages_per_s']}** | {mb['peak_rss_mb']} | **{out['summary']['ratio_a_over_b']}** |")
    for name, m in out["summary"]["median"].items():
        if name.startswith("docintel-"):
            per = ", ".join(f"{r[name]['seconds']} s" for r in out["rounds"])
            lines.append(f"variant {name} ({out['variants'][name]}): {per}; median {m['pages_per_s']} pages/s, "
                         f"peak RSS {m['peak_rss_mb']} MB, A/B {out['summary'][f'ratio_{name}_over_b']} "
                         f"(per round {out['summary'][f'ratio_{name}_per_round']})")
    a0, b0 = out["rounds"][0]["docintel"], out["rounds"][0]["langchain"]
    lines.append(f"chunks: A {a0['chunks']}, B {b0['chunks']}; B stages (round 1, s): {b0['stages_s']}")
    if "recall_at_5" in out:
        q = out["recall_at_5"]
        lines.append(f"PolicyQA recall@5 ({q['questions']} questions, seed {q['seed']}, {q['policies']} policies): "
                     f"A docintel {q['docintel']}, B langchain {q['langchain']}"
                     + "".join(f", {k} {v}" for k, v in q.items() if k.startswith("docintel-")))
    for name, shares in out.get("profile", {}).items():
        lines.append(f"time shares {name}: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cuad", type=Path, default=DATA / "cuad-dev")
    ap.add_argument("--pdfs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--policyqa", type=Path, default=DATA / "policyqa-dev" / "dev.json")
    ap.add_argument("--questions", type=int, default=200, help="PolicyQA questions for recall@5 (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bench-venv", type=Path, default=ROOT / ".bench-venv", help="created if missing (git-ignored)")
    ap.add_argument("--profile", action="store_true", help="one more py-spy-sampled run of each, for time shares")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "ingest_vs_langchain.json")
    ap.add_argument("--variant", action="append", default=[], help="NAME:SETTING=VALUE[,...]: docintel with other settings")
    args = ap.parse_args(argv)

    from core.settings import Settings
    from ingestion.embedding import build_onnx_model, packaged_model_dir

    from ingestion.embedding import ONNX_RUNTIMES

    variants = dict(parse_variant(v) for v in args.variant)
    model = packaged_model_dir()
    # The ONNX encoders docintel uses (default and variants): built once, not in a round.
    built = build_onnx_model(Settings())
    for settings in variants.values():
        for key in ("embedding_runtime", "query_embedding_runtime"):
            if settings.get(key) in ONNX_RUNTIMES:
                build_onnx_model(Settings(), runtime=settings[key])
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip())
    py_b = bench_venv(args.bench_venv)
    versions = json.loads(subprocess.run([str(py_b), str(BASELINE), "versions"], capture_output=True, text=True,
                                         check=True, env=dict(os.environ) | OFFLINE).stdout)
    pdfs = pick_pdfs(args.cuad / "pdf", args.pdfs)
    pages = count_pages(pdfs)  # also brings the PDFs into the page cache before either pipeline runs
    root = Path(tempfile.mkdtemp(prefix="ingest-vs-langchain-"))
    out = {"machine": f"{cpu_model()}, {os.cpu_count()} cores", "git": sha + ("+dirty" if dirty else ""),
           "onnx_model": built["path"], "pdfs": len(pdfs), "pages": pages,
           "files": [p.name for p in pdfs], "model": str(model), "versions": versions, "loadavg_before": loadavg(),
           "variants": {k: ",".join(f"{a}={b}" for a, b in v.items()) for k, v in variants.items()},
           "rounds": []}
    try:
        for i in range(args.rounds):
            row = {}
            for name in ("docintel", *variants, "langchain"):
                row[name] = run_pipeline(name, pdfs, pages, root, py_b, model, variants.get(name))
                print(f"round {i + 1} {name}: {row[name]} (load {loadavg()})", file=sys.stderr, flush=True)
            out["rounds"].append(row)
        out["loadavg_after"] = loadavg()
        out["summary"] = summarise(out["rounds"])
        if args.questions:
            policies, questions = policyqa_sample(args.policyqa, args.questions, args.seed)
            out["recall_at_5"] = {
                "questions": len(questions), "seed": args.seed, "policies": len(policies),
                "docintel": recall(docintel_top5(policies, questions, root), questions),
                "langchain": recall(langchain_top5(policies, questions, root, py_b, model), questions),
            }
            for name, settings in variants.items():
                out["recall_at_5"][name] = recall(docintel_top5(policies, questions, root, settings), questions)
        if args.profile:
            out["profile"] = {name: profiled(name, pdfs, root, py_b, model) for name in PIPELINES}
        out["loadavg_end"] = loadavg()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(format_report(out))
    atomic_write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
