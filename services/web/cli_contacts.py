"""``python -m services.web contacts``: a patient's care circle from the admin CLI."""

from collections.abc import Callable

import click

from services.common import carecircle as cc
from services.common.database import Connection

from . import access, accounts, circle
from .errors import ValidationError


def build(conn_of: Callable[[], Connection]) -> click.Group:
    """The ``contacts`` command group, on the CLI's shared database connection."""

    @click.group()
    def contacts() -> None:
        """Who is told about a patient's alerts (their care circle)."""

    @contacts.command("add")
    @click.option("--patient", required=True, help="the patient's user name")
    @click.option("--name", required=True)
    @click.option("--url", required=True, help="an email address or an Apprise URL")
    @click.option("--levels", default="warning,critical", show_default=True)
    @click.option("--tier", type=click.IntRange(1, 3), default=1, show_default=True)
    @click.option(
        "--reminders",
        type=click.Choice(["none", "dose", "named"]),
        default="none",
        show_default=True,
        help="dose reminders: none, that a dose is due, or with the medicine's name",
    )
    def add(patient: str, name: str, url: str, levels: str, tier: int, reminders: str) -> None:
        """Add a contact to a patient's circle."""
        conn = conn_of()
        found = accounts.require_patient(conn, patient)
        chosen = "" if reminders == "none" else reminders
        wanted = circle.check_levels(levels.split(","), none_ok=bool(chosen))
        contact_id = circle.add(
            conn, found.username, name, url, levels=wanted, tier=tier, reminders=chosen
        )
        access.admin_action(conn, None, "contact.add", f"{found.username} / {name} #{contact_id}")
        click.echo(f"contact {contact_id} ({name}) added to {found.username}'s circle")

    @contacts.command("list")
    @click.option("--patient", required=True, help="the patient's user name")
    def list_(patient: str) -> None:
        """A patient's circle: id, tier, levels, name, the channel masked, dose reminders."""
        conn = conn_of()
        for c in cc.contacts(conn, accounts.require_patient(conn, patient).username):
            levels = ",".join(sorted(c.levels))
            told = f" dose reminders ({c.reminders})" if c.reminders else ""
            click.echo(
                f"{c.id:5} tier {c.tier} {levels:17} {c.name:24} {circle.mask(c.channel)}{told}"
            )

    @contacts.command("remove")
    @click.option("--patient", required=True, help="the patient's user name")
    @click.option("--id", "contact_id", required=True, type=int, help="from contacts list")
    def remove(patient: str, contact_id: int) -> None:
        """Remove a contact from a patient's circle."""
        conn = conn_of()
        found = accounts.require_patient(conn, patient)
        if not cc.remove_contact(conn, contact_id, found.username):
            raise ValidationError(f"no contact {contact_id} in {found.username}'s circle")
        access.admin_action(conn, None, "contact.remove", f"{found.username} #{contact_id}")
        click.echo(f"contact {contact_id} removed from {found.username}'s circle")

    return contacts
