"""Alembic environment of the clauseline store.

Migrations run in code (``clauseline.store.migrate``), which passes an open connection inside a
transaction as ``config.attributes["connection"]``. For ``alembic`` on the command line, set
``sqlalchemy.url`` (e.g. ``alembic -x url=sqlite:///clauseline.db upgrade head`` with the
``alembic.ini`` of this folder).
"""

from alembic import context
from sqlalchemy import create_engine

from clauseline.store.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    from clauseline.store import engine_url
    engine = create_engine(engine_url(url))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata,
                          render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("clauseline migrations run online only")
run()
