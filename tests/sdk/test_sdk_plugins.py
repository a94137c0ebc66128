"""The official Huawei Cloud Python SDK (huaweicloudsdkapig), unchanged, against apigw:
create / show / list / update / delete of a plug-in of every type, and the error cases."""

import json
import uuid

import pytest
from huaweicloudsdkapig.v2 import (CreatePluginRequest, DeletePluginRequest, ListPluginsRequest,
                                   PluginCreate, ShowPluginRequest, UpdatePluginRequest)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE, make_client

CONTENTS = {
    "cors": {"allow_origin": "https://a.example", "allow_methods": "GET,POST", "max_age": 600},
    "set_resp_headers": {"response_headers": [{"name": "x-demo", "value": "v", "action": "append"}]},
    "rate_limit": {"api_limit": 100, "app_limit": 10, "default_time_unit": "minute"},
    "kafka_log": {"broker_list": ["127.0.0.1:9092"], "topic": "calls",
                  "sasl_config": {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanisms": "PLAIN",
                                  "sasl_username": "u", "sasl_password": "pw-secret"}},
    "breaker": {"breaker_condition": {"breaker_type": "timeout", "breaker_mode": "counter",
                                      "unhealthy_threshold": 3, "time_window": 10,
                                      "open_breaker_time": 5}},
    "third_auth": {"auth_request": {"method": "GET", "protocol": "HTTP",
                                    "url_domain": "127.0.0.1:9000", "path": "/auth"},
                   "simple_auth_mode_enabled": True},
    "proxy_mirror": {"protocol": "HTTP", "host": "127.0.0.1:9001", "path": "/shadow",
                     "path_concat_mode": "prefix", "sample_ratio": 0.5, "timeout": 3000,
                     "mirror_request_body_enabled": False},
    "proxy_cache": {"cache_key": {"system_params": ["$context.appId"], "parameters": ["page"],
                                  "headers": ["x-tenant"]},
                    "cache_http_status_and_ttl": [{"http_status": [200, 203], "ttl": 300}],
                    "client_cache_control": {"mode": "apps", "datas": ["app-1"]},
                    "cacheable_headers": ["etag"]},
}


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def assert_subset(given, stored, at="plugin_content"):
    """Every value sent is stored (the stored form adds defaults)."""
    if isinstance(given, dict):
        for key, value in given.items():
            assert key in stored, f"{at}.{key}"
            assert_subset(value, stored[key], f"{at}.{key}")
    elif isinstance(given, list):
        assert len(given) == len(stored), at
        for i, (g, s) in enumerate(zip(given, stored)):
            assert_subset(g, s, f"{at}[{i}]")
    else:
        assert given == stored, at


def create(client, ptype, name=None, content=None, scope="global", remark="made by the SDK"):
    body = PluginCreate(plugin_name=name or unique(ptype), plugin_type=ptype, plugin_scope=scope,
                        plugin_content=json.dumps(content or CONTENTS[ptype]), remark=remark)
    return client.create_plugin(CreatePluginRequest(instance_id=INSTANCE, body=body))


@pytest.mark.parametrize("ptype", sorted(CONTENTS))
def test_crud_of_every_plugin_type(client, ptype):
    created = create(client, ptype)
    assert created.status_code == 201
    assert len(created.plugin_id) == 32
    assert created.plugin_type == ptype and created.plugin_scope == "global"
    content = json.loads(created.plugin_content)
    sent = dict(CONTENTS[ptype])
    sent.pop("sasl_config", None)  # holds the masked password
    assert_subset(sent, content)

    shown = client.show_plugin(ShowPluginRequest(instance_id=INSTANCE, plugin_id=created.plugin_id))
    assert shown.status_code == 200
    assert shown.plugin_name == created.plugin_name
    assert shown.plugin_content == created.plugin_content

    listed = client.list_plugins(ListPluginsRequest(instance_id=INSTANCE, plugin_type=ptype,
                                                    plugin_name=created.plugin_name,
                                                    precise_search="plugin_name"))
    assert listed.status_code == 200
    assert listed.total == 1 and listed.size == 1
    assert listed.plugins[0].plugin_id == created.plugin_id

    new_name = unique(ptype + "_v2")
    updated = client.update_plugin(UpdatePluginRequest(
        instance_id=INSTANCE, plugin_id=created.plugin_id,
        body=PluginCreate(plugin_name=new_name, plugin_type=ptype, plugin_scope="global",
                          plugin_content=shown.plugin_content, remark="updated")))
    assert updated.status_code == 200
    assert updated.plugin_name == new_name and updated.remark == "updated"

    deleted = client.delete_plugin(DeletePluginRequest(instance_id=INSTANCE,
                                                       plugin_id=created.plugin_id))
    assert deleted.status_code == 204
    with pytest.raises(exceptions.ClientRequestException) as e:
        client.show_plugin(ShowPluginRequest(instance_id=INSTANCE, plugin_id=created.plugin_id))
    assert (e.value.status_code, e.value.error_code) == (404, "APIG.3068")


def test_kafka_password_never_comes_back(client):
    created = create(client, "kafka_log")
    assert "pw-secret" not in created.plugin_content
    assert json.loads(created.plugin_content)["sasl_config"]["sasl_password"] == "******"


def test_list_filters_fuzzy_name_scope_id_and_pages(client):
    tag = uuid.uuid4().hex[:8]
    ids = [create(client, "cors", name=f"page{tag}_{i}").plugin_id for i in range(3)]
    fuzzy = client.list_plugins(ListPluginsRequest(instance_id=INSTANCE, plugin_name=f"page{tag}"))
    assert fuzzy.total == 3
    page = client.list_plugins(ListPluginsRequest(instance_id=INSTANCE, plugin_name=f"page{tag}",
                                                  offset=1, limit=1))
    assert (page.total, page.size) == (3, 1)
    assert page.plugins[0].plugin_id == ids[1]
    by_id = client.list_plugins(ListPluginsRequest(instance_id=INSTANCE, plugin_id=ids[2]))
    assert [p.plugin_id for p in by_id.plugins] == [ids[2]]
    scoped = client.list_plugins(ListPluginsRequest(instance_id=INSTANCE, plugin_scope="app",
                                                    plugin_name=f"page{tag}"))
    assert scoped.total == 0


def expect_error(call, status, code, field=None):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call()
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value.error_msg
    if field:
        assert f"parameterName:{field}" in e.value.error_msg
    assert e.value.request_id, "X-Request-Id reaches the SDK"


def test_error_cases_reach_the_sdk_as_apig_errors(client, server):
    name = unique("dup")
    create(client, "cors", name=name)
    expect_error(lambda: create(client, "cors", name=name), 400, "APIG.3326")
    expect_error(lambda: create(client, "cors", name="ab"), 400, "APIG.2012", "plugin_name")
    expect_error(lambda: create(client, "nope", content=CONTENTS["cors"]), 400, "APIG.2012", "plugin_type")
    expect_error(lambda: create(client, "cors", scope="private"), 400, "APIG.2012", "plugin_scope")
    expect_error(lambda: create(client, "cors", content={"allow_origin": "*", "max_age": -1}),
                 400, "APIG.2012", "plugin_content.max_age")
    expect_error(lambda: create(client, "kafka_log",
                                content={"broker_list": ["a:1"], "topic": "t", "retry_backoff": 11}),
                 400, "APIG.2012", "plugin_content.retry_backoff")
    expect_error(lambda: create(client, "cors", remark="r" * 256), 400, "APIG.2012", "remark")
    created = create(client, "cors")
    expect_error(lambda: client.update_plugin(UpdatePluginRequest(
        instance_id=INSTANCE, plugin_id=created.plugin_id,
        body=PluginCreate(plugin_name=created.plugin_name, plugin_type="breaker",
                          plugin_scope="global", plugin_content=json.dumps(CONTENTS["breaker"])))),
        400, "APIG.2012", "plugin_type")
    expect_error(lambda: client.show_plugin(ShowPluginRequest(instance_id=INSTANCE,
                                                              plugin_id="0" * 32)), 404, "APIG.3068")
    expect_error(lambda: client.list_plugins(ListPluginsRequest(instance_id="f" * 32)),
                 404, "APIG.3030")
    expect_error(lambda: make_client(server, sk="wrong-secret").list_plugins(
        ListPluginsRequest(instance_id=INSTANCE)), 401, "APIG.1002")
    expect_error(lambda: make_client(server, project="a" * 32).list_plugins(
        ListPluginsRequest(instance_id=INSTANCE)), 403, "APIG.1005")


def test_non_ascii_names_are_signed_and_stored(client):
    created = create(client, "cors", name="插件_" + uuid.uuid4().hex[:6])
    assert created.plugin_name.startswith("插件_")
