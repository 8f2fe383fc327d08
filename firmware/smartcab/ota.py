"""Updates over the air: fetch the deployment's bundle, check it, stage it, swap it in.

On ``upd`` the board leaves the gateway, asks the web for its manifest over plain
HTTP/1.0 (``ota_url`` in config.json), checks the manifest's HMAC-SHA256 keyed by
sha256(token), the key the gateway's registry holds for this board, downloads each
file into ``next/`` while hashing it, and only when every file matches its sha256
hands over to ``otaboot.install``, which swaps it in; then the board resets.
"""

import hashlib
import json
import os

try:
    import otaboot  # on the board: /lib/otaboot.py, outside the swapped library
except ImportError:
    from firmware import otaboot

MANIFEST = "manifest.json"
CHUNK = 512  # bytes read from the socket and written to flash at a time
MAX_MANIFEST = 8192
FALLBACK_VERSION = "1.0.0"  # code copied by cable carries no manifest
# the kinds of services/common/devices.py by their apps' prefixes (the board has no services)
KIND_OF_PREFIX = {"wch": "watch", "img": "camera", "cab": "cabinet"}
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


class UpdateError(Exception):
    """The update was refused or could not be fetched; the board keeps its code."""


def hmac_sha256(key, message):
    """RFC 2104 HMAC over hashlib.sha256: MicroPython's standard builds have no hmac module."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(64)
    opad = bytearray(64)
    for i in range(len(key)):
        ipad[i] = key[i]
        opad[i] = key[i]
    for i in range(64):
        ipad[i] ^= 0x36
        opad[i] ^= 0x5C
    inner = hashlib.sha256(ipad)
    inner.update(message)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return outer.digest()


def board_key(token):
    """The per-board key: sha256 of the board's token, as the gateway's registry stores it."""
    return hashlib.sha256(token.encode()).digest()


def same(a, b):
    """Compare two digests in time independent of where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def hexlify(data):
    return "".join("%02x" % b for b in data)


def installed_manifest(lib=otaboot.LIB):
    try:
        with open(lib + "/" + MANIFEST) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def installed_version(lib=otaboot.LIB):
    return installed_manifest(lib).get("version", FALLBACK_VERSION)


def split_url(url):
    """``http://host:port/base`` -> (scheme, host, port, base path)."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest:
        raise UpdateError("ota_url must be http:// or https://")
    hostport, _, base = rest.partition("/")
    host, _, port = hostport.partition(":")
    port = int(port) if port else (443 if scheme == "https" else 80)
    return scheme, host, port, "/" + base.rstrip("/") if base else ""


class Http:
    """A tiny HTTP/1.0 GET over the platform's socket (swappable, like umqtt's)."""

    def __init__(self, url, platform, auth):
        self.scheme, self.host, self.port, self.base = split_url(url)
        self.platform = platform
        self.auth = auth

    def get(self, path, sink):
        """GET ``base + path``; each body chunk goes to ``sink``; raises UpdateError."""
        sock = self.platform.connect(self.host, self.port)
        try:
            if self.scheme == "https":
                import ssl

                sock = ssl.wrap_socket(sock, server_hostname=self.host)
            request = "GET %s%s HTTP/1.0\r\nHost: %s\r\nAuthorization: Device %s\r\n\r\n" % (
                self.base,
                path,
                self.host,
                self.auth,
            )
            _write(sock, request.encode())
            headers, body = self._head(sock)
            if body:
                sink(body)
            while True:
                self.platform.feed()
                data = sock.recv(CHUNK)
                if not data:
                    return headers
                sink(data)
        except OSError as exc:
            raise UpdateError("download failed: %r" % exc) from exc
        finally:
            sock.close()

    def _head(self, sock):
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = sock.recv(CHUNK)
            if not data or len(buf) > 4096:
                raise UpdateError("bad HTTP response")
            buf += data
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = lines[0].split(" ")
        if len(status) < 2 or status[1] != "200":
            raise UpdateError("HTTP " + " ".join(status[1:]))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers, body


def _write(sock, data):
    view = memoryview(data)
    while len(view):
        n = sock.send(view)
        if not n:
            raise OSError("socket write failed")
        view = view[n:]


def fetch_manifest(http, key, device_id):
    """The manifest, once its HMAC proves it comes from this deployment."""
    parts = []

    def keep(data):
        parts.append(data)
        if sum(len(p) for p in parts) > MAX_MANIFEST:
            raise UpdateError("manifest too large")

    headers = http.get("/firmware/%s/manifest" % device_id, keep)
    body = b"".join(parts)
    tag = headers.get("x-manifest-hmac", "")
    if not same(hexlify(hmac_sha256(key, body)).encode(), tag.encode()):
        raise UpdateError("manifest not signed by this deployment")
    try:
        return body, json.loads(body)
    except ValueError as exc:
        raise UpdateError("manifest is not JSON") from exc


def check_name(name):
    if not name or name[0] == "." or len(name) > 40:
        raise UpdateError("bad file name %r" % name)
    for c in name:
        if c not in _NAME_CHARS:
            raise UpdateError("bad file name %r" % name)
    return name


def _download(http, device_id, entry):
    """One file into ``next/``, hashed as it arrives; raises UpdateError on a mismatch."""
    name = check_name(entry["path"])
    digest = hashlib.sha256()
    seen = [0]
    with open(otaboot.NEXT + "/" + name, "wb") as f:

        def sink(data):
            seen[0] += len(data)
            if seen[0] > entry["size"]:
                raise UpdateError(name + " is longer than the manifest says")
            digest.update(data)
            f.write(data)

        http.get("/firmware/%s/files/%s" % (device_id, name), sink)
    if seen[0] != entry["size"] or hexlify(digest.digest()) != entry["sha256"]:
        raise UpdateError(name + " does not match its sha256: bundle corrupted")


def stage(http, device_id, manifest, body):
    """Download every file into ``next/``, checking each size and sha256."""
    otaboot.rmtree(otaboot.NEXT)
    os.mkdir(otaboot.NEXT)
    for entry in manifest["files"]:
        _download(http, device_id, entry)
    with open(otaboot.NEXT + "/" + MANIFEST, "wb") as f:
        f.write(body)


def check(manifest, prefix):
    """Refuse a signed manifest this board must not install; (version, running version)."""
    version = manifest.get("version")
    current = installed_version()
    if manifest.get("kind") != KIND_OF_PREFIX.get(prefix):
        raise UpdateError("bundle is for %s boards" % manifest.get("kind"))
    if version == current or version == otaboot.failed_version():
        raise UpdateError("version %s is running or failed before" % version)
    if manifest.get("at", 0) < installed_manifest().get("at", 0):
        # a signed release older than the running one: a replay, not a new rollout
        raise UpdateError("release %s is older than the code running" % version)
    return version, current


def update(cfg, platform, prefix):
    """Fetch, verify, stage and swap in the offered update for an app of ``prefix``."""
    if not cfg.get("ota_url") or not cfg.get("token"):
        raise UpdateError("updates need ota_url and a token in config.json")
    http = Http(cfg["ota_url"], platform, "%s:%s" % (cfg["id"], cfg["token"]))
    body, manifest = fetch_manifest(http, board_key(cfg["token"]), cfg["id"])
    version, current = check(manifest, prefix)
    try:
        stage(http, cfg["id"], manifest, body)
    except (UpdateError, OSError, KeyError, TypeError) as exc:
        otaboot.rmtree(otaboot.NEXT)
        if isinstance(exc, UpdateError):
            raise
        raise UpdateError("bad bundle: %r" % exc) from exc
    platform.log("ota: installing", version, "over", current)
    otaboot.install(version, current)
    return version
