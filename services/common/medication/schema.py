"""The medication tables of the app database (the web's migration 5 runs this)."""

# Medications are never deleted: a removed one keeps its doses for the record.
SCHEMA = """
CREATE TABLE medications (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    dose REAL NOT NULL DEFAULT 1,
    times TEXT NOT NULL,
    window_s INTEGER NOT NULL DEFAULT 3600,
    days TEXT NOT NULL DEFAULT '',
    start_date TEXT,
    end_date TEXT,
    item TEXT NOT NULL,
    stock REAL,
    refill_alerted INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    removed_at INTEGER
);
CREATE INDEX medications_patient ON medications(patient_id, removed_at);
CREATE TABLE medication_changes (
    id INTEGER PRIMARY KEY,
    medication_id INTEGER REFERENCES medications(id) ON DELETE CASCADE,
    patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    actor_id INTEGER REFERENCES users(id),
    actor TEXT NOT NULL,
    at INTEGER NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX medication_changes_patient ON medication_changes(patient_id, at);
CREATE TABLE patient_settings (
    patient_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    timezone TEXT
);
CREATE TABLE doses (
    id INTEGER PRIMARY KEY,
    medication_id INTEGER NOT NULL REFERENCES medications(id) ON DELETE CASCADE,
    due_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('taken', 'missed')),
    timing TEXT CHECK (timing IN ('early', 'on_time', 'late')),
    taken_at INTEGER,
    source TEXT,
    removals INTEGER NOT NULL DEFAULT 0,
    recorded_at INTEGER NOT NULL,
    UNIQUE (medication_id, due_at)
);
CREATE TABLE cabinet_counts (
    device_id TEXT NOT NULL,
    item TEXT NOT NULL,
    count INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    PRIMARY KEY (device_id, item)
);
CREATE TABLE cabinet_cues (
    device_id TEXT PRIMARY KEY,
    lit INTEGER NOT NULL
)
"""

# Migration 6: where each item sits in its cabinet's inventory (the slot command counts
# it), the slots the tracker lit, and the tracker's outbox: an alert or reminder is
# written in the same transaction as the decision that calls for it and marked
# published once the broker has it, so a tracker that dies in between sends it on start.
MIGRATION_6 = """
ALTER TABLE cabinet_counts ADD COLUMN position INTEGER;
ALTER TABLE cabinet_cues ADD COLUMN slots TEXT NOT NULL DEFAULT '';
CREATE TABLE pillbox_outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    published_at INTEGER
);
CREATE INDEX pillbox_outbox_unpublished ON pillbox_outbox(published_at)
"""
