"""The care circle in a real Chromium: a contact, a test, an alert, its link and its ack.

The dashboard and the notifier run as real processes on one app database; the
contact is a JSON webhook served on loopback, the alert is published as the
recorder publishes it.
"""

import re
import time

from playwright.sync_api import expect

from tests.support import browser
from tests.support.notify import make_alert, publish_alert

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _sign_in_patient(context, base):
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", "alice@example.org")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", browser.PATIENT_PW)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/p/alice")
    return page


def _reload_until(page, locator: str, timeout: float = 20.0) -> None:
    """The page is not live: reload until the notifier's outcome shows."""
    deadline = time.monotonic() + timeout
    while page.locator(locator).count() == 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{locator} never showed")
        time.sleep(0.3)
        page.reload()


def _patient_journey(chrome, base: str, hook, mqtt) -> str:
    """Add the webhook contact, send a test, follow an alert's link, acknowledge it."""
    context = chrome.new_context(viewport=DESKTOP)
    page = _sign_in_patient(context, base)
    page.click("nav.tabs >> text=Care circle")
    expect(page).to_have_url(f"{base}/p/alice/care-circle")
    page.fill("#contact-form input[name=name]", "Carol (daughter)")
    page.fill("#contact-form input[name=channel]", hook.url("/family"))
    page.fill("#contact-form input[name=timezone]", "Europe/London")
    page.click("#contact-form button[type=submit]")
    contact = page.locator("#contacts .contact").first
    expect(contact).to_contain_text("Carol (daughter)")
    expect(contact.locator(".chan code")).to_have_text("json://127.…")

    contact.locator("text=Send a test").click()
    expect(page.locator("#test-sent")).to_be_visible()
    (test,) = hook.wait("/family")
    assert "test" in test["message"].lower()
    _reload_until(page, "#deliveries [data-status=sent]")
    expect(contact.locator(".last [data-status]")).to_have_text("sent")
    browser.screenshot(page, "care-circle-desktop")

    alert_id = publish_alert(mqtt, make_alert(level="critical", patient="alice"))
    posts = hook.wait("/family", 2)
    link = re.search(r"(http://\S+/alerts/\S+)", posts[-1]["message"])[1]
    assert link == f"{base}/alerts/{alert_id}"
    page.goto(f"{base}/p/alice")
    expect(page.locator("#notified-alerts")).to_contain_text("not acknowledged")

    page.goto(link)  # as from the notification
    expect(page.locator("#alert")).to_contain_text("critical")
    expect(page.locator("#notified")).to_contain_text("Carol (daughter)")
    browser.screenshot(page, "alert-desktop")
    page.click("#ack-form button")
    expect(page.locator("#acked")).to_contain_text("alice (patient)")
    browser.screenshot(page, "alert-acked-desktop")
    context.close()

    phone = chrome.new_context(viewport=PHONE, is_mobile=True)
    small = _sign_in_patient(phone, base)
    small.goto(f"{base}/p/alice/care-circle")
    browser.screenshot(small, "care-circle-phone")
    small.goto(link)
    browser.screenshot(small, "alert-phone")
    phone.close()
    return alert_id


def _doctor_sees_the_ack(chrome, base: str, secret: str, alert_id: str) -> None:
    doctor = chrome.new_context(viewport=DESKTOP)
    page = doctor.new_page()
    browser.sign_in_doctor(page, base, secret)
    item = page.locator(f".notified li[data-alert='{alert_id}']")
    expect(item).to_contain_text("acknowledged by alice (patient)")
    item.locator("a").click()
    expect(page.locator("#acked")).to_contain_text("alice (patient)")
    browser.screenshot(page, "alert-doctor")
    doctor.close()


def test_patient_adds_a_contact_tests_it_acknowledges_an_alert_and_the_doctor_sees_it(
    tmp_path, broker, make_notifier, hook, mqtt, data_dir
):
    env = {**broker.env(), "WEB_LIVE": "0", "SMARTCAB_DATA_DIR": str(data_dir)}
    server = browser.web(tmp_path, env)
    base = f"http://127.0.0.1:{server.port}"
    server.env["WEB_BASE_URL"] = base
    data_env = {**broker.env(), "SMARTCAB_DATA_DIR": str(data_dir)}
    secret = browser.totp_secret(browser.add_people(data_env))
    browser.cli(data_env, "shares", "grant", "--patient", "alice", "--doctor", "D100")
    server.start()
    make_notifier(WEB_BASE_URL=base)
    try:
        with browser.chromium() as chrome:
            alert_id = _patient_journey(chrome, base, hook, mqtt)
            _doctor_sees_the_ack(chrome, base, secret, alert_id)
    finally:
        server.stop()
