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

# PostgreSQL: the version table of the configured schema. The search path is `schema, public`,
# and Alembic would otherwise take a public alembic_version (another deployment's) for ours.
version_schema = None
if connection.dialect.name == "postgresql":
    from sqlalchemy import text

    version_schema = connection.execute(text("SELECT current_schema()")).scalar()
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  version_table_schema=version_schema)
with context.begin_transaction():
    context.run_migrations()
