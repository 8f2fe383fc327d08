"""The web's side of updates over the air: the admin's form, the rollout table, and the
routes a board fetches its release from with its own token (no user session)."""

import hashlib
import hmac
import io
import json

import pyotp
import pytest

from services.web import accounts, create_app, firmware, stop_background
from services.web import db as schema
from services.web.errors import ValidationError
from services.web.settings import Settings
from tests.support.net import free_port
from tests.support.ota_board import library_files

TOKEN = "watch-token-1"


@pytest.fixture
def app(tmp_path):
    registry = tmp_path / "devices.toml"
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    registry.write_text(
        f'[devices.wch-01]\ntoken_sha256 = "{digest}"\n[devices.wch-02]\n'
        f'token_sha256 = "{"0" * 64}"\n[devices.cab]\nkind = "cabinet"\n'
    )
    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        "INFLUX_TIMEOUT": "2",
        "WEB_LIVE": "0",
        "WEB_DEVICES": str(registry),
    }
    application = create_app({"TESTING": True}, settings=Settings.from_env(env))
    yield application
    stop_background(application)


def sign_in_admin(app, client, auth):
    conn = schema.connect(app.config["DATABASE"])
    try:
        _, secret = accounts.create_admin(
            conn, "root@example.org", "root", auth.PATIENT_PW, app.extensions["smartcab.keys"]
        )
    finally:
        conn.close()
    auth.sign_in_patient(client, "root", code=pyotp.TOTP(secret).now())


def upload(client, auth, version="1.2.0", files=None):
    files = files if files is not None else library_files()
    data = {
        "csrf_token": auth.csrf(client, "/admin/"),
        "kind": "watch",
        "version": version,
        "files": [(io.BytesIO(d), n) for n, d in files.items()],
    }
    return client.post("/admin/firmware", data=data, content_type="multipart/form-data")


def test_an_admin_publishes_a_bundle_and_follows_the_rollout(app, auth):
    client = app.test_client()
    sign_in_admin(app, client, auth)
    page = client.get("/admin/").get_data(as_text=True)
    assert "<h2>Firmware</h2>" in page and "wch-01" in page and "no release" in page
    assert "cab" not in page.split("<h2>Firmware</h2>")[1].split("</table>")[0]  # no token
    # the whole library and a data file: bigger than the pages' 64 KB form limit
    response = upload(
        client, auth, files={**library_files(), "table.json": b"[%s]" % (b" " * 20000)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    page = client.get("/admin/").get_data(as_text=True)
    table = page.split("<h2>Firmware</h2>")[1].split("</table>")[0]
    assert table.count("1.2.0") == 2 and table.count("offered") == 2
    assert "firmware.publish" in page  # in the admin log
    refused = upload(client, auth)  # the same version twice
    assert refused.status_code == 400 and "already published" in refused.get_data(as_text=True)
    bad = upload(client, auth, "1.2.1", {"../evil.py": b"x"})
    assert bad.status_code == 400


def test_a_board_fetches_its_release_with_its_token_only(app):
    store = firmware.Store(app.config["SETTINGS"].firmware_dir)
    files = {"client.py": b"print('new')\n", "board.py": b"# board\n"}
    store.publish("watch", "1.2.0", files)
    client = app.test_client()
    device_auth = {"Authorization": f"Device wch-01:{TOKEN}"}
    assert client.get("/firmware/wch-01/manifest").status_code == 404
    wrong = {"Authorization": "Device wch-01:guess"}
    assert client.get("/firmware/wch-01/manifest", headers=wrong).status_code == 404
    other = {"Authorization": f"Device wch-02:{TOKEN}"}  # another board's token
    assert client.get("/firmware/wch-02/manifest", headers=other).status_code == 404
    response = client.get("/firmware/wch-01/manifest", headers=device_auth)
    assert response.status_code == 200
    body = response.get_data()
    key = hashlib.sha256(TOKEN.encode()).digest()
    assert response.headers["X-Manifest-HMAC"] == hmac.new(key, body, hashlib.sha256).hexdigest()
    manifest = json.loads(body)
    assert manifest["kind"] == "watch" and manifest["version"] == "1.2.0"
    for entry in manifest["files"]:
        data = client.get(f"/firmware/wch-01/files/{entry['path']}", headers=device_auth).get_data()
        assert (
            hashlib.sha256(data).hexdigest()
            == entry["sha256"]
            == firmware.hashlib.sha256(files[entry["path"]]).hexdigest()
        )
    assert (
        client.get("/firmware/wch-01/files/manifest.json", headers=device_auth).status_code == 404
    )
    assert store.progress("wch-01") == {
        "version": "1.2.0",
        "files": 2,
        "manifest_at": store.progress("wch-01")["manifest_at"],
    }
    rows = firmware.rollout(store, firmware.load_boards(app.config["SETTINGS"].devices), {})
    assert [r["state"] for r in rows] == ["fetched 2 files; still on ?", "offered"]
    rows = firmware.rollout(
        store, firmware.load_boards(app.config["SETTINGS"].devices), {"wch-01": "1.2.0"}
    )
    assert rows[0]["state"] == "updated"


@pytest.mark.parametrize(
    ("kind", "version", "files"),
    [
        ("toaster", "1.0", {"a.py": b""}),
        ("watch", "1 0", {"a.py": b""}),
        ("watch", "1.0", {}),
        ("watch", "1.0", {"a.sh": b""}),
        ("watch", "1.0", {"manifest.json": b"{}"}),
        ("watch", "..", {"a.py": b""}),  # a version is a folder of the kind
        ("watch", ".", {"a.py": b""}),
        ("watch", ".hidden", {"a.py": b""}),
        ("watch", "current", {"a.py": b""}),  # the file naming the current release
    ],
)
def test_bad_bundles_are_refused(tmp_path, kind, version, files):
    with pytest.raises(ValidationError):
        firmware.Store(tmp_path).publish(kind, version, files)
