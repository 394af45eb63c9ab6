"""Stored evaluation runs: one row per run, one row per finished item, in the SQL store.

Items are committed one by one as they finish, so an interrupted run keeps what it did
and `--resume` picks up the rest.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from core.errors import NotFoundError
from core.models import EvalItemResult, EvalRun
from core.store import Store
from evaluation.suites.base import ItemResult

RUN_FIELDS = (
    "id", "suite", "status", "data_path", "data_fingerprint", "limit", "seed", "options", "overrides",
    "config", "items_done", "items_failed", "metrics", "headline", "charts", "tables", "durations",
    "error", "report_path",
)


def _run_dict(row: EvalRun, with_charts: bool = True) -> dict[str, Any]:
    out = {f: getattr(row, f) for f in RUN_FIELDS}
    out["item_count"] = len(row.item_ids or [])
    out["created_at"] = row.created_at.isoformat() if row.created_at else None
    out["finished_at"] = row.finished_at.isoformat() if row.finished_at else None
    if not with_charts:
        out.pop("charts")
        out.pop("tables")
    return out


class RunStore:
    def __init__(self, store: Store):
        self.store = store

    def create(self, run_id: str, **fields: Any) -> None:
        with self.store.session() as s:
            s.add(EvalRun(id=run_id, status="running", items_done=0, items_failed=0, metrics={}, charts=[],
                          tables={}, durations={}, **fields))

    def resolve(self, run_id: str) -> str:
        """A full run id from an unambiguous prefix (ids are long; people type the start)."""
        with self.store.session() as s:
            ids = list(s.scalars(select(EvalRun.id).where(EvalRun.id.startswith(run_id)).limit(3)))
        if run_id in ids:
            return run_id
        if not ids:
            raise NotFoundError(f"no evaluation run '{run_id}' (see `docintel eval list`)")
        if len(ids) > 1:
            raise NotFoundError(f"run id '{run_id}' is ambiguous: {', '.join(ids[:2])}, ...")
        return ids[0]

    def get(self, run_id: str) -> dict[str, Any]:
        with self.store.session() as s:
            row = s.get(EvalRun, self.resolve(run_id))
            return {**_run_dict(row), "item_ids": list(row.item_ids or [])}

    def list(self, suite: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = select(EvalRun).order_by(EvalRun.created_at.desc()).limit(limit)
        if suite:
            q = q.where(EvalRun.suite == suite)
        with self.store.session() as s:
            return [_run_dict(r, with_charts=False) for r in s.scalars(q)]

    def update(self, run_id: str, **fields: Any) -> None:
        with self.store.session() as s:
            row = s.get(EvalRun, run_id)
            for k, v in fields.items():
                setattr(row, k, v)

    def finish(self, run_id: str, status: str, **fields: Any) -> None:
        self.update(run_id, status=status, finished_at=datetime.now(timezone.utc), **fields)

    def record_item(self, run_id: str, ordinal: int, result: ItemResult) -> None:
        """Store one item's result and bump the run's counters in the same transaction."""
        try:
            with self.store.session() as s:
                s.add(EvalItemResult(run_id=run_id, ordinal=ordinal, item_id=result.item_id, scores=result.scores,
                                     output=result.output, seconds=result.seconds, error=result.error))
                s.flush()
                row = s.get(EvalRun, run_id)
                row.items_done = (row.items_done or 0) + 1
                row.items_failed = (row.items_failed or 0) + (1 if result.error else 0)
        except IntegrityError:
            # Already stored by an earlier attempt of this run: results are not duplicated.
            pass

    def done_item_ids(self, run_id: str) -> set[str]:
        with self.store.session() as s:
            return set(s.scalars(select(EvalItemResult.item_id).where(EvalItemResult.run_id == run_id)))

    def items(self, run_id: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            rows = s.scalars(select(EvalItemResult).where(EvalItemResult.run_id == run_id).order_by(EvalItemResult.ordinal))
            return [ItemResult(r.item_id, r.scores or {}, r.output or {}, r.seconds or 0.0, r.error).to_dict() for r in rows]

    def item_count(self, run_id: str) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count(EvalItemResult.id)).where(EvalItemResult.run_id == run_id)) or 0

    def delete(self, run_id: str) -> None:
        run_id = self.resolve(run_id)
        with self.store.session() as s:
            s.execute(delete(EvalItemResult).where(EvalItemResult.run_id == run_id))
            s.execute(delete(EvalRun).where(EvalRun.id == run_id))
