"""A small client for InfluxDB's v1-compatible HTTP API (1.x natively, 2.x and 3 via DBRP).

Writes are line protocol to ``/write?db=<db>&precision=ms``; reads are InfluxQL
on ``/query`` with ``epoch=ms``. Flux is never used, so 1.x, 2.x and 3 answer
alike. Values never go into the InfluxQL text: a ``Query`` carries them apart and
``/query`` binds them to its ``$name`` placeholders (its ``params``), so a name
with a quote, a backslash or a newline is only ever data. Every failure is
translated into the small hierarchy below so callers decide between "retry
later" (``InfluxUnavailable``) and "this will never work" (the others).
"""

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import urllib3

from .errors import SmartcabError
from .settings import read_env, setting


class InfluxError(SmartcabError):
    """InfluxDB answered, but not with success."""


class InfluxUnavailable(InfluxError):
    """InfluxDB cannot be reached or is temporarily failing (5xx, timeouts): retry later."""


class InfluxAuthError(InfluxError):
    """InfluxDB refused the credentials (HTTP 401/403): fix INFLUX_TOKEN or username/password."""


class InfluxRejected(InfluxError):
    """InfluxDB refused the request itself (HTTP 400, bad line protocol or InfluxQL)."""


class InfluxNotFound(InfluxError):
    """The database (or 2.x bucket) does not exist (HTTP 404)."""


@dataclass(frozen=True)
class InfluxSettings:
    """Where InfluxDB is and how to sign in to it."""

    url: str = setting(
        "INFLUX_URL",
        "http://localhost:8086",
        "InfluxDB's v1-compatible HTTP API (1.x, 2.x or 3)",
        clean=lambda url: url.rstrip("/"),
    )
    database: str = setting(
        "INFLUX_DATABASE", "vitals", "database (on 2.x and 3: the bucket its DBRP mapping serves)"
    )
    token: str | None = setting(
        "INFLUX_TOKEN", None, "2.x/3 token; without one, `INFLUX_USERNAME`/`INFLUX_PASSWORD`"
    )
    username: str | None = setting("INFLUX_USERNAME", None, "1.x user")
    password: str | None = setting("INFLUX_PASSWORD", None, "its password")
    timeout: float = setting("INFLUX_TIMEOUT", 10.0, "seconds per HTTP request", minimum=0.1)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "InfluxSettings":
        return read_env(cls, env)


Row = dict[str, Any]


@dataclass(frozen=True)
class Query:
    """InfluxQL with ``$name`` placeholders and the values InfluxDB binds to them."""

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)


def join(queries: Iterable[Query]) -> Query:
    """Several statements sent as one request, their values bound together.

    A name the statements bind to different values is renamed in the later ones
    (``$metric`` becomes ``$metric_2``); the texts hold no values, so renaming a
    placeholder cannot touch anything else.
    """
    params: dict[str, Any] = {}
    texts = []
    for i, query in enumerate(queries):
        text = query.text
        for name, value in query.params.items():
            bound = name
            if name in params and (type(params[name]), params[name]) != (type(value), value):
                bound = f"{name}_{i}"
                text = re.sub(rf"\${name}(?![A-Za-z0-9_])", f"${bound}", text)
            params[bound] = value
        texts.append(text)
    return Query(";\n".join(texts), params)


_WRITING_STATEMENTS = ("CREATE", "DROP", "ALTER", "GRANT", "REVOKE", "DELETE", "KILL", "SET")


class InfluxClient:
    """One connection pool to one InfluxDB database; close() it when done."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self.database = settings.database
        self._headers = {}
        if settings.token:
            self._headers["Authorization"] = f"Token {settings.token}"
        elif settings.username:
            pair = f"{settings.username}:{settings.password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        # No retries here: the recorder has its own spool and retry policy.
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(settings.timeout, 5.0), read=settings.timeout),
            retries=False,
            maxsize=2,
        )
        self.server_version: str | None = None

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> "InfluxClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self, method: str, path: str, fields: Mapping[str, str], body: bytes | None = None
    ) -> urllib3.BaseHTTPResponse:
        url = f"{self.settings.url}{path}"
        headers = dict(self._headers)
        try:
            if body is None and method == "GET":
                response = self._pool.request_encode_url(
                    method, url, fields=dict(fields), headers=headers
                )
            elif body is None:
                response = self._pool.request_encode_body(
                    method, url, fields=dict(fields), headers=headers, encode_multipart=False
                )
            else:
                headers["Content-Type"] = "text/plain; charset=utf-8"
                response = self._pool.request(
                    method, f"{url}?{urlencode(fields)}", body=body, headers=headers
                )
        except urllib3.exceptions.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.settings.url} unreachable: {exc}") from exc
        version = response.headers.get("X-Influxdb-Version")
        if version:
            self.server_version = version
        if response.status >= 300:
            self._raise_for(response, path)
        return response

    def _raise_for(self, response: urllib3.BaseHTTPResponse, path: str) -> None:
        status = response.status
        detail = _error_text(response.data)
        where = f"InfluxDB {path} at {self.settings.url}"
        how = "INFLUX_TOKEN" if self.settings.token else "INFLUX_USERNAME/INFLUX_PASSWORD"
        if status == 401:
            raise InfluxAuthError(f"{where} refused the credentials (HTTP 401); check {how}")
        if status == 403:
            raise InfluxAuthError(
                f"{where} did not permit this (HTTP 403): {detail}; check what {how} may do"
            )
        if status == 404:
            raise InfluxNotFound(f"{where}: not found (HTTP 404): {detail}")
        if status >= 500 or status == 429:
            raise InfluxUnavailable(f"{where}: HTTP {status}: {detail}")
        raise InfluxRejected(f"{where}: HTTP {status}: {detail}")

    def ping(self) -> str:
        """Return the server version; raise InfluxUnavailable when it does not answer."""
        self._request("GET", "/ping", {})
        return self.server_version or "unknown"

    def write(self, lines: Iterable[str]) -> int:
        """Write line protocol with millisecond timestamps; return how many lines were sent."""
        batch = [line for line in lines if line]
        if not batch:
            return 0
        body = "\n".join(batch).encode()
        self._request("POST", "/write", {"db": self.database, "precision": "ms"}, body)
        return len(batch)

    def query_raw(self, influxql: Query | str, database: str | None = None) -> list[dict]:
        """Run InfluxQL and return the ``results`` list; an error in any statement raises."""
        if isinstance(influxql, str):
            influxql = Query(influxql)
        fields = {"q": influxql.text, "epoch": "ms", "db": database or self.database}
        if influxql.params:
            fields["params"] = json.dumps(dict(influxql.params))
        # 1.x wants POST for statements that change things; 2.7's /query only promises GET.
        method = "POST" if influxql.text.lstrip().upper().startswith(_WRITING_STATEMENTS) else "GET"
        response = self._request(method, "/query", fields)
        try:
            results = json.loads(response.data)["results"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InfluxError(
                f"InfluxDB /query answered something that is not JSON: {exc}"
            ) from exc
        for result in results:
            if "error" in result:
                raise InfluxRejected(f"InfluxQL error: {result['error']}")
        return results

    def query(self, influxql: Query | str, database: str | None = None) -> list[Row]:
        """Run one InfluxQL statement and return its rows; series tags are merged into rows."""
        results = self.query_raw(influxql, database)
        return rows_of(results[0]) if results else []

    def databases(self) -> list[str]:
        rows = self.query("SHOW DATABASES")
        return [row["name"] for row in rows]

    def ensure_database(self) -> bool:
        """Create the database on 1.x when missing; return True if it was created."""
        # On 2.x and 3 the bucket must exist already (its v1 DBRP mapping makes
        # it a database) and CREATE DATABASE is not offered, so nothing is done;
        # a missing bucket shows up as InfluxNotFound on the first write.
        self.ping()
        if not self.is_v1:
            return False
        if self.database in self.databases():
            return False
        self.query(f"CREATE DATABASE {quote_ident(self.database)}")
        return True

    @property
    def is_v1(self) -> bool:
        """True when the last answer came from InfluxDB 1.x."""
        return bool(self.server_version) and self.server_version.lstrip("v").startswith("1.")


def rows_of(result: Mapping[str, Any]) -> list[Row]:
    """Flatten one statement's series into row dicts (tags + columns)."""
    rows: list[Row] = []
    for series in result.get("series", []) or []:
        tags = series.get("tags") or {}
        columns = series["columns"]
        for values in series.get("values", []):
            row = dict(tags)
            row.update(zip(columns, values, strict=True))
            rows.append(row)
    return rows


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes (a database name: 1.x binds no identifiers)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _error_text(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return data[:200].decode("utf-8", "replace").strip()
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:200]
    return str(body)[:200]
