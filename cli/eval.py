"""`docintel eval run|list|show|compare|report`: benchmark runs, stored and compared."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from cli.output import JsonOpt, fail, get_settings
from core.errors import DocIntelError
from core.logging import configure_logging

eval_app = typer.Typer(help="Run evaluation suites, keep every run, compare runs.", no_args_is_help=True)


def _settings():
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def _run_store(settings):
    from core.store import Store
    from evaluation.runs import RunStore

    return RunStore(Store.from_settings(settings))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _summary_line(r: dict[str, Any]) -> str:
    head = r.get("headline")
    value = (r.get("metrics") or {}).get(head) if head else None
    items = f"{r['items_done']}/{r['item_count']}" + (f" ({r['items_failed']} failed)" if r.get("items_failed") else "")
    return f"{r['id']:40} {r['status']:11} {items:>14}  {head or '':18} {_fmt(value)}"


@eval_app.command("run")
def eval_run(
    suite: Optional[str] = typer.Option(None, "--suite", "-s", help="beir | squad | emanual | cuad | contractnli | jsonl"),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="The data set's file or folder."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Score this many items, drawn with --seed."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --limit sample."),
    option: list[str] = typer.Option([], "--option", "-o", help="Suite option KEY=VALUE (repeatable)."),
    set_: list[str] = typer.Option([], "--set", help="Setting override KEY=VALUE for this run, e.g. search_mode=bm25."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue an interrupted run (its id)."),
    fail_under: list[str] = typer.Option([], "--fail-under", help="METRIC=VALUE: exit 3 if the metric is lower (repeatable)."),
    as_json: bool = JsonOpt,
) -> None:
    """Run a suite through the product, store every item and the metrics, write an HTML report."""
    from evaluation.runner import RunRequest, check_gates, parse_pairs, run_evaluation

    settings = _settings()
    try:
        gates = parse_pairs(fail_under, "--fail-under")
        if resume is None and (suite is None or data is None):
            raise DocIntelError("eval run needs --suite and --data (or --resume RUN_ID)")
        request = RunRequest(suite or "", data or Path("."), limit, seed, parse_pairs(option, "--option"),
                             parse_pairs(set_, "--set"), resume)
        run = run_evaluation(settings, request)
    except (DocIntelError, ValueError) as exc:
        fail(exc, as_json, 2)
    failures = check_gates(run.get("metrics") or {}, gates)
    if as_json:
        typer.echo(json.dumps({**run, "gate_failures": failures}, indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(_summary_line(run))
        for k, v in (run.get("metrics") or {}).items():
            typer.echo(f"  {k:32} {_fmt(v)}")
        if run.get("error"):
            typer.echo(f"  note: {run['error']}")
        if run.get("report_path"):
            typer.echo(f"report: {run['report_path']}")
        for f in failures:
            typer.echo(f"FAIL: {f}", err=True)
    if run["status"] == "failed":
        raise typer.Exit(1)
    if run["status"] == "interrupted":
        raise typer.Exit(130)
    if failures:
        raise typer.Exit(3)


@eval_app.command("list")
def eval_list(
    suite: Optional[str] = typer.Option(None, "--suite", "-s", help="Only this suite."),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = JsonOpt,
) -> None:
    """Stored runs, newest first."""
    rows = _run_store(_settings()).list(suite, limit)
    if as_json:
        typer.echo(json.dumps({"runs": rows}, indent=2, default=str))
    else:
        typer.echo("\n".join(_summary_line(r) for r in rows) or "no evaluation runs yet")


@eval_app.command("show")
def eval_show(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    items: bool = typer.Option(False, "--items", help="Include every item's result."),
    as_json: bool = JsonOpt,
) -> None:
    """One run: configuration, metrics, report path (and items with --items)."""
    store = _run_store(_settings())
    try:
        run = store.get(run_id)
    except DocIntelError as exc:
        fail(exc, as_json)
    if items:
        run["items"] = store.items(run["id"])
    if as_json:
        typer.echo(json.dumps(run, indent=2, ensure_ascii=False, default=str))
        return
    cfg = run.get("config") or {}
    lines = [_summary_line(run), f"  data        {run['data_path']} (sha256 {run['data_fingerprint'][:12]})",
             f"  sample      limit={run['limit']} seed={run['seed']}  options={run['options']}  overrides={run['overrides']}",
             f"  git         {(cfg.get('git') or {}).get('commit')}{' (dirty)' if (cfg.get('git') or {}).get('dirty') else ''}",
             f"  started     {run['created_at']}  finished {run['finished_at']}  durations {run['durations']}"]
    if run.get("error"):
        lines.append(f"  note        {run['error']}")
    lines += [f"  {k:32} {_fmt(v)}" for k, v in (run.get("metrics") or {}).items()]
    if run.get("report_path"):
        lines.append(f"report: {run['report_path']}")
    for it in run.get("items", []):
        lines.append(f"  {it['item_id'][:60]:60} {it['error'] or json.dumps(it['scores'])}")
    typer.echo("\n".join(lines))


@eval_app.command("compare")
def eval_compare(
    run_a: str = typer.Argument(..., help="Baseline run id."),
    run_b: str = typer.Argument(..., help="Candidate run id."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write a comparison report here."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Paired bootstrap resamples for the CIs."),
    as_json: bool = JsonOpt,
) -> None:
    """Per-metric deltas (b - a) with 95 % bootstrap CIs, and the items that changed."""
    from evaluation.compare import compare_runs

    store = _run_store(_settings())
    try:
        a, b = store.get(run_a), store.get(run_b)
        cmp = compare_runs(a, store.items(a["id"]), b, store.items(b["id"]), n_boot=bootstrap)
    except DocIntelError as exc:
        fail(exc, as_json)
    if html:
        from evaluation.report import write_compare_report

        cmp["report_path"] = str(write_compare_report(cmp, html))
    if as_json:
        typer.echo(json.dumps(cmp, indent=2, ensure_ascii=False, default=str))
        return
    lines = [f"{cmp['suite']}: {a['id']} -> {b['id']}  ({cmp['n_shared']} shared items, {cmp['changed_count']} changed)"]
    if not cmp["same_data"]:
        lines.append("  warning: the runs used different data (fingerprints differ); only shared item ids are compared")
    for k, (va, vb) in list(cmp["settings_diff"].items())[:20]:
        lines.append(f"  config {k}: {va} -> {vb}")
    for m in cmp["metrics"]:
        ci = f"[{m['ci_low']:+.4f}, {m['ci_high']:+.4f}]" if m["ci_low"] is not None else "[-]"
        mark = " *" if m["significant"] else ""
        lines.append(f"  {m['metric']:32} {m['a']:.4f} -> {m['b']:.4f}  {m['delta']:+.4f} {ci}{mark}")
    lines.append("  (* the 95 % interval excludes 0)")
    for c in cmp["changed_items"][:10]:
        h = cmp["headline"]
        lines.append(f"  changed {c['item_id'][:60]}: {h} {_fmt(c['scores_a'].get(h))} -> {_fmt(c['scores_b'].get(h))}")
    if html:
        lines.append(f"report: {cmp['report_path']}")
    typer.echo("\n".join(lines))


@eval_app.command("report")
def eval_report(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the HTML (default: the run's report path)."),
    as_json: bool = JsonOpt,
) -> None:
    """(Re)write a run's HTML report."""
    from evaluation.report import write_run_report
    from evaluation.runner import reports_dir

    settings = _settings()
    store = _run_store(settings)
    try:
        run = store.get(run_id)
    except DocIntelError as exc:
        fail(exc, as_json)
    path = write_run_report(run, store.items(run["id"]), out or reports_dir(settings) / f"{run['id']}.html")
    if out is None:
        store.update(run["id"], report_path=str(path))
    typer.echo(json.dumps({"report_path": str(path)}) if as_json else f"report: {path}")


@eval_app.command("delete")
def eval_delete(run_id: str = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """Delete a stored run and its items (the report file stays)."""
    store = _run_store(_settings())
    try:
        full = store.resolve(run_id)
        store.delete(full)
    except DocIntelError as exc:
        fail(exc, as_json)
    typer.echo(json.dumps({"deleted": full}) if as_json else f"deleted run {full}")
