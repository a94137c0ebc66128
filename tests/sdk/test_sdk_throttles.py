"""The official Python SDK's fifteen request throttling calls, unchanged: create, modify, show,
list with filters, delete; bind to a publication, the three binding lists, unbind one and
several; excluded configurations create, modify, list, delete; APIG's error codes (APIG.3204,
APIG.2012 naming the field, APIG.3005, APIG.3012, APIG.3013, APIG.3308)."""

import uuid

import pytest
from huaweicloudsdkapig.v2 import (
    ApiActionInfo, ApiCreate, ApiGroupCreate, AppCreate, AssociateRequestThrottlingPolicyV2Request,
    BackendApiCreate, BatchDisassociateThrottlingPolicyV2Request, CreateApiGroupV2Request,
    CreateApiV2Request, CreateAnAppV2Request, CreateOrDeletePublishRecordForApiV2Request,
    CreateRequestThrottlingPolicyV2Request, CreateSpecialThrottlingConfigurationV2Request,
    DeleteRequestThrottlingPolicyV2Request, DeleteSpecialThrottlingConfigurationV2Request,
    DisassociateRequestThrottlingPolicyV2Request, ListApisBindedToRequestThrottlingPolicyV2Request,
    ListApisUnbindedToRequestThrottlingPolicyV2Request,
    ListRequestThrottlingPoliciesBindedToApiV2Request, ListRequestThrottlingPolicyV2Request,
    ListSpecialThrottlingConfigurationsV2Request, ShowDetailsOfRequestThrottlingPolicyV2Request,
    ThrottleApiBindingCreate, ThrottleBaseInfo, ThrottleBindingBatchDelete, ThrottleSpecialCreate,
    ThrottleSpecialUpdate, UpdateRequestThrottlingPolicyV2Request,
    UpdateSpecialThrottlingConfigurationV2Request)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"


def expect(call, status, code):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call()
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value.error_msg
    return e.value.error_msg


def policy(name, **limits):
    fields = dict(name=name, api_call_limits=800, user_call_limits=500, app_call_limits=300,
                  ip_call_limits=600, time_interval=1, time_unit="SECOND", type=1,
                  enable_adaptive_control="FALSE", remark="demo")
    fields.update(limits)
    return ThrottleBaseInfo(**fields)


def create(client, name, **limits):
    return client.create_request_throttling_policy_v2(CreateRequestThrottlingPolicyV2Request(
        instance_id=INSTANCE, body=policy(name, **limits)))


def test_request_throttling_through_the_sdk(client):
    suffix = uuid.uuid4().hex[:8]
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"throttles_{suffix}")))
    backend = BackendApiCreate(url_domain="127.0.0.1:9", req_protocol="HTTP", req_method="GET",
                               req_uri="/", timeout=5000)
    apis, publications = [], []
    for n in ("one", "two"):
        api = client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(
            name=f"api_{n}_{suffix}", type=1, req_protocol="HTTP", req_method="GET",
            req_uri=f"/{n}", auth_type="NONE", backend_type="HTTP", group_id=group.id,
            backend_api=backend)))
        apis.append(api)
        publications.append(client.create_or_delete_publish_record_for_api_v2(
            CreateOrDeletePublishRecordForApiV2Request(instance_id=INSTANCE, body=ApiActionInfo(
                action="online", env_id=RELEASE, api_id=api.id))))

    demo = create(client, f"demo_{suffix}")
    assert (demo.api_call_limits, demo.app_call_limits, demo.time_unit, demo.type,
            demo.bind_num, demo.is_inclu_special_throttle) == (800, 300, "SECOND", 1, 0, 2)
    other = create(client, f"other_{suffix}", user_call_limits=None, app_call_limits=None)
    expect(lambda: create(client, f"demo_{suffix}"), 400, "APIG.3204")
    msg = expect(lambda: create(client, f"nest_{suffix}", app_call_limits=501), 400, "APIG.2012")
    assert "app_call_limits" in msg
    msg = expect(lambda: create(client, f"unit_{suffix}", time_unit="WEEK"), 400, "APIG.2012")
    assert "time_unit" in msg

    updated = client.update_request_throttling_policy_v2(UpdateRequestThrottlingPolicyV2Request(
        instance_id=INSTANCE, throttle_id=demo.id,
        body=policy(f"demo_{suffix}", api_call_limits=900, time_unit="MINUTE")))
    assert (updated.api_call_limits, updated.time_unit) == (900, "MINUTE")
    shown = client.show_details_of_request_throttling_policy_v2(
        ShowDetailsOfRequestThrottlingPolicyV2Request(instance_id=INSTANCE, throttle_id=demo.id))
    assert shown.name == f"demo_{suffix}"
    listed = client.list_request_throttling_policy_v2(ListRequestThrottlingPolicyV2Request(
        instance_id=INSTANCE, name=f"demo_{suffix}", precise_search="name"))
    assert listed.total == 1 and listed.throttles[0].id == demo.id

    bound = client.associate_request_throttling_policy_v2(
        AssociateRequestThrottlingPolicyV2Request(instance_id=INSTANCE, body=ThrottleApiBindingCreate(
            strategy_id=demo.id, publish_ids=[p.publish_id for p in publications])))
    assert [b.publish_id for b in bound.throttle_applys] == [p.publish_id for p in publications]
    msg = expect(lambda: client.associate_request_throttling_policy_v2(
        AssociateRequestThrottlingPolicyV2Request(instance_id=INSTANCE, body=ThrottleApiBindingCreate(
            strategy_id=other.id, publish_ids=[publications[0].publish_id]))), 400, "APIG.2012")
    assert "publish_ids" in msg

    on_api = client.list_request_throttling_policies_binded_to_api_v2(
        ListRequestThrottlingPoliciesBindedToApiV2Request(instance_id=INSTANCE, api_id=apis[0].id))
    assert on_api.total == 1 and on_api.throttles[0].bind_id == bound.throttle_applys[0].id
    on_policy = client.list_apis_binded_to_request_throttling_policy_v2(
        ListApisBindedToRequestThrottlingPolicyV2Request(instance_id=INSTANCE, throttle_id=demo.id))
    assert on_policy.total == 2
    free = client.list_apis_unbinded_to_request_throttling_policy_v2(
        ListApisUnbindedToRequestThrottlingPolicyV2Request(
            instance_id=INSTANCE, throttle_id=other.id, api_id=apis[0].id))
    assert free.total == 1 and free.apis[0].throttle_name == f"demo_{suffix}"

    app = client.create_an_app_v2(CreateAnAppV2Request(
        instance_id=INSTANCE, body=AppCreate(name=f"app_{suffix}")))
    special = client.create_special_throttling_configuration_v2(
        CreateSpecialThrottlingConfigurationV2Request(
            instance_id=INSTANCE, throttle_id=demo.id,
            body=ThrottleSpecialCreate(object_type="APP", object_id=app.id, call_limits=50)))
    assert (special.app_id, special.app_name, special.call_limits) == (app.id, f"app_{suffix}", 50)
    expect(lambda: client.create_special_throttling_configuration_v2(
        CreateSpecialThrottlingConfigurationV2Request(
            instance_id=INSTANCE, throttle_id=demo.id,
            body=ThrottleSpecialCreate(object_type="APP", object_id=app.id, call_limits=5))),
        400, "APIG.3308")
    changed = client.update_special_throttling_configuration_v2(
        UpdateSpecialThrottlingConfigurationV2Request(
            instance_id=INSTANCE, throttle_id=demo.id, strategy_id=special.id,
            body=ThrottleSpecialUpdate(call_limits=70)))
    assert changed.call_limits == 70
    specials = client.list_special_throttling_configurations_v2(
        ListSpecialThrottlingConfigurationsV2Request(
            instance_id=INSTANCE, throttle_id=demo.id, object_type="APP"))
    assert specials.total == 1 and specials.throttle_specials[0].object_id == app.id
    client.delete_special_throttling_configuration_v2(
        DeleteSpecialThrottlingConfigurationV2Request(
            instance_id=INSTANCE, throttle_id=demo.id, strategy_id=special.id))
    expect(lambda: client.delete_special_throttling_configuration_v2(
        DeleteSpecialThrottlingConfigurationV2Request(
            instance_id=INSTANCE, throttle_id=demo.id, strategy_id=special.id)),
        404, "APIG.3013")

    first = bound.throttle_applys[0].id
    client.disassociate_request_throttling_policy_v2(DisassociateRequestThrottlingPolicyV2Request(
        instance_id=INSTANCE, throttle_binding_id=first))
    expect(lambda: client.disassociate_request_throttling_policy_v2(
        DisassociateRequestThrottlingPolicyV2Request(
            instance_id=INSTANCE, throttle_binding_id=first)), 404, "APIG.3012")
    result = client.batch_disassociate_throttling_policy_v2(
        BatchDisassociateThrottlingPolicyV2Request(
            instance_id=INSTANCE, action="delete", body=ThrottleBindingBatchDelete(
                throttle_bindings=[bound.throttle_applys[1].id, "nope"])))
    assert result.success_count == 1 and result.failure[0].bind_id == "nope"

    client.delete_request_throttling_policy_v2(DeleteRequestThrottlingPolicyV2Request(
        instance_id=INSTANCE, throttle_id=demo.id))
    expect(lambda: client.show_details_of_request_throttling_policy_v2(
        ShowDetailsOfRequestThrottlingPolicyV2Request(instance_id=INSTANCE, throttle_id=demo.id)),
        404, "APIG.3005")
