"""Alembic environment: runs on the connection handed over by core.store.migrate()."""
from alembic import context

from core.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - plain `alembic` CLI use
    from core.settings import get_settings
    from sqlalchemy import create_engine

    engine = create_engine(get_settings().sqlalchemy_url)
    connection = engine.connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
