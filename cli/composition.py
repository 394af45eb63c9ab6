"""The composition root: what every DocIntel process gets from the layers above the API and
the workers, which those may not import (DESIGN.md: arrows point down). Today that is
evaluation: its "eval" job kind and its routes.

- `install()`: the job kinds, before a process submits or runs jobs (`docintel worker`,
  whose prefork children inherit them; any CLI command's runtime, whose embedded queue may
  run them).
- `create_app()`: the API app with the upper layers' routers (`docintel serve` through
  `app_from_settings`, the tests).
"""
from __future__ import annotations


def install() -> None:
    """Register the upper layers' job kinds with workers/tasks.py (idempotent)."""
    from evaluation.service import register_jobs

    register_jobs()


def create_app(runtime=None, settings=None):
    """api.app.create_app with every router, and the job kinds its routes submit."""
    from api.app import create_app as api_app
    from evaluation.routes import router as evaluation_router

    install()
    return api_app(runtime, settings, routers=[evaluation_router])


def app_from_settings():
    """uvicorn's factory for `docintel serve` (each worker process builds its own)."""
    from core.logging import configure_logging
    from core.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings=settings)
