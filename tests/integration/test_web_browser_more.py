"""Cabinet, camera, habits, questionnaire, sharing and the doctor's record in headless
Chromium, against the real gateway, recorder, reporter and ``python -m services.web``.

One site serves the whole module and the tests are the steps of one visit, in order.
A step that fails names its behaviour; the steps after it may fail with it.
"""

import base64
import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from services.common.timeutil import rfc3339_ms
from tests.support import browser
from tests.support.frames import jpeg
from tests.support.net import wait_until
from tests.support.seed_clients import SeedDevice
from tests.support.services import ServiceProcess

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


@pytest.fixture(scope="module")
def site(stack):
    """The dashboard and a reporter; a cabinet and a camera; snacks taken and heart rates today."""
    mqtt_log, influxdb = stack.mqtt_log, stack.influxdb
    server, secret = _setup(stack.root, stack.env)
    reporter_env = {**stack.env, "SMARTCAB_DATA_DIR": server.env["SMARTCAB_DATA_DIR"]}
    reporter = ServiceProcess("reporter", stack.root, reporter_env).start()
    mqtt_log.wait("smartcab/devices/img/patient")
    server.start()
    cabinet = SeedDevice(stack.gateway.port, b"cab")
    camera = SeedDevice(stack.gateway.port, b"img")
    try:
        # Two reports from the seed cabinet: three snacks taken out today.
        cabinet.send_sized(json.dumps({"Nutella": 3, "Pepsi": 2, "Pringles": 1}).encode())
        cabinet.send_sized(json.dumps({"Nutella": 1, "Pepsi": 2, "Pringles": 0}).encode())
        # Two heart-rate readings today, as the gateway publishes the watch's.
        now = int(time.time() * 1000)
        for i, bpm in enumerate((70.0, 76.0)):
            body = {"device": "wch", "metric": "heart_rate", "value": bpm, "unit": "bpm",
                    "ts": rfc3339_ms(now - 60_000 * (i + 1))}  # fmt: skip
            mqtt_log.publish("smartcab/devices/wch/vitals/heart_rate", json.dumps(body))
        wait_until(lambda: _snacks_stored(influxdb), timeout=20, what="inventory stored")
        wait_until(
            lambda: influxdb.count("SELECT count(value) FROM vitals WHERE patient = 'alice'") == 2,
            timeout=20,
            what="vitals stored",
        )
        yield SimpleNamespace(
            base=f"http://127.0.0.1:{server.port}", secret=secret, cabinet=cabinet, camera=camera
        )
    finally:
        cabinet.close()
        camera.close()
        reporter.kill()
        assert server.stop() == 0, server.log_text()[-3000:]


@pytest.fixture(scope="module")
def patient(site, chrome):
    """Alice's desktop browser, signed in, kept across the patient's steps."""
    context = chrome.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    _sign_in_patient(context.new_page(), site.base)
    yield context
    context.close()


@pytest.fixture(scope="module")
def page(patient):
    return patient.pages[0]


@pytest.fixture(scope="module")
def doctor_page(site, chrome):
    """Dr. Grace Tan's browser, signed in with a real TOTP code."""
    base = site.base
    doctor = chrome.new_context(viewport={"width": 1280, "height": 900})
    dpage = doctor.new_page()
    browser.sign_in_doctor(dpage, base, site.secret)
    yield dpage
    doctor.close()


def test_the_cabinet_page_shows_live_counts_and_the_cabinet_online(page):
    page.click(".tile.t-cab")
    expect(page.locator("#live-state")).to_have_text("live")
    nutella = page.locator("[data-cabinet=cab] li[data-item=Nutella]")
    expect(nutella.locator(".count")).to_have_text("1")
    expect(nutella.locator(".changed")).to_contain_text("changed ")
    expect(nutella.locator(".changed")).not_to_contain_text("no change")
    expect(page.locator(".device-state[data-device=cab] .state")).to_have_text("online")


def test_the_lights_go_through_the_gateway_to_the_cabinet(site, page):
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(site.cabinet.recv_command()))
    reader.start()
    page.click("[data-cabinet=cab] button[data-cmd=lof]")
    status = page.locator(".cmd-status[data-status-for=cab]")
    expect(status).to_have_text("Lights off: the cabinet got the command.")
    reader.join(10)
    assert got == [b"lof"]


def test_a_restock_shows_at_once_on_the_open_page(site, page):
    site.cabinet.send_sized(json.dumps({"Nutella": 5, "Pepsi": 2, "Pringles": 0}).encode())
    nutella = page.locator("[data-cabinet=cab] li[data-item=Nutella]")
    expect(nutella.locator(".count")).to_have_text("5")


def test_take_photo_reaches_the_camera_and_its_frame_the_page(site, page):
    got: list[bytes] = []

    def shoot():
        got.append(site.camera.recv_command())
        site.camera.send_sized(base64.b64encode(jpeg("Health Plus cabinet camera")))

    shooter = threading.Thread(target=shoot)
    shooter.start()
    page.click("[data-camera=img] button[data-cmd=img]")
    latest = page.locator("#latest-img")
    expect(latest).to_have_attribute("src", re.compile(r"/p/alice/camera/img/\d{13}-"))
    shooter.join(10)
    assert got == [b"img"]
    expect(page.locator("[data-camera=img] figcaption")).to_contain_text("Taken")
    expect(page.locator(".gallery[data-gallery=img] li")).to_have_count(1)
    wait_until(
        lambda: latest.evaluate("img => img.complete && img.naturalWidth") == 320,
        what="snapshot decoded",
    )
    browser.screenshot(page, "10-cabinet-camera")


def test_a_logged_day_shows_beside_the_snacks_taken_and_the_days_vitals(page):
    page.click("nav.tabs >> text=Habit Tracker")
    page.fill("#habit-form input[name=sleep]", "7.5")
    page.fill("#habit-form input[name=exercise]", "30")
    page.fill("#habit-form input[name=water]", "8")
    page.click("#habit-form button[type=submit]")
    today = page.locator(f"#week tr[data-day='{datetime.now(UTC).date().isoformat()}']")
    expect(today.locator("td[data-habit=sleep]")).to_have_text(re.compile(r"^7\.5 ✓goal met$"))
    expect(today.locator("td.snacks")).to_have_text("3")
    expect(today.locator("td[data-vital=heart_rate]")).to_have_text("73")
    expect(page.locator(".streak[data-habit=sleep] .v")).to_contain_text("1")
    # The cabinet first counted today: the days before show no count, not "0 taken".
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    expect(page.locator(f"#week tr[data-day='{yesterday}'] td.snacks")).to_have_text("–")
    browser.screenshot(page, "11-habits")


def test_cabinet_and_habits_fit_a_phone(site, chrome, patient):
    base = site.base
    phone = chrome.new_context(
        viewport={"width": 390, "height": 844}, storage_state=patient.storage_state()
    )
    try:
        mobile = phone.new_page()
        mobile.goto(f"{base}/p/alice/cabinet")
        expect(mobile.locator("[data-cabinet=cab] li[data-item=Nutella] .count")).to_have_text("5")
        browser.screenshot(mobile, "18-cabinet-phone")
        mobile.goto(f"{base}/p/alice/habits")
        expect(mobile.locator("#week td.snacks").first).to_have_text("3")
        browser.screenshot(mobile, "18-habits-phone")
    finally:
        phone.close()


def test_the_questionnaire_is_saved_as_a_draft_then_submitted(page):
    page.click("nav.tabs >> text=Questionnaire")
    page.fill("textarea[name=sleep]", "About seven hours, I wake up rested.")
    page.click("button[value=draft]")
    expect(page.locator("p.ok")).to_contain_text("Draft saved")
    page.fill("textarea[name=exercise]", "A brisk walk most days")
    page.click("button[value=submit]")
    expect(page.locator("p.ok")).to_contain_text("Submitted")
    browser.screenshot(page, "12-questionnaire")


def test_the_patient_shares_with_the_doctor_by_dr_id(page):
    page.click("nav.tabs >> text=Sharing")
    page.fill("#share-form input[name=dr_id]", "D100")
    page.click("#share-form button")
    expect(page.locator(".shares li[data-dr=D100]")).to_contain_text("Grace Tan")
    browser.screenshot(page, "13-sharing")


def test_the_doctor_enters_blood_results_advice_and_a_note(doctor_page):
    dpage = doctor_page
    card = dpage.locator("[data-patient-card=alice]")
    expect(card).to_contain_text("First visit")
    browser.screenshot(dpage, "14-doctor-home")
    card.locator("text=Report").click()
    # A sample date in the future is refused at its field, and nothing typed is lost.
    future = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    dpage.fill("#blood-form input[name=taken_on]", future)
    dpage.fill("#blood-form input[name=value_hba1c]", "6.3")
    dpage.fill("#blood-form input[name=value_ldl]", "3.0")
    dpage.fill("#blood-form input[name=value_total_chol]", "5.8")
    dpage.click("#blood-form button[type=submit]")
    date_box = dpage.locator("#blood-form input[name=taken_on]")
    expect(date_box).to_have_attribute("aria-invalid", "true")
    expect(dpage.locator("#blood-form label.invalid .field-error")).to_have_text(
        "The sample date cannot be in the future."
    )
    expect(dpage.locator("#blood-form input[name=value_hba1c]")).to_have_value("6.3")
    expect(dpage.locator("#blood-form input[name=value_total_chol]")).to_have_value("5.8")
    browser.screenshot(dpage, "15-doctor-blood-error")
    date_box.fill("2026-11-20")
    dpage.click("#blood-form button[type=submit]")
    expect(dpage.locator("tr[data-test=HbA1c] .badge")).to_have_text("high")
    dpage.select_option("#advice-form select[name=area]", "Diet")
    dpage.fill("#advice-form input[name=advice]", "Swap the evening crisps for fruit.")
    dpage.click("#advice-form button")
    dpage.fill("#note-form textarea", "HbA1c above range; recheck in three months.")
    dpage.click("#note-form button")
    expect(dpage.locator(".dnote")).to_contain_text("recheck in three months")
    browser.screenshot(dpage, "15-doctor-record")


def test_the_patient_sees_what_the_doctor_wrote(site, page):
    page.goto(f"{site.base}/p/alice/report")
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("tr[data-test=HbA1c] .val")).to_contain_text("6.3")
    expect(page.locator("tr[data-test=HbA1c] .badge")).to_have_text("high")
    expect(page.locator("tr[data-test=LDL] .badge")).to_have_count(0)
    expect(page.locator("tr[data-test=LDL] .val")).to_have_text("3.0")  # as the laboratory wrote it
    expect(page.locator(".advice[data-area=Diet]")).to_contain_text("evening crisps")
    expect(page.locator("#blood-form")).to_have_count(0)
    # Shared already: the page says with whom instead of offering to share.
    expect(page.locator("#shared-with")).to_contain_text("Shared with Dr. Grace Tan")
    expect(page.locator("#downloads")).not_to_contain_text("Want your doctor to see this?")


def test_download_as_pdf_takes_one_click_and_names_its_days(page):
    with page.expect_download(timeout=60_000) as download:
        page.click("#report-form button[value=pdf]")
    assert download.value.path().read_bytes().startswith(b"%PDF")
    expect(page.locator("#report-progress")).to_contain_text("Ready")
    # The list names the week's days: it ends today, not tomorrow (the end is exclusive).
    page.reload()
    today, week_start = datetime.now(UTC).date(), datetime.now(UTC).date() - timedelta(days=6)
    shown = page.locator(".reports li .period").first
    expect(shown).to_contain_text(f"{week_start.day} {week_start:%b}")
    expect(shown).to_contain_text(f"– {today.day} {today:%b %Y}")
    browser.screenshot(page, "16-patient-record")


def test_the_access_log_shows_who_viewed_and_wrote(site, page):
    page.goto(f"{site.base}/p/alice/access-log")
    log = page.locator("#access-log")
    expect(log).to_contain_text("Dr. Grace Tan")
    # One line for the doctor's visit: what they changed, then what they looked at.
    visit = log.locator("tr.r-doctor")
    expect(visit).to_have_count(1)
    expect(visit).to_contain_text("Added blood test results: refused, nothing saved")
    expect(visit).to_contain_text("added blood test results, wrote advice, wrote a note")
    expect(visit).to_contain_text("viewed your health report")
    # In people's words: no URL, no action name; the doctor's looking is grouped in visits.
    expect(log).not_to_contain_text("/p/alice")
    expect(log).not_to_contain_text("blood_tests_add")
    browser.screenshot(page, "17-access-log")
    browser.screenshot(page, "17-access-log")


def test_revoking_refuses_the_doctor_on_the_next_request(site, page, doctor_page):
    page.goto(f"{site.base}/p/alice/sharing")
    page.click(".shares li[data-dr=D100] button")
    expect(page.locator("p.ok")).to_contain_text("Access removed")
    assert doctor_page.reload().status == 403
    page.goto(f"{site.base}/p/alice/access-log")
    log = page.locator("#access-log")
    expect(log.locator("tr").nth(1)).to_contain_text("Removed access for Dr. Grace Tan (D100)")
