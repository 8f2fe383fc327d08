"""Readings that say when they are dangerous, in headless Chromium against the real recorder,
broker, InfluxDB and ``python -m services.web``.

One site serves the module and the tests are the steps of one visit, in order: the
patient's home and cards after a low blood oxygen and a crisis-high blood pressure,
the out-of-range reading that stays after a normal one replaced it, marking it as seen,
the chart's usual-range band, and the doctor's open alerts in the metric table's words.
"""

import json
import re
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from services.common.timeutil import rfc3339_ms
from tests.support import browser
from tests.support.net import wait_until

PATIENT_PW, DOCTOR_PW = browser.PATIENT_PW, browser.DOCTOR_PW
DOCS = browser.ROOT / "docs"


def _publish(mqtt, metric: str, value: float, ts_ms: int, device: str = "wch") -> None:
    """One reading as the gateway publishes a watch's."""
    body = {"device": device, "metric": metric, "value": value, "unit": "", "ts": rfc3339_ms(ts_ms)}
    mqtt.publish(f"smartcab/devices/{device}/vitals/{metric}", json.dumps(body))


def _count(influxdb, where: str) -> int:
    return influxdb.count(f"SELECT count(value) FROM vitals WHERE patient = 'alice' AND {where}")


@pytest.fixture(scope="module")
def site(stack):
    """Alice with a watch, shared with Dr. Grace Tan: an hour of normal readings, two bad ones."""
    env = stack.env
    server = browser.web(stack.root, env)
    data_env = {**env, "SMARTCAB_DATA_DIR": server.env["SMARTCAB_DATA_DIR"]}
    secret = browser.totp_secret(browser.add_people(data_env))
    browser.cli(data_env, "devices", "assign", "wch", "--patient", "alice")
    browser.cli(data_env, "shares", "grant", "--patient", "alice", "--doctor", "D100")
    stack.mqtt_log.wait("smartcab/devices/wch/patient")
    server.start()
    try:
        now = int(time.time() * 1000)
        for i in range(12, 0, -1):
            ts = now - i * 300_000
            for metric, value in (("heart_rate", 70), ("temperature", 36.7), ("spo2", 97)):
                _publish(stack.mqtt_log, metric, value, ts + len(metric))
            _publish(stack.mqtt_log, "bp_systolic", 118, ts + 20)
            _publish(stack.mqtt_log, "bp_diastolic", 76, ts + 21)
        # The two readings of the visit: a low blood oxygen and a crisis-high pressure.
        _publish(stack.mqtt_log, "spo2", 88, now - 60_000)
        _publish(stack.mqtt_log, "bp_systolic", 185, now - 50_000)
        _publish(stack.mqtt_log, "bp_diastolic", 115, now - 50_000 + 3)
        wait_until(lambda: _count(stack.influxdb, "value = 115") == 1, 20, what="readings stored")
        yield SimpleNamespace(base=f"http://127.0.0.1:{server.port}", secret=secret, stack=stack)
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]


@pytest.fixture(scope="module")
def patient(site, chrome):
    context = chrome.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{site.base}/login")
    page.fill("input[name=email]", "alice@example.org")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PATIENT_PW)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{site.base}/p/alice")
    yield context
    context.close()


@pytest.fixture(scope="module")
def page(patient):
    return patient.pages[0]


def test_the_home_chips_say_which_readings_are_out_of_range(page):
    spo2, pressure = page.locator(".chip[data-chip=spo2]"), page.locator(".chip[data-chip=bp]")
    expect(spo2).to_have_class(re.compile(r"\bout\b"))
    expect(spo2.locator(".badge")).to_have_text("Low")
    expect(pressure).to_have_class(re.compile(r"\bsev-bad\b"))
    expect(pressure.locator(".badge")).to_have_text("Crisis")
    expect(pressure.locator(".badge")).to_have_attribute(
        "title", "Hypertensive crisis (ACC/AHA 2017)"
    )
    expect(page.locator(".chip[data-chip=heart_rate]")).not_to_have_class(re.compile(r"\bout\b"))
    browser.screenshot(page, "20-home-out-of-range")


def test_a_card_out_of_range_says_so_in_words_and_what_to_do(site, page):
    page.goto(f"{site.base}/p/alice/monitoring")
    card = page.locator(".card[data-card=spo2]")
    expect(card).to_have_class(re.compile(r"\bout\b"))
    expect(card.locator(".num")).to_have_text("88")
    expect(card.locator(".verdict")).to_contain_text("Low: below the usual range (95–100 %).")
    expect(card.locator(".todo")).to_contain_text("contact your doctor today")
    pressure = page.locator(".card[data-card=bp]")
    expect(pressure.locator(".num")).to_have_text("185/115")
    expect(pressure.locator(".category")).to_have_text("Hypertensive crisis (ACC/AHA 2017)")
    expect(pressure.locator(".todo")).to_contain_text("measure again")
    # Every out-of-range reading also stands as a banner, on this page and every other.
    expect(page.locator("#alerts .alert[data-key=spo2]")).to_contain_text("88 %")
    expect(page.locator("#alerts .alert[data-key=bp]")).to_contain_text("185/115")
    expect(page.locator(".card[data-card=heart_rate]")).to_have_class(re.compile(r"\bsev-ok\b"))
    browser.screenshot(page, "21-monitoring-out-of-range")
    DOCS.mkdir(exist_ok=True)
    card_box = page.locator(".cards")
    card_box.screenshot(path=str(DOCS / "out-of-range.png"))


def test_the_low_reading_stays_after_a_normal_one_until_someone_marks_it_seen(site, page):
    _publish(site.stack.mqtt_log, "spo2", 96, int(time.time() * 1000))
    card = page.locator(".card[data-card=spo2]")
    expect(card.locator(".num")).to_have_text("96")  # live, from the broker
    expect(card).not_to_have_class(re.compile(r"\bout\b"))
    expect(card.locator(".verdict")).to_contain_text("Within the usual range")
    waiting = card.locator(".attention")
    expect(waiting).to_be_visible()
    expect(waiting.locator(".a-value")).to_have_text("88 %")
    wait_until(lambda: _count(site.stack.influxdb, "value = 96") == 1, 20, what="96 stored")
    page.reload()
    expect(card.locator(".num")).to_have_text("96")
    expect(waiting).to_be_visible()  # kept by the server, not by the open page
    waiting.locator("button").click()
    expect(waiting).to_be_hidden()
    expect(page.locator("#alerts .alert[data-key=spo2]")).to_have_count(0)
    page.goto(f"{site.base}/p/alice/habits")
    expect(page.locator("#alerts .alert[data-key=bp]")).to_be_visible()
    expect(page.locator("#alerts .alert[data-key=spo2]")).to_have_count(0)
    page.goto(f"{site.base}/p/alice/monitoring")
    expect(page.locator(".card[data-card=spo2] .attention")).to_be_hidden()


def test_a_banner_dismissed_on_one_page_does_not_come_back_on_the_next(site, page):
    page.locator("#alerts .alert[data-key=bp] button").click()
    expect(page.locator("#alerts .alert[data-key=bp]")).to_have_count(0)
    expect(page.locator(".card[data-card=bp] .attention")).to_be_hidden()
    page.goto(f"{site.base}/p/alice/report")
    expect(page.locator("#chart svg[data-drawn]")).to_be_attached()
    expect(page.locator("#alerts .alert")).to_have_count(0)
    page.goto(f"{site.base}/p/alice/access-log")
    expect(page.locator("#access-log")).to_contain_text(
        "marked a blood pressure reading outside the usual range as seen"
    )


def test_a_live_reading_out_of_range_marks_its_card_at_once(site, page):
    page.goto(f"{site.base}/p/alice/monitoring")
    expect(page.locator("#live-state")).to_have_text("live")
    _publish(site.stack.mqtt_log, "heart_rate", 128, int(time.time() * 1000))
    card = page.locator(".card[data-card=heart_rate]")
    expect(card.locator(".num")).to_have_text("128")
    expect(card).to_have_class(re.compile(r"\bout\b"))
    expect(card.locator(".badge")).to_have_text("High")
    expect(card.locator(".todo")).to_contain_text("rest for five minutes")
    expect(page.locator("#alerts .alert[data-key=heart_rate]")).to_contain_text("128")
    # The server says the same once the reading is stored.
    wait_until(lambda: _count(site.stack.influxdb, "value = 128") == 1, 20, what="128 stored")
    page.reload()
    expect(card.locator(".badge")).to_have_text("High")
    expect(card.locator(".attention .a-value")).to_have_text("128 bpm")


def test_the_chart_draws_each_usual_range_as_a_band(site, page):
    page.goto(f"{site.base}/p/alice/report")
    expect(page.locator("#chart rect.usual[data-usual=heart_rate]")).to_be_attached()
    expect(page.locator("#chart rect.usual[data-usual=temperature]")).to_be_attached()
    page.check("input[value=bp]")
    expect(page.locator("#chart rect.usual[data-usual=bp_systolic]")).to_be_attached()
    expect(page.locator("#chart rect.usual[data-usual=bp_diastolic]")).to_be_attached()
    expect(page.locator("#chart-note")).to_contain_text("usual adult range")
    expect(page.locator("#alert-list")).to_contain_text("Blood oxygen 88 % is below 92 %")
    browser.screenshot(page, "22-report-usual-band")


def test_the_phone_shows_the_same_marks(site, chrome, patient):
    phone = chrome.new_context(
        viewport={"width": 390, "height": 844}, storage_state=patient.storage_state()
    )
    try:
        mobile = phone.new_page()
        mobile.goto(f"{site.base}/p/alice/monitoring")
        expect(mobile.locator(".card[data-card=heart_rate] .badge")).to_have_text("High")
        browser.screenshot(mobile, "23-monitoring-out-of-range-phone")
        mobile.goto(f"{site.base}/p/alice")
        expect(mobile.locator(".chip[data-chip=heart_rate] .badge")).to_have_text("High")
        browser.screenshot(mobile, "23-home-out-of-range-phone")
    finally:
        phone.close()


def test_the_doctor_reads_open_alerts_in_the_metric_tables_words(site, chrome):
    doctor = chrome.new_context(viewport={"width": 1280, "height": 900})
    try:
        dpage = doctor.new_page()
        browser.sign_in_doctor(dpage, site.base, site.secret)
        alerts = dpage.locator("[data-patient-card=alice] .alert-list")
        expect(alerts).to_contain_text("Systolic pressure 185 mmHg is above 180 mmHg")
        expect(alerts).to_contain_text("Diastolic pressure 115 mmHg is above 110 mmHg")
        expect(alerts).not_to_contain_text("bp_systolic")
        expect(
            dpage.locator("[data-patient-card=alice] .chip[data-chip=heart_rate]")
        ).to_have_class(re.compile(r"\bout\b"))
        browser.screenshot(dpage, "24-doctor-open-alerts")
    finally:
        doctor.close()


def test_the_account_page_sets_units_and_time_zone_for_every_page(site, page, chrome, patient):
    page.goto(f"{site.base}/p/alice")
    page.click("text=Your account")
    expect(page.locator("h1")).to_have_text("Your account")
    page.fill("#settings input[name=timezone]", "Asia/Singapore")
    page.check("#settings input[name=temperature][value=F]")
    page.check("#settings input[name=lab_units][value=conventional]")
    page.click("#settings button[type=submit]")
    expect(page.locator("p.ok")).to_have_text("Saved. Times are shown in Asia/Singapore.")
    browser.screenshot(page, "25-account")
    page.goto(f"{site.base}/p/alice/monitoring")
    card = page.locator(".card[data-card=temperature]")
    expect(card.locator(".num")).to_have_text("98.1")  # 36.7 °C
    expect(card.locator(".unit")).to_have_text("°F")
    expect(card.locator(".about")).to_have_text("Normal body temperature is about 97 to 99 °F.")
    # A live reading comes in °C from the watch and shows in °F, judged against 97–99 °F.
    _publish(site.stack.mqtt_log, "temperature", 38.0, int(time.time() * 1000))
    expect(card.locator(".num")).to_have_text("100.4")
    expect(card.locator(".verdict")).to_contain_text("High: above the usual range (97–99 °F).")
    card.locator("summary").click()
    expect(card.locator(".recent li").first).to_contain_text("100.4 °F")
    # Times are Singapore's: UTC+8, whatever the browser's own zone.
    shown = card.locator(".updated time").inner_text()
    sgt = datetime.now(UTC).astimezone(ZoneInfo("Asia/Singapore"))
    assert shown.startswith(f"{sgt.day} {sgt:%b %Y}, {sgt:%H}:"), shown
    page.goto(f"{site.base}/p/alice/report")
    expect(page.locator("#chart g.legend.s-temperature text")).to_contain_text("(°F)")
    phone = chrome.new_context(
        viewport={"width": 390, "height": 844}, storage_state=patient.storage_state()
    )
    try:
        mobile = phone.new_page()
        mobile.goto(f"{site.base}/account/")
        expect(mobile.locator("#settings input[name=temperature][value=F]")).to_be_checked()
        browser.screenshot(mobile, "25-account-phone")
    finally:
        phone.close()


def test_the_password_is_changed_on_the_account_page(site, page):
    page.goto(f"{site.base}/account/")
    new = "a brand new passphrase 9"
    page.fill("#password input[name=current]", "not the password 42")
    page.fill("#password input[name=new]", new)
    page.fill("#password input[name=confirm]", new)
    page.click("#password button[type=submit]")
    expect(page.locator("#error-current")).to_have_text("Your current password is not right.")
    page.fill("#password input[name=current]", PATIENT_PW)
    page.fill("#password input[name=new]", new)
    page.fill("#password input[name=confirm]", new)
    page.click("#password button[type=submit]")
    expect(page.locator("p.ok")).to_contain_text("Your password is changed.")
    page.goto(f"{site.base}/p/alice")  # still signed in here
    expect(page.locator(".hello h1")).to_contain_text("alice")
