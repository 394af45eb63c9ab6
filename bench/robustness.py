"""Robustness bench: ingest every file of one or more folders and report what broke.

    python bench/robustness.py ../shared/data/pdf-samples ../shared/data/sec10q [--json]

Every file found (recursively, whatever its extension) is handed to `Runtime.ingest`
by name, so unsupported types are tried too and must fail cleanly. Each folder runs in
its own child process (this script with a hidden flag): an exception escaping
`Runtime.ingest`, a segfault, an out-of-memory kill or a hang then costs that folder
only, and every file the child had not reported by then counts as a crash.

Exit code: 1 if anything crashed, 0 otherwise (clean per-file failures are expected).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

WORKER_FLAG = "--_worker"
POLL_S = 0.5


# -- child: one folder, in-process ------------------------------------------------------
class WarningTally(logging.Handler):
    """Counts WARNING+ records by logger and message start; prints only those at `show_level`.

    pypdf alone can log a thousand font warnings per folder: printed, they bury the progress
    bar; counted, they still show up in the report. Printing goes through tqdm.write so the
    bar is redrawn below the line instead of being torn.
    """

    def __init__(self, show_level: int, formatter: logging.Formatter) -> None:
        super().__init__(logging.NOTSET)
        self.show_level = show_level
        self.setFormatter(formatter)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.samples: dict[tuple[str, str], str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.levelno >= logging.WARNING:
                message = record.getMessage()
                # The first words identify the kind; the rest often varies (object ids).
                key = (record.name, message[:60])
                self.counts[key] += 1
                if key not in self.samples:
                    # Formatted, so extras such as the document name are kept.
                    self.samples[key] = self.format(record).split("\n", 1)[0][:300]
            if record.levelno >= self.show_level:
                from tqdm import tqdm

                tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)

    def summary(self) -> list[dict[str, Any]]:
        return [{"logger": k[0], "count": n, "sample": self.samples[k]} for k, n in self.counts.most_common()]


def run_worker(job_path: str) -> int:
    """Ingest one folder's files and stream one JSON line per event to the results file.

    Lines are flushed as they happen so the parent still knows which files were done if
    this process dies half-way (a segfault leaves no chance to write a summary).
    """
    import faulthandler
    import traceback

    # `python bench/robustness.py` puts bench/ first on sys.path, where a sibling script
    # such as bench/retrieval.py would shadow the project's `retrieval` package.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]

    # A native crash then prints a Python stack to stderr, naming the culprit.
    faulthandler.enable()
    job = json.loads(Path(job_path).read_text())
    out = open(job["results"], "a", encoding="utf-8")

    def emit(event: dict[str, Any]) -> None:
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
        out.flush()

    from tqdm import tqdm

    try:
        from core.logging import ConsoleFormatter
        from core.settings import Settings
        from workers.runtime import Runtime

        # database_url="" keeps the run in SQLite under the temporary data dir even when the
        # caller's environment or .env points DocIntel at a real PostgreSQL.
        settings = Settings(data_dir=Path(job["data_dir"]), database_url="", database_schema="")
        warnings = WarningTally(logging.getLevelName(job["log_level"]), ConsoleFormatter())
        root = logging.getLogger()
        root.handlers[:] = [warnings]
        root.setLevel(min(logging.WARNING, warnings.show_level))
        runtime = Runtime(settings)
    except Exception as exc:
        # A broken import or setting fails every file; say so instead of "exited with 1".
        emit({"event": "crash", "stage": "setup", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        out.close()
        return 3

    files: list[str] = job["files"]
    bar = tqdm(total=len(files), desc=job["collection"], unit="file", file=sys.stderr, disable=not job["progress"])
    last = time.monotonic()

    # Time since the previous result: the first file also pays for opening the store and
    # loading the embedding model.
    def on_result(result) -> None:
        nonlocal last
        now = time.monotonic()
        emit({"event": "result", "seconds": round(now - last, 3), **result.to_dict()})
        last = now
        bar.update(1)
        bar.set_postfix_str(f"{Path(result.path).name[:40]}: {result.status}", refresh=False)

    started = time.monotonic()
    code = 0
    try:
        runtime.ingest(files, collection=job["collection"], on_result=on_result)
    except BaseException as exc:  # anything escaping Runtime.ingest is the bug we hunt
        emit({"event": "crash", "stage": "ingest", "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        code = 3
    finally:
        bar.close()
    done: dict[str, Any] = {"event": "done", "ingest_seconds": round(time.monotonic() - started, 3), "warnings": warnings.summary()}
    try:
        # Documents actually stored can be fewer than "indexed" results: same-named files
        # in different subfolders land on one document name.
        done["stored_documents"] = len(runtime.list_documents(job["collection"]))
    except Exception as exc:
        logging.getLogger(__name__).warning("could not list documents", extra={"error": str(exc)})
    emit(done)
    out.close()
    return code


# -- parent: spawn, watch, summarise ------------------------------------------------------
def list_files(folder: Path) -> list[str]:
    """Every file under `folder`, sorted, hidden ones included: the bench tries them all."""
    found: list[str] = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        found.extend(str(Path(root) / n) for n in sorted(names))
    return found


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def run_folder(folder: Path, collection: str, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    files = list_files(folder)
    report: dict[str, Any] = {
        "folder": str(folder),
        "collection": collection,
        "files": len(files),
        "indexed": 0,
        "unchanged": 0,
        "failed": 0,
        "crashes": 0,
        "stored_documents": None,
        "seconds": 0.0,
        "ingest_seconds": None,
        "failures": [],
        "crashed_files": [],
        "crash_reason": None,
        "crash_traceback": None,
        "slowest": [],
        "warnings": [],
        "results": [],
    }
    if not files:
        return report

    results_path = scratch / f"{collection}.jsonl"
    job_path = scratch / f"{collection}.job.json"
    job_path.write_text(
        json.dumps(
            {
                "files": files,
                "collection": collection,
                "data_dir": str(args.data_dir),
                "results": str(results_path),
                "log_level": args.log_level,
                "progress": not args.no_progress,
            }
        )
    )
    results_path.touch()

    events: list[dict[str, Any]] = []
    started = time.monotonic()
    last_progress = started
    timed_out: str | None = None
    # The child's stdout goes to our stderr so --json output on stdout stays parseable.
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), WORKER_FLAG, str(job_path)], stdout=sys.stderr)
    try:
        with open(results_path, encoding="utf-8") as feed:
            pending = ""
            while True:
                exited = proc.poll() is not None
                chunk = feed.read()
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        if line.strip():
                            events.append(json.loads(line))
                            last_progress = time.monotonic()
                if exited:
                    break
                now = time.monotonic()
                if now - started > args.timeout:
                    timed_out = f"timed out after {args.timeout:.0f}s for the folder"
                elif now - last_progress > args.stall_timeout:
                    timed_out = f"hung: no file finished for {args.stall_timeout:.0f}s"
                if timed_out:
                    # SIGABRT first: faulthandler in the child prints where it is stuck.
                    proc.send_signal(signal.SIGABRT)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                    # Pick up anything written just before the kill.
                    rest = pending + feed.read()
                    for line in rest.split("\n"):
                        try:
                            events.append(json.loads(line))
                        except json.JSONDecodeError:
                            pass  # a half-written last line: that file counts as not reported
                    break
                time.sleep(POLL_S)
    except BaseException:
        # Ctrl-C or a bug here: never leave the child running.
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    report["seconds"] = round(time.monotonic() - started, 2)

    results = [e for e in events if e.get("event") == "result"]
    crash = next((e for e in events if e.get("event") == "crash"), None)
    done = next((e for e in events if e.get("event") == "done"), None)
    status = Counter(r["status"] for r in results)
    report["indexed"] = status["indexed"]
    report["unchanged"] = status["unchanged"]
    report["failed"] = status["failed"]
    if done:
        report["ingest_seconds"] = done.get("ingest_seconds")
        report["stored_documents"] = done.get("stored_documents")
        report["warnings"] = done.get("warnings", [])

    # Group failures by message: one cause usually covers many files.
    by_error: dict[str, list[str]] = {}
    for r in results:
        if r["status"] == "failed":
            by_error.setdefault(r["error"] or "(no message)", []).append(os.path.relpath(r["path"], folder))
    report["failures"] = [
        {"error": err, "count": len(paths), "files": paths}
        for err, paths in sorted(by_error.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    # Per file in --json, to spot files that "indexed" with suspiciously few chunks.
    report["results"] = [
        {"file": os.path.relpath(r["path"], folder), **{k: r[k] for k in ("status", "pages", "chunks", "seconds", "error")}}
        for r in results
    ]
    report["slowest"] = [
        {"file": os.path.relpath(r["path"], folder), "seconds": r["seconds"], "status": r["status"]}
        for r in sorted(results, key=lambda r: -r["seconds"])[:3]
    ]

    reported = {str(Path(r["path"])) for r in results}
    missing = [os.path.relpath(f, folder) for f in files if str(Path(f)) not in reported]
    reason = None
    if crash:
        where = "worker setup failed" if crash.get("stage") == "setup" else "exception escaped Runtime.ingest"
        reason = f"{where}: {crash['error']}"
        report["crash_traceback"] = crash.get("traceback")
    elif timed_out:
        reason = timed_out
    elif proc.returncode != 0:
        reason = describe_exit(proc.returncode)
    elif missing:
        reason = "child exited cleanly but did not report every file"
    if reason:
        # If the files were all reported before the crash (e.g. the final index save
        # blew up), the crash still counts once.
        report["crashed_files"] = missing or ["(after the last file)"]
        report["crashes"] = len(report["crashed_files"])
        report["crash_reason"] = reason
    return report


def unique_collections(folders: list[Path]) -> list[str]:
    """Collection = folder name; two folders with the same name get -2, -3 suffixes."""
    seen: Counter[str] = Counter()
    names = []
    for folder in folders:
        base = folder.resolve().name or "root"
        seen[base] += 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def render(reports: list[dict[str, Any]], total_s: float, data_dir: str) -> str:
    cols = ["folder", "files", "indexed", "unchanged", "failed", "crashes", "stored", "seconds"]
    rows = [
        [
            r["collection"],
            str(r["files"]),
            str(r["indexed"]),
            str(r["unchanged"]),
            str(r["failed"]),
            str(r["crashes"]),
            "-" if r["stored_documents"] is None else str(r["stored_documents"]),
            f"{r['seconds']:.1f}",
        ]
        for r in reports
    ]
    totals = ["TOTAL"] + [str(sum(r[k] for r in reports)) for k in ("files", "indexed", "unchanged", "failed", "crashes")]
    stored = [r["stored_documents"] for r in reports]
    totals += ["-" if None in stored else str(sum(stored)), f"{total_s:.1f}"]
    widths = [max(len(c), *(len(row[i]) for row in rows + [totals])) for i, c in enumerate(cols)]

    def fmt(row: list[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * w for w in widths)
    lines = [fmt(cols), rule, *(fmt(row) for row in rows), rule, fmt(totals), ""]
    lines.append("stored = documents in the collection afterwards (same-named files share one document)")
    lines.append(f"data dir: {data_dir}")
    for r in reports:
        lines += ["", f"== {r['collection']}  ({r['folder']})"]
        if r["crash_reason"]:
            lines.append(f"  CRASH: {r['crash_reason']}")
            # Files go in order, so the first one not reported is the one being ingested.
            started = not r["crash_reason"].startswith("worker setup failed")
            lines += [f"    not reported: {f}" + ("   <- in progress" if i == 0 and started else "") for i, f in enumerate(r["crashed_files"])]
            if r.get("crash_traceback"):
                lines += ["    " + t for t in r["crash_traceback"].rstrip().splitlines()[-6:]]
        if not r["failures"]:
            lines.append("  no failures")
        for f in r["failures"]:
            lines.append(f"  [{f['count']}x] {f['error']}")
            lines += [f"      {name}" for name in f["files"]]
        if r["warnings"]:
            lines.append(f"  log warnings (counted, not failures): {sum(w['count'] for w in r['warnings'])}")
        for w in r["warnings"][:5]:
            lines.append(f"    [{w['count']}x] {w['sample'][:160]}")
        if len(r["warnings"]) > 5:
            lines.append(f"    ... {len(r['warnings']) - 5} more kinds (see --json)")
        if r["slowest"]:
            lines.append("  slowest: " + ", ".join(f"{s['file']} {s['seconds']:.1f}s" for s in r["slowest"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [WORKER_FLAG]:
        return run_worker(argv[1])

    parser = argparse.ArgumentParser(description="Ingest every file of each folder; report failures and crashes.")
    parser.add_argument("folders", nargs="+", type=Path, help="Data folders; each becomes a collection named after it.")
    parser.add_argument("--data-dir", type=Path, help="DocIntel data dir (default: a fresh temporary one, removed afterwards).")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    parser.add_argument("--timeout", type=float, default=3600, help="Seconds allowed per folder (default 3600).")
    parser.add_argument("--stall-timeout", type=float, default=900, help="Seconds without a finished file before the folder counts as hung (default 900).")
    parser.add_argument("--log-level", default="ERROR", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], help="Worker log lines at this level or above go to stderr (default ERROR); warnings are always counted in the report.")
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
    args = parser.parse_args(argv)

    for folder in args.folders:
        if not folder.is_dir():
            parser.error(f"not a folder: {folder}")

    own_data_dir = args.data_dir is None
    args.data_dir = Path(tempfile.mkdtemp(prefix="docintel-robustness-")) if own_data_dir else args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="docintel-robustness-jobs-"))
    started = time.monotonic()
    try:
        reports = [
            run_folder(folder, name, args, scratch)
            for folder, name in zip(args.folders, unique_collections(args.folders))
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if own_data_dir:
            shutil.rmtree(args.data_dir, ignore_errors=True)
    total_s = round(time.monotonic() - started, 2)
    crashed = any(r["crash_reason"] for r in reports)
    shown_dir = f"{args.data_dir} (removed)" if own_data_dir else str(args.data_dir)

    if args.json:
        print(json.dumps({"data_dir": shown_dir, "total_seconds": total_s, "crashed": crashed, "folders": reports}, ensure_ascii=False, indent=2))
    else:
        print(render(reports, total_s, shown_dir))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
