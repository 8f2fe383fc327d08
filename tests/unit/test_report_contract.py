"""The web-to-reporter contract: ids, messages, file layout, shared queries, the web's schema."""

import json
import sqlite3
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.common import history, reports
from services.common.influx import Query
from services.common.reports import InvalidReportMessage, ReportFiles, Requester
from services.common.topics import Topics
from services.reporter.errors import DirectoryUnavailable
from services.reporter.webdb import WEB_SCHEMA_VERSION, WebDirectory
from services.web import db as webschema
from services.web import reports as webreports

NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
DOCTOR = Requester("doctor", "D100")
STORED = {"file": "reports/alice/r-1.pdf", "sha256": "ab" * 32, "size": 3}


def body(**changes) -> dict:
    out = {
        "id": "r-1",
        "requester": {"role": "doctor", "id": "D100"},
        "patient": "alice",
        "format": "pdf",
        "period": {"days": 7},
    }
    out.update(changes)
    return out


# --- ids ---


def test_a_new_id_is_valid_unique_and_answers_on_its_own_topic():
    first, second = reports.new_id(), reports.new_id()
    assert first != second and first.startswith("web-")
    assert reports.is_report_id(first) and reports.check_id(first) == first
    payload = json.dumps(body(id=first)).encode()
    assert reports.id_of(payload) == first
    assert reports.parse_request(payload).id == first
    topics = Topics("home")
    assert topics.report_result(first) == f"home/reports/results/{first}"
    assert topics.report_progress(first) == f"home/reports/progress/{first}"


def test_a_weekly_id_round_trips_through_its_announcement_topic():
    assert reports.weekly_id("2026-W47") == "weekly-2026-W47"
    assert reports.is_weekly_id(reports.weekly_id("2026-W47"))
    assert not reports.is_weekly_id(reports.new_id()) and not reports.is_weekly_id(None)
    name = reports.weekly_name("alice", "2026-W47")
    assert name == "alice.weekly-2026-W47"
    topic = Topics().report_doctor("D100", name)
    assert topic == "smartcab/reports/doctors/D100/alice.weekly-2026-W47"
    with pytest.raises(InvalidReportMessage, match="2026-W47"):
        reports.weekly_id("last week")


@pytest.mark.parametrize(
    "value",
    [None, 7, "", "_invalid", ".hidden", "a/b", "a+b", "a#", "x" * 65, "r-1.fhir", "r-1.doses"],
)
def test_unusable_ids_are_refused(value):
    assert not reports.is_report_id(value)
    with pytest.raises(InvalidReportMessage, match="id"):
        reports.check_id(value)


def test_an_id_ending_in_fhir_is_refused_because_it_names_another_reports_fhir_file():
    with pytest.raises(InvalidReportMessage, match=r"may not end in \.fhir"):
        reports.check_id("r-1.fhir")
    assert reports.id_of(json.dumps(body(id="r-1.fhir")).encode()) == reports.INVALID_ID


# --- requests ---


def test_a_request_round_trips_through_its_json():
    asked = reports.parse_request(json.dumps(body(flagged="exclude", format="fhir")).encode())
    assert asked.requester == DOCTOR and str(asked.requester) == "doctor D100"
    assert asked.format == "fhir" and asked.flagged == "exclude"
    assert asked.period == reports.PeriodAsked(days=7)
    assert reports.parse_request(asked.as_json()) == asked
    defaults = reports.parse_request(
        {"id": "r-2", "requester": body()["requester"], "patient": "b"}
    )
    assert (defaults.format, defaults.flagged, defaults.period.days) == ("pdf", "mark", 7)


def test_the_web_builds_requests_the_contract_accepts():
    built = reports.request_message(DOCTOR, "alice", "csv", {"week": "2026-W47"})
    assert reports.parse_request(built).period == reports.PeriodAsked(week="2026-W47")
    assert reports.is_report_id(built["id"])
    with pytest.raises(InvalidReportMessage, match="format"):
        reports.request_message(DOCTOR, "alice", "docx", {"days": 7})


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"{not json", "not JSON"),
        (b'"text"', "JSON object"),
        (body(id="a/b"), "id is missing or not 1-64"),
        (body(requester="D100"), "requester must be"),
        (body(requester={"role": "scheduler", "id": "weekly"}), "requester must be"),
        (body(requester={"role": "patient"}), "requester.id is missing"),
        (body(patient=""), "patient is missing"),
        (body(format="PDF"), "format must be one of pdf, csv, fhir, doses"),
        (body(flagged=True), "flagged must be mark or exclude"),
        (body(period=[7]), "period must be an object"),
        (body(period={"days": "7"}), r"period.days must be a whole number from 1 to 366"),
        (body(period={"days": 367}), r"period.days must be a whole number from 1 to 366"),
        (body(period={"week": "2026-47"}), "period.week must look like 2026-W47"),
        (body(period={"week": "2026-W54"}), "no such week: 2026-W54"),
        (body(period={"start": "2026-11-01T00:00:00"}), "RFC 3339 times with a zone"),
        (
            body(period={"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),
            "period.end must be after period.start",
        ),
        (
            body(period={"start": "2025-01-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),
            "at most 366 days",
        ),
    ],
)
def test_each_field_of_a_request_is_checked_with_a_clear_error(payload, says):
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    with pytest.raises(InvalidReportMessage, match=says):
        reports.parse_request(payload, max_days=366)


def test_periods_resolve_in_the_reporters_time_zone():
    tokyo = ZoneInfo("Asia/Tokyo")
    start, end = reports.PeriodAsked(days=1).bounds(tokyo, NOW)
    assert start.isoformat() == "2026-11-24T00:00:00+09:00" and (end - start).days == 1
    start, end = reports.PeriodAsked(week="2026-W48").bounds(tokyo)
    assert start.isoformat() == "2026-11-23T00:00:00+09:00" and (end - start).days == 7
    with pytest.raises(InvalidReportMessage, match="years 1 to 9999"):
        reports.PeriodAsked(week="0001-W01").bounds(tokyo)
    assert reports.previous_week(NOW) == "2026-W47"


# --- results ---


def test_a_success_names_its_file_and_passes_its_own_check():
    bounds = (datetime(2026, 11, 17, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))
    result = reports.success("r-1", DOCTOR, "alice", "pdf", bounds, STORED, NOW)
    assert result == {
        "id": "r-1",
        "ok": True,
        "patient": "alice",
        "requester": {"role": "doctor", "id": "D100"},
        "format": "pdf",
        "media_type": "application/pdf",
        "period": {"start": "2026-11-17T00:00:00+00:00", "end": "2026-11-24T00:00:00+00:00"},
        "created": "2026-11-23T15:30:00+00:00",
        **STORED,
    }
    weekly = {**result, "requester": reports.SCHEDULER.as_json(), "delivered_to": ["D100"]}
    assert reports.check_result(weekly) is weekly
    refused = reports.failure(reports.INVALID_ID, "bad_request", "the request is not JSON")
    assert reports.check_result(refused) == refused
    assert reports.progress("r-1") == {"id": "r-1", "stage": "accepted"}


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"ok": "yes"}, "ok is missing or not true or false"),
        ({"patient": "../bob"}, "patient"),
        ({"requester": {"role": "admin", "id": "root"}}, "requester.role"),
        ({"media_type": "text/csv"}, "media_type of a pdf must be application/pdf"),
        ({"period": {"start": "2026-11-17"}}, "period.end is missing"),
        ({"sha256": "ABC"}, "sha256 must be 64 lowercase hex digits"),
        ({"size": -1}, "size must not be negative"),
        ({"size": True}, "size is missing or not a whole number"),
        ({"file": None}, "file is missing"),
    ],
)
def test_a_malformed_result_is_refused_saying_which_field(changes, says):
    bounds = (datetime(2026, 11, 17, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))
    result = {**reports.success("r-1", DOCTOR, "alice", "pdf", bounds, STORED, NOW), **changes}
    with pytest.raises(InvalidReportMessage, match=says):
        reports.check_result(result)
    with pytest.raises(InvalidReportMessage, match="error is missing"):
        reports.check_result({"id": "r-1", "ok": False, "reason": "?"})


def test_a_reader_needs_only_whose_report_it_is_its_format_and_its_file():
    core = {"id": "r-1", "ok": True, "patient": "alice", "format": "csv", "file": "f.csv"}
    assert reports.check_result(core, complete=False) is core
    with pytest.raises(InvalidReportMessage, match="requester is missing"):
        reports.check_result(core)
    with pytest.raises(InvalidReportMessage, match="size must not be negative"):
        reports.check_result({**core, "size": -4}, complete=False)
    with pytest.raises(InvalidReportMessage, match="file is missing"):
        reports.check_result({**core, "file": 3}, complete=False)


# --- files ---


def test_the_layout_puts_each_report_in_its_patients_folder(tmp_path):
    files = ReportFiles(tmp_path / "anywhere")
    assert files.folder("alice") == tmp_path / "anywhere" / "alice"
    assert files.sidecar("alice", "r-1") == tmp_path / "anywhere" / "alice" / "r-1.json"
    pdf = files.document("alice", "r-1", "pdf")
    fhir = files.document("alice", "r-1", "fhir")
    assert (pdf.name, fhir.name, files.document("alice", "r-1", "csv").name) == (
        "r-1.pdf",
        "r-1.fhir.json",
        "r-1.csv",
    )
    doses = files.document("alice", "r-1", "doses")
    assert doses.name == "r-1.doses.csv" and reports.FORMATS["doses"].media_type == "text/csv"
    # that name is no other report's: an id ending in .doses is refused
    with pytest.raises(InvalidReportMessage, match=r"may not end in \.fhir or \.doses"):
        reports.check_id("r-1.doses")
    assert files.relative(pdf) == "reports/alice/r-1.pdf"
    for bad in ("../bob", "a/b", ""):
        with pytest.raises(InvalidReportMessage, match="patient"):
            files.folder(bad)
    with pytest.raises(InvalidReportMessage, match="format"):
        files.document("alice", "r-1", "docx")


def test_the_layout_lists_results_and_locates_files_only_in_the_patients_folder(tmp_path):
    files = ReportFiles(tmp_path / "reports")
    assert files.ids("alice") == []
    folder = files.folder("alice")
    folder.mkdir(parents=True)
    for name in ("r-1.pdf", "r-1.json", "r-2.fhir.json", "r-2.json", ".r-3.json.tmp"):
        (folder / name).write_text("{}")
    (tmp_path / "reports" / "bob").mkdir()
    (tmp_path / "reports" / "bob" / "b.pdf").write_text("")
    assert sorted(files.ids("alice")) == ["r-1", "r-2"]
    assert files.locate("alice", "reports/alice/r-1.pdf") == (folder / "r-1.pdf").resolve()
    assert files.locate("alice", "reports/alice/missing.pdf") is None
    assert files.locate("alice", "reports/bob/b.pdf") is None
    assert files.locate("alice", "reports/alice/../bob/b.pdf") is None
    assert files.locate("alice", None) is None
    assert files.locate("alice", "alice/r-1.pdf") is None  # a result's file starts "reports/"


def test_the_web_reads_back_what_the_reporter_stored(tmp_path):
    from services.reporter import storage

    files = ReportFiles(tmp_path / "own-volume")
    stored = storage.store(files, "alice", "r-1", "csv", b"a,b\n")
    assert stored["file"] == "reports/alice/r-1.csv" and stored["size"] == 4
    bounds = (datetime(2026, 11, 17, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))
    result = reports.success("r-1", DOCTOR, "alice", "csv", bounds, stored, NOW)
    storage.save_meta(files, "alice", "r-1", result)
    assert storage.load(files, "alice", "r-1") == result
    assert webreports.listing(files.root, "alice") == [result]
    assert webreports.stored_result(files.root, "bob", "r-1") is None
    path, found = webreports.file_of(files.root, "alice", "r-1")
    assert path.read_bytes() == b"a,b\n" and found == result
    assert webreports.file_of(files.root, "alice", "../r-1") is None


# --- the shared history queries ---


def test_alert_and_inventory_queries_are_the_ones_both_sides_run():
    alice = history.Subject(patient="alice")
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
    span = "time >= $start AND time < $end"
    bounds = {"start": "2026-11-01T00:00:00.000000Z", "end": "2026-11-08T00:00:00.000000Z"}
    who = {"patient": "alice"}
    assert history.alerts_query(alice, 10) == Query(
        'SELECT "message", "value", "device", "kind", "key", "level" FROM "alerts"'
        ' WHERE "patient" = $patient ORDER BY time DESC LIMIT 10',
        who,
    )
    assert history.alerts_query(alice, 25, start, end) == Query(
        'SELECT "message", "value", "device", "kind", "key", "level" FROM "alerts"'
        f' WHERE "patient" = $patient AND {span} ORDER BY time DESC LIMIT 25',
        who | bounds,
    )
    assert history.alert_levels_query(alice, start, end) == Query(
        'SELECT count("message") AS "count" FROM "alerts"'
        f' WHERE "patient" = $patient AND {span} GROUP BY "level"',
        who | bounds,
    )
    assert history.inventory_changes_query(alice, start, end) == Query(
        'SELECT difference("count") AS "diff" FROM "inventory"'
        f' WHERE "patient" = $patient AND {span} GROUP BY "device", "item"',
        who | bounds,
    )


# --- the web's schema, as the reporter reads it ---


def test_the_reporter_reads_the_database_the_web_migrates(tmp_path):
    path = tmp_path / "web.sqlite3"
    assert webschema.migrate(path) >= WEB_SCHEMA_VERSION
    period = reports.PeriodAsked(days=7).bounds(UTC, NOW)
    from services.reporter.model import Period

    with WebDirectory(path) as directory:
        assert directory.patient("alice") is None
        assert directory.shared_patients() == []
        for section in (directory.blood_tests, directory.advice, directory.notes):
            assert section("alice", Period(*period)) == ()
        assert directory.questionnaire("alice", Period(*period)) == ()
        assert directory.habits("alice", Period(*period), UTC) == ()


def test_a_database_the_web_has_not_migrated_is_refused_saying_so(tmp_path):
    path = tmp_path / "web.sqlite3"
    sqlite3.connect(path).close()
    with pytest.raises(DirectoryUnavailable, match=r"not migrated \(schema version 0"):
        WebDirectory(path)
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        " INSERT INTO schema_version VALUES (1);"
    )
    conn.close()
    with pytest.raises(DirectoryUnavailable, match="start the web service once"):
        WebDirectory(path)
