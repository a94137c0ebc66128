"""The official Python SDK's twelve access control calls, unchanged: create, modify, show,
list with filters, delete one and several; bind to a publication, the three binding lists,
unbind one and several; APIG's error codes (APIG.3206, APIG.3447, APIG.3006, APIG.3010)."""

import uuid

import pytest
from huaweicloudsdkapig.v2 import (
    AclApiBindingCreate, AclBatchDelete, AclBindingBatchDelete, ApiAclCreate, ApiActionInfo,
    ApiCreate, ApiGroupCreate, BackendApiCreate, BatchDeleteAclV2Request,
    BatchDeleteApiAclBindingV2Request, CreateAclStrategyV2Request, CreateApiAclBindingV2Request,
    CreateApiGroupV2Request, CreateApiV2Request, CreateOrDeletePublishRecordForApiV2Request,
    DeleteAclV2Request, DeleteApiAclBindingV2Request, ListAclPolicyBindedToApiV2Request,
    ListAclStrategiesV2Request, ListApisBindedToAclPolicyV2Request,
    ListApisUnbindedToAclPolicyV2Request, ShowDetailsOfAclPolicyV2Request,
    UpdateAclStrategyV2Request)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"


def expect(call, status, code):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call()
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value.error_msg


def create(client, name, acl_type, entity_type, value):
    body = ApiAclCreate(acl_name=name, acl_type=acl_type, entity_type=entity_type,
                        acl_value=value)
    return client.create_acl_strategy_v2(
        CreateAclStrategyV2Request(instance_id=INSTANCE, body=body))


def test_access_control_through_the_sdk(client):
    suffix = uuid.uuid4().hex[:8]
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"acls_{suffix}")))
    backend = BackendApiCreate(url_domain="127.0.0.1:9", req_protocol="HTTP", req_method="GET",
                               req_uri="/", timeout=5000)
    api = client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(
        name=f"api_{suffix}", type=1, req_protocol="HTTP", req_method="GET",
        req_uri="/acl", auth_type="NONE", backend_type="HTTP", group_id=group.id,
        backend_api=backend)))
    published = client.create_or_delete_publish_record_for_api_v2(
        CreateOrDeletePublishRecordForApiV2Request(instance_id=INSTANCE, body=ApiActionInfo(
            action="online", env_id=RELEASE, api_id=api.id)))

    ip = create(client, f"ip_{suffix}", "DENY", "IP", "192.168.1.5,10.0.0.0/8")
    assert (ip.acl_type, ip.entity_type, ip.acl_value) == ("DENY", "IP", "192.168.1.5,10.0.0.0/8")
    account = create(client, f"account_{suffix}", "PERMIT", "DOMAIN", "alice")
    expect(lambda: create(client, f"ip_{suffix}", "DENY", "IP", "1.1.1.1"), 400, "APIG.3206")
    expect(lambda: create(client, "x!", "DENY", "IP", "1.1.1.1"), 400, "APIG.2012")

    updated = client.update_acl_strategy_v2(UpdateAclStrategyV2Request(
        instance_id=INSTANCE, acl_id=account.id, body=ApiAclCreate(
            acl_name=f"account_{suffix}", acl_type="DENY", entity_type="DOMAIN_ID",
            acl_value="p1,p2")))
    assert (updated.acl_type, updated.entity_type) == ("DENY", "DOMAIN_ID")
    shown = client.show_details_of_acl_policy_v2(
        ShowDetailsOfAclPolicyV2Request(instance_id=INSTANCE, acl_id=ip.id))
    assert shown.acl_name == f"ip_{suffix}"
    listed = client.list_acl_strategies_v2(ListAclStrategiesV2Request(
        instance_id=INSTANCE, name=f"ip_{suffix}", precise_search="name"))
    assert listed.total == 1 and listed.acls[0].bind_num == 0

    bound = client.create_api_acl_binding_v2(CreateApiAclBindingV2Request(
        instance_id=INSTANCE, body=AclApiBindingCreate(
            acl_id=ip.id, publish_ids=[published.publish_id])))
    binding = bound.acl_bindings[0]
    assert (binding.api_id, binding.env_id, binding.acl_id) == (api.id, RELEASE, ip.id)
    client.create_api_acl_binding_v2(CreateApiAclBindingV2Request(
        instance_id=INSTANCE, body=AclApiBindingCreate(
            acl_id=account.id, publish_ids=[published.publish_id])))

    on_api = client.list_acl_policy_binded_to_api_v2(
        ListAclPolicyBindedToApiV2Request(instance_id=INSTANCE, api_id=api.id))
    assert on_api.total == 2
    apis = client.list_apis_binded_to_acl_policy_v2(
        ListApisBindedToAclPolicyV2Request(instance_id=INSTANCE, acl_id=ip.id))
    assert apis.total == 1 and apis.apis[0].publish_id == published.publish_id
    other = create(client, f"other_{suffix}", "PERMIT", "IP", "::1")
    free = client.list_apis_unbinded_to_acl_policy_v2(ListApisUnbindedToAclPolicyV2Request(
        instance_id=INSTANCE, acl_id=other.id, api_id=api.id))
    assert free.total == 1 and free.apis[0].acl_name == f"ip_{suffix}"

    expect(lambda: client.delete_acl_v2(DeleteAclV2Request(instance_id=INSTANCE, acl_id=ip.id)),
           403, "APIG.3447")
    result = client.batch_delete_acl_v2(BatchDeleteAclV2Request(
        instance_id=INSTANCE, action="delete", body=AclBatchDelete(acls=[ip.id, other.id])))
    assert result.success_count == 1 and result.failure[0].error_code == "APIG.3447"

    client.delete_api_acl_binding_v2(DeleteApiAclBindingV2Request(
        instance_id=INSTANCE, acl_bindings_id=binding.id))
    expect(lambda: client.delete_api_acl_binding_v2(DeleteApiAclBindingV2Request(
        instance_id=INSTANCE, acl_bindings_id=binding.id)), 404, "APIG.3010")
    rest = on_api.acls[0].bind_id if on_api.acls[0].bind_id != binding.id \
        else on_api.acls[1].bind_id
    unbound = client.batch_delete_api_acl_binding_v2(BatchDeleteApiAclBindingV2Request(
        instance_id=INSTANCE, action="delete",
        body=AclBindingBatchDelete(acl_bindings=[rest, "nope"])))
    assert unbound.success_count == 1 and unbound.failure[0].error_code == "APIG.3010"

    client.delete_acl_v2(DeleteAclV2Request(instance_id=INSTANCE, acl_id=ip.id))
    expect(lambda: client.show_details_of_acl_policy_v2(
        ShowDetailsOfAclPolicyV2Request(instance_id=INSTANCE, acl_id=ip.id)), 404, "APIG.3006")
