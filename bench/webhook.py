"""A loopback HTTP server that timestamps the JSON posts Apprise's ``json://`` sends it."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Webhook:
    """``with Webhook() as hook``: ``hook.posts`` is (arrival perf_counter, path, body)."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, str, dict]] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hook.lock:
                    hook.posts.append((time.perf_counter(), self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def wait(self, count: int, timeout: float) -> float:
        """Wait for ``count`` posts; the arrival time of the last (or of the latest)."""
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.posts[-1][0] if self.posts else time.perf_counter()
