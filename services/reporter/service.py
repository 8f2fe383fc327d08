"""The MQTT side: take report requests, check who may have them, produce, store and announce.

paho's thread only queues messages; one worker thread renders them in order,
so a slow report never stalls the connection, and a bounded queue answers
"busy" instead of growing without end. While no request waits, the worker keeps
the hourly rollups (rollups.py) up to date, one patient at a time.
"""

import json
import logging
import queue
import threading
import time

import paho.mqtt.client as mqtt

from services.common import logs, reports
from services.common.errors import MqttError
from services.common.influx import InfluxClient
from services.common.mqtt import MqttClient
from services.common.reports import SCHEDULER, ReportFiles
from services.common.topics import Topics

from . import documents, protocol, rollups, storage
from .errors import BadRequest, Busy, Forbidden, ReporterError
from .model import Patient
from .protocol import ReportRequest
from .settings import Settings
from .webdb import WebDirectory

log = logging.getLogger(__name__)


class Reporter:
    """One reporter: a broker connection, an InfluxDB client and a worker thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics(settings.mqtt.topic_root)
        self.files = ReportFiles(settings.reports_dir)
        self._queue: queue.Queue = queue.Queue(maxsize=settings.queue_size)
        self._influx = InfluxClient(settings.influx)
        self._rollups = rollups.Keeper(settings.rollup_days)
        self.client = MqttClient(
            settings.mqtt,
            "reporter",
            # A fixed id and a kept session: requests sent while the reporter
            # restarts wait in the broker instead of being lost.
            client_id=f"{settings.mqtt.topic_root}-reporter",
            clean_session=False,
            subscriptions=[(self.topics.report_requests, 1), (self.topics.report_weekly, 1)],
            on_message=self._on_message,
        )
        self._worker = threading.Thread(target=self._work, name="reporter-worker", daemon=True)

    def start(self) -> None:
        self._worker.start()
        self.client.start()

    def stop(self) -> None:
        """Finish the report in hand, then say offline and disconnect."""
        self._queue.put(None)
        self._worker.join(60)
        self.client.stop()
        self._influx.close()

    # --- paho's thread ---

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        try:
            self._queue.put_nowait((message.topic, payload))
        except queue.Full:
            request_id = protocol.request_id_of(payload)
            logs.event(log, logging.WARNING, "reporter.busy", request=request_id)
            self._publish_result(request_id, reports.failure(request_id, Busy.code, "busy"))

    # --- the worker thread ---

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._rollups.wait(time.time()))
            except queue.Empty:
                self._rollups.step(self._influx, time.time())
                continue
            if item is None:
                return
            topic, payload = item
            try:
                if topic == self.topics.report_weekly:
                    self.weekly(payload)
                else:
                    self.handle(payload)
            except Exception:  # one bad request must not end the worker
                log.exception("event=reporter.failed topic=%s", topic)

    def handle(self, payload: bytes) -> dict:
        """Answer one request on its result topic; return the result."""
        request_id = protocol.request_id_of(payload)
        try:
            request = protocol.parse_request(payload, self.settings.tz, self.settings.max_days)
        except BadRequest as exc:
            logs.event(log, logging.WARNING, "reporter.bad_request", request=request_id, error=exc)
            return self._publish_result(request_id, reports.failure(request_id, exc.code, str(exc)))
        except Exception as exc:
            return self._internal_error(request_id, exc)
        try:
            result = self._serve(request)
        except ReporterError as exc:
            logs.event(
                log,
                logging.WARNING,
                "reporter.refused",
                request=request.id,
                requester=request.requester,
                patient=request.patient,
                error=exc.code,
            )
            self._audit(request, ok=False, error=exc.code)
            return self._publish_result(request.id, reports.failure(request.id, exc.code, str(exc)))
        except Exception as exc:
            return self._internal_error(request.id, exc)
        self._audit(request, ok=True)
        return self._publish_result(request.id, result)

    def _internal_error(self, request_id: str, exc: Exception) -> dict:
        """Log a bug and still answer the requester, who would otherwise wait forever."""
        log.exception("event=reporter.failed request=%s", request_id)
        return self._publish_result(
            request_id, reports.failure(request_id, "failed", f"internal error: {exc}")
        )

    def _serve(self, request: ReportRequest) -> dict:
        earlier = storage.load(self.files, request.patient, request.id)
        with WebDirectory(self.settings.web_database) as directory:
            patient = self._authorize(directory, request)
            local = self._local(directory, request.patient)
            request = request.in_zone(local.tz)
            if earlier is not None:
                same = (earlier.get("requester"), earlier.get("format"))
                if same != (request.requester.as_json(), request.format):
                    raise BadRequest(f"id {request.id} was used for another request")
                logs.event(log, logging.INFO, "reporter.again", request=request.id)
                return earlier
            self._progress(request.id, "accepted")
            data = documents.produce(
                local,
                self._influx,
                directory,
                patient,
                request.period,
                request.format,
                str(request.requester),
                request.flagged,
            )
        return self._save(request, data)

    def _local(self, directory: WebDirectory, username: str) -> Settings:
        """The settings in the patient's own time zone (the deployment's if they chose none)."""
        return self.settings.in_zone(directory.timezone(username, self.settings.timezone))

    def _authorize(self, directory: WebDirectory, request: ReportRequest) -> Patient:
        """The patient, if the requester may see them; unknown patients look forbidden too."""
        who = request.requester
        patient = directory.patient(request.patient)
        allowed = patient is not None and (
            (who.role == "patient" and who.id == request.patient)
            or (who.role == "doctor" and directory.has_share(request.patient, who.id))
        )
        if not allowed:
            if who.role == "patient":
                raise Forbidden("a patient may only ask for their own reports")
            raise Forbidden("this doctor has no share from this patient")
        return patient

    def _save(self, request: ReportRequest, data: bytes) -> dict:
        stored = storage.store(self.files, request.patient, request.id, request.format, data)
        result = reports.success(
            request.id,
            request.requester,
            request.patient,
            request.format,
            (request.period.start, request.period.end),
            stored,
        )
        storage.save_meta(self.files, request.patient, request.id, result)
        logs.event(
            log,
            logging.INFO,
            "reporter.stored",
            request=request.id,
            patient=request.patient,
            file=stored["file"],
            size=stored["size"],
        )
        return result

    def weekly(self, payload: bytes) -> list[dict]:
        """Render last week's report for every patient who shares, and announce it per doctor."""
        try:
            body = json.loads(payload) if payload.strip() else {}
            week = body.get("week") or protocol.previous_week()
            protocol.week_period(week, self.settings.tz)  # a week that exists, or no job
        except (ValueError, AttributeError, BadRequest) as exc:
            logs.event(log, logging.WARNING, "reporter.bad_weekly_job", error=exc)
            return []
        out = []
        with WebDirectory(self.settings.web_database) as directory:
            for username in directory.shared_patients():
                local = self._local(directory, username)
                period = protocol.week_period(week, local.tz)  # the patient's Monday
                request = ReportRequest(reports.weekly_id(week), SCHEDULER, username, period)
                result = storage.load(self.files, username, request.id)
                if result is None:
                    patient = directory.patient(username)
                    data = documents.produce(
                        local,
                        self._influx,
                        directory,
                        patient,
                        period,
                        "pdf",
                        f"weekly report ({week})",
                    )
                    result = self._save(request, data)
                # Each doctor once per week's report, also one who was shared with later.
                delivered = set(result.get("delivered_to", []))
                doctors = [d for d, _ in directory.doctors_of(username) if d not in delivered]
                for dr_id in doctors:
                    topic = self.topics.report_doctor(dr_id, reports.weekly_name(username, week))
                    self._publish(topic, {**result, "kind": "weekly", "doctor": dr_id}, True)
                if doctors:
                    result = {**result, "delivered_to": sorted(delivered | set(doctors))}
                    storage.save_meta(self.files, username, request.id, result)
                out.append(result)
        logs.event(log, logging.INFO, "reporter.weekly_done", week=week, reports=len(out))
        return out

    # --- announcements ---

    def _publish(self, topic: str, body: dict, retain: bool = False, qos: int = 1) -> None:
        try:
            self.client.publish(topic, json.dumps(body, ensure_ascii=False), qos=qos, retain=retain)
        except MqttError as exc:
            logs.event(log, logging.ERROR, "reporter.not_announced", topic=topic, error=exc)

    def _publish_result(self, request_id: str, result: dict) -> dict:
        self._publish(self.topics.report_result(request_id), result)
        return result

    def _progress(self, request_id: str, stage: str) -> None:
        self._publish(
            self.topics.report_progress(request_id), reports.progress(request_id, stage), qos=0
        )

    def _audit(self, request: ReportRequest, ok: bool, error: str | None = None) -> None:
        """Doctors' requests, and every refusal, for the web to add to its audit log."""
        if request.requester.role != "doctor" and ok:
            return
        self._publish(
            self.topics.report_audit,
            {
                "at": int(time.time()),
                "actor": request.requester.as_json(),
                "patient": request.patient,
                "action": f"report.{request.format}",
                "request": request.id,
                "ok": ok,
                "error": error,
            },
        )
