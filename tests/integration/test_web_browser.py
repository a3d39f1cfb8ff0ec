"""The web admin in a real browser: Debian's chromium, headless, driven by
chromium-driver through python3-selenium (scripts/setup-deps --test
installs all three, so a missing one FAILS these tests, never skips
them).  Log in with a computed TOTP code, hold and release a message on
the queue page, open an incident, change a mail user's password at
/account, and show a message whose Subject is a script as text."""
import json
import os
import shutil
import smtplib

import pytest

from authcheck import totp
from conftest import PASSWORDS, message, smtp_send, tls_client_context
from test_incidents import seed_incident
from webadmin import ADMIN, ADMIN_PASSWORD, web_admin_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
EVIL = "<script>alert(1)</script>"


@pytest.fixture
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("python3-selenium")
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup-deps --test")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--window-size=1400,1000"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def submit(driver, css, title):
    """Click the button CSS and wait until the page it leads to (its TITLE
    starts so) is shown: click() returns once the click is dispatched, not
    when the form's POST and the redirect after it have loaded."""
    from selenium.webdriver.support.ui import WebDriverWait
    old = driver.find_element("tag name", "html")
    by_css(driver, css).click()
    WebDriverWait(driver, 30).until(
        lambda d: d.find_element("tag name", "html") != old and d.title.startswith(title))


def by_css(driver, css):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, css)


def no_alert(driver):
    from selenium.common.exceptions import NoAlertPresentException
    try:
        driver.switch_to.alert.text
    except NoAlertPresentException:
        return True
    return False


def held(s):
    out = json.loads(s.ctl("queue", "list", "--json", "--state", "held").stdout)
    rows = out["messages"] if isinstance(out, dict) else out
    return {m["id"] for m in rows}


def test_admin_in_a_browser(make_server, browser):
    s = web_admin_server(make_server)
    base = f"http://127.0.0.1:{s.web_port}"
    smtp_send(s.ports["mx"], "someone@remote.test", ["x@far.test"], message(EVIL),
              source="127.0.0.3")
    out = json.loads(s.ctl("queue", "list", "--json").stdout)
    rows = out["messages"] if isinstance(out, dict) else out
    qid = rows[0]["id"]
    iid = seed_incident(s, "alice@example.test", actions=[("alert", "score 120 " + EVIL)])

    browser.get(base + "/admin/queue")  # no session: the login page
    assert "Administrator login" in browser.title
    by_css(browser, "input[name=name]").send_keys(ADMIN)
    by_css(browser, "input[name=password]").send_keys(ADMIN_PASSWORD)
    by_css(browser, "input[name=code]").send_keys(totp(s.admin_secret))
    submit(browser, "form[action='/login'] button", "Dashboard")
    cookie = browser.get_cookie("fg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # no script can read the session cookie
    assert "fg_session" not in browser.execute_script("return document.cookie")

    browser.get(base + "/admin/queue")
    # the Subject is shown as text, and no script of it ran
    assert EVIL in by_css(browser, "table").text
    assert no_alert(browser)
    by_css(browser, f"input[name=id][value='{qid}']").click()
    submit(browser, "button[value=hold]", "Queue")
    assert "hold: 1 message" in by_css(browser, "p.ok").text
    assert held(s) == {qid}
    by_css(browser, f"input[name=id][value='{qid}']").click()
    submit(browser, "button[value=release]", "Queue")
    assert "release: 1 message" in by_css(browser, "p.ok").text
    assert held(s) == set()

    browser.get(base + f"/admin/message?id={qid}")
    assert f"Subject: {EVIL}" in by_css(browser, "pre").text
    assert no_alert(browser)

    browser.get(base + "/admin/incidents")
    submit(browser, f"a[href='/admin/incident?id={iid}']", f"Incident {iid}")
    assert "client_ips_per_hour" in browser.page_source
    # its evidence as text: the script in an action's detail did not run
    assert "score 120 " + EVIL in by_css(browser, "main").text
    assert no_alert(browser)
    assert "contained" in by_css(browser, "main dl").text
    # dismiss it with its button: the page shows the new state
    submit(browser, "button[value=dismiss]", f"Incident {iid}")
    assert f"incident {iid} dismissed" in by_css(browser, "p.ok").text
    assert "dismissed" in by_css(browser, "main dl").text
    assert not browser.find_elements("css selector", "button[value=release]")
    shown = json.loads(s.ctl("incident", "show", str(iid), "--json").stdout)
    assert shown["state"] == "dismissed" and shown["closed_by"] == ADMIN

    submit(browser, "form[action='/logout'] button", "Administrator login")
    browser.get(base + "/admin/")
    assert "Administrator login" in browser.title


def test_mail_user_changes_password_in_a_browser(make_server, browser):
    s = web_admin_server(make_server)
    alice, new = "alice@example.test", "Violet-Canyon-62"
    browser.get(f"http://127.0.0.1:{s.web_port}/account")
    by_css(browser, "input[name=address]").send_keys(alice)
    by_css(browser, "input[name=password]").send_keys(PASSWORDS[alice])
    submit(browser, "form[action='/account/login'] button", "Your account")
    by_css(browser, "input[name=current]").send_keys(PASSWORDS[alice])
    by_css(browser, "input[name=new]").send_keys(new)
    by_css(browser, "input[name=again]").send_keys(new)
    submit(browser, "form[action='/account/password'] button", "Your account")
    assert "Password changed" in by_css(browser, "p.ok").text
    with smtplib.SMTP("127.0.0.1", s.ports["submission"], timeout=10) as smtp:
        smtp.starttls(context=tls_client_context())
        assert smtp.login(alice, new)[0] == 235
