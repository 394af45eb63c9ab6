"""Standalone HTML reports for evaluation runs and run comparisons (no external assets).

Plots are drawn with matplotlib's Agg canvas and embedded as base64 PNG data URIs, so a
report is one file that can be mailed or archived. matplotlib is imported inside the
drawing functions: the CLI imports this module and should start fast.
"""
from __future__ import annotations

import base64
import io
import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from core.fileio import atomic_write_bytes

MAX_ITEMS = 50  # failed / worst / changed items listed; keeps the file small
MAX_OUTPUT_CHARS = 3000
MAX_ERROR_CHARS = 2000
DPI = 120  # an 8-inch figure fills the 1000 px page column

# Metric-name words meaning "lower is better" (latency, error rates...): used to call a
# significant delta better or worse, and to pick the worst items. A heuristic: the Suite
# seam carries no direction.
LOWER_IS_BETTER_WORDS = {
    "latency", "seconds", "sec", "s", "ms", "time", "error", "errors", "loss", "ece", "brier",
    "wer", "cer", "failed", "failures", "hallucination", "hallucinated", "unsupported",
}
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api_?key|credential", re.I)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_FALSEY = {"", "0", "false", "no", "off", "none"}


# ---------------------------------------------------------------- formatting helpers

def fmt_num(v: Any, digits: int = 4) -> str:
    """A number for a reader: `digits` significant digits, None as an en dash."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 10 ** digits:
            return f"{v:,.0f}"
        if a < 1e-4:
            return f"{v:.2e}"
        return f"{v:.{digits}g}"
    return str(v)


def fmt_score(v: Any) -> str:
    """Per-item scores: fixed 3 decimals for [0, 1] scores so a column lines up."""
    if isinstance(v, float) and math.isfinite(v) and abs(v) <= 1:
        return f"{v:.3f}"
    return fmt_num(v, 3)


def fmt_delta(v: Any) -> str:
    s = fmt_num(v)
    return "+" + s if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else s.replace("-", "−", 1)


def fmt_seconds(v: Any) -> str:
    if v is None:
        return "–"
    s = float(v)
    if s < 60:
        return f"{s:.3g} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(round(s % 60))} s"
    return f"{int(s // 3600)} h {int(round(s % 3600 / 60)):02d} min"


def fmt_time(v: Any) -> str:
    if not v:
        return "–"
    try:
        dt = datetime.fromisoformat(str(v))
    except ValueError:
        return str(v)
    return dt.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if dt.utcoffset() is not None and not dt.utcoffset() else "")


def short(v: Any, n: int = 12) -> str:
    return str(v)[:n] if v else "–"


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def lower_is_better(metric: str) -> bool:
    return bool(set(re.split(r"[^a-z0-9]+", metric.lower())) & LOWER_IS_BETTER_WORDS)


def _redact(key: str, value: Any) -> Any:
    """Reports get forwarded: never print a password or token from the captured settings."""
    if value in (None, "", False):
        return value
    if _SECRET_KEY.search(key):
        return "••••••"
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1••••••@", value)
    return value


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def fmt_value(key: str, v: Any) -> str:
    """A configuration value: numbers formatted, containers as compact JSON, secrets hidden."""
    v = _redact(key, v)
    if v is None:
        return "–"
    if _is_num(v) or isinstance(v, bool):
        return fmt_num(v) if isinstance(v, float) else str(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() not in _FALSEY
    return bool(v)


def in_sample(run: dict[str, Any]) -> bool:
    """Scores measured on data the model was fitted on (flagged by the suite or an option)."""
    for src in (run.get("metrics") or {}, run.get("options") or {}):
        if any("in_sample" in str(k).lower() and _truthy(v) for k, v in src.items()):
            return True
    return False


def _clip_error(text: str) -> str:
    # the head names the exception, the tail is where a traceback says what failed
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[:300] + "\n…\n" + text[-(MAX_ERROR_CHARS - 300):]


def _pretty(o: Any, ind: int = 0) -> str:
    """JSON with short containers kept on one line (indent=1 spends a line per list entry)."""
    flat = json.dumps(o, ensure_ascii=False, default=str)
    if len(flat) <= 72 - ind or not isinstance(o, (dict, list)) or not o:
        return flat
    if isinstance(o, list) and not any(isinstance(v, (dict, list)) for v in o):
        return flat  # a list of scalars reads fine wrapped (the <pre> wraps)
    pad = " " * (ind + 2)
    if isinstance(o, dict):
        body = ",\n".join(f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_pretty(v, ind + 2)}" for k, v in o.items())
        return "{\n" + body + "\n" + " " * ind + "}"
    return "[\n" + ",\n".join(pad + _pretty(v, ind + 2) for v in o) + "\n" + " " * ind + "]"


def _output_json(output: Any) -> str:
    text = _pretty(output)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n… (truncated)"


# ---------------------------------------------------------------- plots

_PALETTE = ["#2f6fdb", "#e07b28", "#2a9d6f", "#c8423b", "#8a5cc2", "#8c6d4f", "#d46fb0", "#6b7280",
            "#b5a21f", "#1fa5b5"]


def _rc() -> dict[str, Any]:
    from cycler import cycler

    return {
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
        "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "axes.edgecolor": "#8a90a0",
        "axes.prop_cycle": cycler(color=_PALETTE), "figure.facecolor": "white", "axes.axisbelow": True,
    }


def _png(fig: Any) -> str:
    from PIL import Image  # a matplotlib dependency

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.12)
    # a 256-colour palette looks the same for flat plot colours and makes the PNG ~3x smaller
    buf.seek(0)
    small = io.BytesIO()
    Image.open(buf).convert("RGB").quantize(colors=256).save(small, format="PNG", optimize=True)
    data = small.getvalue() if small.tell() < buf.getbuffer().nbytes else buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _floats(values: Any) -> list[float]:
    return [float(v) if _is_num(v) else math.nan for v in values or []]


def _label(text: Any, n: int = 42) -> str:
    s = str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def _legend(ax: Any, n_series: int, above: bool = False) -> None:
    if n_series <= 1:
        return
    if above and n_series <= 6:  # a row above the axes never hides a bar
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=n_series, borderaxespad=0.2)
    elif n_series <= 6:
        ax.legend(frameon=False)
    else:  # many series would cover the data: put the legend beside the plot
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
                  ncol=1 if n_series <= 22 else 2)


def _draw_line(fig: Any, chart: dict[str, Any]) -> None:
    ax = fig.add_subplot()
    series = chart.get("series") or {}
    if len(series) > len(_PALETTE):
        import matplotlib

        ax.set_prop_cycle(color=[matplotlib.colormaps["tab20"](i % 20) for i in range(len(series))])
    for name, s in series.items():
        pairs = [(x, y) for x, y in zip(s.get("x") or [], _floats(s.get("y"))) if x is not None]
        if not pairs:
            continue
        xs, ys = zip(*pairs)
        ax.plot(xs, ys, lw=1.6, label=_label(name), marker="o" if len(xs) <= 20 else None, ms=3.5)
    _legend(ax, len(series))
    xs_all = [x for s in series.values() for x in (s.get("x") or [])]
    if len(xs_all) >= 4 and all(_is_num(x) and x > 0 for x in xs_all) and max(xs_all) / min(xs_all) >= 50:
        # k = 1..100 style axes: on a linear axis the small k, where curves differ, is squashed
        from matplotlib.ticker import NullLocator

        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ticks = sorted(set(xs_all))
        if len(ticks) > 12:
            ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if ticks[0] <= t <= ticks[-1]]
        ax.set_xticks(ticks, [fmt_num(t) for t in ticks])
    ys_all = [y for s in series.values() for y in _floats(s.get("y")) if not math.isnan(y)]
    if ys_all and all(0.0 <= y <= 1.0 for y in ys_all):
        ax.set_ylim(0.0, 1.02)  # rates and scores: a flat line at 1.0 must not look like a wild swing
    ax.set_xlabel(chart.get("x_label") or "")
    ax.set_ylabel(chart.get("y_label") or "")


def _draw_bar(fig: Any, chart: dict[str, Any]) -> None:
    import numpy as np

    series = chart.get("series") or {}
    cats: list[str] = []
    values: dict[str, dict[str, float]] = {}
    for name, s in series.items():
        values[name] = {}
        for x, y in zip(s.get("x") or [], _floats(s.get("y"))):
            c = str(x)
            if c not in values[name]:
                values[name][c] = y
            if c not in cats:
                cats.append(c)
    n_s, n_c = max(1, len(series)), len(cats)
    longest = max((len(c) for c in cats), default=0)
    # vertical labels fit ~90 characters across the plot; past that read them sideways
    horizontal = n_c > 12 or sum(min(len(c), 42) for c in cats) > 90 or (n_c > 6 and longest > 16)
    width = 0.8 / n_s
    offsets = (np.arange(n_s) - (n_s - 1) / 2) * width
    pos = np.arange(n_c)
    if horizontal:
        fig.set_size_inches(8, min(30.0, max(2.6, 0.6 + n_c * (0.12 + 0.15 * n_s))))
    ax = fig.add_subplot()
    # value labels fit at the end of horizontal bars; under vertical ones they collide sooner
    show_values = n_c * n_s <= (80 if horizontal else 40)
    for off, (name, vals) in zip(offsets, values.items()):
        ys = [vals.get(c, math.nan) for c in cats]
        bars = (ax.barh(pos + off, ys, height=width * 0.92, label=_label(name)) if horizontal
                else ax.bar(pos + off, ys, width=width * 0.92, label=_label(name)))
        if show_values:
            ax.bar_label(bars, labels=["" if math.isnan(y) else f"{y:.2f}" if abs(y) < 1 else fmt_num(y, 3) for y in ys],
                         padding=2, fontsize=7, color="#3a4150")
    labels = [_label(c) for c in cats]
    if horizontal:
        ax.set_yticks(pos, labels)
        ax.invert_yaxis()  # first category on top, as in a table
        ax.set_ylim(n_c - 0.5, -0.5)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(chart.get("y_label") or "")  # no category-axis title: the labels say it
        if show_values:
            ax.margins(x=0.08)
    else:
        ax.set_xticks(pos, labels)
        if longest > 10 or n_c > 8:
            for t in ax.get_xticklabels():
                t.set_rotation(30)
                t.set_ha("right")
        ax.grid(axis="x", visible=False)
        ax.set_xlabel(chart.get("x_label") or "")
        ax.set_ylabel(chart.get("y_label") or "")
        if show_values:
            ax.margins(y=0.1)
    _legend(ax, len(series), above=True)


def _draw_hist(fig: Any, chart: dict[str, Any]) -> None:
    import numpy as np

    ax = fig.add_subplot()
    data = {name: [v for v in _floats((s or {}).get("x")) if math.isfinite(v)]
            for name, s in (chart.get("series") or {}).items()}
    data = {k: v for k, v in data.items() if v}
    allv = [v for vs in data.values() for v in vs]
    if not allv:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="#8a90a0")
        return
    # shared bins as fine as the narrowest series needs: a fast stage next to a slow one
    # must not collapse into a single bar
    widths = [float(np.diff(np.histogram_bin_edges(vs, bins="auto")[:2])[0]) for vs in data.values()]
    lo, hi = min(allv), max(allv)
    n_bins = int(min(60, max(1, math.ceil((hi - lo) / min(widths))))) if hi > lo else 1
    bins = np.linspace(lo, hi, n_bins + 1) if hi > lo else np.histogram_bin_edges(allv, bins=1)
    multi = len(data) > 1
    for i, (name, vs) in enumerate(data.items()):
        color = _PALETTE[i % len(_PALETTE)]
        med = float(np.median(vs))
        ax.hist(vs, bins=bins, alpha=0.55 if multi else 0.85, color=color, edgecolor="white", linewidth=0.5,
                label=f"{_label(name, 30)} (n={len(vs)}, median {fmt_num(med, 3)})")
        ax.axvline(med, color="#1d2330" if not multi else color, ls="--", lw=1.2)
    ax.legend(frameon=False)
    ax.set_xlabel(chart.get("x_label") or "")
    ax.set_ylabel(chart.get("y_label") or "")


_DRAW = {"line": _draw_line, "bar": _draw_bar, "hist": _draw_hist}


def chart_image(chart: dict[str, Any]) -> str:
    """One Chart.to_dict() as a PNG data URI."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend switch

    kind = chart.get("kind")
    if kind not in _DRAW:
        raise ValueError(f"unknown chart kind {kind!r}")
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(8, 3.6))
        _DRAW[kind](fig, chart)
        return _png(fig)


def _has_data(chart: dict[str, Any]) -> bool:
    return any((s or {}).get("x") for s in (chart.get("series") or {}).values())


def _chart_entries(charts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in charts or []:
        entry = {"title": c.get("title") or c.get("kind") or "chart", "src": None, "error": None}
        if c.get("kind") in _DRAW and not _has_data(c):
            entry["error"] = "no data"
            out.append(entry)
            continue
        try:
            entry["src"] = chart_image(c)
        except Exception as exc:  # one bad chart must not cost the whole report
            entry["error"] = f"{type(exc).__name__}: {exc}"
        out.append(entry)
    return out


def delta_plot(rows: list[dict[str, Any]], headline: str | None = None) -> str | None:
    """Dot-and-whisker plot of metric deltas (B − A) with their 95 % CIs.

    Scores in [0, 1] share one axis; any other metric (seconds, counts) gets its own strip,
    since one shared axis would squash the small score deltas to a dot at zero."""
    rows = [r for r in rows if _is_num(r.get("delta"))]
    if not rows:
        return None
    import matplotlib
    from matplotlib.figure import Figure

    def bounded(r: dict[str, Any]) -> bool:
        vals = [r.get("a"), r.get("b")]
        return all(v is None or 0 <= v <= 1 for v in vals)

    unit = [r for r in rows if bounded(r)]
    groups = ([unit] if unit else []) + [[r] for r in rows if not bounded(r)]
    heights = [0.45 + 0.32 * len(g) for g in groups]
    with matplotlib.rc_context(_rc()):
        fig = Figure(figsize=(8, sum(heights) + 0.35 * len(groups)))
        axes = fig.subplots(len(groups), 1, gridspec_kw={"height_ratios": heights, "hspace": 0.9 / max(1, len(groups))},
                            squeeze=False)[:, 0]
        for ax, group in zip(axes, groups):
            ys = list(range(len(group)))
            for y, r in zip(ys, group):
                verdict = _verdict(r)
                color = {"better": "#1f8a4c", "worse": "#c8423b"}.get(verdict, "#6b7280")
                lo, hi = r.get("ci_low"), r.get("ci_high")
                if _is_num(lo) and _is_num(hi):
                    ax.plot([lo, hi], [y, y], color=color, lw=2, solid_capstyle="butt")
                    ax.plot([lo, hi], [y, y], "|", color=color, ms=9)
                ax.plot([r["delta"]], [y], "o", color=color, ms=6, zorder=3)
            ax.axvline(0, color="#1d2330", lw=0.9)
            ax.set_yticks(ys, [_label(r["metric"], 36) for r in group])
            for t, r in zip(ax.get_yticklabels(), group):
                if r["metric"] == headline:
                    t.set_fontweight("bold")
            ax.set_ylim(len(group) - 0.5, -0.5)
            ax.grid(axis="y", visible=False)
            ext = [abs(v) for r in group for v in (r.get("delta"), r.get("ci_low"), r.get("ci_high")) if _is_num(v)]
            m = max(ext) if ext and max(ext) > 0 else 1.0
            ax.set_xlim(-m * 1.15, m * 1.15)  # symmetric: left of zero vs right of zero reads at a glance
        axes[-1].set_xlabel("change B − A (dot) with 95 % bootstrap CI (whisker)")
        return _png(fig)


def _verdict(r: dict[str, Any]) -> str | None:
    """'better' / 'worse' when the CI excludes 0, else None."""
    lo, hi, d = r.get("ci_low"), r.get("ci_high"), r.get("delta")
    sig = r.get("significant")
    if sig is None:
        sig = _is_num(lo) and _is_num(hi) and (lo > 0 or hi < 0)
    if not sig or not _is_num(d) or d == 0:
        return None
    return "better" if (d > 0) != lower_is_better(str(r.get("metric", ""))) else "worse"


# ---------------------------------------------------------------- templates

STYLE = """
 body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2330;max-width:1000px;margin:32px auto;padding:0 24px;line-height:1.45}
 h1{font-size:24px;margin:0 0 4px;overflow-wrap:anywhere} h2{font-size:18px;margin:34px 0 10px;border-bottom:2px solid #e6e8ef;padding-bottom:6px}
 h3{font-size:15px;margin:22px 0 6px}
 .meta{color:#5b6475;font-size:13px} code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
 .badge{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;border-radius:10px;padding:2px 8px;color:#fff;vertical-align:middle}
 .badge.completed{background:#1f8a4c} .badge.running{background:#2e90fa} .badge.failed{background:#d92d20} .badge.interrupted{background:#dc6803}
 .warn{border-left:4px solid #dc6803;background:#fff8eb;padding:8px 12px;margin:10px 0;border-radius:0 4px 4px 0}
 .warn.bad{border-color:#d92d20;background:#fef3f2} .note{border-left:4px solid #2e90fa;background:#f0f6ff;padding:8px 12px;margin:10px 0}
 .cards{display:flex;gap:12px;margin:20px 0;flex-wrap:wrap}
 .card{flex:1;min-width:150px;border:1px solid #e6e8ef;border-radius:8px;padding:12px 14px;color:#5b6475;font-size:13px}
 .card b{font-size:26px;display:block;color:#1d2330;font-variant-numeric:tabular-nums} .card.head{flex:2;border-color:#2f6fdb;background:#f5f8ff}
 .card.head b{font-size:38px;color:#1d4ea8} .card b.mid{font-size:20px;white-space:nowrap;padding:8px 0 6px}
 .card b.better,td.better{color:#1f8a4c} .card b.worse,td.worse{color:#b42318} .card b.same{color:#6b7280}
 table{border-collapse:collapse;width:100%;font-size:14px;margin:6px 0} th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #eceef3}
 th{background:#f5f6f9;font-weight:600} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
 td.k{overflow-wrap:anywhere} tr.hl td{background:#f5f8ff;font-weight:600} td.none,.none{color:#98a2b3}
 table.narrow{width:auto;min-width:50%} .scroll{overflow-x:auto}
 figure{margin:10px 0 24px} figure img{max-width:100%;height:auto;display:block} figure .err{color:#b42318;font-size:13px}
 details summary{cursor:pointer;color:#2f6fdb;font-size:13px} summary.mono{color:#1d2330} pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f8fa;border:1px solid #eceef3;border-radius:4px;padding:8px;font-size:12px;margin:4px 0;max-height:420px;overflow:auto}
 pre.err{background:#fef3f2;border-color:#fecdca;color:#7a271a}
 .better{color:#1f8a4c;font-weight:700} .worse{color:#b42318;font-weight:700} .same{color:#6b7280}
 .cols{display:grid;grid-template-columns:1fr 1fr;gap:18px}
 .foot{color:#98a2b3;font-size:12px;margin-top:40px;border-top:1px solid #eceef3;padding-top:10px}
 @media print{figure,tr{break-inside:avoid}}
"""

RUN_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Evaluation {{ run.suite }} · {{ run.id }}</title>
<style>{{ style|safe }}</style></head><body>
<h1>Evaluation: {{ run.suite }}</h1>
<div class="meta"><span class="mono">{{ run.id }}</span> &middot; <span class="badge {{ run.status }}">{{ run.status }}</span>
 &middot; started {{ fmt_time(run.created_at) }}{% if run.finished_at %} &middot; finished {{ fmt_time(run.finished_at) }}{% endif %}</div>

{% for w in warnings %}<div class="warn{% if w.bad %} bad{% endif %}">{{ w.text }}</div>{% endfor %}
{% for n in notes %}<div class="note">{{ n }}</div>{% endfor %}

<div class="cards">
 <div class="card head"><b>{{ num(headline_value) }}</b>{{ run.headline or "headline" }} (headline)</div>
 <div class="card"><b>{{ num(run.items_done) }}{% if run.item_count %}<span style="font-size:15px;color:#5b6475"> / {{ num(run.item_count) }}</span>{% endif %}</b>items done</div>
 <div class="card"><b{% if run.items_failed %} style="color:#b42318"{% endif %}>{{ num(run.items_failed or 0) }}</b>items failed</div>
 <div class="card"><b>{{ secs(durations.get("total_s")) }}</b>total time</div>
</div>

<h2>Metrics</h2>
{% if not metrics %}<p class="none">No metrics (no item finished).</p>{% else %}
<table class="narrow"><tr><th>Metric</th><th class="n">Value</th></tr>
{% for name, value in metrics %}<tr{% if name == run.headline %} class="hl"{% endif %}><td class="k">{{ name }}</td><td class="n{% if value is none %} none{% endif %}">{{ num(value) }}</td></tr>
{% endfor %}</table>{% endif %}

{% if charts %}<h2>Charts</h2>
{% for c in charts %}<figure><h3>{{ c.title }}</h3>
{% if c.src %}<img alt="{{ c.title }}" src="{{ c.src }}">{% elif c.error == "no data" %}<div class="none">No data.</div>{% else %}<div class="err">Could not draw this chart ({{ c.error }}).</div>{% endif %}
</figure>{% endfor %}{% endif %}

{% if tables %}<h2>Breakdown</h2>
{% for title, t in tables %}<h3>{{ title }}</h3><div class="scroll"><table>
<tr><th></th>{% for col in t.cols %}<th class="n">{{ col }}</th>{% endfor %}</tr>
{% for row, cells in t.rows %}<tr><td class="k">{{ row }}</td>{% for col in t.cols %}{% set v = cells.get(col) %}<td class="n{% if v is none %} none{% endif %}">{{ score(v) }}</td>{% endfor %}</tr>
{% endfor %}</table></div>{% endfor %}{% endif %}

<h2>Configuration</h2>
<h3>Overrides <span class="meta">(what this run changed from the defaults)</span></h3>
{% if overrides %}<table class="narrow"><tr><th>Setting</th><th>Value</th></tr>
{% for k, v in overrides %}<tr><td class="k mono">{{ k }}</td><td class="k mono">{{ v }}</td></tr>{% endfor %}</table>
{% else %}<p class="none">None: default settings.</p>{% endif %}
<div class="cols"><div>
<h3>Run</h3><table>
<tr><td>Data</td><td class="k mono">{{ run.data_path or "–" }}</td></tr>
<tr><td>Data fingerprint</td><td class="mono" title="{{ run.data_fingerprint }}">{{ short(run.data_fingerprint, 16) }}</td></tr>
<tr><td>Limit / seed</td><td>{{ run.limit if run.limit is not none else "all items" }} / {{ run.seed if run.seed is not none else "–" }}</td></tr>
{% for k, v in options %}<tr><td>option <span class="mono">{{ k }}</span></td><td class="k mono">{{ v }}</td></tr>{% endfor %}
<tr><td>Git commit</td><td class="mono">{{ short(git.commit) }}{% if git.dirty %} <span class="worse">+ uncommitted changes</span>{% endif %}</td></tr>
</table></div><div>
<h3>Durations</h3><table>
{% for k, v in durations.items() %}<tr><td>{{ k }}</td><td class="n">{{ secs(v) }}</td></tr>{% else %}<tr><td class="none">not recorded</td></tr>{% endfor %}
</table></div></div>
{% if models %}<h3>Models</h3><table><tr><th>Name</th><th>Path</th><th>sha256</th></tr>
{% for name, m in models %}<tr><td class="k">{{ name }}</td><td class="k mono">{{ m.path }}</td><td class="mono" title="{{ m.sha256 }}">{{ short(m.sha256) }}</td></tr>{% endfor %}</table>{% endif %}
{% if env %}<h3>Environment</h3><table class="narrow">{% for k, v in env %}<tr><td class="k mono">{{ k }}</td><td class="k mono">{{ v }}</td></tr>{% endfor %}</table>{% endif %}
{% if settings %}<details><summary>All settings ({{ settings|length }})</summary><table>
{% for k, v in settings %}<tr><td class="k mono">{{ k }}</td><td class="k mono">{{ v }}</td></tr>{% endfor %}</table></details>{% endif %}

<h2>Items</h2>
{% if failed %}<h3>Failed items ({{ num(n_failed) }}{% if n_failed > failed|length %}, first {{ failed|length }} shown{% endif %})</h3>
{% for it in failed %}<div><b class="mono">{{ it.item_id }}</b><pre class="err">{{ it.error }}</pre></div>{% endfor %}{% endif %}
{% if worst %}<h3>Worst items by {{ run.headline }} ({{ worst|length }} of {{ num(n_scored) }}{% if lower_better %}, highest first: lower is better{% endif %})</h3>
<div class="scroll"><table><tr><th style="min-width:300px">Item <span class="meta">(click for its output)</span></th>{% for k in score_cols %}<th class="n">{{ k }}</th>{% endfor %}<th class="n">s</th></tr>
{% for it in worst %}<tr><td class="k">{% if it.output %}<details><summary class="mono">{{ it.item_id }}</summary><pre>{{ it.output }}</pre></details>{% else %}<span class="mono">{{ it.item_id }}</span>{% endif %}</td>
{% for k in score_cols %}{% set v = it.scores.get(k) %}<td class="n{% if v is none %} none{% endif %}">{{ score(v) }}</td>{% endfor %}<td class="n">{{ "%.2f"|format(it.seconds) if it.seconds is number else "–" }}</td></tr>
{% endfor %}</table></div>
{% elif not failed %}<p class="none">No scored items.</p>{% endif %}

<div class="foot">DocIntel evaluation report &middot; generated {{ generated }}</div>
</body></html>
"""

COMPARE_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Comparison {{ suite }} · {{ a.id }} vs {{ b.id }}</title>
<style>{{ style|safe }}</style></head><body>
<h1>Comparison: {{ suite }}</h1>
<div class="meta">A <span class="mono">{{ a.id }}</span> &rarr; B <span class="mono">{{ b.id }}</span> &middot; changes are B − A over the {{ num(n_shared) }} items both runs scored</div>

{% for w in warnings %}<div class="warn{% if w.bad %} bad{% endif %}">{{ w.text }}</div>{% endfor %}

{% if head %}<div class="cards">
 <div class="card head"><b class="{{ head.verdict or '' }}">{{ delta(head.delta) }}</b>{{ head.metric }} (headline): {{ num(head.a) }} &rarr; {{ num(head.b) }}</div>
 <div class="card"><b class="mid">{% if head.ci_low is not none %}[{{ delta(head.ci_low) }}, {{ delta(head.ci_high) }}]{% else %}–{% endif %}</b>95 % CI of the change</div>
 <div class="card"><b class="{{ head.verdict or 'same' }}">{{ head.verdict or "unclear" }}</b>{% if head.verdict %}the CI excludes 0{% else %}the CI includes 0{% endif %}</div>
</div>{% endif %}

<h2>Metric changes</h2>
{% if rows %}<table><tr><th>Metric</th><th class="n">A</th><th class="n">B</th><th class="n">B − A</th><th class="n">95 % CI</th><th>Verdict</th></tr>
{% for r in rows %}<tr{% if r.metric == headline %} class="hl"{% endif %}><td class="k">{{ r.metric }}</td><td class="n">{{ num(r.a) }}</td><td class="n">{{ num(r.b) }}</td>
<td class="n {{ r.verdict or '' }}">{{ delta(r.delta) }}</td>
<td class="n">{% if r.ci_low is not none and r.ci_high is not none %}[{{ delta(r.ci_low) }}, {{ delta(r.ci_high) }}]{% else %}–{% endif %}</td>
<td>{% if r.verdict == "better" %}<span class="better">▲ better</span>{% elif r.verdict == "worse" %}<span class="worse">▼ worse</span>{% elif r.delta is none %}<span class="none">not in both runs</span>{% else %}<span class="same">no clear change</span>{% endif %}</td></tr>
{% endfor %}</table>
<p class="meta">“better”/“worse”: the 95 % bootstrap CI{% if bootstrap %} ({{ bootstrap.resamples }} paired resamples){% endif %} excludes 0. Metrics named like latency, seconds or error count as lower-is-better.</p>
{% else %}<p class="none">No metric measured by both runs.</p>{% endif %}
{% if plot %}<figure><img alt="metric changes with confidence intervals" src="{{ plot }}">
<div class="meta">Green: better, red: worse (the CI excludes 0); grey: the CI includes 0. Scores in [0, 1] share the top axis; other metrics get their own scale.</div></figure>{% endif %}

<h2>Configuration</h2>
<h3>Settings that differ</h3>
{% if diff %}<table><tr><th style="width:22%">Key</th><th style="width:39%">A</th><th>B</th></tr>
{% for k, va, vb in diff %}<tr><td class="k mono">{{ k }}</td><td class="k mono">{{ va }}</td><td class="k mono">{{ vb }}</td></tr>{% endfor %}</table>
{% else %}<p class="none">None: both runs used the same configuration.</p>{% endif %}
<h3>Runs</h3>
<table><tr><th style="width:22%"></th><th style="width:39%">A</th><th>B</th></tr>
{% for label, va, vb in side %}<tr{% if va != vb %} class="hl"{% endif %}><td>{{ label }}</td><td class="k mono">{{ va }}</td><td class="k mono">{{ vb }}</td></tr>{% endfor %}
</table>

<h2>Changed items</h2>
{% if changed %}<p class="meta">{{ num(changed_count) }} item{{ "s" if changed_count != 1 }} scored differently{% if changed_count > changed|length %}; the {{ changed|length }} with the largest {{ headline }} change shown{% endif %}.</p>
<div class="scroll"><table><tr><th>Item</th><th>Changed scores (A &rarr; B)</th></tr>
{% for c in changed %}<tr><td class="k mono">{{ c.item_id }}</td><td>{% for m in c.changes %}<span style="white-space:nowrap">{{ m.name }}: {{ score(m.a) }} &rarr; <span class="{{ m.cls }}">{{ score(m.b) }}</span></span>{% if not loop.last %}; {% endif %}{% endfor %}</td></tr>
{% endfor %}</table></div>
{% else %}<p class="none">No item changed its scores.</p>{% endif %}

<div class="foot">DocIntel evaluation comparison &middot; generated {{ generated }}</div>
</body></html>
"""


def _env() -> Environment:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.globals.update(num=fmt_num, score=fmt_score, delta=fmt_delta, secs=fmt_seconds, short=short, fmt_time=fmt_time,
                       style=STYLE)
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
        out.append({"bad": True, "text": "This run failed" + (f": {_clip_error(str(run['error']))}" if run.get("error") else ".")})
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
    failed = [{"item_id": it.get("item_id"), "error": _clip_error(str(it["error"]))} for it in failed_all[:max_items]]
    scored = [it for it in items if not it.get("error") and _is_num((it.get("scores") or {}).get(headline))]
    lower = lower_is_better(headline or "")
    scored.sort(key=lambda it: it["scores"][headline], reverse=lower)
    worst = [{"item_id": it.get("item_id"), "scores": it.get("scores") or {}, "seconds": it.get("seconds"),
              "output": _output_json(it["output"]) if it.get("output") else ""} for it in scored[:max_items]]
    score_cols = [headline] if headline else []
    for it in worst:
        score_cols += [k for k in it["scores"] if k not in score_cols]
    score_cols = score_cols[:6]  # wider tables squeeze the item column and stop being readable

    model_rows = [(name, {"path": _redact("path", (m or {}).get("path")) or (m or {}).get("name") or "–", "sha256": (m or {}).get("sha256")})
                  for name, m in (config.get("models") or {}).items()]
    env_rows = [(k, fmt_value(k, v)) for k, v in _flatten({"versions": config.get("versions"), "machine": config.get("machine")}).items()]
    return dict(
        run=run, warnings=_run_warnings(run), notes=notes,
        headline_value=metrics.get(headline) if headline else None,
        metrics=list(metrics.items()), durations=run.get("durations") or {},
        charts=_chart_entries(run.get("charts") or []), tables=tables,
        overrides=[(k, fmt_value(k, v)) for k, v in (run.get("overrides") or {}).items()],
        options=[(k, fmt_value(k, v)) for k, v in (run.get("options") or {}).items()],
        git=config.get("git") or {}, models=model_rows, env=env_rows,
        settings=[(k, fmt_value(k, v)) for k, v in _flatten(config.get("settings")).items()],
        failed=failed, n_failed=len(failed_all), worst=worst, n_scored=len(scored), score_cols=score_cols,
        lower_better=lower, generated=_generated(),
    )


def render_run_report(run: dict[str, Any], items: list[dict[str, Any]], max_items: int = MAX_ITEMS) -> str:
    """The HTML report of one run (a run-store dict and its item results)."""
    return _env().from_string(RUN_TEMPLATE).render(**_run_context(run, items, max_items))


def write_run_report(run: dict[str, Any], items: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, render_run_report(run, items).encode("utf-8"))
    return path


# ---------------------------------------------------------------- comparison report

def _compare_context(cmp: dict[str, Any], max_items: int) -> dict[str, Any]:
    a, b = cmp.get("a") or {}, cmp.get("b") or {}
    headline = cmp.get("headline") or a.get("headline")
    rows = [{"a": None, "b": None, "delta": None, "ci_low": None, "ci_high": None, **r, "verdict": _verdict(r)}
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
            if _is_num(x) and _is_num(y) and x != y:
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
    return _env().from_string(COMPARE_TEMPLATE).render(**_compare_context(comparison, max_items))


def write_compare_report(comparison: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    atomic_write_bytes(path, render_compare_report(comparison).encode("utf-8"))
    return path
