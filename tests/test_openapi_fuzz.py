"""schemathesis against the OpenAPI document: every operation, with an admin token for a real
site, on both databases. Bounded (a few examples an operation): 0 server errors, 0 answers
outside the document (status, content type, body)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_target(app: Any, site: Any, admin_token: str) -> Any:
    app.config["CONSENT_WRITES_PER_CLIENT"] = 0  # the fuzzer is one client writing a lot
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.fixture
def fuzz_context(site: Any, admin_token: str) -> dict[str, Any]:
    return {"site_key": site.site_key, "auth": {"Authorization": f"Bearer {admin_token}"}}


schema = schemathesis.pytest.from_fixture("fuzz_target")


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_the_document(case: Any, fuzz_context: Any) -> None:
    if "site_key" in (case.path_parameters or {}):
        case.path_parameters["site_key"] = fuzz_context["site_key"]
    case.call_and_validate(headers=fuzz_context["auth"], checks=CHECKS)
