"""Schemathesis against the control plane's own `GET /openapi.json` (issue #10): requests
generated from the document, valid and invalid, across every operation. Whatever is sent, the
answer is never a 5xx, the server never dies, every 4xx carries an APIG error body
(`error_code` APIG.xxxx and `error_msg`), and every status is one the document lists for the
operation (schemathesis' status_code_conformance; SPEC §13).

APIGW_FUZZ_EXAMPLES sets the examples per operation (CI smoke: 25; scripts/reliability.sh runs
more)."""

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import status_code_conformance

from conftest import INSTANCE, PROJECT, TOKEN

EXAMPLES = int(os.environ.get("APIGW_FUZZ_EXAMPLES", "25"))
AUTH = {"X-Auth-Token": TOKEN}


def fetch_document(server):
    return requests.get(f"http://{server.admin}/openapi.json", headers=AUTH, timeout=10).json()


@pytest.fixture(scope="session")
def any_project_schema(server):
    """The document as served: projects and instances are anything, so the calls meet the
    authentication middleware's 403 APIG.1005 and 404 APIG.3030."""
    return schemathesis.openapi.from_dict(fetch_document(server))


@pytest.fixture(scope="session")
def api_schema(server):
    doc = fetch_document(server)
    # The project and instance are fixed by the deployment: generate only the served ones, so
    # the calls reach the handlers instead of stopping at 403/404.
    for item in doc["paths"].values():
        for op in item.values():
            for p in op.get("parameters", []):
                if p.get("in") == "path" and p["name"] == "project_id":
                    p["schema"] = {"type": "string", "enum": [PROJECT]}
                if p.get("in") == "path" and p["name"] == "instance_id":
                    p["schema"] = {"type": "string", "enum": [INSTANCE]}
    return schemathesis.openapi.from_dict(doc)


schema = schemathesis.pytest.from_fixture("api_schema")
any_project = schemathesis.pytest.from_fixture("any_project_schema")


def check_answer(case, response):
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        body = response.json()
        assert str(body.get("error_code", "")).startswith("APIG."), where
        assert body.get("error_msg"), where
    case.validate_response(response, checks=[status_code_conformance])


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_every_4xx_is_an_apig_error_and_every_status_is_documented(case, server):
    check_answer(case, case.call(base_url=f"http://{server.admin}", headers=AUTH, timeout=10))


@any_project.parametrize()
@settings(max_examples=max(EXAMPLES // 5, 3), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_foreign_projects_and_unknown_instances_are_documented_answers(case, server):
    check_answer(case, case.call(base_url=f"http://{server.admin}", headers=AUTH, timeout=10))
