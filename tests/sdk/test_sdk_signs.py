"""Signature keys through the official Python SDK's nine calls, unchanged, and a real backend
that verifies the gateway's signatures the way Huawei's backend-signature demo does
(`backend_signature.py` of the APIG developer guide): it parses `Authorization` with the
demo's pattern, rebuilds the request from the signed headers it received, refuses a date more
than 15 minutes off, signs it again with Huawei's own signer (`huaweicloudsdkcore`) and the
key's secret, and compares. Nothing of the gateway's code is used to verify."""

import base64
import re
import threading
import types
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from huaweicloudsdkapig.v2 import (
    ApiActionInfo, ApiCreate, ApiGroupCreate, AssociateSignatureKeyV2Request, BackendApiCreate,
    BaseSignature, CreateApiGroupV2Request, CreateApiV2Request,
    CreateOrDeletePublishRecordForApiV2Request, CreateSignatureKeyV2Request,
    DeleteSignatureKeyV2Request, DisassociateSignatureKeyV2Request,
    ListApisBindedToSignatureKeyV2Request, ListApisNotBoundWithSignatureKeyV2Request,
    ListSignatureKeysBindedToApiV2Request, ListSignatureKeysV2Request, SignApiBinding,
    UpdateSignatureKeyV2Request)
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from conftest import INSTANCE

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"
# The demo's pattern for the gateway's Authorization header.
AUTHORIZATION = re.compile(
    r"SDK-HMAC-SHA256\s+Access=([^,]+),\s?SignedHeaders=([^,]+),\s?Signature=(\w+)")
DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def verify_hmac(method, path, query, headers, body, secrets):
    """None when the request carries a valid signature by one of `secrets` (key → secret),
    else why not."""
    authorization = headers.get("authorization")
    if authorization is None:
        return "Authorization not found"
    m = AUTHORIZATION.match(authorization)
    if m is None:
        return "Authorization format incorrect"
    key, signed, _ = m.groups()
    if key not in secrets:
        return "Signing key not found"
    signed_headers = {}
    need_body = True
    for name in signed.split(";"):
        if name not in headers:
            return f"Signed header {name} not found"
        signed_headers[name] = headers[name]
        if name == "x-sdk-content-sha256" and headers[name] == "UNSIGNED-PAYLOAD":
            need_body = False
    date = signed_headers.get("x-sdk-date")
    if date is None:
        return "Header x-sdk-date not found"
    at = datetime.strptime(date, DATE_FORMAT).replace(tzinfo=timezone.utc)
    if abs(at - datetime.now(timezone.utc)) > timedelta(minutes=15):
        return "Signature expired"
    request = SdkRequest(method=method, resource_path=path,
                         query_params=urllib.parse.parse_qsl(query, keep_blank_values=True),
                         header_params=signed_headers, body=body)
    if not need_body:
        # The SDK signer takes a signed X-Sdk-Content-Sha256 in place of the body's hash
        # (for a body it holds: an empty one hashes as empty).
        assert body, "UNSIGNED-PAYLOAD only for a body"
    Signer(types.SimpleNamespace(ak=key, sk=secrets[key])).sign(request)
    if request.header_params["Authorization"] != authorization:
        return "Verify authorization failed"
    return None


OURS = re.compile(
    r"(SDK-AES-(?:128|256)-CFB|SDK-ECDSA-P256-SHA256|SDK-RSA-SHA256) Access=([^,]+), "
    r"SignedHeaders=([^,]+), Signature=(\w+)")


def string_to_sign(algorithm, method, path, query, headers, signed, body):
    """The string to sign of `docs/data-plane.md`: Huawei's SDK-HMAC-SHA256 canonical request
    (built here by Huawei's signer) under another algorithm name."""
    signed_headers = {name: headers[name] for name in signed.split(";")}
    request = SdkRequest(method=method, resource_path=path,
                         query_params=urllib.parse.parse_qsl(query, keep_blank_values=True),
                         header_params=signed_headers, body=body)
    signer = Signer(types.SimpleNamespace(ak="-", sk="-"))
    canonical = signer._process_canonical_request(request, sorted(signed_headers))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{algorithm}\n{headers['x-sdk-date']}\n{digest}".encode()


def verify_ours(method, path, query, headers, body, keys):
    """None when the request carries a valid aes or public_key signature by one of `keys`
    (key name → ("aes", key, vector) or ("public_key", public key base64)), else why not."""
    m = OURS.match(headers.get("authorization", ""))
    if m is None:
        return "Authorization format incorrect"
    algorithm, name, signed, signature = m.groups()
    if name not in keys:
        return "Signing key not found"
    message = string_to_sign(algorithm, method, path, query, headers, signed, body)
    key = keys[name]
    if key[0] == "aes":
        encryptor = Cipher(algorithms.AES(key[1].encode()), CFB(key[2].encode())).encryptor()
        expected = encryptor.update(hashlib.sha256(message).digest()) + encryptor.finalize()
        return None if expected.hex() == signature else "Verify authorization failed"
    public = serialization.load_der_public_key(base64.b64decode(key[1]))
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(bytes.fromhex(signature), message, ec.ECDSA(hashes.SHA256()))
        else:
            public.verify(bytes.fromhex(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return "Verify authorization failed"
    return None


class VerifyingBackend:
    """A real HTTP backend: answers 200 and what it verified, or 401 and why not."""

    def __init__(self, hmac_secrets, basic_users, our_keys=None):
        outer = self
        self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def handle_one_request_body(self):
                length = int(self.headers.get("content-length") or 0)
                return self.rfile.read(length) if length else b""

            def answer(self):
                body = self.handle_one_request_body()
                path, _, query = self.path.partition("?")
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.seen.append(headers)
                auth = headers.get("authorization", "")
                if OURS.match(auth):
                    why = verify_ours(self.command, path, query, headers, body, our_keys or {})
                elif auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    why = None if basic_users.get(user) == password else "wrong credentials"
                else:
                    why = verify_hmac(self.command, path, query, headers, body, hmac_secrets)
                status, text = (401, why) if why else (200, "verified")
                data = text.encode()
                self.send_response(status)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def call(server, host, method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://{server.gateway}{path}", data=body, method=method,
                                 headers=dict(headers or {}, Host=host))
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def publish(client, group_id, name, backend, method="ANY", uri="/signed"):
    api = client.create_api_v2(CreateApiV2Request(instance_id=INSTANCE, body=ApiCreate(
        name=name, type=1, req_protocol="HTTP", req_method=method, req_uri=uri,
        auth_type="NONE", backend_type="HTTP", group_id=group_id, match_mode="SWA",
        backend_api=BackendApiCreate(url_domain=backend, req_protocol="HTTP",
                                     req_method=method, req_uri="/backend", timeout=5000))))
    record = client.create_or_delete_publish_record_for_api_v2(
        CreateOrDeletePublishRecordForApiV2Request(instance_id=INSTANCE, body=ApiActionInfo(
            action="online", env_id=RELEASE, api_id=api.id)))
    return api, record.publish_id


def create_key(client, **fields):
    return client.create_signature_key_v2(CreateSignatureKeyV2Request(
        instance_id=INSTANCE, body=BaseSignature(**fields)))


def bind(client, sign_id, publish_id):
    return client.associate_signature_key_v2(AssociateSignatureKeyV2Request(
        instance_id=INSTANCE, body=SignApiBinding(sign_id=sign_id, publish_ids=[publish_id])))


def test_a_backend_verifies_the_gateways_hmac_and_basic_signatures(client, server):
    suffix = uuid.uuid4().hex[:8]
    backend = VerifyingBackend({"gw-key-" + suffix: "gw-secret-0000000001"},
                               {"gateway": "basic-password-1"})
    try:
        group = client.create_api_group_v2(CreateApiGroupV2Request(
            instance_id=INSTANCE, body=ApiGroupCreate(name=f"signed_{suffix}")))
        host = group.sl_domain
        _, publish_id = publish(client, group.id, f"signed_{suffix}", backend.addr)
        status, why = call(server, host, "GET", "/signed")
        assert (status, why) == (401, "Authorization not found"), "unsigned without a key"

        key = create_key(client, name=f"hmac_{suffix}", sign_type="hmac",
                         sign_key="gw-key-" + suffix, sign_secret="gw-secret-0000000001")
        binding = bind(client, key.id, publish_id).bindings[0]
        # Queries in any order with encoded characters, a deeper path, a client's own
        # Authorization and X-Sdk-Date: the backend verifies what it receives.
        for method, path, body, headers in [
            ("GET", "/signed", None, {}),
            ("GET", "/signed/a%20b/c?z=1&a=x%2Fy&a=2&empty=", None,
             {"Authorization": "Bearer client", "X-Sdk-Date": "20000101T000000Z"}),
            ("POST", "/signed/items", b'{"n": 1}', {"Content-Type": "application/json"}),
            ("PUT", "/signed/items/7", b"x" * 100_000, {"Content-Type": "text/plain"}),
        ]:
            status, why = call(server, host, method, path, body, headers)
            assert (status, why) == (200, "verified"), (method, path)
        assert all("x-sdk-date" in h for h in backend.seen[-4:])

        # A key the backend does not hold is refused by it: the verification can fail.
        client.update_signature_key_v2(UpdateSignatureKeyV2Request(
            instance_id=INSTANCE, sign_id=key.id, body=BaseSignature(
                name=f"hmac_{suffix}", sign_type="hmac", sign_key="gw-key-" + suffix,
                sign_secret="another-secret-00001")))
        status, why = call(server, host, "GET", "/signed")
        assert (status, why) == (401, "Verify authorization failed")

        client.disassociate_signature_key_v2(DisassociateSignatureKeyV2Request(
            instance_id=INSTANCE, sign_bindings_id=binding.id))
        basic = create_key(client, name=f"basic_{suffix}", sign_type="basic",
                           sign_key="gateway", sign_secret="basic-password-1")
        bind(client, basic.id, publish_id)
        assert call(server, host, "GET", "/signed") == (200, "verified")
    finally:
        backend.close()


def test_a_backend_verifies_aes_and_public_key_signatures(client, server):
    suffix = uuid.uuid4().hex[:8]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_private = base64.b64encode(rsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())).decode()
    rsa_public = base64.b64encode(rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"ours_{suffix}")))
    keys = [
        dict(name=f"aes128_{suffix}", sign_type="aes", sign_algorithm="aes-128-cfb",
             sign_key="0123456789abcdef", sign_secret="fedcba9876543210"),
        dict(name=f"aes256_{suffix}", sign_type="aes", sign_algorithm="aes-256-cfb",
             sign_key="0123456789abcdef0123456789abcdef", sign_secret="fedcba9876543210"),
        # Generated: an ECDSA P-256 pair.
        dict(name=f"ecdsa_{suffix}", sign_type="public_key"),
        dict(name=f"rsa_{suffix}", sign_type="public_key", sign_key=rsa_public,
             sign_secret=rsa_private),
    ]
    created = [create_key(client, **k) for k in keys]
    known = {}
    for k in created:
        known[k.name] = (("aes", k.sign_key, k.sign_secret) if k.sign_type == "aes"
                         else ("public_key", k.sign_key))
    backend = VerifyingBackend({}, {}, known)
    try:
        for i, k in enumerate(created):
            _, publish_id = publish(client, group.id, f"ours_{i}_{suffix}", backend.addr,
                                    uri=f"/ours{i}")
            bind(client, k.id, publish_id)
            for method, path, body in [("GET", f"/ours{i}/x?b=1&a=2", None),
                                       ("POST", f"/ours{i}", b'{"n": 1}')]:
                assert call(server, group.sl_domain, method, path, body) == (200, "verified"), \
                    (k.name, method)
        # A backend holding another public key refuses the signature.
        other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        known[created[2].name] = ("public_key", base64.b64encode(other).decode())
        assert call(server, group.sl_domain, "GET", "/ours2") == (
            401, "Verify authorization failed")
    finally:
        backend.close()


def expect(call_, status, code):
    with pytest.raises(exceptions.ClientRequestException) as e:
        call_()
    assert (e.value.status_code, e.value.error_code) == (status, code), e.value.error_msg


def test_signature_key_calls_through_the_sdk(client):
    suffix = uuid.uuid4().hex[:8]
    group = client.create_api_group_v2(CreateApiGroupV2Request(
        instance_id=INSTANCE, body=ApiGroupCreate(name=f"signs_{suffix}")))
    api, publish_id = publish(client, group.id, f"signs_{suffix}", "127.0.0.1:9",
                              method="GET", uri="/s")

    aes = create_key(client, name=f"aes_{suffix}", sign_type="aes",
                     sign_algorithm="aes-128-cfb", sign_key="0123456789abcdef",
                     sign_secret="fedcba9876543210")
    assert (aes.sign_type, aes.sign_algorithm, aes.sign_key) == (
        "aes", "aes-128-cfb", "0123456789abcdef")
    generated = create_key(client, name=f"gen_{suffix}")
    assert generated.sign_type == "hmac" and len(generated.sign_secret) >= 16
    expect(lambda: create_key(client, name=f"gen_{suffix}"), 400, "APIG.3207")
    expect(lambda: create_key(client, name=f"bad_{suffix}", sign_type="aes"), 400, "APIG.2012")

    listed = client.list_signature_keys_v2(ListSignatureKeysV2Request(
        instance_id=INSTANCE, name=f"aes_{suffix}", precise_search="name"))
    assert listed.total == 1 and listed.signs[0].bind_num == 0

    bound = bind(client, aes.id, publish_id)
    assert (bound.bindings[0].api_id, bound.bindings[0].env_id) == (api.id, RELEASE)
    expect(lambda: bind(client, generated.id, publish_id), 400, "APIG.2012")
    on_api = client.list_signature_keys_binded_to_api_v2(ListSignatureKeysBindedToApiV2Request(
        instance_id=INSTANCE, api_id=api.id))
    assert on_api.total == 1 and on_api.bindings[0].sign_name == f"aes_{suffix}"
    apis = client.list_apis_binded_to_signature_key_v2(ListApisBindedToSignatureKeyV2Request(
        instance_id=INSTANCE, sign_id=aes.id))
    assert apis.total == 1 and apis.bindings[0].publish_id == publish_id
    free = client.list_apis_not_bound_with_signature_key_v2(
        ListApisNotBoundWithSignatureKeyV2Request(instance_id=INSTANCE, sign_id=generated.id,
                                                  group_id=group.id))
    assert free.total == 1 and free.apis[0].signature_name == f"aes_{suffix}"

    renamed = client.update_signature_key_v2(UpdateSignatureKeyV2Request(
        instance_id=INSTANCE, sign_id=generated.id, body=BaseSignature(name=f"gen2_{suffix}")))
    assert (renamed.name, renamed.sign_key) == (f"gen2_{suffix}", generated.sign_key)

    client.disassociate_signature_key_v2(DisassociateSignatureKeyV2Request(
        instance_id=INSTANCE, sign_bindings_id=bound.bindings[0].id))
    expect(lambda: client.disassociate_signature_key_v2(DisassociateSignatureKeyV2Request(
        instance_id=INSTANCE, sign_bindings_id=bound.bindings[0].id)), 404, "APIG.3018")
    for key in (aes, generated):
        client.delete_signature_key_v2(DeleteSignatureKeyV2Request(
            instance_id=INSTANCE, sign_id=key.id))
    expect(lambda: client.delete_signature_key_v2(DeleteSignatureKeyV2Request(
        instance_id=INSTANCE, sign_id=aes.id)), 404, "APIG.3017")
