"""What the administrator's command line does shows in the admin log."""

import pyotp

from services.web import accounts
from services.web import db as schema
from tests.support import browser


def test_admin_actions_are_recorded(app, auth):
    auth.make_patient(app, "alice")
    auth.make_doctor(app)
    settings = app.config["SETTINGS"]
    data_env = {"SMARTCAB_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url}
    browser.cli(data_env, "shares", "revoke", "--patient", "alice", "--doctor", "D100")
    conn = schema.connect(app.config["DATABASE"])
    try:
        _, secret = accounts.create_admin(
            conn, "root@example.org", "root", auth.PATIENT_PW, app.extensions["smartcab.keys"]
        )
    finally:
        conn.close()
    admin = app.test_client()
    auth.sign_in_patient(admin, "root", code=pyotp.TOTP(secret).now())
    token = auth.csrf(admin, "/admin/")
    admin.post("/admin/devices", data={"csrf_token": token, "device": "cab", "patient": "alice"})
    admin.post("/admin/shares", data={"csrf_token": token, "patient": "alice", "dr_id": "D100"})
    page = admin.get("/admin/").text
    assert "Assigned a device" in page and "cab -&gt; alice" in page and "Gave access" in page
    assert "command line" in page and "Removed access" in page
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    log = patient.get("/p/alice/access-log").text
    # one administrator's visit: its changes in one line
    assert "Administrator" in log and "gave Dr. Grace Tan (D100) access to your data" in log
    assert "Assigned the device cab to you" in log
