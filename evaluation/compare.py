"""Compare two stored runs of one suite: metric deltas with paired bootstrap confidence
intervals over the items both runs scored, the items whose scores changed, and the
configuration that differs."""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from evaluation.runner import EvaluationError
from evaluation.suites import get_suite
from evaluation.suites.base import ItemResult


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def settings_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list]:
    """Configuration keys (settings, models, git commit, options) whose values differ."""
    def view(run: dict[str, Any]) -> dict[str, Any]:
        cfg = run.get("config") or {}
        return {**_flatten({"settings": cfg.get("settings"), "models": cfg.get("models"), "git": cfg.get("git")}),
                **_flatten({"options": run.get("options") or {}, "limit": run.get("limit"), "seed": run.get("seed")})}

    va, vb = view(a), view(b)
    return {k: [va.get(k), vb.get(k)] for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)}


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}


_TIMING = re.compile(r"latency|seconds|(^|_)(ms|s)$")


def _changed(sa: dict[str, Any], sb: dict[str, Any], tol: float = 1e-9) -> list[str]:
    """Quality scores that differ; timings always differ a little and are left out."""
    out = []
    for k in sorted(set(sa) | set(sb)):
        if _TIMING.search(k):
            continue
        x, y = sa.get(k), sb.get(k)
        if x is None or y is None:
            if (x is None) != (y is None):
                out.append(k)
        elif abs(float(x) - float(y)) > tol:
            out.append(k)
    return out


def compare_runs(
    run_a: dict[str, Any],
    items_a: list[dict[str, Any]],
    run_b: dict[str, Any],
    items_b: list[dict[str, Any]],
    n_boot: int = 1000,
    seed: int = 0,
    max_changed: int = 200,
) -> dict[str, Any]:
    """Deltas b - a on the items both runs finished without error.

    The CI is the 2.5-97.5 percentile range of the delta over `n_boot` paired resamples of
    those items (the same resampled items in both runs), recomputed with the suite's own
    aggregate, so pooled metrics such as CUAD's AUPR are handled like means."""
    if run_a["suite"] != run_b["suite"]:
        raise EvaluationError(f"cannot compare a {run_a['suite']} run with a {run_b['suite']} run")
    suite = get_suite(run_a["suite"])
    ok_a = {d["item_id"]: ItemResult.from_dict(d) for d in items_a if not d.get("error")}
    ok_b = {d["item_id"]: ItemResult.from_dict(d) for d in items_b if not d.get("error")}
    shared = [i for i in ok_a if i in ok_b]
    if not shared:
        raise EvaluationError("the two runs have no successfully scored item in common")
    ra, rb = [ok_a[i] for i in shared], [ok_b[i] for i in shared]
    point_a, point_b = _numeric(suite.aggregate(ra).metrics), _numeric(suite.aggregate(rb).metrics)
    names = [m for m in point_a if m in point_b]

    rng = np.random.default_rng(seed)
    n = len(shared)
    deltas: dict[str, list[float]] = {m: [] for m in names}
    for _ in range(n_boot if n > 1 else 0):
        idx = rng.integers(0, n, n)
        ma = _numeric(suite.aggregate([ra[i] for i in idx]).metrics)
        mb = _numeric(suite.aggregate([rb[i] for i in idx]).metrics)
        for m in names:
            if m in ma and m in mb:
                deltas[m].append(mb[m] - ma[m])

    rows = []
    for m in names:
        lo = hi = None
        if len(deltas[m]) >= max(20, n_boot // 2):
            lo, hi = (float(x) for x in np.percentile(deltas[m], [2.5, 97.5]))
        rows.append({"metric": m, "a": point_a[m], "b": point_b[m], "delta": point_b[m] - point_a[m],
                     "ci_low": lo, "ci_high": hi, "n_items": n,
                     "significant": lo is not None and (lo > 0 or hi < 0)})

    headline = run_a.get("headline") or suite.headline
    changed = []
    for i in shared:
        keys = _changed(ok_a[i].scores, ok_b[i].scores)
        if keys:
            changed.append({"item_id": i, "scores_a": ok_a[i].scores, "scores_b": ok_b[i].scores, "changed": keys})

    def impact(c: dict[str, Any]) -> float:
        x, y = c["scores_a"].get(headline), c["scores_b"].get(headline)
        return abs(float(y) - float(x)) if x is not None and y is not None else 0.0

    changed.sort(key=impact, reverse=True)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("charts", "tables", "item_ids")}  # noqa: E731
    return {
        "a": strip(run_a), "b": strip(run_b), "suite": suite.name, "headline": headline, "metrics": rows,
        "n_shared": n, "changed_count": len(changed), "changed_items": changed[:max_changed],
        "only_in_a": len(set(ok_a) - set(ok_b)), "only_in_b": len(set(ok_b) - set(ok_a)),
        "same_data": run_a["data_fingerprint"] == run_b["data_fingerprint"],
        "settings_diff": settings_diff(run_a, run_b), "bootstrap": {"resamples": n_boot, "seed": seed},
    }
