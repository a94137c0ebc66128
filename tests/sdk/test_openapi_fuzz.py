"""Schemathesis against the control plane's own `GET /openapi.json` (issue #10): requests
generated from the document, valid and invalid, across every operation. Whatever is sent, the
answer is never a 5xx, the server never dies, and every 4xx carries an APIG error body
(`error_code` APIG.xxxx and `error_msg`).

APIGW_FUZZ_EXAMPLES sets the examples per operation (CI smoke: 25; scripts/reliability.sh runs
more)."""

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from conftest import INSTANCE, PROJECT, TOKEN

EXAMPLES = int(os.environ.get("APIGW_FUZZ_EXAMPLES", "25"))
AUTH = {"X-Auth-Token": TOKEN}


@pytest.fixture(scope="session")
def api_schema(server):
    doc = requests.get(f"http://{server.admin}/openapi.json", headers=AUTH, timeout=10).json()
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


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_4xx_is_an_apig_error(case, server):
    response = case.call(base_url=f"http://{server.admin}", headers=AUTH, timeout=10)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        body = response.json()
        assert str(body.get("error_code", "")).startswith("APIG."), where
        assert body.get("error_msg"), where
