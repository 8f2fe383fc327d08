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
