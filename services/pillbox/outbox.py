"""The dose tracker's outbox: alerts and reminders kept until the broker has them.

A message is written (``add``) in the same transaction as the decision that calls
for it, so deciding a dose and owing its alert are one step. ``flush`` publishes
what is owed at QoS 1 and marks each row published once the broker acknowledged it
(PUBACK). A tracker that dies in between publishes the row again when it starts: the
payload is the same bytes, so the notifier, whose alert id is a hash of the content,
sees one alert.
"""

import logging
import time
from collections.abc import Callable

from services.common import logs
from services.common.database import Connection
from services.common.errors import MqttError

log = logging.getLogger("services.pillbox")

Publish = Callable[[str, str], object]  # returns paho's MQTTMessageInfo (or None: sent)
KEEP_DAYS = 30  # published rows kept this long, for looking into what was sent


class Outbox:
    """Owed messages in ``pillbox_outbox``; the broker's acknowledgements tracked in memory."""

    def __init__(self, conn: Connection, publish: Publish) -> None:
        self.conn = conn
        self.publish = publish
        self.inflight: dict[int, object] = {}  # row id -> its publish, not acknowledged yet

    def add(self, key: str, topic: str, payload: str) -> bool:
        """Owe one message; False if ``key`` was owed (or sent) before."""
        cur = self.conn.execute(
            "INSERT INTO pillbox_outbox (key, topic, payload, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (key, topic, payload, int(time.time())),
        )
        return cur.rowcount == 1

    def flush(self) -> int:
        """Publish every owed message not under way; returns how many went out now."""
        self.settle()
        rows = self.conn.execute(
            "SELECT id, key, topic, payload FROM pillbox_outbox"
            " WHERE published_at IS NULL ORDER BY id"
        ).fetchall()
        sent = 0
        for row in rows:
            if row["id"] in self.inflight:
                continue
            try:
                self.inflight[row["id"]] = self.publish(row["topic"], row["payload"])
            except MqttError as exc:  # the client's queue is full: try again next tick
                logs.event(
                    log, logging.WARNING, "pillbox.publish_failed", key=row["key"], error=exc
                )
                break
            sent += 1
        self.settle()
        return sent

    def settle(self) -> None:
        """Mark published what the broker has acknowledged."""
        done = [i for i, info in self.inflight.items() if _acknowledged(info)]
        now = int(time.time())
        for row_id in done:
            self.conn.execute(
                "UPDATE pillbox_outbox SET published_at = ? WHERE id = ?", (now, row_id)
            )
            del self.inflight[row_id]

    def owed(self) -> list[str]:
        """The keys of messages the broker has not acknowledged yet."""
        rows = self.conn.execute(
            "SELECT key FROM pillbox_outbox WHERE published_at IS NULL ORDER BY id"
        )
        return [r["key"] for r in rows]

    def prune(self) -> None:
        """Forget published messages older than ``KEEP_DAYS``."""
        cutoff = int(time.time()) - KEEP_DAYS * 86400
        self.conn.execute(
            "DELETE FROM pillbox_outbox WHERE published_at IS NOT NULL AND published_at < ?",
            (cutoff,),
        )


def _acknowledged(info: object) -> bool:
    return info is None or bool(info.is_published())  # type: ignore[attr-defined]
