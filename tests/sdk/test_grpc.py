"""gRPC through the gateway (SPEC §8) with grpcio on both ends: a gRPC API created with the
official SDK (req_protocol GRPCS, backend_type GRPC), a grpcio server as its backend (h2c) and a
grpcio client over TLS; a unary call, a server-streaming and a client-streaming call, the
backend's own status passed through in trailers, and the gateway's refusals as gRPC statuses
(a throttled call RESOURCE_EXHAUSTED, an unknown method UNIMPLEMENTED)."""

import json
import os
import uuid
from concurrent import futures

import grpc
import pytest
from huaweicloudsdkapig.v2 import (
    ApiActionInfo, ApiCreate, ApiGroupCreate, AttachApiToPluginRequest, BackendApiCreate,
    CreateApiGroupV2Request, CreateApiV2Request, CreateOrDeletePublishRecordForApiV2Request,
    CreatePluginRequest, PluginCreate, PluginOperApiInfo)
from huaweicloudsdkcore.exceptions import exceptions

from conftest import INSTANCE

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"


def hello(request, context):
    return b"hello " + request


def count(request, context):
    for i in range(int(request)):
        yield f"item {i}".encode()


def total(requests, context):
    return str(sum(int(r) for r in requests)).encode()


def missing(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


@pytest.fixture(scope="module")
def backend():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handlers = {
        "Hello": grpc.unary_unary_rpc_method_handler(hello),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Total": grpc.stream_unary_rpc_method_handler(total),
        "Missing": grpc.unary_unary_rpc_method_handler(missing),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("demo.Greeter", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def grpc_api(client, backend, limit=None):
    tag = uuid.uuid4().hex[:8]
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"grpc_{tag}")))
    api = client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(
        name=f"greeter_{tag}", type=1, req_protocol="GRPCS", req_method="POST",
        req_uri="/demo.Greeter", match_mode="SWA", auth_type="NONE", backend_type="GRPC",
        group_id=group.id,
        backend_api=BackendApiCreate(url_domain=backend, req_protocol="GRPC", req_method="POST",
                                     req_uri="/", timeout=5000))))
    client.create_or_delete_publish_record_for_api_v2(CreateOrDeletePublishRecordForApiV2Request(
        instance_id=INSTANCE, body=ApiActionInfo(action="online", env_id=RELEASE, api_id=api.id)))
    if limit:
        plugin = client.create_plugin(CreatePluginRequest(instance_id=INSTANCE, body=PluginCreate(
            plugin_name=f"grpc_limit_{tag}", plugin_type="rate_limit", plugin_scope="global",
            plugin_content=json.dumps({"api_limit": limit, "default_time_unit": "hour"}))))
        client.attach_api_to_plugin(AttachApiToPluginRequest(
            instance_id=INSTANCE, plugin_id=plugin.plugin_id,
            body=PluginOperApiInfo(env_id=RELEASE, api_ids=[api.id])))
    return f"{group.id}.apigw.localhost"


def channel(server, host):
    with open(os.path.join(server.data_dir, "instance.crt"), "rb") as f:
        root = f.read()
    creds = grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.secure_channel(server.gateway_tls, creds, options=[
        ("grpc.ssl_target_name_override", host), ("grpc.default_authority", host)])


def test_unary_and_streaming_calls_cross_the_gateway(client, server, backend):
    host = grpc_api(client, backend)
    with channel(server, host) as ch:
        assert ch.unary_unary("/demo.Greeter/Hello")(b"world", timeout=10) == b"hello world"
        items = list(ch.unary_stream("/demo.Greeter/Count")(b"5", timeout=10))
        assert items == [f"item {i}".encode() for i in range(5)]
        assert ch.stream_unary("/demo.Greeter/Total")(iter([b"1", b"2", b"39"]), timeout=10) == b"42"
        # The backend's own status and message come through in the trailers.
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary("/demo.Greeter/Missing")(b"", timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert e.value.details() == "no such thing"
        # No API for that service: the gateway's 404 as UNIMPLEMENTED.
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary("/other.Service/Call")(b"", timeout=10)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "APIG.0101" in e.value.details()


def test_a_throttled_call_is_resource_exhausted(client, server, backend):
    host = grpc_api(client, backend, limit=2)
    with channel(server, host) as ch:
        say = ch.unary_unary("/demo.Greeter/Hello")
        assert say(b"a", timeout=10) == b"hello a"
        assert say(b"b", timeout=10) == b"hello b"
        with pytest.raises(grpc.RpcError) as e:
            say(b"c", timeout=10)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "APIG.0308" in e.value.details()


def test_grpc_apis_are_validated_field_by_field(client, backend):
    tag = uuid.uuid4().hex[:8]
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"grpc_bad_{tag}")))

    def create(**changes):
        fields = dict(name=f"bad_{tag}", type=1, req_protocol="GRPCS", req_method="POST",
                      req_uri="/demo.Greeter", match_mode="SWA", auth_type="NONE",
                      backend_type="GRPC", group_id=group.id,
                      backend_api=BackendApiCreate(url_domain=backend, req_protocol="GRPC",
                                                   req_method="POST", req_uri="/", timeout=5000))
        fields.update(changes)
        return client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(**fields)))

    for changes, field in [
        (dict(req_method="GET"), "req_method"),
        (dict(req_uri="/demo.Greeter/Hello/x"), "req_uri"),
        (dict(match_mode="NORMAL"), "match_mode"),
        (dict(backend_type="HTTP"), "backend_type"),
        (dict(backend_api=BackendApiCreate(url_domain=backend, req_protocol="HTTP",
                                           req_method="POST", req_uri="/", timeout=5000)),
         "backend_api.req_protocol"),
        (dict(backend_api=BackendApiCreate(url_domain=backend, req_protocol="GRPC",
                                           req_method="POST", req_uri="/x", timeout=5000)),
         "backend_api.req_uri"),
    ]:
        with pytest.raises(exceptions.ClientRequestException) as e:
            create(**changes)
        assert (e.value.status_code, e.value.error_code) == (400, "APIG.2012"), changes
        assert field in e.value.error_msg, (field, e.value.error_msg)
