"""Persistence: SQLAlchemy 2 tables, the database handle and one module per kind of record."""

# Here, not in `database`, so that commands that only need the default (the CLI's parsers)
# do not import SQLAlchemy and alembic.
DEFAULT_URL = "sqlite:///smartcharge.db"
