"""Schemathesis against the served OpenAPI schema: generated requests to every operation (with
a valid key, on a real server on loopback) never get a 500, and every response conforms to the
schema the service publishes."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from smartcharge.api.app import create_app
from smartcharge.api.settings import Settings
from smartcharge.api.store.database import open_database
from smartcharge.api.store.keys import create_key
from tests.service_harness import SERVICE_DEFAULTS, arrival, site_document


def serve_in_thread(app, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('schema')}/schema.db"
    key = create_key(open_database(url), "acme")
    app = create_app(Settings(database_url=url, **{**SERVICE_DEFAULTS, "max_time_limit_s": 2}))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve_in_thread(app, port)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    # A site with sessions, so that generated requests on `site_id` "depot" reach the handlers.
    httpx.post(f"{base}/v1/sites", json=site_document("depot"), headers=headers)
    httpx.post(f"{base}/v1/sites/depot/sessions", json=arrival("s-1", "cp-0"), headers=headers)
    yield base, headers
    server.should_exit = True


# The schema does not depend on the database: read it off an app that is never started.
schema = schemathesis.openapi.from_dict(create_app(Settings(**SERVICE_DEFAULTS)).openapi())


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_500_and_responses_match_the_schema(case, served):
    base, headers = served
    if case.path_parameters and "site_id" in case.path_parameters:
        case.path_parameters["site_id"] = "depot"
    case.call_and_validate(
        base_url=base,
        headers=headers,
        checks=[not_a_server_error, response_schema_conformance],
    )
