"""Run an evaluation suite through the product and keep everything needed to trust it.

    run = run_evaluation(settings, RunRequest(suite="beir", data=Path("../shared/data/acord")))

Each run records the configuration it measured (settings after overrides, model files and
their sha256, git commit, package versions, machine), a fingerprint of the data, every
item's result (committed as it finishes, so `resume` continues an interrupted run) and
the aggregate metrics; then it writes an HTML report.
"""
from __future__ import annotations

import hashlib
import logging
import os
import platform
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from core.errors import DocIntelError
from core.settings import Settings
from evaluation.runs import RunStore
from evaluation.suites import get_suite
from evaluation.suites.base import EvalContext, EvalItem, ItemResult, Suite, sample

log = logging.getLogger(__name__)

EVAL_TENANT = "eval"
SECRET_SETTINGS = {"openai_api_key"}
# Settings that change what ingestion stores: runs that differ in them get separate collections.
INGEST_SETTINGS = ("chunk_tokens", "chunk_overlap_tokens", "embedding_model_path")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class EvaluationError(DocIntelError):
    """A run cannot start or continue (bad data path, bad option, resume mismatch)."""


@dataclass
class RunRequest:
    suite: str
    data: Path
    limit: int | None = None
    seed: int = 0
    options: dict[str, str] = field(default_factory=dict)  # suite options (--option k=v)
    overrides: dict[str, str] = field(default_factory=dict)  # settings to change for this run (--set k=v)
    resume: str | None = None  # id of an interrupted run to continue


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """["k=v", ...] -> {k: v}, with a message naming the bad pair."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EvaluationError(f"{what} '{pair}' is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def apply_overrides(settings: Settings, overrides: dict[str, str]) -> Settings:
    """A copy of settings with overrides validated and converted like environment values."""
    unknown = sorted(set(overrides) - set(Settings.model_fields))
    if unknown:
        raise EvaluationError(f"unknown setting(s) {', '.join(unknown)}; see core/settings.py for the names")
    if not overrides:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **overrides})
    except Exception as exc:  # pydantic.ValidationError: say which value is wrong
        raise EvaluationError(f"bad setting override: {exc}") from None


def fingerprint(files: list[Path], root: Path) -> str:
    """sha256 over the data files' relative paths and bytes: the same data gives the same id."""
    h = hashlib.sha256()
    for path in sorted(files):
        rel = path.relative_to(root).as_posix() if path != root and root in path.parents else path.name
        h.update(rel.encode() + b"\0")
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


@lru_cache(maxsize=16)
def _sha256(path: str) -> str:
    from core.fileio import sha256_file

    return sha256_file(Path(path))


def _git() -> dict[str, Any]:
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _models(settings: Settings) -> dict[str, Any]:
    """The model files behind this configuration, with hashes (what produced the numbers)."""
    from ingestion.embedding import resolve_model_dir

    out: dict[str, Any] = {}
    emb = Path(resolve_model_dir(settings))
    weights = next((emb / n for n in ("model.safetensors", "pytorch_model.bin") if (emb / n).exists()), None)
    out["embedding"] = {"path": str(emb), "sha256": _sha256(str(weights)) if weights else None}
    from generation.factory import describe_generator

    out["llm"] = describe_generator(settings)
    from review.classifier import MODEL_DIR, MODEL_NPZ

    out["clause_model"] = {"path": str(MODEL_DIR / MODEL_NPZ), "sha256": _sha256(str(MODEL_DIR / MODEL_NPZ))}
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("docintel", "torch", "sentence-transformers", "faiss-cpu", "bm25s", "llama-cpp-python", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def capture_config(settings: Settings) -> dict[str, Any]:
    public = {k: v for k, v in settings.model_dump(mode="json").items() if k not in SECRET_SETTINGS}
    return {
        "settings": public,
        "models": _models(settings),
        "git": _git(),
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "argv": sys.argv[1:]},
    }


def collection_name(suite: str, data_fp: str, settings: Settings, options: dict[str, str]) -> str:
    """One eval collection per (suite, data, ingestion settings): reruns reuse the index.

    The document runtime and the embedding model change the stored vectors, so they are part
    of the key, but only when they are not torch and MiniLM as published: collections built
    before they were keyed keep their names."""
    from ingestion.embedding import document_runtime

    parts: list[Any] = [getattr(settings, k) for k in INGEST_SETTINGS] + [options.get("source")]
    runtime = document_runtime(settings)
    if runtime != "torch":
        parts.append(("embedding_runtime", runtime))
    if not settings.embedding_model_path and settings.embedding_model != "minilm":
        # By the shipped weights' sha, not the name: after an upgrade that ships new weights,
        # a collection embedded by the old ones is not reused (its index would refuse them).
        from ingestion.embedding import tuned_model_name

        parts.append(("embedding_model", tuned_model_name()))
    key = repr(parts)
    return f"{suite}-{data_fp[:12]}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def new_run_id(suite: str) -> str:
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{suite}-{secrets.token_hex(3)}"


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "eval" / "reports"


def _progress(total: int, initial: int, desc: str, enabled: bool | None):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="item", file=sys.stderr, dynamic_ncols=True,
                disable=(not sys.stderr.isatty()) if enabled is None else not enabled, mininterval=0.5)


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a CI timeout, `kill`, a container stop) ends a run as Ctrl-C does: the run
    is stored as interrupted, with its resume hint, instead of staying "running" forever."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (e.g. not in a worker pool)
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_evaluation(
    settings: Settings,
    request: RunRequest,
    progress: bool | None = None,
    on_item: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a suite; return the stored run. Ctrl-C leaves it 'interrupted'."""
    from workers.runtime import Runtime

    base_rt = Runtime.create(settings)
    runs = RunStore(base_rt.store)
    previous = None
    if request.resume:
        previous = runs.get(request.resume)
        if previous["status"] == "completed":
            raise EvaluationError(f"run {previous['id']} is already completed; start a new run instead")
        request = RunRequest(previous["suite"], Path(previous["data_path"]), previous["limit"], previous["seed"],
                             previous["options"], previous["overrides"], previous["id"])
    suite = get_suite(request.suite)
    data = Path(request.data).expanduser().resolve()
    if not data.exists():
        raise EvaluationError(f"data path {data} does not exist")
    run_settings = apply_overrides(settings, request.overrides)

    t_start = time.perf_counter()
    files = suite.files(data)
    if not files:
        raise EvaluationError(f"no {suite.name} data files under {data}: {suite.description}")
    data_fp = fingerprint(files, data if data.is_dir() else data.parent)
    try:
        all_items = suite.load(data)
    except (OSError, ValueError, KeyError) as exc:
        raise EvaluationError(f"cannot read {suite.name} data at {data}: {exc}") from exc
    if previous is not None:
        by_id = {it.id: it for it in all_items}
        if previous["data_fingerprint"] != data_fp:
            raise EvaluationError(f"the data at {data} changed since run {previous['id']} started; start a new run")
        items = [by_id[i] for i in previous["item_ids"] if i in by_id]
        run_id = previous["id"]
        runs.update(run_id, status="running", error=None)
    else:
        items = sample(all_items, request.limit, request.seed)
        run_id = new_run_id(suite.name)
        runs.create(
            run_id, suite=suite.name, data_path=str(data), data_fingerprint=data_fp, limit=request.limit,
            seed=request.seed, options=request.options, overrides=request.overrides,
            config=capture_config(run_settings), item_ids=[it.id for it in items], headline=suite.headline,
        )
    log.info("eval run started", extra={"run_id": run_id, "suite": suite.name, "items": len(items)})

    rt = base_rt if run_settings is settings else Runtime.create(run_settings)
    ctx = EvalContext(rt, collection_name(suite.name, data_fp, run_settings, request.options), EVAL_TENANT,
                      data, dict(request.options))
    durations: dict[str, float] = {}
    status, error = "completed", None
    try:
        with _terminate_as_interrupt():
            t0 = time.perf_counter()
            suite.prepare(ctx, items)
            durations["prepare_s"] = round(time.perf_counter() - t0, 3)
            _run_items(suite, ctx, runs, run_id, items, progress, on_item)
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted; continue with --resume " + run_id
    except Exception as exc:  # the run fails with its reason; finished items stay stored
        log.exception("eval run failed", extra={"run_id": run_id})
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    durations["total_s"] = round(time.perf_counter() - t_start, 3)
    return finalize(settings, runs, suite, run_id, status, error, durations)


def _run_items(suite: Suite, ctx: EvalContext, runs: RunStore, run_id: str, items: list[EvalItem],
               progress: bool | None, on_item: Callable[[int, int], None] | None) -> None:
    done = runs.done_item_ids(run_id)
    finished = len(done & {it.id for it in items})
    bar = _progress(len(items), finished, f"eval {suite.name}", progress)
    t0 = time.perf_counter()
    try:
        for ordinal, item in enumerate(items):
            if item.id in done:
                continue
            started = time.perf_counter()
            try:
                result = suite.run_item(ctx, item)
            except (KeyboardInterrupt, MemoryError):
                raise
            except Exception as exc:  # one bad item never sinks the run
                log.warning("eval item failed", extra={"run_id": run_id, "item": item.id, "error": str(exc)})
                result = ItemResult(item.id, {}, {}, error=f"{type(exc).__name__}: {exc}")
            if not result.seconds:
                result.seconds = round(time.perf_counter() - started, 4)
            runs.record_item(run_id, ordinal, result)
            finished += 1
            bar.update(1)
            if on_item:
                on_item(finished, len(items))
    finally:
        bar.close()
        runs.update(run_id, durations={"items_s": round(time.perf_counter() - t0, 3)})


def finalize(settings: Settings, runs: RunStore, suite: Suite, run_id: str, status: str, error: str | None,
             durations: dict[str, float]) -> dict[str, Any]:
    """Aggregate whatever items are stored, write the report, close the run."""
    stored = runs.items(run_id)
    results = [ItemResult.from_dict(d) for d in stored]
    previous = runs.get(run_id)
    durations = {**(previous.get("durations") or {}), **durations}
    fields: dict[str, Any] = {"durations": durations}
    if results:
        agg = suite.aggregate(results)
        fields.update(metrics=agg.metrics, charts=[c.to_dict() for c in agg.charts], tables=agg.tables)
    fields["headline"] = suite.headline  # a suite may pick its headline from its options (e.g. answers off)
    if status == "completed" and len(stored) < previous["item_count"]:
        status, error = "interrupted", f"{len(stored)} of {previous['item_count']} items finished"
    if status == "completed" and stored and all(d.get("error") for d in stored):
        # Nothing was measured: usually one cause (a missing model, a wrong path) for all.
        status, error = "failed", f"every item failed; the first: {stored[0]['error']}"
    runs.finish(run_id, status, error=error, **fields)
    run = runs.get(run_id)
    try:
        path = write_report(settings, run, stored)
        runs.update(run_id, report_path=str(path))
        run["report_path"] = str(path)
    except Exception as exc:  # a report problem must not lose the measured run
        log.warning("eval report failed", extra={"run_id": run_id, "error": str(exc)})
    return run


def write_report(settings: Settings, run: dict[str, Any], items: list[dict[str, Any]]) -> Path:
    from evaluation.report import write_run_report

    return write_run_report(run, items, reports_dir(settings) / f"{run['id']}.html")


def check_gates(metrics: dict[str, Any], gates: dict[str, str]) -> list[str]:
    """--fail-under metric=value: the messages of gates that fail (empty = pass)."""
    failures = []
    for name, raw in gates.items():
        try:
            threshold = float(raw)
        except ValueError:
            failures.append(f"--fail-under {name}={raw}: the threshold is not a number")
            continue
        value = metrics.get(name)
        if value is None:
            known = ", ".join(k for k, v in metrics.items() if isinstance(v, (int, float)))
            failures.append(f"{name} is not measured by this run (metrics: {known})")
        elif value < threshold:
            failures.append(f"{name} = {value:.4f} is below {threshold:g}")
    return failures
