"""A real PostgreSQL server (Debian's) in a temp folder, on a free port, for the tests.

``initdb`` and ``postgres`` refuse to run as root, so as root (CI) the server runs as the
``postgres`` account Debian's package makes, in a folder that account owns. The product's
roles and database are made by the deployment's own ``deploy/postgres/roles.sql``.
Each test gets a database of its own, made from an empty template in a few milliseconds.
"""

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from .net import free_port

ROOT = Path(__file__).resolve().parents[2]
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
HOST = "127.0.0.1"
APP_PASSWORD = "app-pw-for-tests"
READER_PASSWORD = "reader-pw-for-tests"
ADMIN = "pgadmin"
ADMIN_PASSWORD = "admin-pw-for-tests"


def _bin_dir() -> Path:
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    found.sort(key=lambda path: int(path.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
    return Path(found[-1]).parent


def _children(pid: int) -> tuple[int, ...]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return tuple(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class PostgresServer:
    """``postgres`` on 127.0.0.1:<free port>; ``stop()`` ends it and removes its folder."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable  # the server's own defaults (fsync on): for the benchmarks
        self.bin = _bin_dir()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="smartcab-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.proc: subprocess.Popen | None = None
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        # in the server's own folder: the postgres account may not reach the checkout
        return subprocess.run(
            [*self._as_user, *argv], check=True, capture_output=True, cwd=self.folder, **kwargs
        )

    def start(self) -> "PostgresServer":
        pwfile = self.folder / "pw"
        pwfile.write_text(ADMIN_PASSWORD)
        if self._as_user:
            shutil.chown(pwfile, "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", ADMIN, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        pwfile.unlink()
        self.launch()
        self.roles(APP_PASSWORD, READER_PASSWORD)
        return self

    def launch(self) -> None:
        """Start the server on its folder (again, after ``kill``)."""
        log = open(self.log, "ab")  # noqa: SIM115 - the server writes it while it runs
        # a test server: a commit survives the server's crash (tests kill it), not the
        # machine's
        fast = [] if self.durable else ["-c", "fsync=off", "-c", "full_page_writes=off"]
        self.proc = subprocess.Popen(
            [
                *self._as_user, str(self.bin / "postgres"), "-D", str(self.data),
                "-p", str(self.port), "-k", str(self.folder), "-c", f"listen_addresses={HOST}",
                "-c", "max_connections=200", *fast,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text()[-2000:]}")
            try:
                psycopg.connect(self.admin_url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise TimeoutError(f"postgres did not start: {self.log.read_text()[-2000:]}")

    def admin_url(self, db: str = "postgres") -> str:
        return f"postgresql://{ADMIN}:{ADMIN_PASSWORD}@{HOST}:{self.port}/{db}"

    def url(self, db: str, reader: bool = False) -> str:
        """The product's URL for ``db``: the app's role, or the reporter's read-only one."""
        if reader:
            return f"postgresql://smartcab_reporter:{READER_PASSWORD}@{HOST}:{self.port}/{db}"
        return f"postgresql://smartcab:{APP_PASSWORD}@{HOST}:{self.port}/{db}"

    def roles(self, app_password: str, reporter_password: str) -> None:
        """The deployment's roles.sql, as its init.sh runs it (again: new passwords)."""
        # psql is a client: it runs as whoever runs the tests, and reads the checkout's
        # file, which the postgres account may not be able to reach
        command = [
            str(self.bin / "psql"), "-v", "ON_ERROR_STOP=1", "-q", "-d", self.admin_url(),
            "-v", "db=smartcab", "-v", f"app_password={app_password}",
            "-v", f"reporter_password={reporter_password}", "-f", str(ROLES_SQL),
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)

    def new_database(self) -> str:
        """A fresh, empty database with the product's grants; returns its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.admin_url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER smartcab TEMPLATE smartcab')
        return name

    def _postmaster(self) -> int | None:
        """The server's own pid (under runuser, our child is runuser)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    def _signal(self, signum: int, pids: tuple[int, ...] = ()) -> None:
        """Signal the postmaster and ``pids``, then wait for our child to end."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in (self._postmaster(), *pids):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        """SIGKILL the server and its backends at once, as a crash of the machine's would."""
        postmaster = self._postmaster()
        backends = _children(postmaster) if postmaster else ()
        self._signal(signal.SIGKILL, backends)
        # a new server refuses to start while an old backend holds the shared memory
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in backends):
            time.sleep(0.05)

    def stop(self) -> None:
        self._signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        shutil.rmtree(self.folder, ignore_errors=True)
