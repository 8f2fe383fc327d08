"""A real HTTP server on a free loopback port that keeps the JSON posts Apprise sends it."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Webhook:
    """``with Webhook() as hook:``; ``hook.url("/family")`` is an Apprise ``json://`` URL.

    Paths in ``failing`` answer 500 (the post is kept in ``refused``); the others 200.
    """

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self._lock = threading.Lock()
        self._posts: list[tuple[str, dict]] = []
        self._refused: list[tuple[str, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                refuse = self.path in hook.failing
                with hook._lock:
                    (hook._refused if refuse else hook._posts).append((self.path, body))
                self.send_response(500 if refuse else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "Webhook":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def posts(self, path: str | None = None) -> list[dict]:
        with self._lock:
            return [body for p, body in self._posts if path is None or p == path]

    def refused(self, path: str | None = None) -> list[dict]:
        with self._lock:
            return [body for p, body in self._refused if path is None or p == path]

    def wait(self, path: str, count: int = 1, timeout: float = 15.0) -> list[dict]:
        """Wait for ``count`` accepted posts to ``path`` and return them all."""
        deadline = time.monotonic() + timeout
        while len(self.posts(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.posts(path))}/{count} posts to {path} in {timeout} s; "
                    f"all: {self._posts!r}, refused: {self._refused!r}"
                )
            time.sleep(0.02)
        return self.posts(path)
