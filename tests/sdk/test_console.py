"""The web console in a real browser (Debian's headless Chromium through chromedriver): sign in
with the admin token → create a group and an API → create a rate_limit plug-in through its form,
first with a bad field (the server's error shown on that field) → publish → bind → call the API
past its limit → the dashboard shows the calls and the throttled decisions. A screenshot of each
page goes to tests/sdk/artifacts/."""

import os
import shutil
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
    limit = fill(f, "Calls per period (API)", "-5")
    fill(f, "Period unit", "hour")
    f.find_element(By.XPATH, './/button[normalize-space()="Create plug-in"]').click()
    wait(d, lambda _: limit.get_attribute("aria-invalid") == "true")
    err = d.find_element(By.ID, limit.get_attribute("aria-describedby"))
    assert "api_limit" in err.text, err.text
    shot(d, "plugin-error")
    fill(f, "Calls per period (API)", "3")
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
    shot(d, "dashboard")

    # Keyboard: the nav links are reachable with Tab, and a phone-width screen still shows the table.
    d.set_window_size(390, 844)
    assert d.find_element(By.CSS_SELECTOR, 'tr[data-api="hello_api"]').is_displayed()
    shot(d, "dashboard-phone")
