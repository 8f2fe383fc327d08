"""``python -m services.web``: serve the dashboard, or administer users, devices and shares."""

import getpass
import sys
import time
from pathlib import Path

import click
import segno

from services.common.database import Connection
from services.common.devices import KIND_NAMES, UPDATE_COMMAND
from services.common.errors import ConfigError
from services.common.medication import store as medication_store
from services.common.mqtt import MqttClient, reachable
from services.common.settings import MqttSettings
from services.common.usage import EPILOG

from . import (
    access,
    accounts,
    auth_schema,
    cli_contacts,
    cli_database,
    db,
    devices,
    firmware,
    keys,
    medications,
    twostep,
)
from .errors import NotFound, WebError
from .settings import Settings

PROG = "python -m services.web"


class _Refused(click.ClickException):
    """A command refused with the reason, as ``error: ...`` on standard error (exit 1)."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


class _Group(click.Group):
    """A refusal (bad input, a wrong setting) ends the command with its reason, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (WebError, ConfigError) as exc:
            raise _Refused(str(exc)) from exc


@click.group(cls=_Group, invoke_without_command=True, epilog=EPILOG)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Serve the Health Plus dashboard (no command), or administer it."""
    if ctx.invoked_subcommand is None:
        from .serve import serve  # waitress and the pages load only to serve

        ctx.exit(serve())


def _open() -> tuple[Settings, Connection, keys.Keys]:
    """The settings and the database, on a command's first use (``--help`` needs neither)."""
    root = click.get_current_context().find_root()
    if root.obj is None:
        settings = Settings.from_env()
        db.migrate(settings.database)
        conn = db.connect(settings.database)
        root.call_on_close(conn.close)
        secret_keys = keys.load(settings.secret_key_path)
        auth_schema.encrypt_clear_secrets(conn, secret_keys)
        root.obj = (settings, conn, secret_keys)
    return root.obj


def _keys() -> keys.Keys:
    return _open()[2]


def _conn() -> Connection:
    return _open()[1]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        raise WebError("The two passwords differ.")
    return first


def _show_totp(user: accounts.User, secret: str, codes: list[str] | None = None) -> None:
    uri = accounts.otpauth_uri(user, secret)
    click.echo(f"TOTP secret: {secret}")
    click.echo(f"otpauth URI: {uri}")
    click.echo("Scan this with an authenticator app:")
    segno.make(uri, error="m").terminal(compact=True)
    codes = twostep.new_recovery_codes(_conn(), user.id) if codes is None else codes
    click.echo("Recovery codes (each works once instead of a code; shown only now):")
    click.echo("  " + " ".join(codes))


password_stdin = click.option(
    "--password-stdin", is_flag=True, help="read the password from one line of standard input"
)

# --- users ------------------------------------------------------------------------------


@cli.group()
def users() -> None:
    """Patients, doctors and admins."""


@users.command("add-patient")
@click.option("--email", required=True)
@click.option("--username", required=True)
@click.option("--totp", is_flag=True, help="turn on two-step sign-in now")
@password_stdin
def add_patient(email: str, username: str, totp: bool, password_stdin: bool) -> None:
    """Add a patient."""
    password = _password(password_stdin)
    user, secret = accounts.create_patient(
        _conn(), email, username, password, totp=totp, keys=_keys()
    )
    click.echo(f"patient {user.username} created")
    if secret:
        _show_totp(user, secret)


@users.command("add-doctor")
@click.option("--id", "dr_id", required=True)
@click.option("--name", required=True)
@click.option("--ic", required=True)
@click.option("--email")
@password_stdin
def add_doctor(dr_id: str, name: str, ic: str, email: str | None, password_stdin: bool) -> None:
    """Add a doctor; prints their TOTP secret."""
    password = _password(password_stdin)
    user, secret = accounts.create_doctor(_conn(), dr_id, name, ic, password, email, _keys())
    click.echo(f"doctor {user.dr_id} ({user.display_name}) created")
    _show_totp(user, secret)


@users.command("add-admin")
@click.option("--email", required=True)
@click.option("--username", required=True)
@password_stdin
def add_admin(email: str, username: str, password_stdin: bool) -> None:
    """Add an admin; prints their TOTP secret."""
    password = _password(password_stdin)
    user, secret = accounts.create_admin(_conn(), email, username, password, _keys())
    click.echo(f"admin {user.username} created")
    _show_totp(user, secret)


@users.command("reset-password")
@click.argument("login")
@password_stdin
def reset_password(login: str, password_stdin: bool) -> None:
    """Set a new password for LOGIN (user name, Dr_ID or email); ends their sessions."""
    user = accounts.find(_conn(), login)
    accounts.set_password(_conn(), user, _password(password_stdin))
    click.echo(f"password of {user.login} changed; their sessions were ended")


@users.command("reset-totp")
@click.argument("login")
def reset_totp(login: str) -> None:
    """Clear LOGIN's two-step sign-in (a lost phone) and end their sessions.

    A patient signs in with the password and may set it up again; a doctor or an
    admin gets a new secret and recovery codes, printed here.
    """
    conn = _conn()
    user = accounts.find(conn, login)
    secret, codes = accounts.reset_totp(conn, user, _keys())
    access.admin_action(conn, None, "user.reset_totp", user.login)
    click.echo(f"two-step sign-in of {user.login} reset; their sessions were ended")
    if secret:
        _show_totp(user, secret, codes)


@users.command("disable")
@click.argument("login")
def disable(login: str) -> None:
    """Stop LOGIN from signing in and end their sessions."""
    conn = _conn()
    user = accounts.find(conn, login)
    accounts.set_disabled(conn, user, True)
    access.admin_action(conn, None, "user.disable", user.login)
    click.echo(f"{user.login} disabled; their sessions were ended")


@users.command("enable")
@click.argument("login")
def enable(login: str) -> None:
    """Let a disabled LOGIN sign in again."""
    conn = _conn()
    user = accounts.find(conn, login)
    accounts.set_disabled(conn, user, False)
    access.admin_action(conn, None, "user.enable", user.login)
    click.echo(f"{user.login} enabled")


@users.command("list")
def list_users() -> None:
    """Every account: role, login, email, name, and whether it has TOTP."""
    for u in accounts.all_users(_conn()):
        totp = "totp" if u.has_totp else "-"
        click.echo(f"{u.role:8} {u.login:24} {u.email or '-':32} {u.display_name} {totp}")


# --- devices ----------------------------------------------------------------------------


@cli.group("devices")
def devices_group() -> None:
    """Which patient each device belongs to."""


def _publish_assignment(settings: MqttSettings, device: str, patient: str | None) -> bool:
    """Publish the retained assignment; False when the broker is not reachable now."""
    if not reachable(settings):  # paho would keep retrying until the timeout
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


@devices_group.command("assign")
@click.argument("device")
@click.option("--patient", required=True, help="user name, or '' to unassign")
def assign(device: str, patient: str) -> None:
    """Give DEVICE to a patient and publish the assignment."""
    settings, conn, _ = _open()
    device = devices.check_id(device)
    username = patient.strip().lower()
    found = accounts.find_patient(conn, username) if username else None
    if username and found is None:
        raise NotFound(f"no patient {username!r}")
    devices.assign(conn, device, found.id if found else None)
    access.admin_action(conn, None, "device.assign", f"{device} -> {username or 'nobody'}")
    if _publish_assignment(settings.mqtt, device, username or None):
        click.echo(f"device {device} -> {username or '(nobody)'}; published to the broker")
    else:
        click.echo(
            f"device {device} -> {username or '(nobody)'}; broker not reachable, "
            "the web service publishes it when it connects"
        )


@devices_group.command("list")
def list_devices() -> None:
    """Every assigned device and its patient."""
    for device, username in devices.assignments(_conn()):
        click.echo(f"{device:24} {username or '-'}")


@cli.group("firmware")
def firmware_group() -> None:
    """Firmware releases the boards install over the air."""


@firmware_group.command("publish")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--kind", required=True, type=click.Choice(KIND_NAMES), help="board kind")
@click.option("--version", "version", required=True, help="e.g. 1.2.0")
def publish_firmware(directory: Path, kind: str, version: str) -> None:
    """Publish DIRECTORY (a board's lib/smartcab files) as KIND's release; offer it."""
    settings, conn, _ = _open()
    store = firmware.Store(settings.firmware_dir)
    manifest = store.publish(kind, version, firmware.read_bundle(directory))
    access.admin_action(conn, None, "firmware.publish", f"{kind} {version}")
    boards = [
        b.device_id for b in firmware.load_boards(settings.devices).values() if b.kind == kind
    ]
    told = _offer(settings.mqtt, boards)
    click.echo(
        f"{kind} {version}: {len(manifest['files'])} files published; "
        f"offered to {told} of {len(boards)} registered boards"
    )


def _offer(settings: MqttSettings, devices_: list[str]) -> int:
    """Send ``upd`` to each board; boards not told now are offered it when they register."""
    if not devices_:
        return 0
    if not reachable(settings):
        return 0
    client = MqttClient(settings, "web-admin")
    client.start()
    try:
        if not client.wait_connected(5):
            return 0
        infos = [client.publish(client.topics.cmd(d), UPDATE_COMMAND) for d in devices_]
        for info in infos:
            info.wait_for_publish(5)
        return sum(1 for info in infos if info.is_published())
    finally:
        client.stop()


# --- shares -----------------------------------------------------------------------------


@cli.group()
def shares() -> None:
    """Doctors' access to a patient's data."""


def _share(verb: str, patient: str, doctor: str) -> None:
    conn = _conn()
    found = accounts.find_patient(conn, patient.strip().lower())
    dr = accounts.find(conn, doctor)
    if found is None or dr.role != "doctor":
        raise NotFound("no such patient or doctor")
    if verb == "grant":
        access.share(conn, found.id, dr.id)
    else:
        access.unshare(conn, found.id, dr.id)
    access.admin_action(conn, None, f"share.{verb}", f"{found.username} / {dr.dr_id}")
    click.echo(f"{verb}: {found.username} -> {dr.dr_id} at {time.strftime('%H:%M:%S')}")


def _share_options(command):
    command = click.option("--doctor", required=True, help="Dr_ID")(command)
    return click.option("--patient", required=True, help="user name")(command)


@shares.command()
@_share_options
def grant(patient: str, doctor: str) -> None:
    """Let a doctor see a patient's data."""
    _share("grant", patient, doctor)


@shares.command()
@_share_options
def revoke(patient: str, doctor: str) -> None:
    """End a doctor's access to a patient's data."""
    _share("revoke", patient, doctor)


cli.add_command(cli_contacts.build(_conn))
cli.add_command(cli_database.database)


# --- medications ------------------------------------------------------------------------


@cli.group()
def meds() -> None:
    """Each patient's medication list (what the cabinet's dose tracker follows)."""


@meds.command("add")
@click.option("--patient", required=True, help="user name")
@click.option("--name", required=True, help="name and strength, e.g. 'Metformin 500 mg'")
@click.option("--item", required=True, help="the cabinet item that holds it")
@click.option("--at", "times", required=True, help="times of day: HH:MM[,HH:MM...]")
@click.option("--window", default="60", help="minutes either side that count as on time")
@click.option("--dose", default="1", help="units per dose")
@click.option("--days", default="", help="days of the week, e.g. mon,wed,fri (default: every day)")
@click.option("--stock", default="", help="units in stock now")
def meds_add(patient, name, item, times, window, dose, days, stock) -> None:
    """Add a medication to a patient's list."""
    conn = _conn()
    user = accounts.require_patient(conn, patient)
    form = {"name": name, "item": item, "times": times, "window": window, "dose": dose}
    form |= {"days": days, "stock": stock}
    med = medications.add(conn, user.id, form, None, medication_store.CLI_ACTOR)
    access.admin_action(conn, None, "meds.add", f"{user.username}: {med.name}")
    click.echo(f"medication {med.id} added for {user.username}: {med.name} at {med.times}")


@meds.command("list")
@click.option("--patient", required=True, help="user name")
def meds_list(patient: str) -> None:
    """A patient's current medications."""
    conn = _conn()
    for med in medication_store.listed(conn, accounts.require_patient(conn, patient).id):
        stock = "-" if med.stock is None else f"{med.stock:g}"
        click.echo(
            f"{med.id:<5} {med.name:32} dose {med.dose:g} at {med.times:18}"
            f" window {med.window_min:g} min  item {med.item}  stock {stock}"
            f"  days {med.days or 'every day'}"
        )


@meds.command("remove")
@click.option("--patient", required=True, help="user name")
@click.argument("medication", type=int)
def meds_remove(patient: str, medication: int) -> None:
    """Stop MEDICATION (its id, from ``meds list``); its doses stay in the record."""
    conn = _conn()
    user = accounts.require_patient(conn, patient)
    med = medications.remove(conn, user.id, medication, None, medication_store.CLI_ACTOR)
    access.admin_action(conn, None, "meds.remove", f"{user.username}: {med.name}")
    click.echo(f"medication {med.id} ({med.name}) removed for {user.username}")


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit: 0, 1 when refused (``error: ...``), 2 for bad usage."""
    cli.main(args=argv, prog_name=PROG)
