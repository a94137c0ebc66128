"""The official Python SDK's seventeen load balance channel calls, unchanged: channels (create,
update, show, list with filters, delete), members (add or update, replace, list, remove, batch
enable and disable), member groups (add or update, list, show, update, delete) and the health
check; bad input answered with APIG.2012 naming the field; and an API whose backend goes
through a channel, which keeps the channel from being deleted."""

import uuid

import pytest
from huaweicloudsdkapig.v2 import (
    AddingBackendInstancesV2Request, ApiCreate, ApiGroupCreate, ApiBackendVpcReq,
    BackendApiCreate, BatchDisableMembersRequest, BatchEnableMembersRequest,
    CreateApiGroupV2Request, CreateApiV2Request, CreateMemberGroupRequest,
    CreateVpcChannelV2Request, DeleteApiV2Request, DeleteBackendInstanceV2Request,
    DeleteMemberGroupRequest, DeleteVpcChannelV2Request, ListBackendInstancesV2Request,
    ListMemberGroupsRequest, ListVpcChannelsV2Request, MemberGroupCreate,
    MemberGroupCreateBatch, MemberInfo, MembersBatchEnableOrDisable,
    ShowDetailsOfMemberGroupRequest, ShowDetailsOfVpcChannelV2Request,
    UpdateBackendInstancesV2Request, UpdateHealthCheckRequest, UpdateMemberGroupRequest,
    UpdateVpcChannelV2Request, VpcCreate, VpcHealthConfig, VpcMemberCreate, VpcMemberModify)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE


def expect(call, status, code, field=None):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call()
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value.error_msg
    if field is not None:
        assert f"parameterName:{field}" in e.value.error_msg, e.value.error_msg


def health(**over):
    fields = dict(protocol="http", path="/vpc/demo", port=22, threshold_normal=2,
                  threshold_abnormal=5, time_interval=10, timeout=5, http_code="200",
                  enable_client_ssl=False)
    fields.update(over)
    return VpcHealthConfig(**fields)


def channel_body(name, **over):
    """The create page's example, verbatim but for the name."""
    fields = dict(
        name=name, port=22, balance_strategy=1, member_type="ip", type=2,
        vpc_health_config=health(),
        member_groups=[
            MemberGroupCreate(member_group_name="test", member_group_weight=1,
                              member_group_remark="remark"),
            MemberGroupCreate(member_group_name="default", member_group_weight=2,
                              member_group_remark="remark")],
        members=[MemberInfo(host="192.168.0.5", weight=1, member_group_name="test"),
                 MemberInfo(host="192.168.1.124", weight=2, member_group_name="default")])
    fields.update(over)
    return VpcCreate(**fields)


def create(client, body):
    return client.create_vpc_channel_v2(CreateVpcChannelV2Request(
        instance_id=INSTANCE, body=body))


def show(client, channel_id):
    return client.show_details_of_vpc_channel_v2(ShowDetailsOfVpcChannelV2Request(
        instance_id=INSTANCE, vpc_channel_id=channel_id))


def test_channels_through_the_sdk(client):
    name = f"VPC_{uuid.uuid4().hex[:8]}"
    made = create(client, channel_body(name))
    assert (made.name, made.port, made.balance_strategy, made.member_type, made.type) == \
        (name, 22, 1, "ip", 2)
    assert sorted(g.member_group_name for g in made.member_groups) == ["default", "test"]

    shown = show(client, made.id)
    assert sorted(m.host for m in shown.members) == ["192.168.0.5", "192.168.1.124"]
    test_group = next(g for g in shown.member_groups if g.member_group_name == "test")
    m5 = next(m for m in shown.members if m.host == "192.168.0.5")
    assert (m5.member_group_id, m5.vpc_channel_id, m5.status, m5.ecs_id) == \
        (test_group.member_group_id, made.id, 1, "192.168.0.5")
    assert (shown.vpc_health_config.protocol, shown.vpc_health_config.path) == \
        ("HTTP", "/vpc/demo")

    listed = client.list_vpc_channels_v2(ListVpcChannelsV2Request(
        instance_id=INSTANCE, name=name, precise_search="name"))
    assert [c.id for c in listed.vpc_channels] == [made.id]
    assert client.list_vpc_channels_v2(ListVpcChannelsV2Request(
        instance_id=INSTANCE, member_host="192.168.1.124", name=name)).total == 1
    assert client.list_vpc_channels_v2(ListVpcChannelsV2Request(
        instance_id=INSTANCE, member_host="10.9.9.9", name=name)).total == 0

    expect(lambda: create(client, channel_body(name)), 400, "APIG.3208")

    updated = client.update_vpc_channel_v2(UpdateVpcChannelV2Request(
        instance_id=INSTANCE, vpc_channel_id=made.id,
        body=channel_body(name, balance_strategy=2, port=8080,
                          members=[MemberInfo(host="192.168.0.5", weight=7,
                                              member_group_name="test")])))
    assert (updated.balance_strategy, updated.port) == (2, 8080)
    again = show(client, made.id)
    assert [(m.id, m.weight) for m in again.members] == [(m5.id, 7)], \
        "a member at the same address keeps its id"

    client.delete_vpc_channel_v2(DeleteVpcChannelV2Request(
        instance_id=INSTANCE, vpc_channel_id=made.id))
    expect(lambda: show(client, made.id), 404, "APIG.3023")


def test_members_and_groups_through_the_sdk(client):
    made = create(client, channel_body(f"VPC_{uuid.uuid4().hex[:8]}"))
    cid = made.id

    added = client.adding_backend_instances_v2(AddingBackendInstancesV2Request(
        instance_id=INSTANCE, vpc_channel_id=cid, body=VpcMemberCreate(members=[
            MemberInfo(host="192.168.2.25", weight=1, member_group_name="test"),
            MemberInfo(host="192.168.0.5", weight=9, member_group_name="test")])))
    assert added.total == 2
    members = client.list_backend_instances_v2(ListBackendInstancesV2Request(
        instance_id=INSTANCE, vpc_channel_id=cid, member_group_name="test",
        precise_search="member_group_name")).members
    assert sorted((m.host, m.weight) for m in members) == \
        [("192.168.0.5", 9), ("192.168.2.25", 1)]

    replaced = client.update_backend_instances_v2(UpdateBackendInstancesV2Request(
        instance_id=INSTANCE, vpc_channel_id=cid, body=VpcMemberModify(
            member_group_name="test",
            members=[MemberInfo(host="192.168.2.26", weight=3, member_group_name="test"),
                     MemberInfo(host="10.0.0.1", weight=3, member_group_name="default")])))
    assert sorted(m.host for m in replaced.members) == ["192.168.1.124", "192.168.2.26"], \
        "only the test group's members are replaced; other groups' are ignored"

    one = next(m for m in replaced.members if m.host == "192.168.2.26")
    client.batch_disable_members(BatchDisableMembersRequest(
        instance_id=INSTANCE, vpc_channel_id=cid,
        body=MembersBatchEnableOrDisable(member_ids=[one.id])))
    assert next(m for m in show(client, cid).members if m.id == one.id).status == 2
    client.batch_enable_members(BatchEnableMembersRequest(
        instance_id=INSTANCE, vpc_channel_id=cid,
        body=MembersBatchEnableOrDisable(member_ids=[one.id])))
    assert next(m for m in show(client, cid).members if m.id == one.id).status == 1
    expect(lambda: client.batch_enable_members(BatchEnableMembersRequest(
        instance_id=INSTANCE, vpc_channel_id=cid,
        body=MembersBatchEnableOrDisable(member_ids=["f" * 32]))), 404, "APIG.3024")

    client.delete_backend_instance_v2(DeleteBackendInstanceV2Request(
        instance_id=INSTANCE, vpc_channel_id=cid, member_id=one.id))
    expect(lambda: client.delete_backend_instance_v2(DeleteBackendInstanceV2Request(
        instance_id=INSTANCE, vpc_channel_id=cid, member_id=one.id)), 404, "APIG.3024")

    groups = client.create_member_group(CreateMemberGroupRequest(
        instance_id=INSTANCE, vpc_channel_id=cid, body=MemberGroupCreateBatch(member_groups=[
            MemberGroupCreate(member_group_name="vpc_member_group", member_group_weight=10),
            MemberGroupCreate(member_group_name="default", member_group_weight=5)])))
    assert groups.total == 2
    listed = client.list_member_groups(ListMemberGroupsRequest(
        instance_id=INSTANCE, vpc_channel_id=cid))
    assert sorted((g.member_group_name, g.member_group_weight) for g in listed.member_groups) \
        == [("default", 5), ("test", 1), ("vpc_member_group", 10)]
    default = next(g for g in listed.member_groups if g.member_group_name == "default")
    renamed = client.update_member_group(UpdateMemberGroupRequest(
        instance_id=INSTANCE, vpc_channel_id=cid, member_group_id=default.member_group_id,
        body=MemberGroupCreate(member_group_name="primary", member_group_weight=4)))
    assert (renamed.member_group_name, renamed.member_group_weight) == ("primary", 4)
    assert client.show_details_of_member_group(ShowDetailsOfMemberGroupRequest(
        instance_id=INSTANCE, vpc_channel_id=cid,
        member_group_id=default.member_group_id)).member_group_name == "primary"
    assert [m.member_group_name for m in show(client, cid).members
            if m.host == "192.168.1.124"] == ["primary"], "a rename carries the members"
    expect(lambda: client.update_member_group(UpdateMemberGroupRequest(
        instance_id=INSTANCE, vpc_channel_id=cid, member_group_id=default.member_group_id,
        body=MemberGroupCreate(member_group_name="test"))), 400, "APIG.2012",
        "member_group_name")

    client.delete_member_group(DeleteMemberGroupRequest(
        instance_id=INSTANCE, vpc_channel_id=cid, member_group_id=default.member_group_id))
    assert all(m.member_group_name != "primary" for m in show(client, cid).members)
    expect(lambda: client.show_details_of_member_group(ShowDetailsOfMemberGroupRequest(
        instance_id=INSTANCE, vpc_channel_id=cid, member_group_id=default.member_group_id)),
        404, "APIG.3007")

    checked = client.update_health_check(UpdateHealthCheckRequest(
        instance_id=INSTANCE, vpc_channel_id=cid,
        body=health(protocol="TCP", path=None, http_code=None, time_interval=30, timeout=3)))
    assert (checked.protocol, checked.time_interval, checked.vpc_channel_id) == ("TCP", 30, cid)
    expect(lambda: client.update_health_check(UpdateHealthCheckRequest(
        instance_id=INSTANCE, vpc_channel_id=cid, body=health(path=None))),
        400, "APIG.2012", "path")
    expect(lambda: client.update_health_check(UpdateHealthCheckRequest(
        instance_id=INSTANCE, vpc_channel_id=cid, body=health(timeout=10))),
        400, "APIG.2012", "timeout")

    client.delete_vpc_channel_v2(DeleteVpcChannelV2Request(
        instance_id=INSTANCE, vpc_channel_id=cid))


@pytest.mark.parametrize("over, field", [
    (dict(type=3), "type"),
    (dict(port=0), "port"),
    (dict(balance_strategy=5), "balance_strategy"),
    (dict(name="1bad"), "name"),
    (dict(members=[MemberInfo(host="192.168.0.5", weight=10001)]), "members[0].weight"),
    (dict(members=[MemberInfo(host="192.168.0.5", member_group_name="nope")]),
     "members[0].member_group_name"),
    (dict(member_type="ecs", members=[MemberInfo(ecs_id="i-1", ecs_name="APIGtest02")]),
     "members[0].host"),
    (dict(vpc_health_config=health(http_code="200-")), "vpc_health_config.http_code"),
    (dict(vpc_health_config=health(threshold_normal=11)), "vpc_health_config.threshold_normal"),
])
def test_bad_channels_are_refused_naming_the_field(client, over, field):
    body = channel_body(**{"name": f"VPC_{uuid.uuid4().hex[:8]}", **over})
    expect(lambda: create(client, body), 400, "APIG.2012", field)


def test_an_api_through_a_channel_keeps_it(client):
    made = create(client, channel_body(f"VPC_{uuid.uuid4().hex[:8]}"))
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"vpc_{uuid.uuid4().hex[:8]}")))

    def api(channel_id):
        backend = BackendApiCreate(
            req_protocol="HTTP", req_method="GET", req_uri="/", timeout=600000,
            vpc_channel_status=1, vpc_channel_info=ApiBackendVpcReq(
                vpc_channel_id=channel_id, vpc_channel_proxy_host="api.example.com"))
        return client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(
            name=f"api_{uuid.uuid4().hex[:8]}", type=1, req_protocol="HTTP", req_method="GET",
            req_uri=f"/vpc/{uuid.uuid4().hex[:8]}", auth_type="NONE", backend_type="HTTP",
            group_id=group.id, backend_api=backend)))

    expect(lambda: api("f" * 32), 404, "APIG.3023")
    created = api(made.id)
    assert created.backend_api.vpc_channel_status == 1
    assert created.backend_api.vpc_channel_info.vpc_channel_id == made.id
    expect(lambda: client.delete_vpc_channel_v2(DeleteVpcChannelV2Request(
        instance_id=INSTANCE, vpc_channel_id=made.id)), 403, "APIG.3414")
    client.delete_api_v2(DeleteApiV2Request(instance_id=INSTANCE, api_id=created.id))
    client.delete_vpc_channel_v2(DeleteVpcChannelV2Request(
        instance_id=INSTANCE, vpc_channel_id=made.id))
