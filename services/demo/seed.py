"""The demo's seeding in the order ``make run`` needs it, each step safe to run again.

1. ``record`` before the services start: the app database only (the dose tracker is
   not running yet, so it does not judge the seeded week a second time).
2. ``history`` once the recorder runs: a month of readings and cabinet counts.
3. ``snapshot`` once the simulated camera is online: its first photo.
"""

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.common.database import DATABASE_FILE, Database
from services.common.influx import InfluxClient, InfluxSettings
from services.common.medication.settings import MedicationSettings
from services.common.settings import MqttSettings
from services.common.topics import Topics
from services.web import accounts, db
from services.web.settings import Settings as WebSettings

from . import PATIENT, backfill, record, snapshot
from .accounts import DemoError
from .broker import Broker


def _data(env: Mapping[str, str]) -> Path:
    return Path(env["SMARTCAB_DATA_DIR"])


@contextlib.contextmanager
def _database(env: Mapping[str, str]) -> Iterator:
    target = Database.choose(env.get("DATABASE_URL", ""), _data(env) / DATABASE_FILE)
    db.migrate(target)
    conn = db.connect(target)
    try:
        if accounts.find_patient(conn, PATIENT[0]) is None:
            raise DemoError(f"there is no demo patient {PATIENT[0]!r}")
        yield conn
    finally:
        conn.close()


def seed_record(env: Mapping[str, str], now: datetime | None = None) -> list[str]:
    """The health record, habits and medications; returns the parts added."""
    timezone = MedicationSettings.from_env(env).timezone
    with _database(env) as conn:
        return record.seed(conn, now or datetime.now(UTC), timezone)


def seed_history(
    env: Mapping[str, str], now: datetime | None = None, timeout: float = 120.0
) -> list[str]:
    """The month of readings and counts, through the broker and the recorder."""
    now = now or datetime.now(UTC)
    with _database(env) as conn:
        taken = record.taken_from_cabinet(conn, now - timedelta(days=8), now)
    mqtt = MqttSettings.from_env(env)
    broker = Broker(mqtt)
    try:
        with InfluxClient(InfluxSettings.from_env(env)) as influx:
            return backfill.seed(broker, influx, Topics(mqtt.topic_root), now, taken, timeout)
    finally:
        broker.close()


def seed_snapshot(env: Mapping[str, str], timeout: float = 30.0) -> bool:
    """The camera's first photo, kept by the web; False when there is one already."""
    mqtt = MqttSettings.from_env(env)
    broker = Broker(mqtt)
    try:
        gallery = WebSettings.from_env(env).gallery_dir
        return snapshot.seed(broker, Topics(mqtt.topic_root), gallery, timeout)
    finally:
        broker.close()
