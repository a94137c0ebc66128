"""The official Python SDK's import and export calls, unchanged: `import_api_definitions_v2`
sends a multipart form with the document; `export_api_definitions_v2` downloads it. A
document imported, published and exported comes back with its extensions; a broken file is
refused with APIG.2012 naming the field."""

import json
import tempfile
import uuid

import pytest
import yaml
from huaweicloudsdkapig.v2 import (
    ExportApiDefinitionsV2Request, ExportOpenApiReq,
    ImportApiDefinitionsV2Request, ImportApiDefinitionsV2RequestBody,
    ListApisV2Request)
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.formdata import FormFile

from conftest import INSTANCE

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"


def document(title):
    return {
        "swagger": "2.0",
        "info": {"title": title, "description": "imported by the SDK", "version": "1"},
        "paths": {
            "/sdk/items": {
                "get": {
                    "operationId": "sdk_items",
                    "schemes": ["http"],
                    "parameters": [{"name": "q", "in": "query", "type": "string",
                                    "required": False}],
                    "responses": {"default": {"description": "default response"}},
                    "x-apigateway-match-mode": "NORMAL",
                    "x-apigateway-backend": {"type": "MOCK",
                                             "mockEndpoints": {"result-content": "hello"}},
                    "x-apigateway-ratelimit": "sdk_limit",
                },
                "x-apigateway-any-method": {
                    "operationId": "sdk_any",
                    "x-apigateway-backend": {"type": "HTTP", "httpEndpoints": {
                        "address": "127.0.0.1:9", "scheme": "http", "method": "ANY",
                        "path": "/", "timeout": 1000}},
                },
            },
        },
        "x-apigateway-ratelimits": {"sdk_limit": {"api-limit": 100, "interval": 1,
                                                  "unit": "SECOND", "shared": False}},
    }


def upload(client, text, **form):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        body = ImportApiDefinitionsV2RequestBody(
            file_name=FormFile(open(f.name, "rb"), "application/x-yaml"), **form)
        return client.import_api_definitions_v2(
            ImportApiDefinitionsV2Request(instance_id=INSTANCE, body=body))


def download(client, group_id, **kw):
    chunks = []
    resp = client.export_api_definitions_v2(ExportApiDefinitionsV2Request(
        instance_id=INSTANCE, oas_version=kw.pop("oas_version", "2.0"),
        body=ExportOpenApiReq(env_id=RELEASE, group_id=group_id, **kw)))
    resp.consume_download_stream(lambda stream: chunks.append(stream.content))
    return b"".join(chunks).decode()


def test_import_and_export_through_the_sdk(client):
    title = f"sdk_{uuid.uuid4().hex[:8]}"
    answer = upload(client, yaml.safe_dump(document(title)), is_create_group=True,
                    extend_mode="merge", api_mode="merge", simple_mode=False, mock_mode=False)
    assert answer.failure == []
    assert sorted((s.method, s.action) for s in answer.success) == [("ANY", "create"),
                                                                   ("GET", "create")]
    group_id = answer.group_id
    apis = client.list_apis_v2(ListApisV2Request(instance_id=INSTANCE, group_id=group_id)).apis
    assert sorted(a.name for a in apis) == ["sdk_any", "sdk_items"]

    # Not published yet: the export (of what RELEASE serves) is empty; dev has both.
    empty = json.loads(download(client, group_id, define="all", type="json"))
    assert empty["paths"] == {}
    dev = yaml.safe_load(download(client, group_id, define="dev", type="yaml",
                                  oas_version="3.0"))
    assert dev["openapi"].startswith("3.0")
    items = dev["paths"]["/sdk/items"]
    assert items["get"]["x-apigateway-backend"]["mockEndpoints"]["result-content"] == "hello"
    assert items["x-apigateway-any-method"]["x-apigateway-backend"]["type"] == "HTTP"
    assert items["get"]["parameters"][0]["schema"]["type"] == "string"

    # Importing again into the group: merge reports each API as existing, override updates.
    again = upload(client, json.dumps(document(title)), is_create_group=False,
                   group_id=group_id)
    assert sorted(f.error_code for f in again.failure) == ["APIG.3301", "APIG.3301"]
    replaced = upload(client, json.dumps(document(title)), is_create_group=False,
                      group_id=group_id, api_mode="override")
    assert sorted(s.action for s in replaced.success) == ["update", "update"]


def test_a_broken_file_is_refused_naming_the_field(client):
    with pytest.raises(exceptions.ClientRequestException) as e:
        upload(client, "swagger: '2.0'\ninfo: {title: x}\n")
    assert (e.value.status_code, e.value.error_code) == (400, "APIG.2012")
    assert "paths" in e.value.error_msg
    with pytest.raises(exceptions.ClientRequestException) as e:
        download(client, "0" * 32, define="all")
    assert (e.value.status_code, e.value.error_code) == (404, "APIG.3001")
