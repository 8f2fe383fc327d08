"""A dashboard with something on every page, and a signed-in browser for every role.

For the accessibility and phone-layout tests: real processes (broker, InfluxDB,
recorder, gateway, web, notifier, an SMTP sink), alice with two days of readings, a
cabinet, a care-circle contact and an alert; her doctor's blood tests, advice and note,
entered through the doctor's forms; a carer who took alice's emailed invitation; an admin.
"""

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
from playwright.sync_api import expect

from services.common.timeutil import rfc3339_ms

from . import axe, browser
from .net import wait_until
from .seed_clients import SeedDevice
from .services import ServiceProcess
from .smtp import SmtpSink

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CARER_PW = "kettle lantern meadow 9"


@dataclass
class Tour:
    """The running site and one signed-in browser context per role at each width."""

    base: str
    chrome: object
    secrets: dict[str, str] = field(default_factory=dict)
    alert_id: str = ""
    pages: dict[str, tuple[str, ...]] = field(default_factory=dict)
    contexts: dict[tuple[str, int], object] = field(default_factory=dict)
    script_errors: list[str] = field(default_factory=list)  # uncaught, from any page

    def context(self, role: str, width: int):
        """The role's context at ``width`` (390 or 1280), sharing the role's session."""
        key = (role, width)
        if key not in self.contexts:
            desktop = self.contexts[(role, DESKTOP["width"])]
            self.contexts[key] = self.new_context(
                PHONE if width == PHONE["width"] else DESKTOP, desktop.storage_state()
            )
        return self.contexts[key]

    def new_context(self, viewport: dict, state=None):
        # A phone's context is a mobile one: it honours the pages' viewport meta tag.
        mobile = viewport["width"] < DESKTOP["width"]
        context = self.chrome.new_context(
            viewport=viewport, storage_state=state, is_mobile=mobile, has_touch=mobile
        )
        axe.install(context)
        context.on("page", self._watch)
        return context

    def _watch(self, page) -> None:
        page.on("pageerror", lambda error: self.script_errors.append(f"{page.url}: {error}"))

    def page(self, role: str, width: int):
        """The one page of the role's context at ``width``, reused across steps."""
        context = self.context(role, width)
        return context.pages[0] if context.pages else context.new_page()

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


def _history(mqtt, device: str, days: int = 2) -> None:
    """Readings every 20 minutes with a daily rhythm, published as the gateway would."""
    now = int(time.time() * 1000)
    for i in range(days * 72, 0, -1):
        ts = now - i * 1_200_000
        wave = (1 + ((i % 72) - 36) ** 2 / 1296) / 2
        for metric, value in (
            ("heart_rate", 64 + 14 * wave),
            ("temperature", 36.4 + 0.5 * wave),
            ("spo2", 96 + 2 * wave),
        ):
            body = {"device": device, "metric": metric, "value": round(value, 2), "unit": ""}
            body["ts"] = rfc3339_ms(ts + len(metric))
            mqtt.publish(f"smartcab/devices/{device}/vitals/{metric}", json.dumps(body))


def start_site(stack, sink: SmtpSink) -> tuple[ServiceProcess, dict, list]:
    """The web and notifier on the stack, alice's people, devices and history.

    Returns the web process (started), the doctor's and admin's TOTP secrets, and the
    closers of what else it started.
    """
    server = browser.web(stack.root, {**stack.env, **sink.env()})
    base = f"http://127.0.0.1:{server.port}"
    server.env["WEB_BASE_URL"] = base
    data_env = {**stack.env, "SMARTCAB_DATA_DIR": server.env["SMARTCAB_DATA_DIR"]}
    people = browser.add_people(data_env)
    for device in ("wch", "cab"):
        browser.cli(data_env, "devices", "assign", device, "--patient", "alice")
    browser.cli(data_env, "shares", "grant", "--patient", "alice", "--doctor", "D100")
    admin = browser.cli(
        data_env,
        *("users", "add-admin", "--email", "root@example.org", "--username", "root"),
        password=browser.DOCTOR_PW,
    )
    secrets = {"doctor": browser.totp_secret(people), "admin": browser.totp_secret(admin)}
    stack.mqtt_log.wait("smartcab/devices/cab/patient")
    server.start()
    notifier_env = {**data_env, **sink.env(), "WEB_BASE_URL": base, "NOTIFIER_TICK": "0.2"}
    notifier = ServiceProcess("notifier", stack.root, notifier_env).start()
    cabinet = SeedDevice(stack.gateway.port, b"cab")
    cabinet.send_sized(json.dumps({"Nutella": 2, "Pepsi": 1, "Pringles": 0}).encode())
    _history(stack.mqtt_log, "wch")
    wait_until(
        lambda: stack.influxdb.query("SELECT count(value) FROM vitals", database="vitals")[
            "results"
        ][0].get("series"),
        timeout=20,
        what="history stored",
    )
    return server, secrets, [cabinet.close, notifier.kill]


def sign_in(tour: Tour) -> None:
    """Sign every role in at the desktop width, through the sign-in form."""
    secrets = tour.secrets
    people = {
        "patient": ("users", "alice@example.org", "alice", browser.PATIENT_PW, None, "/p/alice"),
        "admin": ("users", "root@example.org", "root", browser.DOCTOR_PW, "admin", "/admin/"),
    }
    for role, (tab, email, name, password, secret, home) in people.items():
        tour.contexts[(role, 1280)] = context = tour.new_context(DESKTOP)
        page = context.new_page()
        page.goto(f"{tour.base}/login?tab={tab}")
        page.fill("input[name=email]", email)
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", password)
        if secret:
            page.fill("input[name=totp]", pyotp.TOTP(secrets[secret]).now())
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{tour.base}{home}")
    tour.contexts[("doctor", 1280)] = context = tour.new_context(DESKTOP)
    page = context.new_page()
    browser.sign_in_doctor(page, tour.base, secrets["doctor"])
    tour.contexts[("signed-out", 1280)] = tour.new_context(DESKTOP)


def patient_fills_in(tour: Tour, sink: SmtpSink) -> str:
    """A care-circle contact invited to a carer account, a habit day, a medication.

    Returns the invitation's path, from the email the contact received.
    """
    page, base = tour.page("patient", 1280), tour.base
    page.goto(f"{base}/p/alice/care-circle")
    page.fill("#contact-form input[name=name]", "Carol (daughter)")
    page.fill("#contact-form input[name=channel]", "carol@example.org")
    page.click("#contact-form button[type=submit]")
    contact = page.locator("#contacts .contact").first
    contact.locator("summary", has_text="Invite").click()
    contact.locator("button", has_text="Send invitation").click()
    expect(page.locator("p.ok")).to_contain_text("Invitation sent")
    link = re.search(r"https?://\S+?(/carer/invite/\S+)", sink.wait().get_content())[1]
    page.goto(f"{base}/p/alice/habits")
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    page.fill("#habit-form input[name=day]", yesterday)
    for habit, value in (("sleep", "8"), ("exercise", "10"), ("water", "8"), ("screen", "5")):
        page.fill(f"#habit-form input[name={habit}]", value)
    page.click("#habit-form button[type=submit]")
    page.goto(f"{base}/p/alice/medications")
    page.fill("#med-add input[name=name]", "Metformin 500 mg")
    page.fill("#med-add input[name=times]", "08:00,20:00")
    page.fill("#med-add input[name=item]", "Metformin")
    page.click("#med-add button[type=submit]")
    expect(page.locator("form.med")).to_have_count(1)
    return link


def carer_joins(tour: Tour, link: str) -> None:
    """Carol takes the invitation: a carer account, signed in."""
    tour.contexts[("carer", 1280)] = context = tour.new_context(DESKTOP)
    page = context.new_page()
    page.goto(tour.base + link)
    page.fill("input[name=username]", "carol")
    page.fill("input[name=password]", CARER_PW)
    page.fill("input[name=password2]", CARER_PW)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/carer"))


def doctor_fills_in(tour: Tour) -> None:
    """A visit's blood tests (one out of range), one area's advice and a note."""
    page = tour.page("doctor", 1280)
    page.goto(f"{tour.base}/p/alice/report")
    form = page.locator("#blood-form")
    taken = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    form.locator("input[name=taken_on]").fill(taken)
    for key, value in (("total_chol", "6.1"), ("hdl", "1.4"), ("glucose", "5.2"), ("hba1c", "6")):
        form.locator(f"input[name=value_{key}]").fill(value)
    form.locator("button[type=submit]").click()
    expect(page.locator("#blood-tests tr[data-test]").first).to_be_visible()
    page.select_option("#advice-form select[name=area]", "Diet")
    page.fill("#advice-form input[name=advice]", "Less salt; more vegetables.")
    page.click("#advice-form button[type=submit]")
    page.fill("#note-form textarea[name=note]", "Seen today. Recheck cholesterol in 3 months.")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#notes .dnote")).to_have_count(1)


def measure(mqtt, metric: str, value: float) -> None:
    """One reading from alice's watch, as the gateway publishes it."""
    body = {"device": "wch", "metric": metric, "value": value, "unit": ""}
    body["ts"] = rfc3339_ms(int(time.time() * 1000))
    mqtt.publish(f"smartcab/devices/wch/vitals/{metric}", json.dumps(body))


def raise_alert(tour: Tour, mqtt) -> str:
    """A heart rate over the threshold; returns the alert's id once the notifier has it."""
    measure(mqtt, "heart_rate", 150.0)
    page = tour.page("patient", 1280)

    def notified():
        page.goto(f"{tour.base}/p/alice")
        item = page.locator("#notified-alerts li[data-alert]")
        return item.count() and item.first.get_attribute("data-alert")

    return wait_until(notified, timeout=20, what="the alert on the patient's home page")
