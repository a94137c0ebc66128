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


def tls_pair():
    """A CA and a server certificate for 127.0.0.1 it issued: (ca_pem, cert_pem, key_pem)."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "grpc test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem(ca), pem(cert), key_pem


def test_a_grpcs_backend_is_reached_over_tls(tmp_path):
    """A GRPCS backend: TLS with ALPN h2 to a grpcio server whose CA the gateway is given
    (APIGW_BACKEND_CA_FILE), in a gateway of its own."""
    import subprocess
    import threading
    from conftest import AK, PROJECT, SK, TOKEN, Server, make_client
    ca, cert, key = tls_pair()
    backend = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    backend.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "demo.Greeter", {"Hello": grpc.unary_unary_rpc_method_handler(hello)}),))
    port = backend.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    backend.start()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca)
    data = tmp_path / "data"
    env = dict(os.environ, APIGW_DATA_DIR=str(data), APIGW_ADMIN_ADDR="127.0.0.1:0",
               APIGW_GATEWAY_ADDR="127.0.0.1:0", APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0",
               APIGW_PROJECT_ID=PROJECT, APIGW_INSTANCE_ID=INSTANCE, APIGW_ACCESS_KEY=AK,
               APIGW_SECRET_KEY=SK, APIGW_AUTH_TOKEN=TOKEN, APIGW_BACKEND_CA_FILE=str(ca_file),
               RUST_LOG="warn")
    proc = subprocess.Popen([os.environ["APIGW_BIN"], "serve"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("apigw: control plane on http://"):
                rest = line[len("apigw: control plane on http://"):]
                admin, rest = rest.split(", data plane on http://")
                gateway, tls = rest.split(",")[0], rest.rsplit("https://", 1)[1].strip()
                break
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        server = Server(proc, admin, gateway, str(data), tls)
        client = make_client(server)
        tag = uuid.uuid4().hex[:8]
        group = client.create_api_group_v2(CreateApiGroupV2Request(
            instance_id=INSTANCE, body=ApiGroupCreate(name=f"grpcs_{tag}")))
        api = client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(
            name=f"secure_{tag}", type=1, req_protocol="GRPCS", req_method="POST",
            req_uri="/demo.Greeter/Hello", match_mode="NORMAL", auth_type="NONE", backend_type="GRPC",
            group_id=group.id,
            backend_api=BackendApiCreate(url_domain=f"127.0.0.1:{port}", req_protocol="GRPCS",
                                         req_method="POST", req_uri="/", timeout=5000))))
        client.create_or_delete_publish_record_for_api_v2(CreateOrDeletePublishRecordForApiV2Request(
            instance_id=INSTANCE, body=ApiActionInfo(action="online", env_id=RELEASE, api_id=api.id)))
        with channel(server, f"{group.id}.apigw.localhost") as ch:
            assert ch.unary_unary("/demo.Greeter/Hello")(b"tls", timeout=10) == b"hello tls"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        backend.stop(None)
