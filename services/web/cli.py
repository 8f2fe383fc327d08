"""Admin commands: ``users add-patient|add-doctor|add-admin|reset-password|list``,
``devices assign|list`` and ``shares grant|revoke``."""

import argparse
import getpass
import socket
import sys
import time

import segno

from services.common.mqtt import MqttClient
from services.common.settings import MqttSettings

from . import access, accounts, devices, sharing
from . import db as schema
from .errors import NotFound, WebError
from .settings import Settings


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        raise WebError("The two passwords differ.")
    return first


def _show_totp(user: accounts.User, secret: str) -> None:
    uri = accounts.otpauth_uri(user, secret)
    print(f"TOTP secret: {secret}")
    print(f"otpauth URI: {uri}")
    print("Scan this with an authenticator app:")
    segno.make(uri, error="m").terminal(compact=True)


def _publish_assignment(settings: MqttSettings, device: str, patient: str | None) -> bool:
    """Publish the retained assignment; False when the broker is not reachable now."""
    try:  # a refused connection answers at once; paho would keep retrying until the timeout
        socket.create_connection((settings.host, settings.port), timeout=3).close()
    except OSError:
        return False
    client = MqttClient(settings, "web-admin")
    client.start()
    try:
        if not client.wait_connected(5):
            return False
        topic = client.topics.device(device, "patient")
        info = client.publish(topic, patient or "", retain=True)
        info.wait_for_publish(5)
        return info.is_published()
    finally:
        client.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.web")
    area = parser.add_subparsers(dest="area", required=True)

    users = area.add_parser("users").add_subparsers(dest="cmd", required=True)
    p = users.add_parser("add-patient")
    p.add_argument("--email", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--totp", action="store_true", help="turn on two-step sign-in now")
    p.add_argument("--password-stdin", action="store_true")
    d = users.add_parser("add-doctor")
    d.add_argument("--id", required=True, dest="dr_id")
    d.add_argument("--name", required=True)
    d.add_argument("--ic", required=True)
    d.add_argument("--email")
    d.add_argument("--password-stdin", action="store_true")
    a = users.add_parser("add-admin")
    a.add_argument("--email", required=True)
    a.add_argument("--username", required=True)
    a.add_argument("--password-stdin", action="store_true")
    r = users.add_parser("reset-password")
    r.add_argument("login", help="user name, Dr_ID or email")
    r.add_argument("--password-stdin", action="store_true")
    users.add_parser("list")

    dev = area.add_parser("devices").add_subparsers(dest="cmd", required=True)
    assign = dev.add_parser("assign")
    assign.add_argument("device")
    assign.add_argument("--patient", required=True, help="user name, or '' to unassign")
    dev.add_parser("list")

    shares = area.add_parser("shares").add_subparsers(dest="cmd", required=True)
    for name in ("grant", "revoke"):
        s = shares.add_parser(name)
        s.add_argument("--patient", required=True)
        s.add_argument("--doctor", required=True, help="Dr_ID")
    return parser


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    schema.migrate(settings.database)
    conn = schema.connect(settings.database)
    try:
        return _dispatch(args, settings, conn)
    except WebError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()


def _dispatch(args, settings: Settings, conn) -> int:
    key = (args.area, args.cmd)
    if key == ("users", "add-patient"):
        user, secret = accounts.create_patient(
            conn, args.email, args.username, _password(args), totp=args.totp
        )
        print(f"patient {user.username} created")
        if secret:
            _show_totp(user, secret)
    elif key == ("users", "add-doctor"):
        user, secret = accounts.create_doctor(
            conn, args.dr_id, args.name, args.ic, _password(args), args.email
        )
        print(f"doctor {user.dr_id} ({user.display_name}) created")
        _show_totp(user, secret)
    elif key == ("users", "add-admin"):
        user, secret = accounts.create_admin(conn, args.email, args.username, _password(args))
        print(f"admin {user.username} created")
        _show_totp(user, secret)
    elif key == ("users", "reset-password"):
        user = accounts.find(conn, args.login)
        accounts.set_password(conn, user, _password(args))
        print(f"password of {user.login} changed; their sessions were ended")
    elif key == ("users", "list"):
        for u in accounts.all_users(conn):
            totp = "totp" if u.has_totp else "-"
            print(f"{u.role:8} {u.login:24} {u.email or '-':32} {u.display_name} {totp}")
    elif key == ("devices", "assign"):
        device = devices.check_id(args.device)
        username = args.patient.strip().lower()
        patient = accounts.find_patient(conn, username) if username else None
        if username and patient is None:
            raise NotFound(f"no patient {username!r}")
        devices.assign(conn, device, patient.id if patient else None)
        sharing.command_line_action(conn, "device.assign", f"{device} -> {username or 'nobody'}")
        if _publish_assignment(settings.mqtt, device, username or None):
            print(f"device {device} -> {username or '(nobody)'}; published to the broker")
        else:
            print(
                f"device {device} -> {username or '(nobody)'}; broker not reachable, "
                "the web service publishes it when it connects"
            )
    elif key == ("devices", "list"):
        for device, username in devices.assignments(conn):
            print(f"{device:24} {username or '-'}")
    elif args.area == "shares":
        patient = accounts.find_patient(conn, args.patient.strip().lower())
        doctor = accounts.find(conn, args.doctor)
        if patient is None or doctor.role != "doctor":
            raise NotFound("no such patient or doctor")
        if args.cmd == "grant":
            access.share(conn, patient.id, doctor.id)
        else:
            access.unshare(conn, patient.id, doctor.id)
        detail = f"{patient.username} / {doctor.dr_id}"
        sharing.command_line_action(conn, f"share.{args.cmd}", detail)
        print(f"{args.cmd}: {patient.username} -> {doctor.dr_id} at {time.strftime('%H:%M:%S')}")
    return 0
