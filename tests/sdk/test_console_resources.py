"""The console's resource pages in a real browser (headless Chromium, as test_console.py): apps
and their authorisations, load balance channels with their members' health as the gateway's
checks see it, certificates and domains, the three kinds of policies with their bindings, and gateway responses.
The setup the pages do not cover (a group, a published API) is made through the control
plane. Screenshots go to tests/sdk/artifacts/console-<page>.png."""

import http.server
import socket
import threading
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from conftest import INSTANCE, PROJECT, TOKEN
from test_console import browser, fill, form, shot, wait  # noqa: F401 (browser: a fixture)
from test_sdk_certificates import Pki

RELEASE = "DEFAULT_ENVIRONMENT_RELEASE_ID"
HEADERS = {"X-Auth-Token": TOKEN}


def control(server):
    return f"http://{server.admin}/v2/{PROJECT}/apigw/instances/{INSTANCE}"


def call(server, method, path, body=None):
    r = requests.request(method, control(server) + path, json=body, headers=HEADERS, timeout=10)
    assert r.status_code < 300, r.text
    return r.json() if r.text else None


@pytest.fixture()
def published(server):
    """A group and a mock API published in RELEASE: (group name, group id, API name)."""
    tag = uuid.uuid4().hex[:6]
    group = call(server, "POST", "/api-groups", {"name": f"res_{tag}"})
    api = call(server, "POST", "/apis", {
        "name": f"res_api_{tag}", "type": 1, "req_protocol": "BOTH", "req_method": "GET",
        "req_uri": f"/res_{tag}/hello", "auth_type": "NONE", "backend_type": "MOCK",
        "group_id": group["id"], "mock_info": {"result_content": "hello"}})
    call(server, "POST", "/apis/action", {"action": "online", "env_id": RELEASE, "api_id": api["id"]})
    return group["name"], group["id"], api["name"]


def sign_in(d, server, page):
    d.get(f"http://{server.admin}/console")
    fill(d, "Admin token", TOKEN)
    d.find_element(By.XPATH, '//button[normalize-space()="Sign in"]').click()
    wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, f"nav#nav a[href='{page}']")))
    d.find_element(By.CSS_SELECTOR, f"a[href='{page}']").click()


def section(d, title):
    return d.find_element(By.CSS_SELECTOR, f'section[aria-label="{title}"]')


def css(d, selector, t=10):
    """The element, once the (re-rendered) page shows it."""
    return wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, selector)), t)


def gone(d, selector, t=10):
    d.implicitly_wait(0)
    try:
        wait(d, lambda _: not d.find_elements(By.CSS_SELECTOR, selector), t)
    finally:
        d.implicitly_wait(5)


def submit(root, text):
    root.find_element(By.XPATH, f'.//button[normalize-space()="{text}"]').click()


def dialog(d):
    return wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))


def in_dialog(d, api_text):
    dlg = dialog(d)
    Select(dlg.find_element(By.NAME, "api")).select_by_visible_text(api_text)
    return dlg


def field_error(d, field, text):
    """The server's error, shown under `field` (which is marked invalid)."""
    wait(d, lambda _: field.get_attribute("aria-invalid") == "true")
    err = d.find_element(By.ID, field.get_attribute("aria-describedby"))
    assert text in err.text, err.text
    return err


def test_apps_authorised_to_a_published_api(server, browser, published):
    d = browser
    group, _, api = published
    sign_in(d, server, "#/apps")
    name = f"app_{uuid.uuid4().hex[:6]}"
    f = form(d, "New app")
    fill(f, "App name", "1bad")
    submit(f, "Create app")
    field_error(d, d.find_element(By.CSS_SELECTOR, 'form[aria-label="New app"] [data-field="name"]'), "name")
    fill(form(d, "New app"), "App name", name)
    fill(form(d, "New app"), "Remark", "made in the console")
    submit(form(d, "New app"), "Create app")
    row = f'tr[data-name="{name}"]'
    css(d, f'{row} code')

    css(d, f'button[data-authorise="{name}"]').click()
    dlg = in_dialog(d, f"{api} ({group})")
    shot(d, "app-authorise")
    submit(dlg, "Authorise")
    gone(d, "dialog[open]")
    unauth = css(d, f'{row} button[data-unauthorise="{api}"]')
    assert f"{api} ({group}, RELEASE)" in d.find_element(By.CSS_SELECTOR, row).text
    shot(d, "apps")
    unauth.click()
    gone(d, f'{row} button[data-unauthorise="{api}"]')
    assert "—" in css(d, row).text

    # Edit: the dialog holds the app's fields; a bad name is shown there, a new remark saved.
    css(d, f'{row} button[data-edit="{name}"]').click()
    dlg = css(d, "dialog[open]")
    assert dlg.find_element(By.CSS_SELECTOR, '[data-field="remark"]').get_attribute("value") == "made in the console"
    fill(dlg, "App name", "1bad")
    submit(dlg, "Save")
    field_error(d, dlg.find_element(By.CSS_SELECTOR, '[data-field="name"]'), "name")
    fill(dlg, "App name", name)
    fill(dlg, "Remark", "edited in the console")
    submit(dlg, "Save")
    gone(d, "dialog[open]")
    wait(d, lambda _: "edited in the console" in css(d, row).text)

    css(d, f'button[data-delete="{name}"]').click()
    gone(d, row)


class Live(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_):
        pass


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_channel_members_and_their_health(server, browser, published):
    d = browser
    _, group_id, _ = published
    live = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Live)
    threading.Thread(target=live.serve_forever, daemon=True).start()
    up, down = live.server_address[1], closed_port()
    try:
        sign_in(d, server, "#/channels")
        name = f"chan_{uuid.uuid4().hex[:6]}"
        f = form(d, "New channel")
        fill(f, "Channel name", name)
        fill(f, "Port", "80")
        fill(f, "Member 1 host", "127.0.0.1")
        fill(f, "Member 1 port", str(up))
        submit(f, "Add member")
        fill(f, "Member 2 host", "127.0.0.1")
        # A bad port on the second member: the error is shown on that member's port.
        port2 = fill(f, "Member 2 port", "70000")
        fill(f, "Healthy after (successes)", "1")
        fill(f, "Unhealthy after (failures)", "1")
        fill(f, "Interval (s)", "2")
        fill(f, "Timeout (s)", "1")
        submit(f, "Create channel")
        field_error(d, port2, "members[1].port")
        assert d.find_element(By.NAME, "port").get_attribute("aria-invalid") is None
        shot(d, "channel-error")
        fill(f, "Member 2 port", str(down))
        submit(f, "Create channel")
        row = f'tr[data-name="{name}"]'
        # No API uses it yet: the gateway does not check it.
        css(d, f'{row} li[data-member="127.0.0.1:{up}"][data-health="unknown"]')

        # A published API through the channel: its members are checked from now on.
        channel = call(server, "GET", f"/vpc-channels?name={name}")["vpc_channels"][0]
        api = call(server, "POST", "/apis", {
            "name": f"through_{name}", "type": 1, "req_protocol": "HTTP", "req_method": "GET",
            "req_uri": f"/{name}/lb", "auth_type": "NONE", "backend_type": "HTTP",
            "group_id": group_id, "backend_api": {
                "req_protocol": "HTTP", "req_method": "GET", "req_uri": "/", "timeout": 2000,
                "vpc_channel_status": 1, "vpc_channel_info": {"vpc_channel_id": channel["id"]}}})
        call(server, "POST", "/apis/action", {"action": "online", "env_id": RELEASE, "api_id": api["id"]})
        d.find_element(By.CSS_SELECTOR, "a[href='#/apps']").click()
        d.find_element(By.CSS_SELECTOR, "a[href='#/channels']").click()
        # Shown again every 3 s: the live member healthy, the closed port unhealthy.
        css(d, f'{row} li[data-member="127.0.0.1:{up}"][data-health="normal"]', 20)
        bad = css(d, f'{row} li[data-member="127.0.0.1:{down}"][data-health="abnormal"]', 20)
        assert "unhealthy" in bad.text
        assert "healthy" in d.find_element(By.CSS_SELECTOR, f'{row} li[data-member="127.0.0.1:{up}"]').text
        shot(d, "channels")

        call(server, "POST", "/apis/action", {"action": "offline", "env_id": RELEASE, "api_id": api["id"]})
        call(server, "DELETE", f"/apis/{api['id']}")
        css(d, f'button[data-delete="{name}"]').click()
        gone(d, row)
    finally:
        live.shutdown()


def test_certificate_and_domain(server, browser, published):
    d = browser
    group, _, _ = published
    tag = uuid.uuid4().hex[:6]
    domain = f"console-{tag}.example.com"
    pki = Pki()
    cert, key, _ = pki.leaf([domain])
    sign_in(d, server, "#/certificates")
    name = f"cert_{tag}"
    f = form(d, "New certificate")
    fill(f, "Certificate name", name)
    fill(f, "Certificate (PEM)", cert)
    fill(f, "Private key (PEM)", key)
    fill(f, "Trusted root CA (PEM, optional)", pki.ca_pem)
    submit(f, "Create certificate")
    row = f'section[aria-label="SSL certificates"] tr[data-name="{name}"]'
    assert domain in css(d, row).text

    b = form(d, f"Bind a domain to {group}")
    fill(b, "Domain name", domain)
    submit(b, "Bind domain")
    drow = f'section[aria-label="Domains of {group}"] tr[data-name="{domain}"]'
    css(d, drow)
    css(d, f'button[data-certificate="{domain}"]').click()
    dlg = dialog(d)
    Select(dlg.find_element(By.NAME, "certificate")).select_by_visible_text(f"{name} ({domain})")
    submit(dlg, "Use certificate")
    gone(d, "dialog[open]")
    css(d, f'button[data-uncertify="{domain}"]')
    assert name in d.find_element(By.CSS_SELECTOR, drow).text
    d.execute_script("arguments[0].scrollIntoView()", d.find_element(By.CSS_SELECTOR, row))
    shot(d, "certificates")

    # A certificate in use cannot be deleted: the API's error is shown.
    css(d, f'{row} button[data-delete="{name}"]').click()
    wait(d, lambda _: "certificate_id" in d.find_element(By.ID, "status").text)
    css(d, f'button[data-uncertify="{domain}"]').click()
    gone(d, f'button[data-uncertify="{domain}"]')
    css(d, f'{drow} button[data-delete="{domain}"]').click()
    gone(d, drow)
    css(d, f'{row} button[data-delete="{name}"]').click()
    gone(d, row)


def test_policies_bound_and_unbound(server, browser, published):
    d = browser
    group, _, api = published
    tag = uuid.uuid4().hex[:6]
    sign_in(d, server, "#/policies")

    # A throttling policy: a per-app limit above the API's is refused on its field.
    name = f"limit_{tag}"
    f = form(d, "New throttling policy")
    fill(f, "Policy name", name)
    fill(f, "Calls per API", "10")
    app_limit = fill(f, "Calls per app", "50")
    submit(f, "Create throttling policy")
    field_error(d, app_limit, "app_call_limits")
    shot(d, "policy-error")
    fill(f, "Calls per app", "5")
    submit(f, "Create throttling policy")
    sec = 'section[aria-label="Request throttling policies"]'
    row = f'{sec} tr[data-name="{name}"]'
    assert "10 per 1 minute" in css(d, row).text
    css(d, f'{row} button[data-bind="{name}"]').click()
    dlg = in_dialog(d, f"{api} ({group})")
    submit(dlg, "Bind")
    gone(d, "dialog[open]")
    unbind = css(d, f'{row} button[data-unbind="{api}"]')
    assert f"{api} (RELEASE)" in d.find_element(By.CSS_SELECTOR, row).text
    shot(d, "policies")
    unbind.click()
    gone(d, f'{row} button[data-unbind="{api}"]')
    # Edited: the limit changed in the dialog.
    css(d, f'{row} button[data-edit="{name}"]').click()
    dlg = css(d, "dialog[open]")
    fill(dlg, "Calls per API", "20")
    submit(dlg, "Save")
    gone(d, "dialog[open]")
    wait(d, lambda _: "20 per 1 minute" in css(d, row).text)
    css(d, f'{row} button[data-delete="{name}"]').click()
    gone(d, row)

    # An access control policy and a signature key: created and deleted.
    acl = f"deny_{tag}"
    f = form(d, "New access control policy")
    fill(f, "Policy name", acl)
    fill(f, "Effect", "Deny these")
    fill(f, "Values", "10.0.0.1,10.1.0.0/16")
    submit(f, "Create access control policy")
    arow = f'section[aria-label="Access control policies"] tr[data-name="{acl}"]'
    assert "10.1.0.0/16" in css(d, arow).text
    key = f"key_{tag}"
    f = form(d, "New signature key")
    fill(f, "Key name", key)
    submit(f, "Create signature key")
    krow = f'section[aria-label="Signature keys"] tr[data-name="{key}"]'
    assert "hmac" in css(d, krow).text
    shot(d, "policies-all")
    css(d, f'{arow} button[data-delete="{acl}"]').click()
    gone(d, arow)
    css(d, f'{krow} button[data-delete="{key}"]').click()
    gone(d, krow)

    # Gateway responses of the test's group: a set whose THROTTLED answer is customised.
    d.refresh()
    fill(d, "Gateway responses of the group", group)
    rset = f"answers_{tag}"
    f = form(d, "New response set")
    fill(f, "Set name", rset)
    submit(f, "Create response set")
    rrow = f'section[aria-label="Gateway responses of {group}"] tr[data-name="{rset}"]'
    css(d, f'{rrow} button[data-edit="{rset}"]').click()
    dlg = dialog(d)
    fill(dlg, "Error type", "THROTTLED")
    status = fill(dlg, "Status", "444")
    fill(dlg, "Body", '{"error": "slow down"}')
    submit(dlg, "Save")
    field_error(d, status, "status")
    fill(dlg, "Status", "503")
    submit(dlg, "Save")
    gone(d, "dialog[open]")
    wait(d, lambda _: "THROTTLED → 503" in d.find_element(By.CSS_SELECTOR, rrow).text)
    d.execute_script("arguments[0].scrollIntoView()", d.find_element(By.CSS_SELECTOR, rrow))
    shot(d, "gateway-responses")
    css(d, f'{rrow} button[data-delete="{rset}"]').click()
    gone(d, rrow)
