"""A web database with one patient and one medication, for the reporter's medication tests."""

from services.common.medication import store
from services.web import accounts
from services.web import db as schema


def one_medication(tmp_path):
    """(connection, patient, medication): Aspirin at 08:00, listed long ago."""
    path = tmp_path / "web.sqlite3"
    schema.migrate(path)
    conn = schema.connect(path)
    patient, _ = accounts.create_patient(conn, "ann@example.org", "ann", "correct horse battery 7")
    med = store.add(
        conn,
        patient.id,
        store.clean({"name": "Aspirin 75 mg", "item": "Aspirin", "times": "08:00", "dose": "1"}),
        None,
        "test",
    )
    conn.execute("UPDATE medications SET created_at = 0")  # listed long ago
    return conn, patient, store.get(conn, patient.id, med.id)
