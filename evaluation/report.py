"""Standalone HTML reports for evaluation runs and run comparisons (no external assets):
the pages are assembled here from the run or comparison dicts, rendered with the Jinja
templates in evaluation/templates/, with numbers formatted by evaluation.report_format and
plots drawn by evaluation.report_charts (which imports matplotlib only when it draws)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from core.fileio import atomic_write_bytes
from evaluation.report_charts import chart_entries, delta_plot
from evaluation.report_format import (
    clip_error, flatten, fmt_delta, fmt_num, fmt_score, fmt_seconds, fmt_time, fmt_value, in_sample, is_num,
    lower_is_better, output_json, redact, short, verdict,
)

MAX_ITEMS = 50  # failed / worst / changed items listed; keeps the file small

__all__ = ["MAX_ITEMS", "fmt_delta", "fmt_num", "lower_is_better", "render_compare_report", "render_run_report",
           "write_compare_report", "write_run_report"]


def _env() -> Environment:
    env = Environment(loader=PackageLoader("evaluation", "templates"), autoescape=select_autoescape(default=True))
    env.globals.update(num=fmt_num, score=fmt_score, delta=fmt_delta, secs=fmt_seconds, short=short, fmt_time=fmt_time)
    return env


def _generated() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- run report

def _run_warnings(run: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    status = run.get("status") or "unknown"
    done, total = run.get("items_done") or 0, run.get("item_count") or 0
    if status == "running":
        out.append({"bad": False, "text": f"This run is still running ({done} of {total} items done): the numbers will change."})
    elif status == "interrupted":
        out.append({"bad": False, "text": f"This run was interrupted after {done} of {total} items: the metrics cover only "
                                          "the finished items. Resume it to complete the run."})
    elif status == "failed":
        out.append({"bad": True, "text": "This run failed" + (f": {clip_error(str(run['error']))}" if run.get("error") else ".")})
    elif status != "completed":
        out.append({"bad": False, "text": f"Run status: {status}."})
    if run.get("error") and status in ("completed", "running"):
        out.append({"bad": False, "text": f"Note from the runner: {run['error']}"})
    if run.get("items_failed"):
        n = run["items_failed"]
        out.append({"bad": True, "text": f"{n} item{'s' if n != 1 else ''} failed and {'are' if n != 1 else 'is'} "
                                         "left out of the metrics (errors listed under Items)."})
    if in_sample(run):
        out.append({"bad": True, "text": "In-sample scores: the model was fitted on these items, so the metrics "
                                         "overstate how it does on unseen documents."})
    if (run.get("config") or {}).get("git", {}).get("dirty"):
        out.append({"bad": False, "text": "The code had uncommitted changes: this run cannot be reproduced from the git commit alone."})
    return out


def _run_context(run: dict[str, Any], items: list[dict[str, Any]], max_items: int) -> dict[str, Any]:
    config = run.get("config") or {}
    metrics = run.get("metrics") or {}
    headline = run.get("headline")
    notes = []
    if run.get("limit"):
        notes.append(f"Sampled run: {run['limit']} items drawn with seed {run.get('seed')} "
                     "(compare runs only with the same limit and seed).")

    tables = []
    for title, rows in (run.get("tables") or {}).items():
        cols: list[str] = []
        for cells in (rows or {}).values():
            cols += [c for c in (cells or {}) if c not in cols]
        tables.append((title, {"cols": cols, "rows": [(r, cells or {}) for r, cells in (rows or {}).items()]}))

    failed_all = [it for it in items if it.get("error")]
    failed = [{"item_id": it.get("item_id"), "error": clip_error(str(it["error"]))} for it in failed_all[:max_items]]
    scored = [it for it in items if not it.get("error") and is_num((it.get("scores") or {}).get(headline))]
    lower = lower_is_better(headline or "")
    scored.sort(key=lambda it: it["scores"][headline], reverse=lower)
    worst = [{"item_id": it.get("item_id"), "scores": it.get("scores") or {}, "seconds": it.get("seconds"),
              "output": output_json(it["output"]) if it.get("output") else ""} for it in scored[:max_items]]
    score_cols = [headline] if headline else []
    for it in worst:
        score_cols += [k for k in it["scores"] if k not in score_cols]
    score_cols = score_cols[:6]  # wider tables squeeze the item column and stop being readable

    model_rows = [(name, {"path": redact("path", (m or {}).get("path")) or (m or {}).get("name") or "–", "sha256": (m or {}).get("sha256")})
                  for name, m in (config.get("models") or {}).items()]
    env_rows = [(k, fmt_value(k, v)) for k, v in flatten({"versions": config.get("versions"), "machine": config.get("machine")}).items()]
    return dict(
        run=run, warnings=_run_warnings(run), notes=notes,
        headline_value=metrics.get(headline) if headline else None,
        metrics=list(metrics.items()), durations=run.get("durations") or {},
        charts=chart_entries(run.get("charts") or []), tables=tables,
        overrides=[(k, fmt_value(k, v)) for k, v in (run.get("overrides") or {}).items()],
        options=[(k, fmt_value(k, v)) for k, v in (run.get("options") or {}).items()],
        git=config.get("git") or {}, models=model_rows, env=env_rows,
        settings=[(k, fmt_value(k, v)) for k, v in flatten(config.get("settings")).items()],
        failed=failed, n_failed=len(failed_all), worst=worst, n_scored=len(scored), score_cols=score_cols,
        lower_better=lower, generated=_generated(),
    )


def render_run_report(run: dict[str, Any], items: list[dict[str, Any]], max_items: int = MAX_ITEMS) -> str:
    """The HTML report of one run (a run-store dict and its item results)."""
    return _env().get_template("run.html.j2").render(**_run_context(run, items, max_items))


def write_run_report(run: dict[str, Any], items: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, render_run_report(run, items).encode("utf-8"))
    return path


# ---------------------------------------------------------------- comparison report

def _compare_context(cmp: dict[str, Any], max_items: int) -> dict[str, Any]:
    a, b = cmp.get("a") or {}, cmp.get("b") or {}
    headline = cmp.get("headline") or a.get("headline")
    rows = [{"a": None, "b": None, "delta": None, "ci_low": None, "ci_high": None, **r, "verdict": verdict(r)}
            for r in cmp.get("metrics") or []]
    rows.sort(key=lambda r: r.get("metric") != headline)  # headline first, suite order after
    head = next((r for r in rows if r.get("metric") == headline), None)

    warnings = []
    for tag, run in (("A", a), ("B", b)):
        if run.get("status") and run.get("status") != "completed":
            warnings.append({"bad": run.get("status") == "failed",
                             "text": f"Run {tag} ({run.get('id')}) is {run.get('status')}: it covers "
                                     f"{run.get('items_done', '?')} of {run.get('item_count', '?')} items."})
        if in_sample(run):
            warnings.append({"bad": True, "text": f"Run {tag} reports in-sample scores."})
    same_data = cmp.get("same_data")
    if same_data is None and a.get("data_fingerprint") and b.get("data_fingerprint"):
        same_data = a["data_fingerprint"] == b["data_fingerprint"]
    if same_data is False:
        warnings.append({"bad": True, "text": "The runs used different data (fingerprints differ): item ids may not "
                                              "mean the same thing in both."})
    only_a, only_b = cmp.get("only_in_a") or 0, cmp.get("only_in_b") or 0
    if only_a or only_b:
        warnings.append({"bad": False, "text": f"Not compared: {only_a} item(s) scored only in A and {only_b} only in B "
                                               "(failed, sampled differently or not reached)."})

    def side(run: dict[str, Any]) -> dict[str, str]:
        cfg = run.get("config") or {}
        git = cfg.get("git") or {}
        d = run.get("durations") or {}
        return {
            "status": str(run.get("status") or "–"),
            "created": fmt_time(run.get("created_at")),
            "git commit": short(git.get("commit")) + (" (dirty)" if git.get("dirty") else ""),
            "data fingerprint": short(run.get("data_fingerprint"), 16),
            "limit / seed": f"{run.get('limit') if run.get('limit') is not None else 'all'} / {run.get('seed', '–')}",
            "items done / failed": f"{fmt_num(run.get('items_done'))} / {fmt_num(run.get('items_failed') or 0)}",
            "overrides": ", ".join(f"{k}={fmt_value(k, v)}" for k, v in (run.get("overrides") or {}).items()) or "–",
            **{f"model {n}": short((m or {}).get("sha256")) for n, m in (cfg.get("models") or {}).items()},
            "total time": fmt_seconds(d.get("total_s")),
        }

    sa, sb = side(a), side(b)
    keys = ["run id"] + list(dict.fromkeys([*sa, *sb]))
    sa["run id"], sb["run id"] = str(a.get("id")), str(b.get("id"))
    side_rows = [(k, sa.get(k, "–"), sb.get(k, "–")) for k in keys]

    changed = []
    for c in (cmp.get("changed_items") or [])[:max_items]:
        sa_, sb_ = c.get("scores_a") or {}, c.get("scores_b") or {}
        names = list(c.get("changed") or [])
        names.sort(key=lambda n: n != headline)
        changes = []
        for n in names:
            x, y = sa_.get(n), sb_.get(n)
            cls = ""
            if is_num(x) and is_num(y) and x != y:
                cls = "better" if (y > x) != lower_is_better(n) else "worse"
            changes.append({"name": n, "a": x, "b": y, "cls": cls})
        changed.append({"item_id": c.get("item_id"), "changes": changes})
    changed_count = cmp.get("changed_count", len(cmp.get("changed_items") or []))
    n_shared = cmp.get("n_shared") or max((r.get("n_items") or 0 for r in rows), default=0)
    return dict(
        a=a, b=b, suite=cmp.get("suite") or a.get("suite") or "", headline=headline, head=head, rows=rows,
        warnings=warnings, plot=delta_plot(rows, headline), n_shared=n_shared,
        diff=[(k, fmt_value(k, (v or [None, None])[0]), fmt_value(k, (v or [None, None])[1]))
              for k, v in (cmp.get("settings_diff") or {}).items()],
        side=side_rows, changed=changed, changed_count=changed_count, bootstrap=cmp.get("bootstrap"),
        generated=_generated(),
    )


def render_compare_report(comparison: dict[str, Any], max_items: int = MAX_ITEMS) -> str:
    """The HTML report of a comparison (evaluation.compare.compare_runs' dict)."""
    return _env().get_template("compare.html.j2").render(**_compare_context(comparison, max_items))


def write_compare_report(comparison: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, render_compare_report(comparison).encode("utf-8"))
    return path
