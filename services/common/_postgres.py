"""PostgreSQL connections that behave as the product's SQLite ones (see database.py)."""

import functools
from typing import ClassVar

import psycopg
from psycopg import adapt, errors
from psycopg.types.numeric import FloatLoader
from psycopg_pool import ConnectionPool, PoolTimeout

CONNECT_TIMEOUT_S = 10
__all__ = ["PoolTimeout", "Row", "connect", "pool", "translate"]


class _BoolAsInt(adapt.Dumper):
    """Booleans as 0/1: the columns are integers, as SQLite keeps them."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class Row(tuple):
    """A row read by position or by column name, as sqlite3.Row is."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def _rows(cursor):
    """psycopg's row factory: a Row class for the result's column names."""
    return _row_class(tuple(column.name for column in cursor.description or ()))


def _configure(conn: psycopg.Connection) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInt)
    conn.adapters.register_loader("numeric", FloatLoader)


def _options(read_only: bool) -> dict:
    options = "-c default_transaction_read_only=on" if read_only else None
    return {
        "autocommit": True,
        "row_factory": _rows,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": options,
    }


def connect(url: str, read_only: bool) -> psycopg.Connection:
    """An autocommit connection, rows as Row, booleans as integers, numerics as floats."""
    conn = psycopg.connect(url, **_options(read_only))
    _configure(conn)
    return conn


def pool(url: str, read_only: bool, size: int, wait_s: float) -> ConnectionPool:
    """Connections kept open for a threaded server, each checked as it is taken."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs=_options(read_only),
        configure=_configure,
        check=ConnectionPool.check_connection,  # a server restarted since: a new one
        timeout=wait_s,
        open=True,
        name="smartcab",
    )


def translate(exc: Exception, integrity, missing, other) -> Exception:
    """A psycopg error as the matching one of database.py's."""
    if isinstance(exc, psycopg.IntegrityError):
        return integrity(str(exc).strip())
    if isinstance(exc, errors.UndefinedTable):
        return missing(str(exc).strip())
    return other(str(exc).strip())
