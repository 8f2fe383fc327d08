"""The app database: SQLite in the data folder by default, PostgreSQL when DATABASE_URL names one.

Every service that keeps tables (the web, the notifier, the dose tracker, the reporter,
the demo seed) opens its connections here, so the SQL in their small data modules runs
unchanged on both. The statements are written in the subset both engines share (``?``
placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING id``); this module adapts the rest:

* placeholders: psycopg speaks ``%s``, so ``?`` outside string literals becomes ``%s``
  (and a literal ``%`` is doubled) once per distinct statement;
* rows: both drivers give rows read by position or by column name (``row["id"]``);
* booleans are sent as 0/1, as SQLite stores them, and ``numeric`` (PostgreSQL's type of
  ``SUM``/``AVG`` over integers) is read as a float, as SQLite returns it;
* transactions: ``with conn.transaction():`` is ``BEGIN IMMEDIATE`` on SQLite, and on
  PostgreSQL a transaction that first takes one advisory lock, so writers queue exactly
  as SQLite's single writer makes them (the read-then-write steps, such as counting
  sign-in failures before adding one, rely on it) on every web instance at once;
* errors: each driver's errors become this module's ``DatabaseError`` family.

The translation is hand-written because it is this small: SQLAlchemy Core would have us
rewrite every statement into its expression language or ``text()`` for the same result.
"""

import contextlib
import functools
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import ConfigError
from .settings import setting

DATABASE_FILE = "web.sqlite3"  # in the data folder, when DATABASE_URL is not set
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
# Any fixed number: the lock every writing transaction on PostgreSQL takes first.
WRITER_LOCK = 0x5C_AB_1E
# What the url setting documents; the services' settings read it through url_setting().
URL_HELP = (
    "the app database: empty for SQLite in the data folder, or a postgresql:// URL"
    " (the reporter's with its read-only role)"
)


class Row(Protocol):
    """A row read by position or by column name."""

    def __getitem__(self, key: int | str) -> Any: ...

    def keys(self) -> list[str]: ...


class DatabaseError(Exception):
    """The app database refused or failed a statement, or could not be reached."""


class IntegrityError(DatabaseError):
    """A unique key, a foreign key or a check refused the change."""


class MissingTable(DatabaseError):
    """A table is not there yet (the web has not made its tables)."""


def _check_url(url: str) -> str:
    url = url.strip()
    if url and urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"DATABASE_URL must be a postgresql:// URL, not {url.split(':')[0]!r}")
    return url


def url_setting():
    """``DATABASE_URL``, shared by the services that keep tables."""
    return setting("DATABASE_URL", "", URL_HELP, kind="str", clean=_check_url)


@dataclass(frozen=True, repr=False)
class Database:
    """Where the app database is: a SQLite file, or a PostgreSQL URL."""

    url: str = ""
    path: Path | None = None
    read_only: bool = False

    @classmethod
    def of(cls, target: "Database | Path | str", read_only: bool = False) -> "Database":
        """A Database from what settings hold: itself, a SQLite path, or a URL."""
        if isinstance(target, Database):
            return target
        text = str(target)
        if text.startswith(("postgresql://", "postgres://")):
            return cls(url=text, read_only=read_only)
        return cls(path=Path(target), read_only=read_only)

    @classmethod
    def choose(cls, url: str, path: Path, read_only: bool = False) -> "Database":
        """The URL when one is set, else the SQLite file at ``path``."""
        return cls.of(url or path, read_only)

    @property
    def dialect(self) -> str:
        return POSTGRESQL if self.url else SQLITE

    def describe(self) -> str:
        """Where it is, without the password, for logs and errors."""
        if self.path is not None:
            return str(self.path)
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"postgresql://{parts.username or ''}@{host}{port}{parts.path}"

    __str__ = describe

    def __repr__(self) -> str:
        return f"Database({self.describe()!r})"  # never the password

    def pool(self, size: int, wait_s: float = 3.0) -> "Pool":
        """PostgreSQL connections kept open, for a server that answers many requests."""
        if self.path is not None:
            raise ValueError("a pool is for PostgreSQL; SQLite's connections cost nothing")
        from . import _postgres

        return Pool(_postgres.pool(self.url, self.read_only, size, wait_s), self)

    def connect(self, threads: bool = False) -> "Connection":
        """A new connection (``threads``: SQLite's may be used by several threads in turn)."""
        try:
            if self.path is None:
                reopen = functools.partial(_open_postgres, self.url, self.read_only)
                return Connection(reopen(), POSTGRESQL, reopen=reopen)
            return Connection(_open_sqlite(self.path, self.read_only, threads), SQLITE)
        except (sqlite3.Error, _pg_errors()) as exc:
            raise DatabaseError(f"cannot open the database {self.describe()}: {exc}") from exc


def _open_sqlite(path: Path, read_only: bool, threads: bool) -> sqlite3.Connection:
    if read_only:
        raw = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = sqlite3.connect(path, timeout=10, check_same_thread=not threads)
    raw.isolation_level = None  # autocommit; transaction() opens one where it matters
    raw.row_factory = sqlite3.Row
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA busy_timeout = 10000")
    if read_only:
        raw.execute("PRAGMA query_only = ON")
    return raw


def _pg_errors() -> type[Exception]:
    try:
        import psycopg
    except ImportError:  # only a PostgreSQL deployment needs the driver
        return DatabaseError
    return psycopg.Error


def _open_postgres(url: str, read_only: bool):
    from . import _postgres

    return _postgres.connect(url, read_only)


def _translate(exc: Exception) -> DatabaseError:
    """The driver's error as this module's, keeping the driver's message."""
    if isinstance(exc, sqlite3.Error):
        if isinstance(exc, sqlite3.IntegrityError):
            return IntegrityError(str(exc))
        if str(exc).startswith("no such table"):
            return MissingTable(str(exc))
        return DatabaseError(str(exc))
    from . import _postgres

    return _postgres.translate(exc, IntegrityError, MissingTable, DatabaseError)


# The schema is written once, in SQLite's words; PostgreSQL's are these. Its INTEGER is
# 32-bit, and the times in milliseconds need 64; its REAL is single precision.
_POSTGRES_TYPES = (
    (
        re.compile(r"\bid INTEGER PRIMARY KEY\b"),
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def ddl(sql: str, dialect: str) -> str:
    """Schema statements written for SQLite, in the dialect's own column types."""
    if dialect == SQLITE:
        return sql
    for pattern, replacement in _POSTGRES_TYPES:
        sql = pattern.sub(replacement, sql)
    return sql


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s``, with every other ``%`` doubled."""
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
        if char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class Pool:
    """Open PostgreSQL connections (psycopg_pool), each lent as a Connection."""

    def __init__(self, pool, database: Database) -> None:
        from ._postgres import PoolTimeout

        self._pool = pool
        self._database = database
        self._timeout = PoolTimeout

    def connection(self) -> "Connection":
        """A connection until its ``close()``, which gives it back."""
        try:
            raw = self._pool.getconn()
        except self._timeout:  # the pool has none, and opens none in time
            # After an outage the pool reopens its connections with a growing back-off;
            # one direct try tells at once whether the database is back (DatabaseError if
            # not), so the first request after it returns is served.
            return self._database.connect()
        return Connection(raw, POSTGRESQL, release=lambda: self._pool.putconn(raw))

    def close(self) -> None:
        self._pool.close(timeout=1.0)  # a stop waits at most this for the pool's workers


class Connection:
    """One connection to the app database, on either engine, with the same calls."""

    def __init__(self, raw, dialect: str, release=None, reopen=None) -> None:
        self.raw = raw
        self.dialect = dialect
        self._depth = 0
        self._release = release  # a pool's: give the connection back instead of closing
        # A long-lived PostgreSQL connection (the notifier's, the dose tracker's) that the
        # server dropped is opened again before the next statement outside a transaction.
        self._reopen = reopen

    def _ready(self) -> None:
        if self._reopen is None or self._depth or not (self.raw.closed or self.raw.broken):
            return
        try:
            self.raw = self._reopen()
        except _pg_errors() as exc:
            raise DatabaseError(f"cannot reach the database again: {exc}") from exc

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == SQLITE else to_pyformat(sql)

    def execute(self, sql: str, params: Sequence = ()):
        """Run one statement; the cursor reads its rows (``fetchone``, ``fetchall``, iterate)."""
        self._ready()
        try:
            cursor = self.raw.cursor()
            cursor.execute(self._sql(sql), tuple(params))
            return cursor
        except (sqlite3.Error, _pg_errors()) as exc:
            raise _translate(exc) from exc

    def insert(self, sql: str, params: Sequence = ()) -> int:
        """Run an INSERT into a table with an ``id`` key; return the new row's id."""
        return self.execute(f"{sql} RETURNING id", params).fetchone()[0]

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        """Run one statement once per row of parameters."""
        rows = [tuple(row) for row in rows]
        if not rows:
            return
        self._ready()
        try:
            self.raw.cursor().executemany(self._sql(sql), rows)
        except (sqlite3.Error, _pg_errors()) as exc:
            raise _translate(exc) from exc

    def script(self, sql: str) -> None:
        """Run schema statements separated by ``;``, in this engine's column types."""
        for statement in ddl(sql, self.dialect).split(";"):
            if statement.strip():
                self.execute(statement)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Connection"]:
        """All or nothing, with other writers waiting; inside another, part of it."""
        if self._depth:
            yield self
            return
        self.execute("BEGIN IMMEDIATE" if self.dialect == SQLITE else "BEGIN")
        self._depth = 1
        try:
            if self.dialect == POSTGRESQL:
                self.execute("SELECT pg_advisory_xact_lock(?)", (WRITER_LOCK,))
            yield self
        except BaseException:
            self._depth = 0
            self._end("ROLLBACK")
            raise
        self._depth = 0
        self._end("COMMIT")

    @contextlib.contextmanager
    def attempt(self) -> Iterator["Connection"]:
        """Statements that may fail without undoing the transaction around them.

        A failed statement ends PostgreSQL's whole transaction, SQLite's only itself: a
        savepoint makes both undo just these statements and carry on.
        """
        if not self._depth:
            yield self
            return
        self.execute("SAVEPOINT attempt")
        try:
            yield self
        except DatabaseError:
            self.execute("ROLLBACK TO SAVEPOINT attempt")
            raise
        self.execute("RELEASE SAVEPOINT attempt")

    def _end(self, verb: str) -> None:
        try:
            self.raw.execute(verb)
        except (sqlite3.Error, _pg_errors()) as exc:
            raise _translate(exc) from exc

    def close(self) -> None:
        if self._release is not None:
            self._release()  # the pool rolls back what was left open, or drops it if broken
        else:
            self.raw.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
