"""Cabinet, camera, habits, record and sharing in headless Chromium against real services."""

import base64
import json
import re
import threading
import time
from datetime import UTC, datetime

import pyotp
from playwright.sync_api import expect

from services.common.timeutil import rfc3339_ms
from tests.support import browser
from tests.support.frames import jpeg
from tests.support.net import wait_until
from tests.support.seed_clients import SeedDevice

PATIENT_PW, DOCTOR_PW = browser.PATIENT_PW, browser.DOCTOR_PW


def _setup(tmp_path, env):
    server = browser.web(tmp_path, env)
    data_env = {**env, "SMARTCAB_DATA_DIR": server.env["SMARTCAB_DATA_DIR"]}
    out = browser.add_people(data_env)
    for device in ("cab", "img", "wch"):
        browser.cli(data_env, "devices", "assign", device, "--patient", "alice")
    return server, browser.totp_secret(out)


def _sign_in_patient(page, base):
    page.goto(f"{base}/login")
    page.fill("input[name=email]", "alice@example.org")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PATIENT_PW)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/p/alice")


def _snacks_stored(influxdb) -> bool:
    return influxdb.count("SELECT count(\"count\") FROM inventory WHERE patient = 'alice'") >= 6


def test_cabinet_camera_habits_record_and_sharing_in_the_browser(
    tmp_path, broker, influxdb, make_recorder, make_reporter, gateway, mqtt_recorder
):
    make_recorder()
    env = {**broker.env(), **influxdb.env()}
    server, secret = _setup(tmp_path, env)
    make_reporter(SMARTCAB_DATA_DIR=server.env["SMARTCAB_DATA_DIR"])
    mqtt_recorder.wait("smartcab/devices/img/patient")
    server.start()
    cabinet = SeedDevice(gateway.port, b"cab")
    camera = SeedDevice(gateway.port, b"img")
    try:
        # Two reports from the cabinet: three snacks taken out today.
        cabinet.send_sized(json.dumps({"Nutella": 3, "Pepsi": 2, "Pringles": 1}).encode())
        cabinet.send_sized(json.dumps({"Nutella": 1, "Pepsi": 2, "Pringles": 0}).encode())
        # Two heart-rate readings today, as the gateway publishes the watch's.
        now = int(time.time() * 1000)
        for i, bpm in enumerate((70.0, 76.0)):
            body = {"device": "wch", "metric": "heart_rate", "value": bpm, "unit": "bpm",
                    "ts": rfc3339_ms(now - 60_000 * (i + 1))}  # fmt: skip
            mqtt_recorder.publish("smartcab/devices/wch/vitals/heart_rate", json.dumps(body))
        wait_until(lambda: _snacks_stored(influxdb), timeout=20, what="inventory stored")
        wait_until(
            lambda: influxdb.count("SELECT count(value) FROM vitals WHERE patient = 'alice'") == 2,
            timeout=20,
            what="vitals stored",
        )
        base = f"http://127.0.0.1:{server.port}"
        with browser.chromium() as chrome:
            context = chrome.new_context(
                viewport={"width": 1280, "height": 900}, accept_downloads=True
            )
            page = context.new_page()
            _sign_in_patient(page, base)

            # Cabinet: live counts, and the lights through the gateway to the device.
            page.click(".tile.t-cab")
            expect(page.locator("#live-state")).to_have_text("live")
            nutella = page.locator("[data-cabinet=cab] li[data-item=Nutella]")
            expect(nutella.locator(".count")).to_have_text("1")
            expect(nutella.locator(".changed time")).not_to_have_text("not in the last 30 days")
            expect(page.locator(".device-state[data-device=cab] .state")).to_have_text("online")
            got: list[bytes] = []
            reader = threading.Thread(target=lambda: got.append(cabinet.recv_command()))
            reader.start()
            page.click("[data-cabinet=cab] button[data-cmd=lof]")
            status = page.locator(".cmd-status[data-status-for=cab]")
            expect(status).to_have_text("Lights off: the cabinet got the command.")
            reader.join(10)
            assert got == [b"lof"]
            # A restock shows at once on the open page.
            cabinet.send_sized(json.dumps({"Nutella": 5, "Pepsi": 2, "Pringles": 0}).encode())
            expect(nutella.locator(".count")).to_have_text("5")

            # Camera: "take photo" reaches the camera; its frame reaches the page.
            def shoot():
                got.append(camera.recv_command())
                camera.send_sized(base64.b64encode(jpeg("Health Plus cabinet camera")))

            shooter = threading.Thread(target=shoot)
            shooter.start()
            page.click("[data-camera=img] button[data-cmd=img]")
            latest = page.locator("#latest-img")
            expect(latest).to_have_attribute("src", re.compile(r"/p/alice/camera/img/\d{13}-"))
            shooter.join(10)
            assert got[-1] == b"img"
            expect(page.locator("[data-camera=img] figcaption")).to_contain_text("Taken")
            expect(page.locator(".gallery[data-gallery=img] li")).to_have_count(1)
            wait_until(
                lambda: latest.evaluate("img => img.complete && img.naturalWidth") == 320,
                what="snapshot decoded",
            )
            browser.screenshot(page, "10-cabinet-camera")

            # Habits: a day logged, shown beside the snacks taken and the day's vitals.
            page.click("nav.tabs >> text=Habit Tracker")
            page.fill("#habit-form input[name=sleep]", "7.5")
            page.fill("#habit-form input[name=exercise]", "30")
            page.fill("#habit-form input[name=water]", "8")
            page.click("#habit-form button[type=submit]")
            today = page.locator(f"#week tr[data-day='{datetime.now(UTC).date().isoformat()}']")
            expect(today.locator("td[data-habit=sleep]")).to_have_text("7.5")
            expect(today.locator("td.snacks")).to_have_text("3")
            expect(today.locator("td[data-vital=heart_rate]")).to_have_text("73")
            expect(page.locator(".streak[data-habit=sleep] .v")).to_contain_text("1")
            browser.screenshot(page, "11-habits")
            phone = chrome.new_context(
                viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
            )
            mobile = phone.new_page()
            mobile.goto(f"{base}/p/alice/cabinet")
            expect(mobile.locator("[data-cabinet=cab] li[data-item=Nutella] .count")).to_have_text(
                "5"
            )
            browser.screenshot(mobile, "18-cabinet-phone")
            mobile.goto(f"{base}/p/alice/habits")
            expect(mobile.locator("#week td.snacks").first).to_have_text("3")
            browser.screenshot(mobile, "18-habits-phone")
            phone.close()

            page.click("nav.tabs >> text=Questionnaire")
            page.fill("textarea[name=sleep]", "About seven hours, I wake up rested.")
            page.click("button[value=draft]")
            expect(page.locator("p.ok")).to_contain_text("Draft saved")
            page.fill("textarea[name=exercise]", "A brisk walk most days")
            page.click("button[value=submit]")
            expect(page.locator("p.ok")).to_contain_text("Submitted")
            browser.screenshot(page, "12-questionnaire")

            # Share with the doctor by Dr_ID.
            page.click("nav.tabs >> text=Sharing")
            page.fill("#share-form input[name=dr_id]", "D100")
            page.click("#share-form button")
            expect(page.locator(".shares li[data-dr=D100]")).to_contain_text("Grace Tan")
            browser.screenshot(page, "13-sharing")

            # The doctor enters blood results, advice and a note.
            doctor = chrome.new_context(viewport={"width": 1280, "height": 900})
            dpage = doctor.new_page()
            dpage.goto(f"{base}/login?tab=doctors")
            dpage.fill("input[name=dr_id]", "D100")
            dpage.fill("input[name=name]", "Grace Tan")
            dpage.fill("input[name=ic]", "S1234567A")
            dpage.fill("input[name=password]", DOCTOR_PW)
            dpage.fill("input[name=totp]", pyotp.TOTP(secret).now())
            dpage.click("button[type=submit]")
            expect(dpage).to_have_url(f"{base}/doctor")
            card = dpage.locator("[data-patient-card=alice]")
            expect(card).to_contain_text("First visit")
            browser.screenshot(dpage, "14-doctor-home")
            card.locator("text=Report").click()
            dpage.fill("#blood-form input[name=taken_on]", "2026-11-20")
            dpage.fill("#blood-form input[name=value_hba1c]", "6.3")
            dpage.fill("#blood-form input[name=value_ldl]", "2.9")
            dpage.fill("#blood-form input[name=value_total_chol]", "5.8")
            dpage.click("#blood-form button[type=submit]")
            expect(dpage.locator("tr[data-test=HbA1c] .badge")).to_have_text("high")
            dpage.select_option("#advice-form select[name=area]", "Diet")
            dpage.fill("#advice-form input[name=advice]", "Swap the evening crisps for fruit.")
            dpage.click("#advice-form button")
            dpage.fill("#note-form textarea", "HbA1c above range; recheck in three months.")
            dpage.click("#note-form button")
            expect(dpage.locator(".dnote")).to_contain_text("recheck in three months")
            browser.screenshot(dpage, "15-doctor-record")

            # The patient sees what the doctor wrote.
            page.goto(f"{base}/p/alice/report")
            expect(page.locator("#live-state")).to_have_text("live")
            expect(page.locator("tr[data-test=HbA1c] .val")).to_contain_text("6.3")
            expect(page.locator("tr[data-test=HbA1c] .badge")).to_have_text("high")
            expect(page.locator("tr[data-test=LDL] .badge")).to_have_count(0)
            expect(page.locator(".advice[data-area=Diet]")).to_contain_text("evening crisps")
            expect(page.locator("#blood-form")).to_have_count(0)
            # Download as PDF: the reporter makes it, the page follows it to a link.
            page.click("#report-form button[value=pdf]")
            expect(page.locator("#report-progress")).to_contain_text("Ready")
            with page.expect_download() as download:
                page.click("#report-link")
            assert download.value.path().read_bytes().startswith(b"%PDF")
            browser.screenshot(page, "16-patient-record")

            # Who viewed my data, then revoke: the doctor is refused on the next request.
            page.goto(f"{base}/p/alice/access-log")
            log = page.locator("#access-log")
            expect(log).to_contain_text("Dr. Grace Tan")
            expect(log).to_contain_text("Added blood test results")
            expect(log).to_contain_text("Wrote advice")
            browser.screenshot(page, "17-access-log")
            page.goto(f"{base}/p/alice/sharing")
            page.click(".shares li[data-dr=D100] button")
            expect(page.locator("p.ok")).to_contain_text("Access removed")
            assert dpage.reload().status == 403
            page.goto(f"{base}/p/alice/access-log")
            expect(log.locator("tr").nth(1)).to_contain_text("Removed access for D100")
            doctor.close()
            context.close()
    finally:
        cabinet.close()
        camera.close()
        assert server.stop() == 0, server.log_text()[-3000:]
