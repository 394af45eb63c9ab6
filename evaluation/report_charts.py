"""The plots of an evaluation report, drawn with matplotlib's Agg canvas and returned as
base64 PNG data URIs (a report is one file that can be mailed or archived). matplotlib is
imported inside the drawing functions: the CLI imports the report and should start fast."""
from __future__ import annotations

import base64
import io
import math
from typing import Any

from evaluation.report_format import fmt_num, is_num, verdict

DPI = 120  # an 8-inch figure fills the 1000 px page column

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
    return [float(v) if is_num(v) else math.nan for v in values or []]


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
    if len(xs_all) >= 4 and all(is_num(x) and x > 0 for x in xs_all) and max(xs_all) / min(xs_all) >= 50:
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


def chart_entries(charts: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
    rows = [r for r in rows if is_num(r.get("delta"))]
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
                judged = verdict(r)
                color = {"better": "#1f8a4c", "worse": "#c8423b"}.get(judged, "#6b7280")
                lo, hi = r.get("ci_low"), r.get("ci_high")
                if is_num(lo) and is_num(hi):
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
            ext = [abs(v) for r in group for v in (r.get("delta"), r.get("ci_low"), r.get("ci_high")) if is_num(v)]
            m = max(ext) if ext and max(ext) > 0 else 1.0
            ax.set_xlim(-m * 1.15, m * 1.15)  # symmetric: left of zero vs right of zero reads at a glance
        axes[-1].set_xlabel("change B − A (dot) with 95 % bootstrap CI (whisker)")
        return _png(fig)
