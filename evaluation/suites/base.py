"""The evaluation seam: a Suite turns a data set into items, runs each item through the
product (ingestion -> retrieval -> generation / review) and scores it.

The runner (evaluation/runner.py) owns everything around that: sampling with --limit and
--seed, storing every item result as it finishes (so an interrupted run resumes without
redoing items), timing, configuration capture, the report and the regression gate.

Contract for suite authors:
- `load` reads the data set from a path (nothing bundled, nothing downloaded) and returns
  every item in a deterministic order with ids stable across runs of the same data: runs
  are compared item by item through those ids.
- `prepare` is called once per run (also when a run resumes) with the sampled items; it
  ingests what those items need into `ctx.collection` and keeps lookups in `ctx.state`.
  Ingestion is idempotent (same bytes -> no-op), so calling it again is cheap.
- `run_item` scores one item and returns an ItemResult whose `scores` are per-item
  numbers (None = not defined for this item, skipped by means) and whose `output` is
  what the product returned, JSON-serialisable, enough to explain the score.
- `aggregate` turns item results into headline metrics and chart data. It must be a
  pure function of the results (the comparison bootstraps it over resampled items), so
  keep it cheap: store additive per-item counts in `output` when a metric is pooled.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from workers.runtime import Runtime


@dataclass(frozen=True)
class EvalItem:
    id: str  # stable across runs of the same data set
    data: dict[str, Any]  # suite-specific inputs, JSON-serialisable


@dataclass
class ItemResult:
    item_id: str
    scores: dict[str, float | None]
    output: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None  # an item that raised: recorded, the run goes on

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "scores": self.scores, "output": self.output,
                "seconds": self.seconds, "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ItemResult":
        return cls(d["item_id"], d.get("scores") or {}, d.get("output") or {}, float(d.get("seconds") or 0.0), d.get("error"))


@dataclass
class Chart:
    """Data for one plot in the HTML report (evaluation/report.py draws it).

    kind "line": series = {name: {"x": [...], "y": [...]}} (e.g. precision-recall curves,
                 recall@k curves);
    kind "bar":  series = {name: {"x": [labels...], "y": [values...]}} (e.g. per-category
                 AUPR, accuracy per question type); several series = grouped bars;
    kind "hist": series = {name: {"x": [values...]}} (e.g. latency per item).
    """

    kind: str
    title: str
    x_label: str
    y_label: str
    series: dict[str, dict[str, list]]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "x_label": self.x_label,
                "y_label": self.y_label, "series": self.series}


@dataclass
class Aggregate:
    metrics: dict[str, float | None]  # flat headline numbers, e.g. {"ndcg@10": 0.57}
    charts: list[Chart] = field(default_factory=list)
    # Optional per-category / per-type breakdown tables: {table title: {row: {column: value}}}
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class EvalContext:
    runtime: "Runtime"  # the product, wired with the run's settings
    collection: str  # the collection this run's documents live in (tenant = `tenant`)
    tenant: str
    data: Path
    options: dict[str, str]  # suite options from the command line (--option key=value)
    state: dict[str, Any] = field(default_factory=dict)  # set by prepare, read by run_item

    def option(self, key: str, default: Any = None, cast: type | None = None) -> Any:
        raw = self.options.get(key)
        if raw is None:
            return default
        return cast(raw) if cast else raw


@runtime_checkable
class Suite(Protocol):
    name: str
    description: str
    headline: str  # the metric a one-line summary and --fail-under default to

    def files(self, data: Path) -> list[Path]:
        """The files whose bytes define the data set (hashed into the run's fingerprint)."""

    def load(self, data: Path) -> list[EvalItem]: ...

    def prepare(self, ctx: EvalContext, items: Sequence[EvalItem]) -> None: ...

    def run_item(self, ctx: EvalContext, item: EvalItem) -> ItemResult: ...

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate: ...


def sample(items: Sequence[EvalItem], limit: int | None, seed: int) -> list[EvalItem]:
    """`limit` items drawn with `seed`, kept in data-set order (all of them without a limit)."""
    if not limit or limit >= len(items):
        return list(items)
    chosen = set(random.Random(seed).sample(range(len(items)), limit))
    return [it for i, it in enumerate(items) if i in chosen]


def mean_scores(results: Sequence[ItemResult], keys: Sequence[str] | None = None) -> dict[str, float | None]:
    """Mean of each per-item score over the items where it is defined (not None, no error)."""
    import numpy as np

    ok = ok_results(results)
    names = list(keys) if keys is not None else sorted({k for r in ok for k in r.scores})
    out: dict[str, float | None] = {}
    for k in names:
        vals = [r.scores.get(k) for r in ok]
        vals = [float(v) for v in vals if v is not None]
        out[k] = float(np.mean(vals)) if vals else None
    return out


def latency_chart(results: Sequence[ItemResult], title: str = "Seconds per item") -> Chart:
    return Chart("hist", title, "seconds", "items", {"items": {"x": [r.seconds for r in ok_results(results)]}})


def percentile(values: Sequence[float], q: float) -> float | None:
    import numpy as np

    return float(np.percentile(values, q)) if len(values) else None


def ok_results(results: Sequence[ItemResult]) -> list[ItemResult]:
    """The items that were scored (an item that raised carries only its error)."""
    return [r for r in results if r.error is None]


def latency_metrics(results: Sequence[ItemResult], key: str, prefix: str) -> dict[str, float | None]:
    """p50 and p95 of one per-item timing score, as {prefix}_p50 / {prefix}_p95."""
    vals = [float(r.scores[key]) for r in ok_results(results) if r.scores.get(key) is not None]
    return {f"{prefix}_p50": percentile(vals, 50), f"{prefix}_p95": percentile(vals, 95)}
