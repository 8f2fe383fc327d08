"""The app database on PostgreSQL: a signed-in page against the same page on SQLite.

Both dashboards run as real processes on this machine, with the same account; the page
(a patient's sharing page: the session, her shares and her access log) reads only the
app database, so the ratio is what PostgreSQL, with the web's connection pool, costs
over the embedded default.
"""

import tempfile
from pathlib import Path

from tests.support.net import free_port, wait_port
from tests.support.postgres import PostgresServer
from tests.support.services import ServiceProcess

from .dashboard import _add_patient, _sign_in
from .harness import Figure, median_seconds

PAGE = "/p/alice/sharing"


def _dashboard(workdir: Path, name: str, database_url: str):
    """A signed-in opener and the web process, on SQLite or on ``database_url``."""
    folder = workdir / name
    folder.mkdir()
    port = free_port()
    env = {
        "SMARTCAB_DATA_DIR": str(folder / "data"),
        "DATABASE_URL": database_url,
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",  # the page reads no history
        "WEB_PORT": str(port),
        "WEB_HOST": "127.0.0.1",
        "WEB_LIVE": "0",
        "LOG_LEVEL": "WARNING",
    }
    opener = _add_patient(env)
    web = ServiceProcess("web", folder, env, port=port).start()
    wait_port(port)
    base = f"http://127.0.0.1:{port}"
    _sign_in(opener, base)

    def page() -> None:
        with opener.open(f"{base}{PAGE}") as response:
            response.read()
            assert "/login" not in response.geturl(), "signed in: her page, not the sign-in"

    page()  # warm-up: the pool's connections, templates
    return page, web


def page_on_postgres(quick: bool) -> Figure:
    runs = 20 if quick else 200
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        server = PostgresServer(durable=True).start()  # fsync on, as a deployment has it
        started = []
        try:
            on_sqlite, web = _dashboard(workdir, "sqlite", "")
            started.append(web)
            on_postgres, web = _dashboard(workdir, "postgres", server.url(server.new_database()))
            started.append(web)
            sqlite_s = median_seconds(on_sqlite, runs)
            postgres_s = median_seconds(on_postgres, runs)
        finally:
            for web in started:
                web.stop()
            server.stop()
    ratio = postgres_s / sqlite_s
    return Figure(
        "signed-in page on PostgreSQL, pooled (vs the same page on SQLite)",
        round(postgres_s * 1000, 2),
        "ms",
        round(sqlite_s * 1000, 2),
        round(ratio, 2),
        "<= 1.5",
        ratio <= 1.5,
    )
