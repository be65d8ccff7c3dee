"""Fixtures shared across test modules (the service harness)."""

from tests.service_harness import api, database_url, make_api  # noqa: F401
