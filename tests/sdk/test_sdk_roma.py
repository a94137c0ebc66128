"""The official ROMA Connect SDK (huaweicloudsdkroma), unchanged, against apigw's `/apic/` paths:
plug-in content is answered in ROMA's field names there and in APIG's names on `/apigw/`, from one
stored content (SPEC §13, docs/control-plane.md "Field names per family")."""

import json
import pathlib
import uuid

from huaweicloudsdkapig.v2 import ShowPluginRequest as ApigShowPluginRequest
from huaweicloudsdkroma.v2 import (CreatePluginRequest, DeletePluginRequest, ListPluginsRequest,
                                   PluginCreate, ShowPluginRequest, UpdatePluginRequest)

from conftest import INSTANCE

SEEDS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "seed-example-requests.json"

# (APIG name, ROMA name), relative to the content or to the object named first.
RENAMED = [
    (None, "carry_path_enabled", "carry_path"),
    (None, "return_resp_body_enabled", "return_resp_body"),
    (None, "simple_auth_mode_enabled", "simple_auth_mode"),
    (None, "rule_enabled", "rule_switch"),
    ("carry_body", "enabled", "switch"),
    ("auth_request", "vpc_channel_enabled", "vpc_channel_enable"),
]


def roma_seed(plugin_type):
    """The ROMA CreatePlugin page's example request of this type, as the SDK's model."""
    seed = next(s for s in json.loads(SEEDS.read_text())
                if "/apic/" in s["path"] and s["body"]["plugin_type"] == plugin_type)
    body = dict(seed["body"], plugin_name=f"roma_{plugin_type}_{uuid.uuid4().hex[:8]}")
    return PluginCreate(**body)


def assert_names(content, roma, what):
    for within, apig_name, roma_name in RENAMED:
        obj = content[within] if within else content
        shown, hidden = (roma_name, apig_name) if roma else (apig_name, roma_name)
        assert shown in obj and hidden not in obj, f"{what}: {shown}/{hidden} in {content}"
    assert "queries" in content["identities"] and "query" not in content["identities"], what


def test_third_auth_reads_back_in_roma_names_on_apic_and_apig_names_on_apigw(roma_client, client):
    body = roma_seed("third_auth")
    created = roma_client.create_plugin(CreatePluginRequest(instance_id=INSTANCE, body=body))
    assert created.status_code == 201
    content = json.loads(created.plugin_content)
    assert_names(content, roma=True, what="CreatePlugin on /apic/")
    assert content["carry_body"] == {"switch": True, "max_body_size": 10000}
    assert content["rule_switch"] is True and content["return_resp_body"] is True
    assert content["identities"]["queries"][0]["name"] == "user"

    shown = roma_client.show_plugin(ShowPluginRequest(instance_id=INSTANCE,
                                                      plugin_id=created.plugin_id))
    assert shown.plugin_content == created.plugin_content
    listed = roma_client.list_plugins(ListPluginsRequest(instance_id=INSTANCE,
                                                         plugin_id=created.plugin_id))
    assert listed.plugins[0].plugin_content == created.plugin_content

    apig = client.show_plugin(ApigShowPluginRequest(instance_id=INSTANCE,
                                                    plugin_id=created.plugin_id))
    apig_content = json.loads(apig.plugin_content)
    assert_names(apig_content, roma=False, what="ShowPlugin on /apigw/")
    for within, apig_name, roma_name in RENAMED:
        a, r = (apig_content[within], content[within]) if within else (apig_content, content)
        assert a[apig_name] == r[roma_name], apig_name

    # The SDK's read-modify-write keeps the content.
    updated = roma_client.update_plugin(UpdatePluginRequest(
        instance_id=INSTANCE, plugin_id=created.plugin_id,
        body=PluginCreate(plugin_name=created.plugin_name, plugin_type="third_auth",
                          plugin_scope="global", plugin_content=shown.plugin_content,
                          remark="updated by the ROMA SDK")))
    assert updated.status_code == 200
    assert updated.plugin_content == created.plugin_content
    assert roma_client.delete_plugin(DeletePluginRequest(
        instance_id=INSTANCE, plugin_id=created.plugin_id)).status_code == 204


def test_every_roma_seed_is_created_through_the_roma_sdk(roma_client):
    for plugin_type in ["cors", "set_resp_headers", "rate_limit", "kafka_log", "breaker",
                        "third_auth"]:
        body = roma_seed(plugin_type)
        created = roma_client.create_plugin(CreatePluginRequest(instance_id=INSTANCE, body=body))
        assert created.status_code == 201, plugin_type
        assert (created.plugin_type, created.roma_app_id) == (plugin_type, body.roma_app_id or "")
