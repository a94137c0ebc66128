"""The data plane with the official SDK: APP authentication signed by huaweicloudsdkcore's own
Signer with an app's key and secret, on an API created, published and authorised through
the SDK."""

import json
import uuid

import requests
from huaweicloudsdkapig.v2 import (
    ApiActionInfo, ApiAuthCreate, ApiCreate, ApiGroupCreate, ApiMockCreate, AppCreate,
    CreateAnAppV2Request, CreateApiGroupV2Request, CreateApiV2Request,
    CreateAuthorizingAppsV2Request, CreateOrDeletePublishRecordForApiV2Request)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from conftest import INSTANCE

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"


def setup_app_api(client):
    tag = uuid.uuid4().hex[:8]
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"dp_{tag}")))
    api = client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(
        name=f"app_api_{tag}", type=1, req_protocol="HTTP", req_method="POST", req_uri="/signed/{id}",
        auth_type="APP", backend_type="MOCK", group_id=group.id,
        mock_info=ApiMockCreate(result_content='{"signed":"ok"}'))))
    client.create_or_delete_publish_record_for_api_v2(CreateOrDeletePublishRecordForApiV2Request(
        instance_id=INSTANCE, body=ApiActionInfo(action="online", env_id=RELEASE, api_id=api.id)))
    app = client.create_an_app_v2(CreateAnAppV2Request(instance_id=INSTANCE, body=AppCreate(name=f"app_{tag}")))
    outsider = client.create_an_app_v2(CreateAnAppV2Request(instance_id=INSTANCE, body=AppCreate(name=f"out_{tag}")))
    client.create_authorizing_apps_v2(CreateAuthorizingAppsV2Request(
        instance_id=INSTANCE, body=ApiAuthCreate(env_id=RELEASE, app_ids=[app.id], api_ids=[api.id])))
    return group, app, outsider


def signed_call(server, group, key, secret, body=b'{"n": 1}', tamper=None, path="/signed/42",
                query=(("b", "2"), ("a", "x y")), content_type="application/json"):
    req = SdkRequest(method="POST", schema="http", host=server.gateway, resource_path=path,
                     query_params=list(query),
                     header_params={"Content-Type": content_type, "Host": group.sl_domain},
                     body=body)
    Signer(BasicCredentials(key, secret)).sign(req)
    sent_body = tamper if tamper is not None else req.body
    return requests.post(f"http://{server.gateway}{req.uri}", headers=req.header_params, data=sent_body, timeout=5)


def test_the_sdk_signer_passes_app_authentication(client, server):
    group, app, _ = setup_app_api(client)
    r = signed_call(server, group, app.app_key, app.app_secret)
    assert r.status_code == 200, r.text
    assert r.json() == {"signed": "ok"}
    assert len(r.headers["X-Request-Id"]) == 32


def test_wrong_secrets_tampered_bodies_and_unauthorised_apps_are_refused(client, server):
    group, app, outsider = setup_app_api(client)
    r = signed_call(server, group, app.app_key, "not-the-secret")
    assert (r.status_code, r.json()["error_code"]) == (401, "APIG.0303")
    r = signed_call(server, group, app.app_key, app.app_secret, tamper=b'{"n": 2}')
    assert (r.status_code, r.json()["error_code"]) == (401, "APIG.0303")
    r = signed_call(server, group, outsider.app_key, outsider.app_secret)
    assert (r.status_code, r.json()["error_code"]) == (403, "APIG.0304")
    assert json.loads(r.text)["request_id"] == r.headers["X-Request-Id"]


def test_the_sdk_signer_passes_with_odd_queries_encoded_slashes_and_unsigned_empty_bodies(client, server):
    group, app, _ = setup_app_api(client)
    # Query keys whose order differs before and after encoding (the SDK sorts them decoded).
    r = signed_call(server, group, app.app_key, app.app_secret,
                    query=(("z", "1"), ("\u00e9", "2"), ("a0", "1"), ("a[0]", "2")))
    assert r.status_code == 200, r.text
    # A path parameter with an encoded slash (the SDK decodes the path before splitting it).
    r = signed_call(server, group, app.app_key, app.app_secret, path="/signed/a%2Fb")
    assert r.status_code == 200, r.text
    # Not JSON and no body: the SDK says UNSIGNED-PAYLOAD and signs the empty body's hash.
    r = signed_call(server, group, app.app_key, app.app_secret, body=b"", content_type="text/plain")
    assert r.status_code == 200, r.text
