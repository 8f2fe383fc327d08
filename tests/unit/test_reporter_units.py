"""Reporter units: request parsing, periods, CSV and FHIR exports, and a report with no data."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from services.common.errors import ConfigError
from services.reporter import charts, exports, protocol
from services.reporter.errors import BadRequest
from services.reporter.model import BloodTest, Patient, Period
from services.reporter.service import Reporter
from services.reporter.settings import Settings

UTC_TZ = ZoneInfo("UTC")
NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
T0 = int(datetime(2026, 11, 23, 10, 0, tzinfo=UTC).timestamp() * 1000)


def request(**changes) -> bytes:
    body = {
        "id": "r-1",
        "requester": {"role": "doctor", "id": "D100"},
        "patient": "alice",
        "format": "pdf",
        "period": {"days": 7},
    }
    body.update(changes)
    return json.dumps(body).encode()


def test_a_request_is_parsed_with_its_period_in_whole_local_days():
    parsed = protocol.parse_request(request(), UTC_TZ, 366, NOW)
    assert parsed.id == "r-1" and parsed.patient == "alice" and parsed.format == "pdf"
    assert str(parsed.requester) == "doctor D100"
    assert parsed.period.start == datetime(2026, 11, 17, tzinfo=UTC)
    assert parsed.period.end == datetime(2026, 11, 24, tzinfo=UTC)
    london = protocol.parse_period({"days": 1}, ZoneInfo("Europe/London"), 366, NOW)
    assert london.start.utcoffset() == timedelta(0) and london.days == 1


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"{not json", "not JSON"),
        (b"[1]", "JSON object"),
        (request(id="a/b#"), "id"),
        (request(id=None), "id"),
        (request(requester={"role": "admin", "id": "root"}), "requester"),
        (request(requester={"role": "doctor", "id": "+"}), "requester.id"),
        (request(patient="../etc"), "patient"),
        (request(format="docx"), "format"),
        (request(period={"days": 0}), "period.days"),
        (request(period={"days": 400}), "period.days"),
        (request(period={"days": True}), "period.days"),
        (request(period={"start": "yesterday", "end": "today"}), "RFC 3339"),
        (
            request(period={"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),
            "after",
        ),
        (request(period={"week": "2026-W60"}), "no such week"),
        (request(period={"week": "9999-W52"}), "years 1 to 9999"),  # ends in the year 10000
        (
            request(period={"start": "0001-01-01T00:00:00+14:00", "end": "2026-11-01T00:00:00Z"}),
            "years 1 to 9999",
        ),
        (request(period="last week"), "object"),
        (request(flagged="hide"), "flagged"),
    ],
)
def test_malformed_requests_say_what_is_wrong(payload, says):
    with pytest.raises(BadRequest, match=says):
        protocol.parse_request(payload, UTC_TZ, 366, NOW)


@pytest.mark.parametrize(
    ("period", "tz"),
    [
        ({"week": "9999-W52"}, "Pacific/Kiritimati"),
        ({"week": "0001-W01"}, "Asia/Tokyo"),  # local Monday 00:00 is in the year 0 in UTC
        # fine in UTC, but the last hour is in the year 10000 in Tokyo
        ({"start": "9999-12-30T00:00:00Z", "end": "9999-12-31T23:00:00Z"}, "Asia/Tokyo"),
    ],
)
def test_a_period_beyond_the_calendar_in_utc_or_local_time_is_a_bad_request(period, tz):
    with pytest.raises(BadRequest, match="years 1 to 9999"):
        protocol.parse_period(period, ZoneInfo(tz), 366, NOW)


def test_a_malformed_request_is_still_answered_on_its_id_when_it_has_one():
    assert protocol.request_id_of(request(format="docx")) == "r-1"
    assert protocol.request_id_of(b"\xff") == protocol.INVALID_ID
    assert protocol.request_id_of(request(id="a/#")) == protocol.INVALID_ID


def test_a_bug_while_reading_a_request_still_answers_the_requester(tmp_path, monkeypatch, caplog):
    reporter = Reporter(Settings.from_env({"SMARTCAB_DATA_DIR": str(tmp_path)}))
    sent = []
    monkeypatch.setattr(
        reporter.client, "publish", lambda topic, payload, **_: sent.append((topic, payload))
    )

    def buggy_parse(*args):
        raise KeyError("a bug")

    monkeypatch.setattr(protocol, "parse_request", buggy_parse)
    answer = reporter.handle(request())
    assert answer == {
        "id": "r-1",
        "ok": False,
        "error": "failed",
        "reason": "internal error: 'a bug'",
    }
    assert [(topic, json.loads(payload)) for topic, payload in sent] == [
        ("smartcab/reports/results/r-1", answer)
    ]
    assert "event=reporter.failed request=r-1" in caplog.text and "KeyError" in caplog.text


def test_weeks_are_iso_weeks_from_local_monday():
    period = protocol.week_period("2026-W48", ZoneInfo("Europe/Berlin"))
    assert period.start.isoformat() == "2026-11-23T00:00:00+01:00"
    assert period.days == 7
    assert protocol.previous_week(NOW) == "2026-W47"
    assert protocol.previous_week(datetime(2027, 1, 6, tzinfo=UTC)) == "2026-W53"


def readings() -> list[dict]:
    def r(dt, metric, value, flagged=False, reason=None, device="wch"):
        return {
            "time": T0 + dt,
            "metric": metric,
            "value": value,
            "device": device,
            "patient": "alice",
            "flagged": flagged,
            "reason": reason,
        }

    return [
        r(0, "heart_rate", 72.0),
        r(3, "temperature", 36.6),
        r(30_000, "heart_rate", 0.0, True, "heart rate of 0 (no pulse detected, sensor not worn?)"),
        r(30_003, "temperature", 36.7),
        r(60_000, "spo2", 97.0),
        r(90_000, "bp_systolic", 121.0),
        r(90_004, "bp_diastolic", 79.0),
        r(600_000, "bp_diastolic", 82.0),  # no systolic with it
    ]


def test_csv_has_one_row_per_reading_with_unit_loinc_and_flag():
    rows = list(csv.reader(io.StringIO(exports.to_csv(readings(), "alice").decode())))
    assert rows[0] == exports.CSV_HEADER
    assert rows[1] == [
        "2026-11-23T10:00:00.000Z",
        "alice",
        "wch",
        "heart_rate",
        "72",
        "bpm",
        "8867-4",
        "no",
        "",
        "Heart rate",
        "60–100",
    ]
    assert rows[2][4:7] == ["36.6", "°C", "8310-5"]
    assert rows[2][9:] == ["Body temperature", "36.1–37.2"]
    assert rows[3][7:9] == ["yes", "heart rate of 0 (no pulse detected, sensor not worn?)"]
    assert len(rows) == 9


def observations(bundle: dict) -> list[dict]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]


def codes(resource: dict) -> set[str]:
    return {c["code"] for c in resource["code"]["coding"]}


def test_fhir_bundle_validates_with_loinc_codes_ucum_units_and_marked_flags():
    bundle = exports.fhir_bundle(readings(), Patient("alice", "Zoë"), NOW)
    model = Bundle.model_validate(bundle)  # fhir.resources' R4B models (R4's Observation)
    assert model.type == "collection" and len(model.entry) == 8
    obs = observations(bundle)
    assert all(o["category"][0]["coding"][0]["code"] == "vital-signs" for o in obs)
    assert all(o["subject"]["reference"] == bundle["entry"][0]["fullUrl"] for o in obs)
    hr, temp, flagged, temp2, spo2, bp, bp_alone = obs
    assert codes(hr) == {"8867-4"} and hr["valueQuantity"] == {
        "value": 72.0,
        "unit": "bpm",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert hr["code"]["text"] == "Heart rate"
    assert hr["referenceRange"][0]["low"]["value"] == 60
    assert hr["referenceRange"][0]["high"]["value"] == 100
    assert hr["referenceRange"][0]["text"] == "usual adult range 60–100 bpm"
    assert codes(temp) == {"8310-5"} and temp["valueQuantity"]["code"] == "Cel"
    assert "valueQuantity" not in flagged
    assert flagged["dataAbsentReason"]["coding"][0]["code"] == "error"
    assert "no pulse detected" in flagged["dataAbsentReason"]["text"]
    assert codes(spo2) == {"59408-5", "2708-6"} and spo2["valueQuantity"]["code"] == "%"
    assert codes(bp) == {"85354-9"} and "valueQuantity" not in bp
    systolic, diastolic = bp["component"]
    assert codes(systolic) == {"8480-6"} and systolic["valueQuantity"]["value"] == 121.0
    assert codes(diastolic) == {"8462-4"} and diastolic["valueQuantity"]["code"] == "mm[Hg]"
    assert bp_alone["component"][0]["dataAbsentReason"]["coding"][0]["code"] == "unknown"
    assert bp_alone["component"][1]["valueQuantity"]["value"] == 82.0
    assert temp2["effectiveDateTime"] == "2026-11-23T10:00:30.003Z"


def test_fhir_bundle_can_leave_flagged_readings_out_and_the_validator_is_strict():
    bundle = exports.fhir_bundle(readings(), Patient("alice", "Zoë"), NOW, flagged="exclude")
    assert not any("dataAbsentReason" in o for o in observations(bundle))
    assert len(observations(bundle)) == 6
    bundle["entry"][1]["resource"]["effectiveDateTime"] = "yesterday"
    with pytest.raises(ValidationError):
        Bundle.model_validate(bundle)


def test_blood_test_flags_and_chart_helpers():
    assert BloodTest(0, "HbA1c", 6.1, "%", 4.0, 5.6).flag == "high"
    assert BloodTest(0, "Potassium", 3.2, "mmol/L", 3.5, 5.1).flag == "low"
    assert BloodTest(0, "HDL-C", 1.3, "mmol/L", 1.0, None).flag == "normal"
    assert BloodTest(0, "Protein", 70, "g/L", None, None).flag == "no range"
    assert charts.nice_step(43) == 10 and charts.nice_step(1.2) == 0.5
    day = Period(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))
    assert [t for _, t in charts.time_ticks(day, UTC_TZ)][:3] == ["00:00", "03:00", "06:00"]


def test_settings_check_time_zone_and_fonts(tmp_path):
    with pytest.raises(ConfigError, match="REPORT_TIMEZONE"):
        Settings.from_env({"REPORT_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="fonts-dejavu-core"):
        Settings.from_env({"REPORT_FONT": str(tmp_path / "none.ttf")})
    settings = Settings.from_env({"SMARTCAB_DATA_DIR": str(tmp_path)})
    assert settings.reports_dir == tmp_path / "reports" and settings.max_days == 366
    own = Settings.from_env({"SMARTCAB_DATA_DIR": str(tmp_path), "SMARTCAB_REPORTS_DIR": "/r"})
    assert own.reports_dir == Path("/r") and own.web_database == tmp_path / "web.sqlite3"
