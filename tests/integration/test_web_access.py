"""A forgotten password over a real SMTP server."""

import re

from services.web import create_app, stop_background
from services.web.settings import Settings
from tests.support.net import free_port
from tests.support.smtp import SmtpSink


def test_forgot_password_mails_a_one_time_link(tmp_path, auth):
    with SmtpSink() as sink:
        env = {
            "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
            "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
            "WEB_LIVE": "0",
            "WEB_BASE_URL": "https://health.example",
            **sink.env(),
        }
        app = create_app({"TESTING": True}, settings=Settings.from_env(env))
        try:
            auth.make_patient(app, "alice")
            client = app.test_client()
            auth.sign_in_patient(client, "alice")  # a session that the reset must end
            other = app.test_client()
            for email in ("nobody@example.org", "alice@example.org"):
                page = other.post(
                    "/forgot", data={"csrf_token": auth.csrf(other, "/forgot"), "email": email}
                )
                assert "If an account uses that address" in page.get_data(as_text=True)
            message = sink.wait()
            assert message["To"] == "alice@example.org"
            assert len(sink.messages) == 1, "no mail for an unknown address"
            link = re.search(r"https://health\.example(/reset/\S+)", message.get_content())[1]
            form = other.get(link)
            assert form.status_code == 200
            bad = other.post(
                link,
                data={
                    "csrf_token": auth.csrf(other, link),
                    "password": "password123",
                    "confirm": "password123",
                },
            )
            assert "too common" in bad.get_data(as_text=True)
            new = "a much better passphrase 9"
            done = other.post(
                link, data={"csrf_token": auth.csrf(other, link), "password": new, "confirm": new}
            )
            assert "Your password was changed" in done.get_data(as_text=True)
            assert other.get(link).status_code == 404, "a reset link works once"
            assert client.get("/p/alice").status_code == 302, "old sessions end at a reset"
            assert auth.sign_in_patient(other, "alice", password=new).status_code == 302
        finally:
            stop_background(app)
