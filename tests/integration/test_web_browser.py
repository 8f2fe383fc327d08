"""The dashboard in headless Chromium against real processes: gateway, Mosquitto,
recorder, InfluxDB and ``python -m services.web``."""

import json
import math
import re
import threading
import time

import pyotp
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


def test_patient_and_doctor_journeys(tmp_path, broker, influxdb, make_recorder, gateway, mqtt_log):
    make_recorder()
    env = {**broker.env(), **influxdb.env()}
    server = browser.web(tmp_path, env)
    data_env = {**env, "SMARTCAB_DATA_DIR": server.env["SMARTCAB_DATA_DIR"]}
    out = browser.add_people(data_env)
    secret = browser.totp_secret(out)
    assert "otpauth://totp/" in out
    assert "published to the broker" in browser.cli(
        data_env, "devices", "assign", "wch", "--patient", "alice"
    )
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
    admin_secret = browser.totp_secret(out)
    mqtt_log.wait("smartcab/devices/wch/patient")
    server.start()
    watch = SeedWatch(gateway.port)
    try:
        _history(mqtt_log, "wch")
        wait_until(
            lambda: influxdb.query("SELECT count(value) FROM vitals", database="vitals")["results"][
                0
            ].get("series"),
            timeout=20,
            what="history stored",
        )
        base = f"http://127.0.0.1:{server.port}"
        with browser.chromium() as chrome:
            context = chrome.new_context(
                viewport={"width": 1280, "height": 900}, accept_downloads=True
            )
            page = context.new_page()
            page.goto(f"{base}/login")
            browser.screenshot(page, "01-login-users")
            page.fill("input[name=email]", "alice@example.org")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PATIENT_PW)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{base}/p/alice")
            expect(page.locator(".devices li[data-device=wch] .state")).to_have_text("online")
            browser.screenshot(page, "02-welcome")

            page.goto(f"{base}/p/alice/monitoring")
            expect(page.locator("#live-state")).to_have_text("live")
            hr = page.locator(".card[data-card=heart_rate] .num")
            before = hr.inner_text()

            # A reading through gateway -> broker -> web (live), and -> recorder -> InfluxDB.
            answered = threading.Thread(target=watch.serve_once, args=(93.0, 37.2))
            answered.start()
            mqtt_log.publish("smartcab/devices/wch/cmd", "bpm")
            answered.join(10)
            expect(hr).to_have_text("93")
            assert before != "93"
            expect(page.locator(".card[data-card=temperature] .num")).to_have_text("37.2")
            wait_until(lambda: _stored(influxdb, "alice", 93.0), timeout=15, what="reading stored")
            page.reload()
            expect(hr).to_have_text("93")  # now served from InfluxDB
            page.click(".card[data-card=heart_rate] summary")
            expect(page.locator(".card[data-card=heart_rate] .recent li").first).to_contain_text(
                "93 bpm"
            )

            # A hand-entered blood pressure joins the same pipeline.
            page.fill("input[name=bp_systolic]", "128")
            page.fill("input[name=bp_diastolic]", "82")
            page.click(".manual button[type=submit]")
            expect(page.locator("#manual-status")).to_contain_text("Reading sent")
            expect(page.locator(".card[data-card=bp] .num")).to_have_text("128/82")
            browser.screenshot(page, "03-monitoring")

            page.goto(f"{base}/p/alice/report")
            chart = page.locator("#chart svg[data-drawn]")
            expect(chart).to_have_attribute("data-metrics", "temperature,heart_rate")
            expect(page.locator("#chart g[data-series=heart_rate] polyline").first).to_be_attached()
            page.check("input[value=spo2]")
            expect(page.locator("#chart g[data-series=spo2] polyline").first).to_be_attached()
            page.uncheck("input[value=heart_rate]")
            expect(page.locator("#chart g[data-series=heart_rate]")).to_have_count(0)
            page.check("input[value=bp]")
            expect(chart).to_have_attribute(
                "data-metrics", "temperature,bp_systolic,bp_diastolic,spo2"
            )
            page.select_option("#range", "week")
            expect(page.locator("#chart g[data-series=spo2] polyline").first).to_be_attached()
            page.check("input[value=heart_rate]")
            expect(page.locator("#chart g[data-series=heart_rate] polyline").first).to_be_attached()

            # A reading over the threshold: the recorder's alert reaches the open page.
            answered = threading.Thread(target=watch.serve_once, args=(150.0, 37.0))
            answered.start()
            mqtt_log.publish("smartcab/devices/wch/cmd", "bpm")
            answered.join(10)
            expect(page.locator("#alerts .alert").first).to_be_visible()
            expect(page.locator("#alert-list li").first).to_contain_text("warning")
            browser.screenshot(page, "04-report-week")
            page.select_option("#range", "day")
            expect(page.locator("#chart-note")).to_contain_text("mean of 5 min")
            browser.screenshot(page, "04-report-day")

            page.goto(f"{base}/p/alice/datasheet")
            rows = page.locator("table.sheet tbody tr")
            expect(rows.first).to_contain_text("150.00")  # newest first
            expect(rows.nth(1)).to_contain_text("128/82")
            expect(rows.nth(2)).to_contain_text("93.00")
            expect(rows.nth(2)).to_contain_text("37.20")
            flagged = page.locator("table.sheet tbody tr.flagged")
            expect(flagged).to_have_count(1)
            expect(flagged).to_contain_text("8.00")
            browser.screenshot(page, "05-datasheet")
            with page.expect_download() as download:
                page.click("#csv")
            csv_text = download.value.path().read_text()
            assert csv_text.startswith("time_utc,heart_rate_bpm,temperature_c")
            assert ",93,37.2," in csv_text
            assert ",128,82," in csv_text

            phone = chrome.new_context(
                viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
            )
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
            phone.close()

            page.click("text=Sign out")
            expect(page).to_have_url(re.compile(r"/login"))
            context.close()

            # The doctor, with a real TOTP code, sees the shared patient.
            doctor = chrome.new_context(viewport={"width": 1280, "height": 900})
            page = doctor.new_page()
            page.goto(f"{base}/login?tab=doctors")
            page.fill("input[name=dr_id]", "D100")
            page.fill("input[name=name]", "Grace Tan")
            page.fill("input[name=ic]", "S1234567A")
            page.fill("input[name=password]", DOCTOR_PW)
            page.fill("input[name=totp]", pyotp.TOTP(secret).now())
            browser.screenshot(page, "07-login-doctors")
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{base}/doctor")
            page.click("text=Monitoring")
            expect(page.locator(".card[data-card=heart_rate] .num")).to_have_text("150")
            expect(page.locator(".manual")).to_have_count(0)
            expect(page.locator("#live-state")).to_have_text("live")
            # The alert raised earlier is still standing, so it shows on arrival.
            expect(page.locator("#alerts .alert").first).to_contain_text("150")
            browser.screenshot(page, "08-doctor-monitoring")
            doctor.close()

            # The administrator manages users and devices, and sees no vitals.
            admin = chrome.new_context(viewport={"width": 1280, "height": 900})
            page = admin.new_page()
            page.goto(f"{base}/login")
            page.fill("input[name=email]", "root@example.org")
            page.fill("input[name=username]", "root")
            page.fill("input[name=password]", DOCTOR_PW)
            page.fill("input[name=totp]", pyotp.TOTP(admin_secret).now())
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{base}/admin/")
            expect(page.locator("ul.devices")).to_contain_text("wch → alice")
            browser.screenshot(page, "09-admin")
            assert page.goto(f"{base}/p/alice/monitoring").status == 403
            admin.close()
    finally:
        watch.close()
        assert server.stop() == 0, server.log_text()[-3000:]
