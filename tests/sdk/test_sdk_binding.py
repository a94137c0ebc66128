"""The official Python SDK runs the whole binding flow unchanged: create group → API →
publish to RELEASE → create plug-ins → bind from both sides → list attached/attachable with
filters → replace by type → unbind → delete, plus the error cases."""

import json
import uuid

import pytest
from huaweicloudsdkapig.v2 import (
    ApiActionInfo, ApiAuthCreate, ApiCreate, ApiGroupCreate, ApiOperPluginInfo, AppCreate,
    AttachApiToPluginRequest, AttachPluginToApiRequest, BackendApiCreate, CreateAnAppV2Request,
    CreateApiGroupV2Request, CreateApiV2Request, CreateAuthorizingAppsV2Request,
    CreateEnvironmentV2Request, CreateOrDeletePublishRecordForApiV2Request, CreatePluginRequest,
    DeleteApiV2Request, DeletePluginRequest, DetachApiFromPluginRequest, DetachPluginFromApiRequest,
    EnvCreate, ListApiAttachablePluginsRequest, ListApiAttachedPluginsRequest,
    ListPluginAttachableApisRequest, ListPluginAttachedApisRequest, PluginCreate, PluginOperApiInfo)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"


def tag():
    return uuid.uuid4().hex[:8]


def group(client):
    body = ApiGroupCreate(name=f"group_{tag()}", remark="from the SDK")
    return client.create_api_group_v2(CreateApiGroupV2Request(instance_id=INSTANCE, body=body))


def api(client, group_id, path):
    body = ApiCreate(name=f"api_{tag()}", type=1, req_protocol="HTTP", req_method="GET", req_uri=path,
                     auth_type="NONE", backend_type="HTTP", group_id=group_id,
                     backend_api=BackendApiCreate(url_domain="127.0.0.1:8080", req_protocol="HTTP",
                                                  req_method="GET", req_uri="/", timeout=5000,
                                                  retry_count="2"))
    return client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=body))


def publish(client, api_id, action="online", env_id=RELEASE):
    body = ApiActionInfo(action=action, env_id=env_id, api_id=api_id)
    return client.create_or_delete_publish_record_for_api_v2(
        CreateOrDeletePublishRecordForApiV2Request(instance_id=INSTANCE, body=body))


def plugin(client, ptype, content):
    body = PluginCreate(plugin_name=f"{ptype}_{tag()}", plugin_type=ptype, plugin_scope="global",
                        plugin_content=json.dumps(content))
    return client.create_plugin(CreatePluginRequest(instance_id=INSTANCE, body=body))


def expect(call, status, code):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call()
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value.error_msg


def test_the_whole_binding_flow(client):
    g = group(client)
    assert g.status_code == 201 and g.sl_domain == f"{g.id}.apigw.localhost"
    a1, a2 = api(client, g.id, "/orders"), api(client, g.id, "/orders/{id}")
    assert a1.status_code == 201 and a1.group_name == g.name
    assert publish(client, a1.id).publish_id
    publish(client, a2.id)
    cors1 = plugin(client, "cors", {"allow_origin": "*"})
    cors2 = plugin(client, "cors", {"allow_origin": "https://b.example"})
    limit = plugin(client, "rate_limit", {"api_limit": 100})

    # Bind from the plug-in's side...
    r = client.attach_api_to_plugin(AttachApiToPluginRequest(
        instance_id=INSTANCE, plugin_id=cors1.plugin_id,
        body=PluginOperApiInfo(env_id=RELEASE, api_ids=[a1.id, a2.id])))
    assert r.status_code == 201 and len(r.attached_plugins) == 2
    assert r.attached_plugins[0].env_name == "RELEASE"
    # ...and from the API's side.
    r = client.attach_plugin_to_api(AttachPluginToApiRequest(
        instance_id=INSTANCE, api_id=a1.id, body=ApiOperPluginInfo(env_id=RELEASE, plugin_ids=[limit.plugin_id])))
    assert r.attached_plugins[0].plugin_type == "rate_limit"

    attached = client.list_plugin_attached_apis(ListPluginAttachedApisRequest(
        instance_id=INSTANCE, plugin_id=cors1.plugin_id, env_id=RELEASE))
    assert attached.total == 2 and {x.api_id for x in attached.apis} == {a1.id, a2.id}
    by_name = client.list_plugin_attached_apis(ListPluginAttachedApisRequest(
        instance_id=INSTANCE, plugin_id=cors1.plugin_id, api_name=a2.name))
    assert [x.api_id for x in by_name.apis] == [a2.id]
    attachable = client.list_plugin_attachable_apis(ListPluginAttachableApisRequest(
        instance_id=INSTANCE, plugin_id=limit.plugin_id, env_id=RELEASE, group_id=g.id))
    assert [x.api_id for x in attachable.apis] == [a2.id]
    on_a1 = client.list_api_attached_plugins(ListApiAttachedPluginsRequest(instance_id=INSTANCE, api_id=a1.id))
    assert {p.plugin_id for p in on_a1.plugins} == {cors1.plugin_id, limit.plugin_id}
    typed = client.list_api_attached_plugins(ListApiAttachedPluginsRequest(
        instance_id=INSTANCE, api_id=a1.id, plugin_type="cors"))
    assert [p.plugin_id for p in typed.plugins] == [cors1.plugin_id]
    can_bind = client.list_api_attachable_plugins(ListApiAttachablePluginsRequest(
        instance_id=INSTANCE, api_id=a1.id, env_id=RELEASE, plugin_type="cors"))
    assert cors2.plugin_id in {p.plugin_id for p in can_bind.plugins}
    assert cors1.plugin_id not in {p.plugin_id for p in can_bind.plugins}

    # Replace by type: cors2 takes cors1's place on a1.
    client.attach_api_to_plugin(AttachApiToPluginRequest(
        instance_id=INSTANCE, plugin_id=cors2.plugin_id, body=PluginOperApiInfo(env_id=RELEASE, api_ids=[a1.id])))
    on_a1 = client.list_api_attached_plugins(ListApiAttachedPluginsRequest(instance_id=INSTANCE, api_id=a1.id))
    assert {p.plugin_id for p in on_a1.plugins} == {cors2.plugin_id, limit.plugin_id}

    # A bound plug-in cannot be deleted; unbind from both sides, then it can.
    expect(lambda: client.delete_plugin(DeletePluginRequest(instance_id=INSTANCE, plugin_id=cors1.plugin_id)),
           409, "APIG.3462")
    r = client.detach_api_from_plugin(DetachApiFromPluginRequest(
        instance_id=INSTANCE, plugin_id=cors1.plugin_id, body=PluginOperApiInfo(env_id=RELEASE, api_ids=[a2.id])))
    assert r.status_code == 204
    r = client.detach_plugin_from_api(DetachPluginFromApiRequest(
        instance_id=INSTANCE, api_id=a1.id, body=ApiOperPluginInfo(env_id=RELEASE, plugin_ids=[limit.plugin_id])))
    assert r.status_code == 204
    for p in (cors1, limit):
        assert client.delete_plugin(DeletePluginRequest(instance_id=INSTANCE, plugin_id=p.plugin_id)).status_code == 204

    # Offline keeps bindings; deleting the API removes them.
    publish(client, a1.id, "offline")
    still = client.list_plugin_attached_apis(ListPluginAttachedApisRequest(instance_id=INSTANCE, plugin_id=cors2.plugin_id))
    assert still.total == 1
    client.delete_api_v2(DeleteApiV2Request(instance_id=INSTANCE, api_id=a1.id))
    assert client.delete_plugin(DeletePluginRequest(instance_id=INSTANCE, plugin_id=cors2.plugin_id)).status_code == 204


def test_binding_error_cases(client):
    g = group(client)
    unpublished = api(client, g.id, "/never")
    cors = plugin(client, "cors", {"allow_origin": "*"})
    attach = lambda env, ids: client.attach_api_to_plugin(AttachApiToPluginRequest(  # noqa: E731
        instance_id=INSTANCE, plugin_id=cors.plugin_id, body=PluginOperApiInfo(env_id=env, api_ids=ids)))
    expect(lambda: attach(RELEASE, [unpublished.id]), 409, "APIG.3707")
    expect(lambda: attach(RELEASE, ["0" * 32]), 404, "APIG.3002")
    expect(lambda: attach("nope", [unpublished.id]), 404, "APIG.3003")
    expect(lambda: attach(RELEASE, []), 400, "APIG.2012")
    expect(lambda: attach(RELEASE, [unpublished.id, unpublished.id]), 400, "APIG.2012")
    expect(lambda: client.attach_api_to_plugin(AttachApiToPluginRequest(
        instance_id=INSTANCE, plugin_id="0" * 32, body=PluginOperApiInfo(env_id=RELEASE, api_ids=[unpublished.id]))),
        404, "APIG.3068")
    expect(lambda: group_named(client, g.name), 400, "APIG.3201")


def test_proxy_mirror_binds_to_an_http_api_and_not_to_a_mock_one(client):
    g = group(client)
    http_api = api(client, g.id, "/mirrored")
    publish(client, http_api.id)
    body = ApiCreate(name=f"api_{tag()}", type=1, req_protocol="HTTP", req_method="GET",
                     req_uri="/mocked", auth_type="NONE", backend_type="MOCK", group_id=g.id)
    mock = client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=body))
    publish(client, mock.id)
    mirror = plugin(client, "proxy_mirror", {"protocol": "HTTP", "host": "127.0.0.1:9001"})
    r = client.attach_api_to_plugin(AttachApiToPluginRequest(
        instance_id=INSTANCE, plugin_id=mirror.plugin_id,
        body=PluginOperApiInfo(env_id=RELEASE, api_ids=[http_api.id])))
    assert r.status_code == 201 and r.attached_plugins[0].plugin_type == "proxy_mirror"
    expect(lambda: client.attach_plugin_to_api(AttachPluginToApiRequest(
        instance_id=INSTANCE, api_id=mock.id,
        body=ApiOperPluginInfo(env_id=RELEASE, plugin_ids=[mirror.plugin_id]))), 400, "APIG.2012")


def test_proxy_cache_binds_from_both_sides(client):
    g = group(client)
    first, second = api(client, g.id, "/cached1"), api(client, g.id, "/cached2")
    publish(client, first.id)
    publish(client, second.id)
    cache = plugin(client, "proxy_cache", {"cache_key": {"parameters": ["page"]},
                                           "cache_http_status_and_ttl": [{"http_status": [200], "ttl": 60}]})
    r = client.attach_api_to_plugin(AttachApiToPluginRequest(
        instance_id=INSTANCE, plugin_id=cache.plugin_id,
        body=PluginOperApiInfo(env_id=RELEASE, api_ids=[first.id])))
    assert r.status_code == 201 and r.attached_plugins[0].plugin_type == "proxy_cache"
    r = client.attach_plugin_to_api(AttachPluginToApiRequest(
        instance_id=INSTANCE, api_id=second.id,
        body=ApiOperPluginInfo(env_id=RELEASE, plugin_ids=[cache.plugin_id])))
    assert r.status_code == 201 and r.attached_plugins[0].api_id == second.id


def group_named(client, name):
    return client.create_api_group_v2(CreateApiGroupV2Request(instance_id=INSTANCE, body=ApiGroupCreate(name=name)))


def test_environments_and_apps(client):
    env = client.create_environment_v2(CreateEnvironmentV2Request(
        instance_id=INSTANCE, body=EnvCreate(name=f"env_{tag()}", remark="staging")))
    assert env.status_code == 201 and len(env.id) == 32
    g = group(client)
    a = api(client, g.id, "/staged")
    rec = publish(client, a.id, env_id=env.id)
    assert rec.env_id == env.id
    app = client.create_an_app_v2(CreateAnAppV2Request(instance_id=INSTANCE, body=AppCreate(name=f"app_{tag()}")))
    assert app.status_code == 201 and app.app_key and app.app_secret
    auths = client.create_authorizing_apps_v2(CreateAuthorizingAppsV2Request(
        instance_id=INSTANCE, body=ApiAuthCreate(env_id=env.id, app_ids=[app.id], api_ids=[a.id])))
    assert auths.status_code == 201 and auths.auths[0].app_id == app.id
