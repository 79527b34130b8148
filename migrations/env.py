"""Alembic's environment: how a revision reaches the database.

`storage.migrate` runs Alembic on a connection of its own (under the migration lock) and
passes it in `config.attributes["connection"]`. The `alembic` command, run from the project
folder to write new revisions, connects to DATABASE_URL itself.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, TypeDecorator
from sqlmodel import SQLModel

from storage import models  # noqa: F401  registers every table on SQLModel.metadata

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | bool:
    """Write SQLModel's column types (AutoString, UTCDateTime) as the SQLAlchemy types they
    store as, so revisions do not depend on SQLModel's internals."""
    if (type_ == "type" and isinstance(obj, TypeDecorator)
            and type(obj).__module__.startswith("sqlmodel.")):
        return f"sa.{obj.impl!r}"
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        # SQLite alters a table by copying it: batch mode writes revisions that way there.
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
        "compare_server_default": True,
    }


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def _database_url() -> str:
    from bot.config import Settings  # the same DATABASE_URL and .env as `sangkien`
    from storage.engine import normalise_url

    return normalise_url(Settings().database_url)


async def _run_from_cli() -> None:
    from storage.engine import make_engine

    engine = make_engine(_database_url())
    try:
        async with engine.connect() as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    url = _database_url()
    context.configure(url=url, literal_binds=True, **_options(url.split(":")[0].split("+")[0]))
    with context.begin_transaction():
        context.run_migrations()


config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    if context.is_offline_mode():
        _run_offline()
    else:
        asyncio.run(_run_from_cli())
