"""Fixtures: a real `apigw serve` (the binary named by APIGW_BIN) and official SDK clients."""

import os
import subprocess
import tempfile
import threading

import pytest
from huaweicloudsdkapig.v2 import ApigClient
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkroma.v2 import RomaClient

PROJECT = "0123456789abcdef0123456789abcdef"
INSTANCE = "fedcba9876543210fedcba9876543210"
AK = "SDKTESTACCESSKEY0001"
SK = "sdk-test-secret-key-000000000000000000001"
TOKEN = "sdk-test-token-000000000000000000000000000000000000000000000001"


class Server:
    def __init__(self, proc, admin, gateway, data_dir, gateway_tls):
        self.proc = proc
        self.admin = admin
        self.gateway = gateway
        self.data_dir = data_dir
        self.gateway_tls = gateway_tls


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("APIGW_BIN")
    if not binary or not os.path.exists(binary):
        pytest.fail("APIGW_BIN must name the built apigw binary (scripts/test.sh sets it)")
    data_dir = tempfile.mkdtemp(prefix="apigw-sdk-")
    env = dict(os.environ, APIGW_DATA_DIR=data_dir, APIGW_ADMIN_ADDR="127.0.0.1:0",
               APIGW_GATEWAY_ADDR="127.0.0.1:0", APIGW_GATEWAY_TLS_ADDR="127.0.0.1:0",
               APIGW_PROJECT_ID=PROJECT,
               APIGW_INSTANCE_ID=INSTANCE, APIGW_ACCESS_KEY=AK, APIGW_SECRET_KEY=SK,
               APIGW_AUTH_TOKEN=TOKEN, RUST_LOG="warn")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, text=True)
    admin = gateway = None
    for line in proc.stdout:
        if line.startswith("apigw: control plane on http://"):
            rest = line[len("apigw: control plane on http://"):]
            admin, rest = rest.split(", data plane on http://")
            gateway = rest.split(",")[0]
            gateway_tls = rest.rsplit("https://", 1)[1].strip()
            break
    if admin is None:
        proc.kill()
        pytest.fail("apigw did not start")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    yield Server(proc, admin, gateway, data_dir, gateway_tls)
    proc.terminate()
    proc.wait(timeout=10)


def make_client(server, ak=AK, sk=SK, project=PROJECT, client_class=ApigClient):
    config = HttpConfig.get_default_config()
    config.timeout = (5, 10)
    return (client_class.new_builder()
            .with_http_config(config)
            .with_credentials(BasicCredentials(ak, sk, project))
            .with_endpoint(f"http://{server.admin}")
            .build())


@pytest.fixture()
def client(server):
    return make_client(server)


@pytest.fixture()
def roma_client(server):
    """The ROMA Connect SDK's client: the same calls under /v2/{project_id}/apic/..."""
    return make_client(server, client_class=RomaClient)
