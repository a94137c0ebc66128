"""The official Python SDK's eight gateway response calls, unchanged: create, list with paging,
show, update and delete a group's response set; show, update and reset one error type; plus
APIG's error codes (duplicate name, the default set's protections, the quota, bad fields)."""

import uuid

import pytest
from huaweicloudsdkapig.v2 import (
    ApiGroupCreate, CreateApiGroupV2Request, CreateGatewayResponseV2Request,
    DeleteGatewayResponseTypeV2Request, DeleteGatewayResponseV2Request,
    ListGatewayResponsesV2Request, ResponseInfo, ResponseInfoHeader, ResponsesCreate,
    ShowDetailsOfGatewayResponseTypeV2Request, ShowDetailsOfGatewayResponseV2Request,
    UpdateGatewayResponseTypeV2Request, UpdateGatewayResponseV2Request)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE


def expect(call, status, code):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call()
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value.error_msg


def test_gateway_responses_through_the_sdk(client):
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"resp_{uuid.uuid4().hex[:8]}")))
    g = group.id

    def create(name, responses=None):
        return client.create_gateway_response_v2(CreateGatewayResponseV2Request(
            instance_id=INSTANCE, group_id=g,
            body=ResponsesCreate(name=name, responses=responses)))

    throttled = ResponseInfo(status=503, body="busy $context.requestId",
                             headers=[ResponseInfoHeader(key="X-Why", value="throttled")])
    made = create("custom", {"THROTTLED": throttled})
    assert (made.name, made.default) == ("custom", False)
    t = made.responses["THROTTLED"]
    assert (t.status, t.body, t.default) == (503, "busy $context.requestId", False)
    assert [(h.key, h.value) for h in t.headers] == [("X-Why", "throttled")]
    assert made.responses["NOT_FOUND"].status == 404 and made.responses["NOT_FOUND"].default
    expect(lambda: create("custom"), 400, "APIG.3216")
    expect(lambda: create("bad name"), 400, "APIG.2012")
    expect(lambda: create("x", {"THROTTLED": ResponseInfo(status=444)}), 400, "APIG.2012")

    listed = client.list_gateway_responses_v2(ListGatewayResponsesV2Request(
        instance_id=INSTANCE, group_id=g))
    assert listed.total == 2 and listed.size == 2
    default = next(r for r in listed.responses if r.default)
    assert default.name == "default"
    page = client.list_gateway_responses_v2(ListGatewayResponsesV2Request(
        instance_id=INSTANCE, group_id=g, offset=1, limit=1))
    assert page.total == 2 and [r.id for r in page.responses] == [made.id]

    shown = client.show_details_of_gateway_response_v2(ShowDetailsOfGatewayResponseV2Request(
        instance_id=INSTANCE, group_id=g, response_id=made.id))
    assert shown.responses["THROTTLED"].status == 503
    updated = client.update_gateway_response_v2(UpdateGatewayResponseV2Request(
        instance_id=INSTANCE, group_id=g, response_id=made.id,
        body=ResponsesCreate(name="renamed", responses={"NOT_FOUND": ResponseInfo(status=410)})))
    assert updated.name == "renamed"
    assert updated.responses["NOT_FOUND"].status == 410
    assert updated.responses["THROTTLED"].status == 503
    expect(lambda: client.update_gateway_response_v2(UpdateGatewayResponseV2Request(
        instance_id=INSTANCE, group_id=g, response_id=default.id,
        body=ResponsesCreate(name="other"))), 409, "APIG.3492")
    expect(lambda: client.delete_gateway_response_v2(DeleteGatewayResponseV2Request(
        instance_id=INSTANCE, group_id=g, response_id=default.id)), 409, "APIG.3491")

    one = dict(instance_id=INSTANCE, group_id=g, response_id=made.id,
               response_type="ACCESS_DENIED")
    r = client.update_gateway_response_type_v2(UpdateGatewayResponseTypeV2Request(
        body=ResponseInfo(status=451, body="no"), **one))
    assert r.body["ACCESS_DENIED"].status == 451 and not r.body["ACCESS_DENIED"].default
    r = client.show_details_of_gateway_response_type_v2(
        ShowDetailsOfGatewayResponseTypeV2Request(**one))
    assert r.body["ACCESS_DENIED"].body == "no"
    client.delete_gateway_response_type_v2(DeleteGatewayResponseTypeV2Request(**one))
    r = client.show_details_of_gateway_response_type_v2(
        ShowDetailsOfGatewayResponseTypeV2Request(**one))
    assert (r.body["ACCESS_DENIED"].status, r.body["ACCESS_DENIED"].default) == (403, True)

    create("third")
    create("fourth")
    expect(lambda: create("fifth"), 403, "APIG.3136")
    client.delete_gateway_response_v2(DeleteGatewayResponseV2Request(
        instance_id=INSTANCE, group_id=g, response_id=made.id))
    expect(lambda: client.show_details_of_gateway_response_v2(
        ShowDetailsOfGatewayResponseV2Request(instance_id=INSTANCE, group_id=g,
                                              response_id=made.id)), 404, "APIG.3007")
