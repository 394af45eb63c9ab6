"""cli/composition.py composes every process with the layers above the API and the workers
(evaluation): the served app has the evaluation routes, `docintel worker` and the CLI's
runtime know the "eval" job kind. The API alone (api.app.create_app) has neither."""
from __future__ import annotations

import pytest

from core.settings import Settings

pytestmark = pytest.mark.unit

EVALUATION_PATHS = ["/v1/evaluations", "/v1/evaluations/{evaluation_id}", "/v1/evaluations/{a}/compare/{b}",
                    "/v1/evaluations/{evaluation_id}/report", "/v1/evaluations/{a}/compare/{b}/report"]


@pytest.fixture
def kinds(monkeypatch):
    from workers import queue, tasks

    monkeypatch.setattr(tasks, "TASKS", {k: v for k, v in tasks.TASKS.items() if k != "eval"})
    monkeypatch.setattr(queue, "QUEUE_OF", {k: v for k, v in queue.QUEUE_OF.items() if k != "eval"})
    return tasks


def test_the_composed_app_has_the_evaluation_routes_the_api_alone_does_not(tmp_path, kinds):
    from api.app import create_app as api_app
    from cli.composition import create_app
    from workers.runtime import Runtime

    rt = Runtime.create(Settings(data_dir=tmp_path / "var", _env_file=None))
    bare = list(api_app(rt).openapi()["paths"])
    assert not [p for p in bare if p.startswith("/v1/evaluations")]
    assert "eval" not in kinds.TASKS

    schema = create_app(rt).openapi()
    paths = list(schema["paths"])
    at = paths.index(EVALUATION_PATHS[0])
    assert paths[at:at + len(EVALUATION_PATHS)] == EVALUATION_PATHS  # where they were: before health
    assert paths[at + len(EVALUATION_PATHS):] == bare[at:]
    assert schema["paths"]["/v1/evaluations"]["post"]["tags"] == ["evaluations"]
    assert "EvaluationCreate" in schema["components"]["schemas"]
    assert [t["name"] for t in schema["tags"]].index("evaluations") == 5
    assert "eval" in kinds.TASKS  # the routes submit eval jobs, the embedded queue runs them


def test_docintel_worker_registers_every_kind_before_it_starts(monkeypatch, kinds):
    import workers.celery_app
    from typer.testing import CliRunner

    from cli.main import app

    seen = {}
    monkeypatch.setattr(workers.celery_app, "worker_main", lambda queues, *a: seen.update(queues=queues,
                                                                                          eval="eval" in kinds.TASKS))
    result = CliRunner().invoke(app, ["worker", "-Q", "eval", "--pool", "solo"])
    assert result.exit_code == 0, result.output
    assert seen == {"queues": ["eval"], "eval": True}


def test_the_cli_runtime_registers_the_eval_kind(monkeypatch, tmp_path, kinds):
    import cli.main

    monkeypatch.setattr(cli.main, "get_settings", lambda: Settings(data_dir=tmp_path / "var", _env_file=None))
    monkeypatch.setattr(cli.main, "configure_logging", lambda *a: None)
    cli.main._runtime()
    assert "eval" in kinds.TASKS


def test_docintel_serve_runs_the_composed_app(monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    import cli.serve
    from cli.main import app

    seen = {}
    monkeypatch.setattr(cli.serve, "get_settings", lambda: Settings(_env_file=None))
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: seen.update(target=target, factory=kw["factory"]))
    assert CliRunner().invoke(app, ["serve"]).exit_code == 0
    assert seen == {"target": "cli.composition:app_from_settings", "factory": True}
