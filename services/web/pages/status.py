"""The check a load balancer makes: this instance answers and reaches its database."""

from flask import Blueprint

from ..db import get_db

bp = Blueprint("status", __name__)


@bp.get("/healthz")
def check():
    """200 while the database answers; a database away is a 503 (handlers.py)."""
    get_db().execute("SELECT 1").fetchone()
    return {"status": "ok"}
