"""Copying the embedded SQLite app database, whole, into a new PostgreSQL one.

A home that grows into a provider's deployment keeps its accounts, shares, audit and
records. No library copies between the two (pgloader is a separate program that guesses
the types); here both ends already have the same schema from the same migrations, so a
copy is the rows of each table, parents before children, in one transaction at each end.
"""

from collections.abc import Callable

from services.common.database import POSTGRESQL, SQLITE, Connection, Database, DatabaseError

from . import db
from .errors import WebError

BATCH = 500  # rows a round trip to PostgreSQL
Progress = Callable[[str, int], None]


class CopyRefused(WebError):
    """The copy cannot be made as asked; nothing was written."""


def copy(source: Database, target: Database, progress: Progress | None = None) -> dict[str, int]:
    """Copy every table of ``source`` (SQLite) into ``target`` (PostgreSQL, empty).

    Both are first brought to the newest schema. The source is held with a write
    lock throughout, so no writer changes it half-way; the target gets everything or,
    on any error, nothing. Returns the rows copied per table.
    """
    if source.dialect != SQLITE:
        raise CopyRefused(f"the copy is made from a SQLite database, not {source.describe()}")
    if target.dialect != POSTGRESQL:
        raise CopyRefused(f"the copy is made into PostgreSQL, not {target.describe()}")
    try:
        return _copy_all(source, target, progress)
    except DatabaseError as exc:
        raise CopyRefused(f"nothing was copied: {exc}") from exc


def _copy_all(source: Database, target: Database, progress: Progress | None) -> dict[str, int]:
    db.migrate(source)
    db.migrate(target)
    src, dst = db.connect(source), db.connect(target)
    try:
        with src.transaction(), dst.transaction():
            names = _in_order(src)
            for name in names:
                _check_empty_and_alike(src, dst, name, target)
            counts = {}
            for name in names:
                counts[name] = _copy_table(src, dst, name)
                if progress:
                    progress(name, counts[name])
            return counts
    finally:
        src.close()
        dst.close()


def _tables(conn: Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND name NOT LIKE 'sqlite%' AND name != 'schema_version' ORDER BY name"
    )
    return [r["name"] for r in rows]


def _in_order(conn: Connection) -> list[str]:
    """The tables, each after every table its foreign keys point to."""
    parents = {
        name: {
            r["table"]
            for r in conn.execute(f"PRAGMA foreign_key_list({_quote(name)})")
            if r["table"] != name  # a row may point to another of its table: same insert order
        }
        for name in _tables(conn)
    }
    ordered: list[str] = []
    while parents:
        ready = sorted(n for n, needs in parents.items() if needs <= set(ordered))
        if not ready:
            raise CopyRefused(f"the tables' foreign keys go round: {sorted(parents)}")
        ordered += ready
        for name in ready:
            del parents[name]
    return ordered


def _columns_src(conn: Connection, name: str) -> list[str]:
    return [r["name"] for r in conn.execute(f"PRAGMA table_info({_quote(name)})")]


def _columns_dst(conn: Connection, name: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ?",
        (name,),
    )
    return {r["column_name"] for r in rows}


def _check_empty_and_alike(src: Connection, dst: Connection, name: str, target) -> None:
    """Refuse a target that holds rows already, or whose table differs from the source's."""
    if set(_columns_src(src, name)) != _columns_dst(dst, name):
        raise CopyRefused(f"table {name} differs between the two databases")
    if dst.execute(f"SELECT 1 FROM {_quote(name)} LIMIT 1").fetchone():
        raise CopyRefused(
            f"{target.describe()} already holds data (table {name}):"
            " copy into a new, empty database"
        )


def _copy_table(src: Connection, dst: Connection, name: str) -> int:
    columns = _columns_src(src, name)
    listed = ", ".join(_quote(c) for c in columns)
    insert = f"INSERT INTO {_quote(name)} ({listed}) VALUES ({', '.join('?' for _ in columns)})"
    rows = src.execute(f"SELECT {listed} FROM {_quote(name)}")
    copied = 0
    try:
        while batch := rows.fetchmany(BATCH):
            dst.executemany(insert, [tuple(r) for r in batch])
            copied += len(batch)
    except DatabaseError as exc:
        raise CopyRefused(f"table {name}: {exc}") from exc
    if "id" in columns and copied:
        # Rows came with their ids: the next new row must not take one of them.
        dst.execute(
            f"SELECT setval(pg_get_serial_sequence(?, 'id'), MAX(id)) FROM {_quote(name)}",
            (name,),
        )
    there = dst.execute(f"SELECT COUNT(*) AS n FROM {_quote(name)}").fetchone()["n"]
    if there != copied:
        raise CopyRefused(f"table {name}: {copied} rows read, {there} in the target")
    return copied


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
