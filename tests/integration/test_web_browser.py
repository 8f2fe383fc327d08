"""The dashboard in headless Chromium against real processes: gateway, Mosquitto,
recorder, InfluxDB and ``python -m services.web``.

One site serves the whole module and the tests are the steps of one visit, in order:
the patient's readings, chart, alert, data sheet and phone pages, then the doctor and the
administrator. A step that fails names its behaviour; the steps after it may fail with it.
"""

import json
import math
import re
import threading
import time
from datetime import date, timedelta
from types import SimpleNamespace

import pyotp
import pytest
from playwright.sync_api import expect

from services.common.timeutil import rfc3339_ms
from tests.support import browser
from tests.support.net import wait_until
from tests.support.seed_clients import SeedWatch

PATIENT_PW, DOCTOR_PW = browser.PATIENT_PW, browser.DOCTOR_PW


def _history(mqtt, device: str, days: int = 7) -> None:
    """A week of readings every 20 minutes with a daily rhythm, published as the gateway would."""
    now = int(time.time() * 1000)
    for i in range(days * 72, 0, -1):
        ts = now - i * 1_200_000
        wave = (1 + math.sin(i / 72 * 2 * math.pi)) / 2 + (i * 7919 % 13) / 40
        for metric, value in (
            # One implausible reading, like the seed's 8 bpm: stored, flagged, not plotted.
            ("heart_rate", 8.0 if i == 5 else 64 + 14 * wave),
            ("temperature", 36.4 + 0.5 * wave),
            ("spo2", 96 + 2 * wave),
        ):
            body = {
                "device": device,
                "metric": metric,
                "value": round(value, 2),
                "unit": "",
                "ts": rfc3339_ms(ts + len(metric)),
            }
            mqtt.publish(f"smartcab/devices/{device}/vitals/{metric}", json.dumps(body))


def _stored(influxdb, patient: str, value: float) -> bool:
    result = influxdb.query(
        f"SELECT value FROM vitals WHERE patient='{patient}' AND metric='heart_rate'"
        " ORDER BY time DESC LIMIT 1",
        database="vitals",
    )
    series = result["results"][0].get("series") or []
    return bool(series) and series[0]["values"][0][1] == value


def _measure(site, bpm: float, celsius: float) -> None:
    """Ask the watch for a reading, as the scheduler would, and let it answer."""
    answered = threading.Thread(target=site.watch.serve_once, args=(bpm, celsius))
    answered.start()
    site.mqtt_log.publish("smartcab/devices/wch/cmd", "bpm")
    answered.join(10)


@pytest.fixture(scope="module")
def site(stack):
    """The dashboard with alice, doctor D100 (shared) and an admin, and a week of history."""
    env = stack.env
    server = browser.web(stack.root, env)
    data_env = {**env, "SMARTCAB_DATA_DIR": server.env["SMARTCAB_DATA_DIR"]}
    people = browser.add_people(data_env)
    assigned = browser.cli(data_env, "devices", "assign", "wch", "--patient", "alice")
    browser.cli(data_env, "shares", "grant", "--patient", "alice", "--doctor", "D100")
    out = browser.cli(
        data_env,
        "users",
        "add-admin",
        "--email",
        "root@example.org",
        "--username",
        "root",
        password=DOCTOR_PW,
    )
    stack.mqtt_log.wait("smartcab/devices/wch/patient")
    server.start()
    watch = SeedWatch(stack.gateway.port)
    try:
        _history(stack.mqtt_log, "wch")
        influxdb = stack.influxdb
        wait_until(
            lambda: influxdb.query("SELECT count(value) FROM vitals", database="vitals")["results"][
                0
            ].get("series"),
            timeout=20,
            what="history stored",
        )
        yield SimpleNamespace(
            base=f"http://127.0.0.1:{server.port}",
            people=people,
            assigned=assigned,
            secret=browser.totp_secret(people),
            admin_secret=browser.totp_secret(out),
            watch=watch,
            influxdb=influxdb,
            mqtt_log=stack.mqtt_log,
        )
    finally:
        watch.close()
        assert server.stop() == 0, server.log_text()[-3000:]


@pytest.fixture(scope="module")
def patient(chrome):
    """Alice's desktop browser, kept across the patient's steps."""
    context = chrome.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield context
    context.close()


@pytest.fixture(scope="module")
def page(patient):
    return patient.new_page()


def test_the_admin_cli_prints_the_doctors_totp_link_and_publishes_the_assignment(site):
    assert "otpauth://totp/" in site.people
    assert "published to the broker" in site.assigned


def test_the_patient_signs_in_and_sees_her_watch_online(site, page):
    base = site.base
    page.goto(f"{base}/login")
    browser.screenshot(page, "01-login-users")
    page.fill("input[name=email]", "alice@example.org")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PATIENT_PW)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/p/alice")
    expect(page.locator(".hello h1")).to_have_text("Welcome, alice")  # her first sign-in
    expect(page.locator(".devices li[data-device=wch] .state")).to_have_text("online")
    browser.screenshot(page, "02-welcome")


def test_a_watch_reading_shows_live_and_then_from_influxdb(site, page):
    page.goto(f"{site.base}/p/alice/monitoring")
    expect(page.locator("#live-state")).to_have_text("live")
    hr = page.locator(".card[data-card=heart_rate] .num")
    before = hr.inner_text()

    # A reading through gateway -> broker -> web (live), and -> recorder -> InfluxDB.
    _measure(site, 93.0, 37.2)
    expect(hr).to_have_text("93")
    assert before != "93"
    expect(page.locator(".card[data-card=temperature] .num")).to_have_text("37.2")
    wait_until(lambda: _stored(site.influxdb, "alice", 93.0), timeout=15, what="reading stored")
    page.reload()
    expect(hr).to_have_text("93")  # now served from InfluxDB
    page.click(".card[data-card=heart_rate] summary")
    expect(page.locator(".card[data-card=heart_rate] .recent li").first).to_contain_text("93 bpm")


def test_a_typed_in_blood_pressure_joins_the_same_pipeline(page):
    history = page.locator(".card[data-card=bp] .recent")
    page.click(".card[data-card=bp] summary")
    expect(history).to_contain_text("Nothing recorded")
    page.fill("input[name=bp_systolic]", "128")
    page.fill("input[name=bp_diastolic]", "82")
    page.click(".manual button[type=submit]")
    expect(page.locator("#manual-status")).to_contain_text("Reading sent")
    expect(page.locator(".card[data-card=bp] .num")).to_have_text("128/82")
    # "Show more" lists the pair, as the card shows it, and no longer says there is none.
    expect(history.locator("li")).to_have_count(1)
    expect(history.locator("li").first).to_contain_text("128/82 mmHg")
    expect(history).not_to_contain_text("Nothing recorded")
    browser.screenshot(page, "03-monitoring")


def test_blood_pressure_history_reads_as_pairs_from_the_history_too(page):
    page.reload()
    page.click(".card[data-card=bp] summary")
    first = page.locator(".card[data-card=bp] .recent li").first
    expect(first).to_contain_text("128/82 mmHg")
    expect(first.locator(".badge")).to_have_text("Stage 1")


def test_the_report_chart_draws_the_chosen_metrics_over_the_chosen_range(site, page):
    page.goto(f"{site.base}/p/alice/report")
    chart = page.locator("#chart svg[data-drawn]")
    expect(chart).to_have_attribute("data-metrics", "temperature,heart_rate")
    expect(page.locator("#chart g[data-series=heart_rate] polyline").first).to_be_attached()
    page.check("input[value=spo2]")
    expect(page.locator("#chart g[data-series=spo2] polyline").first).to_be_attached()
    page.uncheck("input[value=heart_rate]")
    expect(page.locator("#chart g[data-series=heart_rate]")).to_have_count(0)
    page.check("input[value=bp]")
    expect(chart).to_have_attribute("data-metrics", "temperature,bp_systolic,bp_diastolic,spo2")
    page.select_option("#range", "week")
    expect(page.locator("#chart g[data-series=spo2] polyline").first).to_be_attached()
    page.check("input[value=heart_rate]")
    expect(page.locator("#chart g[data-series=heart_rate] polyline").first).to_be_attached()
    # Unticking every metric leaves nothing drawn, and says what to do.
    for key in ("temperature", "bp", "spo2", "heart_rate"):
        page.uncheck(f"input[value={key}]")
    expect(chart).to_have_attribute("data-metrics", "")
    expect(page.locator("#chart g[data-series]")).to_have_count(0)
    expect(page.locator("#chart text.empty")).to_have_text("Choose what to show.")
    page.check("input[value=heart_rate]")
    # Custom dates start filled (the week to today) and the chart redraws at once.
    page.select_option("#range", "custom")
    start, end = page.locator("input[name=start]"), page.locator("input[name=end]")
    expect(end).to_have_value(re.compile(r"^\d{4}-\d\d-\d\d$"))
    expect(start).not_to_have_value("")
    expect(page.locator("#chart g[data-series=heart_rate] polyline").first).to_be_attached()
    drawn = chart.evaluate("svg => svg.outerHTML")
    start.fill((date.fromisoformat(end.input_value()) - timedelta(days=1)).isoformat())
    start.dispatch_event("change")
    wait_until(lambda: chart.evaluate("svg => svg.outerHTML") != drawn, what="the chart redrawn")
    page.select_option("#range", "week")


def test_a_reading_over_the_threshold_raises_an_alert_on_the_open_page(site, page):
    # The recorder's alert reaches the report page left open by the step before.
    _measure(site, 150.0, 37.0)
    expect(page.locator("#alerts .alert").first).to_be_visible()
    expect(page.locator("#alert-list li").first).to_contain_text("warning")
    browser.screenshot(page, "04-report-week")


def test_the_day_chart_is_drawn_from_five_minute_means(page):
    page.select_option("#range", "day")
    expect(page.locator("#chart-note")).to_contain_text("mean of 5 min")
    browser.screenshot(page, "04-report-day")


def test_a_range_longer_than_the_readings_starts_at_the_first_one(page):
    # a week of history in the 30-day view: the chart begins a week ago, not 23 empty days
    page.select_option("#range", "month")
    chart = page.locator("#chart svg[data-drawn]")
    expect(chart).to_have_attribute("data-fitted", "1")
    expect(page.locator("#chart-note")).to_contain_text("Readings start")
    start = int(chart.get_attribute("data-start"))
    # a custom range runs from the start of its first day: the day of the first reading
    assert 0 <= time.time() * 1000 - 7 * 86_400_000 - start < 86_400_000
    page.select_option("#range", "week")  # the week is full: nothing to fit
    expect(chart.first).to_have_attribute("data-fitted", "")
    expect(page.locator("#chart-note")).not_to_contain_text("Readings start")


def test_the_data_sheet_lists_readings_newest_first_and_marks_the_flagged_one(site, page):
    page.goto(f"{site.base}/p/alice/datasheet")
    rows = page.locator("table.sheet tbody tr")
    # newest first, each value with its metric's decimals (heart rate 0, temperature 1)
    expect(rows.first.locator("td").nth(1)).to_have_text("150")
    expect(rows.nth(1)).to_contain_text("128/82")
    expect(rows.nth(2).locator("td").nth(1)).to_have_text("93")
    expect(rows.nth(2).locator("td").nth(2)).to_have_text("37.2")
    flagged = page.locator("table.sheet tbody tr.flagged")
    expect(flagged).to_have_count(1)
    expect(flagged.locator("td").nth(1)).to_have_text("8")
    browser.screenshot(page, "05-datasheet")


def test_the_data_sheet_downloads_as_csv(page):
    with page.expect_download() as download:
        page.click("#csv")
    csv_text = download.value.path().read_text()
    assert csv_text.startswith("time_utc,heart_rate_bpm,temperature_c")
    assert ",93,37.2," in csv_text
    assert ",128,82," in csv_text


def test_monitoring_report_and_welcome_fit_a_phone(site, chrome, patient):
    base = site.base
    phone = chrome.new_context(
        viewport={"width": 390, "height": 844}, storage_state=patient.storage_state()
    )
    try:
        mobile = phone.new_page()
        mobile.goto(f"{base}/p/alice/monitoring")
        expect(mobile.locator(".card[data-card=heart_rate] .num")).to_have_text("150")
        browser.screenshot(mobile, "06-monitoring-phone")
        mobile.goto(f"{base}/p/alice/report")
        expect(mobile.locator("#chart svg[data-drawn]")).to_be_attached()
        browser.screenshot(mobile, "06-report-phone")
        mobile.goto(f"{base}/p/alice")
        expect(mobile.locator(".glance .c-heart_rate .v")).to_contain_text("150")
        browser.screenshot(mobile, "06-welcome-phone")
    finally:
        phone.close()


def test_signing_out_returns_to_the_login_page(page):
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/login"))


def test_the_doctor_signs_in_with_a_totp_code_and_sees_the_shared_patient_live(site, chrome):
    base = site.base
    doctor = chrome.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = doctor.new_page()
        page.goto(f"{base}/login?tab=doctors")
        page.fill("input[name=dr_id]", "D100")
        page.fill("input[name=name]", "Grace Tan")
        page.fill("input[name=ic]", "S1234567A")
        page.fill("input[name=password]", DOCTOR_PW)
        page.fill("input[name=totp]", pyotp.TOTP(site.secret).now())
        browser.screenshot(page, "07-login-doctors")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{base}/doctor")
        expect(page.locator(".hello h1")).to_have_text("Welcome, Dr. Grace Tan")
        page.click("text=Monitoring")
        expect(page.locator(".card[data-card=heart_rate] .num")).to_have_text("150")
        expect(page.locator(".manual")).to_have_count(0)
        expect(page.locator("#live-state")).to_have_text("live")
        # The alert raised earlier is still standing, so it shows on arrival.
        expect(page.locator("#alerts .alert").first).to_contain_text("150")
        browser.screenshot(page, "08-doctor-monitoring")
    finally:
        doctor.close()


def test_the_administrator_manages_devices_and_sees_no_vitals(site, chrome):
    base = site.base
    admin = chrome.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = admin.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=email]", "root@example.org")
        page.fill("input[name=username]", "root")
        page.fill("input[name=password]", DOCTOR_PW)
        page.fill("input[name=totp]", pyotp.TOTP(site.admin_secret).now())
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{base}/admin/")
        expect(page.locator("ul.devices")).to_contain_text("wch → alice")
        expect(page.locator("#shares tr[data-share='alice/D100']")).to_contain_text("Grace Tan")
        # A device the gateway never met and the registry does not list is refused, and stays off.
        page.fill("#device-form input[name=device]", "wch-typo")
        page.fill("#device-form input[name=patient]", "alice")
        page.click("#device-form button")
        expect(page.locator("p.error")).to_contain_text("No device 'wch-typo' is known")
        expect(page.locator("ul.devices")).not_to_contain_text("wch-typo")
        # One that connected is assigned, and the page says so.
        page.fill("#device-form input[name=device]", "wch")
        page.fill("#device-form input[name=patient]", "alice")
        page.click("#device-form button")
        expect(page.locator("p.ok")).to_have_text("wch now belongs to alice.")
        page.fill("#share-form input[name=patient]", "alice")
        page.fill("#share-form input[name=dr_id]", "D999")
        page.click("#share-form button")
        expect(page.locator("p.error")).to_have_text("No doctor has the Dr_ID 'D999'.")
        page.fill("#share-form input[name=patient]", "alice")
        page.fill("#share-form input[name=dr_id]", "D100")
        page.click("#share-form button")
        expect(page.locator("p.ok")).to_contain_text("could already see alice's data")
        expect(page.locator("#admin-log")).to_contain_text("Assigned a device")
        browser.screenshot(page, "09-admin")
        assert page.goto(f"{base}/p/alice/monitoring").status == 403
    finally:
        admin.close()
