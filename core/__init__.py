"""Core: settings, domain types, errors and the SQL store.

Import what you need from its module (core.settings, core.store, core.types...): this
package imports nothing, so a process that needs only the errors or the types (`docintel
--help`) does not load SQLAlchemy, Alembic and pydantic-settings.
"""
