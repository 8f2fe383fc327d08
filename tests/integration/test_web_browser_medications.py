"""The medicine routine in a real Chromium, with every part real and one cabinet.

The patient adds a medication on the dashboard; the dose tracker lights the cabinet,
which is the prototype's firmware as the design notes give it, through the real
gateway; the patient takes the item out; the week view shows the dose taken, for her
and for her doctor; the PDF report the reporter makes shows the adherence.
"""

from datetime import UTC, datetime

from playwright.sync_api import expect

from tests.support import browser
from tests.support import pdf as pdftools
from tests.support.net import wait_until
from tests.support.seed_clients import SeedCabinet
from tests.support.services import ServiceProcess

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CAB = "cab01"


def _sign_in_patient(context, base: str):
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", "alice@example.org")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", browser.PATIENT_PW)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/p/alice")
    return page


def _sign_in_doctor(context, base: str, secret: str):
    page = context.new_page()
    browser.sign_in_doctor(page, base, secret)
    return page


def _add_medication(page, base: str) -> None:
    """Through the Medications tab: due this minute (UTC), 2 minutes either side on time."""
    page.click("nav.tabs >> text=Medications")
    expect(page).to_have_url(f"{base}/p/alice/medications")
    form = page.locator("#med-add")
    form.locator("input[name=name]").fill("Aspirin 75 mg")
    form.locator("input[name=times]").fill(datetime.now(UTC).strftime("%H:%M"))
    form.locator("input[name=window]").fill("2")
    form.locator("input[name=item]").fill("Aspirin")
    form.locator("input[name=stock]").fill("28")
    form.locator("button[type=submit]").click()
    expect(page.locator("form.med input[name=name]")).to_have_value("Aspirin 75 mg")


def _taken_in_the_week(page) -> None:
    """The page is not live: reload until the tracker's record shows."""
    dose = page.locator("table.week .dose[data-outcome=on_time]")
    wait_until(lambda: page.reload() and dose.count() == 1, timeout=20, what="the dose taken")
    expect(dose).to_contain_text("taken on time")


def test_a_dose_added_lit_taken_seen_by_patient_and_doctor_and_in_the_pdf(
    tmp_path, broker, influxdb, gateway, chrome, make_reporter
):
    data = tmp_path / "data"
    env = {**broker.env(), "SMARTCAB_DATA_DIR": str(data), "REPORT_TIMEZONE": "UTC"}
    secret = browser.totp_secret(browser.add_people(env))
    browser.cli(env, "shares", "grant", "--patient", "alice", "--doctor", "D100")
    browser.cli(env, "devices", "assign", CAB, "--patient", "alice")
    server = browser.web(tmp_path, {**env, **influxdb.env()}).start()
    base = f"http://127.0.0.1:{server.port}"
    influxdb.query("CREATE DATABASE vitals")  # what the recorder does on its first start
    make_reporter(REPORT_TIMEZONE="UTC")
    cabinet = SeedCabinet(gateway.port, {"Vitamin D": 1, "Aspirin": 2}, name=CAB.encode())
    tracker = ServiceProcess(
        "pillbox", tmp_path, {**env, "PILLBOX_TICK": "0.2", "PILLBOX_SETTLE": "0.5"}
    ).start()
    try:
        context = chrome.new_context(viewport=DESKTOP, accept_downloads=True)
        page = _sign_in_patient(context, base)
        _add_medication(page, base)
        wait_until(lambda: cabinet.lights_on is True, timeout=20, what="the cabinet lit")
        expect(page.locator("table.week .dose[data-outcome=open]")).to_contain_text("due now")
        browser.screenshot(page, "medications-due")
        cabinet.set("Aspirin", 1)  # the patient takes one out
        wait_until(lambda: cabinet.lights_on is False, timeout=20, what="the cue off")
        _taken_in_the_week(page)
        expect(page.locator("form.med input[name=stock]")).to_have_value("27")
        browser.screenshot(page, "medications-taken")

        doctor = chrome.new_context(viewport=DESKTOP)
        dpage = _sign_in_doctor(doctor, base, secret)
        dpage.goto(f"{base}/p/alice/medications")
        expect(dpage.locator("table.week .dose[data-outcome=on_time]")).to_contain_text(
            "taken on time"
        )
        expect(dpage.locator(".changes")).to_contain_text("Aspirin 75 mg")
        browser.screenshot(dpage, "medications-doctor")
        doctor.close()

        page.click("nav.tabs >> text=Health Report")
        page.click("#report-form button[value=pdf]")
        expect(page.locator("#report-progress")).to_contain_text("Ready", timeout=60_000)
        with page.expect_download() as download:
            page.click("#report-link")
        report = tmp_path / "report.pdf"
        download.value.save_as(report)
        context.close()

        phone = chrome.new_context(viewport=PHONE, is_mobile=True)
        small = _sign_in_patient(phone, base)
        small.goto(f"{base}/p/alice/medications")
        browser.screenshot(small, "medications-phone")
        phone.close()
    finally:
        cabinet.close()
        tracker.kill()
        server.kill()
    text = pdftools.text(report)
    assert "Medications" in text and "Aspirin 75 mg" in text
    row = next(line for line in text.splitlines() if "Aspirin 75 mg" in line)
    assert row.split()[-1] == "100%"  # one dose scheduled, taken on time
    # the limit, under the section: evidence of taking it out, not of swallowing it
    assert "evidence it was taken out, not that it was swallowed" in " ".join(text.split())
    # the prototype's cabinet heard only what it knows, one command per read
    assert cabinet.received == [b"lon", b"lof"] and cabinet.ignored == []
