"""Job kinds of the layers above workers: registered at process composition
(workers.tasks.register_task), never imported by workers; run_job fails a kind it does not
know with its reason, and an eval job without the `eval` extra names the extra to install."""
from __future__ import annotations

import pytest

from core.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def kinds(monkeypatch):
    """The registries as they are before any registration, restored afterwards."""
    from workers import queue, tasks

    monkeypatch.setattr(tasks, "TASKS", {k: v for k, v in tasks.TASKS.items() if k != "eval"})
    monkeypatch.setattr(queue, "QUEUE_OF", {k: v for k, v in queue.QUEUE_OF.items() if k != "eval"})
    return tasks, queue


@pytest.fixture
def rt(tmp_path):
    from workers.runtime import Runtime

    rt = Runtime.create(Settings(data_dir=tmp_path / "var", _env_file=None))
    yield rt
    rt.store.engine.dispose()


def test_register_task_adds_a_kind_and_its_queue(kinds):
    tasks, queue = kinds
    from evaluation.service import register_jobs, run_eval_job

    assert "eval" not in tasks.TASKS and "eval" not in queue.QUEUE_OF
    register_jobs()
    register_jobs()  # idempotent
    assert tasks.TASKS["eval"] is run_eval_job and queue.QUEUE_OF["eval"] == "eval"
    with pytest.raises(ValueError, match="already registered"):
        tasks.register_task("eval", lambda *a: {}, "eval")
    with pytest.raises(ValueError, match="already registered"):
        tasks.register_task("ingest", lambda *a: {}, "ingest")
    with pytest.raises(ValueError, match="unknown queue"):
        tasks.register_task("other", lambda *a: {}, "nope")


def test_a_kind_nobody_registered_fails_with_its_reason(kinds, rt):
    from workers.tasks import run_job

    job, _ = rt.jobs.create("eval", rt.settings.default_tenant, {"suite": "jsonl", "data": "/x"})
    assert run_job(rt, job.id) == "failed"
    error = rt.jobs.get(job.id).error
    assert "cannot run 'eval' jobs" in error and "docintel worker" in error


def test_an_eval_job_without_the_eval_extra_names_it(kinds, rt, monkeypatch):
    import evaluation.runner
    from evaluation.service import register_jobs
    from workers.tasks import run_job

    def without_matplotlib(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(evaluation.runner, "run_evaluation", without_matplotlib)
    register_jobs()
    job, _ = rt.jobs.create("eval", rt.settings.default_tenant, {"suite": "jsonl", "data": "/x"})
    assert run_job(rt, job.id) == "failed"
    assert "docintel[eval]" in rt.jobs.get(job.id).error
