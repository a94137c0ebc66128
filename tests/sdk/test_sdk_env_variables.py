"""The official Python SDK's five environment variable calls, unchanged: create, list with
filters, show, update (the value only) and delete, plus APIG's error codes; and an API whose
backend is `#host#` published after its variable exists."""

import uuid

import pytest
from huaweicloudsdkapig.v2 import (
    ApiActionInfo, ApiCreate, ApiGroupCreate, BackendApiCreate, CreateApiGroupV2Request,
    CreateApiV2Request, CreateEnvironmentVariableV2Request,
    CreateOrDeletePublishRecordForApiV2Request, DeleteEnvironmentVariableV2Request,
    EnvVariableBase, EnvVariableCreate, ListEnvironmentVariablesV2Request,
    ShowDetailsOfEnvironmentVariableV2Request, UpdateEnvironmentVariableV2Request)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"


def expect(call, status, code):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call()
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value.error_msg


def create(client, group_id, name, value, env_id=RELEASE):
    body = EnvVariableCreate(group_id=group_id, env_id=env_id, variable_name=name,
                             variable_value=value)
    return client.create_environment_variable_v2(
        CreateEnvironmentVariableV2Request(instance_id=INSTANCE, body=body))


def test_environment_variables_through_the_sdk(client):
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"vars_{uuid.uuid4().hex[:8]}")))
    backend = BackendApiCreate(url_domain="#backend_host#", req_protocol="HTTP", req_method="GET",
                               req_uri="/", timeout=5000)
    api = client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(
        name=f"api_{uuid.uuid4().hex[:8]}", type=1, req_protocol="HTTP", req_method="GET",
        req_uri="/vars", auth_type="NONE", backend_type="HTTP", group_id=group.id,
        backend_api=backend)))
    publish = ApiActionInfo(action="online", env_id=RELEASE, api_id=api.id)
    expect(lambda: client.create_or_delete_publish_record_for_api_v2(
        CreateOrDeletePublishRecordForApiV2Request(instance_id=INSTANCE, body=publish)),
        400, "APIG.2012")

    made = create(client, group.id, "backend_host", "127.0.0.1:9")
    assert (made.variable_name, made.variable_value, made.group_id, made.env_id) == \
        ("backend_host", "127.0.0.1:9", group.id, RELEASE)
    client.create_or_delete_publish_record_for_api_v2(
        CreateOrDeletePublishRecordForApiV2Request(instance_id=INSTANCE, body=publish))
    create(client, group.id, "other_var", "x")

    listed = client.list_environment_variables_v2(ListEnvironmentVariablesV2Request(
        instance_id=INSTANCE, group_id=group.id, variable_name="backend_host",
        precise_search="variable_name"))
    assert listed.total == 1 and listed.variables[0].id == made.id
    assert client.list_environment_variables_v2(ListEnvironmentVariablesV2Request(
        instance_id=INSTANCE, group_id=group.id)).total == 2

    updated = client.update_environment_variable_v2(UpdateEnvironmentVariableV2Request(
        instance_id=INSTANCE, env_variable_id=made.id,
        body=EnvVariableBase(variable_value="127.0.0.1:10")))
    assert updated.variable_value == "127.0.0.1:10"
    shown = client.show_details_of_environment_variable_v2(
        ShowDetailsOfEnvironmentVariableV2Request(instance_id=INSTANCE, env_variable_id=made.id))
    assert (shown.variable_name, shown.variable_value) == ("backend_host", "127.0.0.1:10")

    expect(lambda: create(client, group.id, "backend_host", "y"), 400, "APIG.3303")
    expect(lambda: create(client, group.id, "x!", "y"), 400, "APIG.2012")
    client.delete_environment_variable_v2(
        DeleteEnvironmentVariableV2Request(instance_id=INSTANCE, env_variable_id=made.id))
    expect(lambda: client.show_details_of_environment_variable_v2(
        ShowDetailsOfEnvironmentVariableV2Request(instance_id=INSTANCE, env_variable_id=made.id)),
        404, "APIG.3011")
