"""Persistence: SQLAlchemy 2 tables, the database handle and one module per kind of record."""
