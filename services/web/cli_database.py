"""``python -m services.web database``: the app database as a whole."""

from pathlib import Path

import click

from services.common.database import DATABASE_FILE, Database

from . import access, db, db_copy
from .settings import Settings


@click.group()
def database() -> None:
    """The app database as a whole: copy the embedded SQLite one into PostgreSQL."""


@database.command("copy")
@click.option(
    "--to",
    "url",
    help="the new, empty database: a postgresql:// URL  [default: DATABASE_URL]",
)
@click.option(
    "--from",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"the SQLite file  [default: {DATABASE_FILE} in SMARTCAB_DATA_DIR]",
)
def copy(url: str | None, path: Path | None) -> None:
    """Copy every table, rows and ids, from SQLite into an empty PostgreSQL database.

    Stop the web, the notifier and the dose tracker first: whatever they wrote after
    the copy would stay behind. Then start them on DATABASE_URL (the reporter on its
    own role's URL), the web with the same key file, which decrypts the TOTP secrets.
    """
    settings = Settings.from_env()
    url = url or settings.database_url
    if not url.startswith(("postgresql://", "postgres://")):
        raise db_copy.CopyRefused("give --to a postgresql:// URL, or set DATABASE_URL to one")
    source = Database.of(path or settings.data_dir / DATABASE_FILE)
    if not source.path.exists():
        raise db_copy.CopyRefused(f"there is no database at {source.describe()}")
    target = Database.of(url)
    counts = db_copy.copy(source, target, lambda name, rows: click.echo(f"{name}: {rows}"))
    conn = db.connect(target)
    try:
        access.admin_action(conn, None, "database.copy", f"from {source.describe()}")
    finally:
        conn.close()
    click.echo(
        f"copied {sum(counts.values())} rows of {len(counts)} tables"
        f" from {source.describe()} to {target.describe()}"
    )
