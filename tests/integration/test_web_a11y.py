"""Every page for every role, on a 1280 px screen and a 390 px phone, for everyone.

axe-core runs on each page and the first serious or critical violation fails the test
with what it found and where, as do a page wider than the screen and a script error.
Then what axe cannot see: the phone layout (the current tab, who is signed in, whose
data it is, tables that scroll), the tabs' aria-current, habits told in words, the
chart's table of values and how alerts are announced.
"""

import json

import pytest
from playwright.sync_api import expect

from tests.support import axe, browser, tour
from tests.support.smtp import SmtpSink

PATIENT_PAGES = (
    "/p/alice",
    "/p/alice/monitoring",
    "/p/alice/report",
    "/p/alice/datasheet",
    "/p/alice/cabinet",
    "/p/alice/habits",
    "/p/alice/medications",
    "/p/alice/questionnaire",
    "/p/alice/care-circle",
)
SIGNED_OUT_PAGES = ("/login", "/login?tab=doctors", "/forgot", "/reset/expired", "/no-such-page")
OWN_PAGES = ("/p/alice/sharing", "/p/alice/access-log", "/account/totp")


@pytest.fixture(scope="module")
def site(stack, chrome):
    """The tour's site, its data entered and every role signed in."""
    with SmtpSink() as sink:
        server, secrets, closers = tour.start_site(stack, sink)
        visit = tour.Tour(f"http://127.0.0.1:{server.port}", chrome, secrets)
        try:
            tour.sign_in(visit)
            link = tour.patient_fills_in(visit, sink)
            tour.carer_joins(visit, link)
            tour.doctor_fills_in(visit)
            visit.alert_id = tour.raise_alert(visit, stack.mqtt_log)
            alert = f"/alerts/{visit.alert_id}"
            visit.pages = {
                "signed-out": SIGNED_OUT_PAGES,
                "patient": (*PATIENT_PAGES, *OWN_PAGES, alert),
                "doctor": ("/doctor", *PATIENT_PAGES, alert),
                "carer": ("/carer", *PATIENT_PAGES, alert),
                "admin": ("/admin/",),
            }
            yield visit
        finally:
            visit.close()
            for close in closers:
                close()
            assert server.stop() == 0, server.log_text()[-3000:]


def settle(page) -> None:
    """Wait until what the page fetches after loading is in (nothing is aria-busy)."""
    page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")


def unfold(page) -> None:
    """Open every <details>, so axe also sees the forms and lists folded away in them."""
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    settle(page)


def _in_view(page, locator) -> bool:
    """The element is fully inside the viewport as it is scrolled now."""
    box, size = locator.bounding_box(), page.viewport_size
    return (
        box is not None
        and box["x"] >= 0
        and box["x"] + box["width"] <= size["width"] + 0.5
        and (box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5)
    )


# What sticks out past the right edge; first what lies outside the regions that scroll on
# purpose (an element inside one that still widens the page escaped its region).
_WIDER = """() => {
  if (document.documentElement.scrollWidth <= innerWidth) return [];
  const wide = [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > innerWidth + 1);
  const outside = wide.filter((e) => !e.closest(".table-scroll"));
  return (outside.length ? outside : wide).slice(0, 5)
    .map((e) => `${e.tagName}.${e.className} ${e.textContent.trim().slice(0, 30)}`);
}"""


def _too_wide(page) -> list[str]:
    """The elements that make the page wider than the screen: none when it fits."""
    return page.evaluate(_WIDER)


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("role", ["signed-out", "patient", "doctor", "carer", "admin"])
def test_every_page_passes_axe_and_fits_the_screen(site, role, width):
    page = site.page(role, width)
    for path in site.pages[role]:
        page.goto(site.base + path)
        settle(page)
        unfold(page)
        where = f"{path} as {role} at {width} px"
        found = axe.serious(page)
        assert not found, axe.describe(where, found)
        assert not _too_wide(page), f"{where} is wider than the screen: {_too_wide(page)}"
        assert not site.script_errors, "script errors:\n" + "\n".join(site.script_errors)


@pytest.mark.parametrize("role", ["patient", "doctor", "carer"])
def test_on_a_phone_the_current_tab_and_who_is_signed_in_stay_in_view(site, role):
    page = site.page(role, 390)
    name = {"patient": "alice", "doctor": "Grace Tan", "carer": "Carol"}[role]
    for path in site.pages[role]:
        if not path.startswith("/p/alice"):
            continue
        page.goto(site.base + path)
        current = page.locator("nav.tabs a[aria-current=page]")
        expect(current).to_have_count(1)
        assert _in_view(page, current), f"the current tab of {path} is off-screen"
        who = page.locator("header .who")
        expect(who).to_be_visible()
        expect(who).to_contain_text(name)
        expect(who).to_contain_text(role)
        assert not _too_wide(page), f"{path} is wider than the phone: {_too_wide(page)}"


@pytest.mark.parametrize("role", ["doctor", "carer"])
def test_a_viewer_sees_whose_data_it_is_wherever_they_scroll(site, role):
    page = site.page(role, 390)
    for path in site.pages[role]:
        if path.startswith("/p/alice"):
            page.goto(site.base + path)
            expect(page.locator("#viewing")).to_contain_text("Patient: alice")
    # Far down the report page: where the doctor types a visit's results, the downloads.
    page.goto(f"{site.base}/p/alice/report")
    if role == "doctor":
        page.locator("#blood-tests details.entry summary").click()
        target = page.locator("#blood-form button[type=submit]")
    else:
        target = page.locator("#downloads h2")
    target.scroll_into_view_if_needed()
    assert page.evaluate("() => scrollY") > 800
    assert _in_view(page, target), "the sticky patient bar covers what was scrolled to"
    assert _in_view(page, page.locator("#viewing")), "the patient's name scrolled away"


def test_the_patient_sees_no_patient_bar_on_her_own_pages(site):
    page = site.page("patient", 1280)
    for path in ("/p/alice", "/p/alice/report"):
        page.goto(site.base + path)
        expect(page.locator("header .who")).to_contain_text("alice")
        expect(page.locator("#viewing")).to_have_count(0)


def test_the_current_tab_is_marked_for_screen_readers(site):
    page = site.page("patient", 1280)
    for path, label in (
        ("/p/alice", "Home"),
        ("/p/alice/report", "Health Report"),
        ("/p/alice/care-circle", "Care circle"),
        ("/p/alice/sharing", "Sharing"),
    ):
        page.goto(site.base + path)
        expect(page.locator("nav.tabs a[aria-current]")).to_have_count(1)
        expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text(label)


TABLES = [
    ("/p/alice/habits", ".table-scroll:has(#week)"),
    ("/p/alice/datasheet", ".table-scroll:has(table.sheet)"),
    ("/p/alice/report", "#blood-tests .table-scroll"),
]


@pytest.mark.parametrize("path, region", TABLES)
def test_on_a_phone_a_wide_table_scrolls_in_a_named_region_with_a_hint(site, path, region):
    page = site.page("patient", 390)
    page.goto(site.base + path)
    region = page.locator(region)
    expect(region).to_have_attribute("tabindex", "0")
    expect(region).to_have_attribute("role", "region")
    assert page.evaluate(
        "(r) => (r.getAttribute('aria-label') || document.getElementById("
        "r.getAttribute('aria-labelledby')).textContent).trim().length > 0",
        region.element_handle(),
    )
    assert region.evaluate("(r) => r.scrollWidth > r.clientWidth"), "it fits: nothing to hint"
    hint = region.locator("xpath=preceding-sibling::p[1]")
    expect(hint).to_have_class("scroll-hint")
    expect(hint).to_have_text("More columns: scroll sideways →")
    region.focus()  # keys scroll it: it is focusable
    page.keyboard.press("ArrowRight")
    page.wait_for_function("(r) => r.scrollLeft > 0", arg=region.element_handle())
    region.evaluate("(r) => { r.scrollLeft = r.scrollWidth; }")
    expect(hint).to_have_text("← Scroll back for the first columns")
    assert not _too_wide(page)


def test_habit_days_say_met_or_missed_in_words_not_only_colour(site):
    page = site.page("patient", 1280)
    page.goto(f"{site.base}/p/alice/habits")
    day = page.locator("#week tr[data-day]", has=page.locator("td[data-habit=sleep].met"))
    expect(day.locator("td[data-habit=sleep]")).to_contain_text("✓")
    expect(day.locator("td[data-habit=sleep] .visually-hidden")).to_have_text("goal met")
    expect(day.locator("td[data-habit=exercise]")).to_contain_text("✗")
    expect(day.locator("td[data-habit=exercise] .visually-hidden")).to_have_text("goal missed")
    expect(page.locator(".goal-legend")).to_contain_text("✓ goal met")


def test_the_report_shows_one_line_for_areas_without_advice(site):
    page = site.page("doctor", 390)
    page.goto(f"{site.base}/p/alice/report")
    expect(page.locator("#advice .advice")).to_have_count(1)
    expect(page.locator("#advice .advice")).to_contain_text("Less salt")
    missing = page.locator("#advice-missing")
    expect(missing).to_contain_text("Advice for Cardiovascular, Glucose, Exercise")
    expect(missing).to_contain_text("choose an area below")
    page = site.page("patient", 390)
    page.goto(f"{site.base}/p/alice/report")
    expect(page.locator("#advice-missing")).to_contain_text("your doctor adds advice")


def _chart_table(page) -> list[list[str]]:
    return page.locator("#chart-table").evaluate(
        "(t) => [...t.rows].map((r) => [...r.cells].map((c) => c.textContent))"
    )


def test_the_chart_has_a_table_of_its_values_that_follows_the_choice(site):
    page = site.page("patient", 1280)
    page.goto(f"{site.base}/p/alice/report")
    expect(page.locator("#chart svg[data-drawn]")).to_be_attached()
    table = page.locator("#chart-table")
    expect(table).to_have_attribute("data-metrics", "temperature,heart_rate")
    page.locator("details.chart-values summary").click()
    expect(table).to_be_visible()
    series = page.request.get(
        f"{site.base}/api/p/alice/series?range=day&metrics=temperature,heart_rate"
    ).json()
    rows = _chart_table(page)
    metrics = json.loads(page.locator("main").get_attribute("data-metric-table"))

    def heading(key):
        return f"{metrics[key]['label']} ({metrics[key]['unit']})"

    assert rows[0] == ["Time", heading("temperature"), heading("heart_rate")]
    drawn = {p["t"] for k in ("temperature", "heart_rate") for p in series["metrics"][k]}
    assert len(rows) - 1 == len(drawn)
    last_hr = [p for p in series["metrics"]["heart_rate"] if p["mean"] is not None][-1]
    row = page.locator(f"#chart-table tr[data-t='{last_hr['t']}'] td").nth(1)
    expect(row).to_have_text(f"{last_hr['mean']:.0f}")
    page.uncheck("input[value=heart_rate]")
    page.check("input[value=spo2]")
    expect(table).to_have_attribute("data-metrics", "temperature,spo2")
    expect(table.locator("thead th")).to_have_text(
        ["Time", heading("temperature"), heading("spo2")]
    )


SHOTS = {
    "patient": ("/p/alice", "/p/alice/monitoring", "/p/alice/report", "/p/alice/habits"),
    "doctor": ("/doctor", "/p/alice/report", "/p/alice/datasheet"),
}
# One screen each, as a phone shows it: what docs/phone.png is made of.
PHONE_SCREENS = (
    ("patient", "/p/alice/monitoring", None),
    ("patient", "/p/alice/habits", "#week-title"),
    ("doctor", "/p/alice/report", "#blood-tests"),
)


@pytest.mark.parametrize("width", [390, 1280])
def test_screenshots_of_the_main_pages(site, width):
    for role, paths in SHOTS.items():
        page = site.page(role, width)
        for path in paths:
            page.goto(site.base + path)
            settle(page)
            name = path.strip("/").replace("p/alice", "alice").replace("/", "-")
            shot = browser.screenshot(page, f"a11y-{role}-{name}-{width}")
            assert shot.stat().st_size > 10_000


def test_phone_screens(site):
    for i, (role, path, anchor) in enumerate(PHONE_SCREENS, 1):
        page = site.page(role, 390)
        page.goto(site.base + path)
        settle(page)
        if anchor:
            page.locator(anchor).evaluate("(e) => window.scrollTo(0, e.offsetTop - 120)")
        shot = browser.ARTIFACTS / f"phone-{i}.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000


# Last: the new alert it raises would be on every page and screenshot after it.
def test_standing_alerts_are_shown_quietly_and_a_new_one_is_announced_once(site, stack):
    page = site.page("patient", 1280)
    page.goto(f"{site.base}/p/alice/monitoring")
    settle(page)
    expect(page.locator("#alerts-standing .alert").first).to_contain_text("150")
    assert page.locator("[aria-live=assertive], #alerts [role=alert]").count() == 0
    expect(page.locator("#alerts-new")).to_have_attribute("role", "status")
    expect(page.locator("#alerts-new .alert")).to_have_count(0)
    expect(page.locator("#live-state")).to_have_text("live")
    tour.measure(stack.mqtt_log, "temperature", 41.0)
    expect(page.locator("#alerts-new")).to_contain_text("41")
