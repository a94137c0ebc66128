"""The web console in a real browser (Debian's headless Chromium through chromedriver): sign in
with the admin token → create a group and an API → create a rate_limit plug-in through its form,
first with a bad field (the server's error shown on that field) → publish → bind → call the API
past its limit → the dashboard shows the calls and the throttled decisions. A screenshot of each
page goes to tests/sdk/artifacts/."""

import os
import shutil
import time
import uuid

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import TOKEN

ARTIFACTS = os.path.join(os.path.dirname(__file__), "artifacts")


@pytest.fixture()
def browser():
    if not shutil.which("chromedriver"):
        pytest.fail("chromedriver is needed (apt-get install chromium chromium-driver; scripts/test.sh does)")
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    d = webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")), options=opts)
    d.implicitly_wait(5)
    os.makedirs(ARTIFACTS, exist_ok=True)
    yield d
    d.quit()


def shot(d, name):
    d.save_screenshot(os.path.join(ARTIFACTS, f"console-{name}.png"))


def wait(d, cond, t=10):
    return WebDriverWait(d, t).until(cond)


def form(d, label):
    return d.find_element(By.CSS_SELECTOR, f'form[aria-label="{label}"]')


def fill(root, label_text, value):
    label = root.find_element(By.XPATH, f'.//label[normalize-space()="{label_text}"]')
    field = root.find_element(By.ID, label.get_attribute("for"))
    if field.tag_name == "select":
        Select(field).select_by_visible_text(value)
    else:
        field.clear()
        field.send_keys(value)
    return field


def sign_in(d, server):
    d.get(f"http://{server.admin}/console")
    fill(d, "Admin token", TOKEN)
    d.find_element(By.XPATH, '//button[normalize-space()="Sign in"]').click()
    wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "nav#nav a[href='#/plugins']")))


def test_sign_in_create_bind_publish_call_and_watch_the_dashboard(server, browser):
    d = browser
    base = f"http://{server.admin}/console"
    d.get(base)
    # A wrong token is refused on its field; the right one signs in.
    fill(d, "Admin token", "wrong-token")
    d.find_element(By.XPATH, '//button[normalize-space()="Sign in"]').click()
    err = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "p.error")))
    assert "APIG.1002" in err.text
    shot(d, "sign-in")
    fill(d, "Admin token", TOKEN)
    d.find_element(By.XPATH, '//button[normalize-space()="Sign in"]').click()
    wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "nav#nav a[href='#/groups']")))

    # A group and an API.
    group = f"console_{uuid.uuid4().hex[:6]}"
    d.find_element(By.CSS_SELECTOR, "a[href='#/groups']").click()
    fill(form(d, "New group"), "Group name", group)
    form(d, "New group").find_element(By.TAG_NAME, "button").click()
    new_api = wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, f'form[aria-label="New API in {group}"]')))
    fill(new_api, "API name", "hello_api")
    fill(new_api, "Path", f"/{group}/hello")
    fill(new_api, "Mock answer or backend host:port", "hello from the console")
    new_api.find_element(By.TAG_NAME, "button").click()
    row = wait(d, EC.presence_of_element_located((By.XPATH, '//tr[td[normalize-space()="hello_api"]]')))
    shot(d, "groups")

    # Publish it in RELEASE.
    row.find_element(By.CSS_SELECTOR, 'button[data-api="hello_api"]').click()
    wait(d, EC.presence_of_element_located((By.XPATH, '//tr[td[normalize-space()="hello_api"]]/td[4][contains(., "RELEASE")]')))

    # A rate_limit plug-in: a bad limit first, its error shown on that field.
    d.find_element(By.CSS_SELECTOR, "a[href='#/plugins']").click()
    f = form(d, "New plug-in")
    fill(f, "Plug-in name", "console_limit")
    limit = fill(f, "api_limit", "-5")
    fill(f, "default_time_unit", "hour")
    f.find_element(By.XPATH, './/button[normalize-space()="Create plug-in"]').click()
    wait(d, lambda _: limit.get_attribute("aria-invalid") == "true")
    err = d.find_element(By.ID, limit.get_attribute("aria-describedby"))
    assert "api_limit" in err.text, err.text
    shot(d, "plugin-error")
    fill(f, "api_limit", "3")
    f.find_element(By.XPATH, './/button[normalize-space()="Create plug-in"]').click()
    bind = wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, 'button[data-plugin="console_limit"]')))
    shot(d, "plugins")

    # Bind it to the API in RELEASE, in the dialog.
    bind.click()
    dlg = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))
    Select(dlg.find_element(By.NAME, "api")).select_by_visible_text(f"hello_api ({group})")
    shot(d, "bind-dialog")
    dlg.find_element(By.XPATH, './/button[normalize-space()="Bind"]').click()
    wait(d, EC.invisibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))

    # Calls past the limit through the data plane.
    sess = requests.Session()
    token = {"X-Auth-Token": TOKEN}
    groups = requests.get(f"http://{server.admin}/v2/0123456789abcdef0123456789abcdef/apigw/instances/"
                          f"fedcba9876543210fedcba9876543210/api-groups?name={group}", headers=token).json()
    host = groups["groups"][0]["sl_domain"]
    statuses = [sess.get(f"http://{server.gateway}/{group}/hello", headers={"Host": host}).status_code
                for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429], statuses

    # The dashboard shows them.
    d.find_element(By.CSS_SELECTOR, "a[href='#/dashboard']").click()
    cell = wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-api="hello_api"] td[data-decisions]')))
    wait(d, lambda _: "throttled 2" in d.find_element(By.CSS_SELECTOR, 'tr[data-api="hello_api"] td[data-decisions]').text)
    assert "mocked 3" in cell.text or "mocked 3" in d.find_element(By.CSS_SELECTOR, 'tr[data-api="hello_api"] td[data-decisions]').text
    tile = d.find_element(By.CSS_SELECTOR, '[data-tile="Throttled"] b')
    assert int(tile.text) >= 2
    # More calls over a few refreshes: the charts draw their lines.
    for _ in range(3):
        for _ in range(10):
            sess.get(f"http://{server.gateway}/{group}/hello", headers={"Host": host})
        time.sleep(2.1)
    wait(d, lambda _: len(d.find_element(By.CSS_SELECTOR, "svg.chart polyline").get_attribute("points").split()) >= 3)
    shot(d, "dashboard")

    # Keyboard: the nav links are reachable with Tab, and a phone-width screen still shows the table.
    d.set_window_size(390, 844)
    assert d.find_element(By.CSS_SELECTOR, 'tr[data-api="hello_api"]').is_displayed()
    shot(d, "dashboard-phone")


BASE = "/v2/0123456789abcdef0123456789abcdef/apigw/instances/fedcba9876543210fedcba9876543210"


def published_api(server, group):
    """A group with a mock API published in RELEASE, through the control plane; its host."""
    token = {"X-Auth-Token": TOKEN}
    admin = f"http://{server.admin}{BASE}"
    g = requests.post(f"{admin}/api-groups", json={"name": group}, headers=token).json()
    a = requests.post(f"{admin}/apis", headers=token, json={
        "name": f"{group}_api", "type": 1, "req_protocol": "BOTH", "req_method": "GET", "req_uri": f"/{group}",
        "auth_type": "NONE", "backend_type": "MOCK", "group_id": g["id"], "mock_info": {"result_content": "ok"}}).json()
    envs = requests.get(f"{admin}/envs?name=RELEASE", headers=token).json()["envs"]
    r = requests.post(f"{admin}/apis/action", headers=token,
                      json={"action": "online", "env_id": envs[0]["id"], "api_id": a["id"]})
    assert r.status_code == 201, r.text
    return g["sl_domain"]


def test_every_plugin_type_has_a_form_from_its_model_and_plugins_edit_unbind_and_delete(server, browser):
    d = browser
    group = f"forms_{uuid.uuid4().hex[:6]}"
    host = published_api(server, group)
    models = requests.get(f"http://{server.admin}/console/models", headers={"X-Auth-Token": TOKEN}).json()
    sign_in(d, server)
    d.find_element(By.CSS_SELECTOR, "a[href='#/plugins']").click()

    # Each of the eight types gets a form with an input or group for every field of its model.
    for t, schema in models.items():
        f = form(d, "New plug-in")
        Select(f.find_element(By.NAME, "plugin_type")).select_by_visible_text(t)
        content = f.find_element(By.CSS_SELECTOR, ".content")
        wait(d, lambda _: content.find_elements(By.CSS_SELECTOR, "input, select, textarea, fieldset"))
        for name in schema["properties"]:
            found = content.find_elements(By.CSS_SELECTOR, f'[data-field="{name}"], [data-list="{name}"]') or \
                content.find_elements(By.XPATH, f'.//legend[normalize-space()="{name}"]')
            assert found, f"{t}: no input for {name}"
        if t == "breaker":
            shot(d, "plugin-form-breaker")

    # set_resp_headers: a list of headers; a bad header name is shown on that item's input.
    f = form(d, "New plug-in")
    Select(f.find_element(By.NAME, "plugin_type")).select_by_visible_text("set_resp_headers")
    fill(f, "Plug-in name", "console_headers")
    f.find_element(By.XPATH, './/button[normalize-space()="Add response_headers item"]').click()
    f.find_element(By.XPATH, './/button[normalize-space()="Add response_headers item"]').click()
    items = f.find_elements(By.CSS_SELECTOR, "fieldset.item")
    assert len(items) == 2
    fill(items[0], "name", "X-Console")
    fill(items[0], "value", "yes")
    fill(items[0], "action", "override")
    bad = fill(items[1], "name", "bad name")
    fill(items[1], "action", "add")
    f.find_element(By.XPATH, './/button[normalize-space()="Create plug-in"]').click()
    wait(d, lambda _: bad.get_attribute("aria-invalid") == "true")
    assert "response_headers[1].name" in d.find_element(By.ID, bad.get_attribute("aria-describedby")).text
    shot(d, "plugin-list-error")
    items[1].find_element(By.XPATH, './/button[normalize-space()="Remove this response_headers item"]').click()
    f.find_element(By.XPATH, './/button[normalize-space()="Create plug-in"]').click()
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, 'button[data-edit="console_headers"]')))

    # Edit: the dialog's form is filled from the stored content; the change is saved.
    d.find_element(By.CSS_SELECTOR, 'button[data-edit="console_headers"]').click()
    dlg = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))
    item = dlg.find_element(By.CSS_SELECTOR, "fieldset.item")
    assert item.find_element(By.NAME, "name").get_attribute("value") == "X-Console"
    fill(item, "value", "edited")
    shot(d, "plugin-edit")
    dlg.find_element(By.XPATH, './/button[normalize-space()="Save plug-in"]').click()
    wait(d, EC.invisibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))

    # Bind, call (the edited header is set), unbind in the bound-APIs dialog, call (it is not).
    d.find_element(By.CSS_SELECTOR, 'button[data-plugin="console_headers"]').click()
    dlg = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))
    Select(dlg.find_element(By.NAME, "api")).select_by_visible_text(f"{group}_api ({group})")
    dlg.find_element(By.XPATH, './/button[normalize-space()="Bind"]').click()
    wait(d, EC.invisibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))
    call = lambda: requests.get(f"http://{server.gateway}/{group}", headers={"Host": host})  # noqa: E731
    r = call()
    assert r.status_code == 200 and r.headers.get("X-Console") == "edited", (r.status_code, dict(r.headers))
    d.find_element(By.CSS_SELECTOR, 'button[data-bound="console_headers"]').click()
    dlg = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "dialog[open]")))
    shot(d, "plugin-bound")
    dlg.find_element(By.CSS_SELECTOR, f'button[data-unbind="{group}_api"]').click()
    wait(d, lambda _: "Not bound" in d.find_element(By.CSS_SELECTOR, "dialog[open]").text)
    assert "X-Console" not in call().headers
    d.find_element(By.CSS_SELECTOR, "dialog[open]").find_element(By.XPATH, './/button[normalize-space()="Close"]').click()

    # Delete (confirmed).
    d.find_element(By.CSS_SELECTOR, 'button[data-delete="console_headers"]').click()
    d.switch_to.alert.accept()
    wait(d, lambda _: not d.find_elements(By.CSS_SELECTOR, 'button[data-edit="console_headers"]'))
