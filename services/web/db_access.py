"""The request's database connection, opened on first use and closed at teardown."""

import sqlite3

from flask import Flask, current_app, g

from . import db as schema


def db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = schema.connect(current_app.config["DATABASE"])
    return g.db


def _close(exc: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close)
