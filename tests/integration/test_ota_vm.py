"""The update's checks, swap and rollback on the real MicroPython VM, in its filesystem.

The VM's files are laid out as on a board (``/lib/smartcab``, ``/lib/otaboot.py``). A
bundle is served by a stand-in for the HTTP client (the client itself runs in the
CPython end-to-end tests); a power cut is an exception raised at a step of the swap,
after which the next boot's ``recover()`` runs as on a board that lost power there.
"""

import hashlib
import hmac
import os

import pytest

from tests.support import mpvm

KB = 1024
ESP32_HEAP_BUDGET = 100 * KB  # as the board tests: an ESP32 without PSRAM
TOKEN = "cab-secret-token-1"

# Runs on the VM: a release of the board's own library with cabinet.py marked as new.
HELPER = '''
import hashlib, json, os
import otaboot
from smartcab import ota

LIB = otaboot.LIB


class Cut(Exception):
    pass


SRV = "srv"  # what the web serves, kept on the VM's disk so the heap is the board's own


def digest_of(path):
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            data = f.read(512)
            if not data:
                return size, ota.hexlify(h.digest())
            size += len(data)
            h.update(data)


class Http:
    """Serves a manifest and files as the web does, in 512-byte pieces."""

    def __init__(self, srv, tag_key, version="2.0.0", kind="cabinet", at=100):
        self.srv = srv
        entries = []
        for name in sorted(os.listdir(srv)):
            size, digest = digest_of(srv + "/" + name)
            entries.append({"path": name, "size": size, "sha256": digest})
        manifest = {"kind": kind, "version": version, "files": entries, "at": at}
        self.manifest = json.dumps(manifest).encode()
        self.tag = ota.hexlify(ota.hmac_sha256(tag_key, self.manifest))

    def get(self, path, sink):
        if path.endswith("/manifest"):
            sink(self.manifest)
            return {"x-manifest-hmac": self.tag}
        with open(self.srv + "/" + path.rsplit("/", 1)[1], "rb") as f:
            while True:
                data = f.read(512)
                if not data:
                    return {}
                sink(data)


def put(name, data, mode="wb"):
    with open(SRV + "/" + name, mode) as f:
        f.write(data)


def release():
    """The board's own library as version 2.0.0, its cabinet.py marked."""
    otaboot.rmtree(SRV)
    os.mkdir(SRV)
    for name in os.listdir(LIB):
        if name.endswith(".py"):
            with open(LIB + "/" + name, "rb") as src:
                with open(SRV + "/" + name, "wb") as dst:
                    while True:
                        data = src.read(512)
                        if not data:
                            break
                        dst.write(data)
    put("cabinet.py", b"\\n# release 2.0.0\\n", "ab")
    return SRV


def corrupt(name):
    """Flip one byte, as a bad disk or a proxy would: same size, other sha256."""
    with open(SRV + "/" + name, "rb") as f:
        data = bytearray(f.read())
    data[0] ^= 0x20
    put(name, data)


def offer(http, tag_key=None):
    body, manifest = ota.fetch_manifest(http, tag_key or key, "cab")
    ota.check(manifest, "cab")
    ota.stage(http, "cab", manifest, body)
    otaboot.install(manifest["version"], ota.installed_version())


def marked():
    with open(LIB + "/cabinet.py", "rb") as f:
        return f.read().endswith(b"# release 2.0.0\\n")


def bootable():
    """The library imports and a cabinet runs a round, as after a reset."""
    import sys
    for name in list(sys.modules):
        if name.startswith("smartcab"):
            del sys.modules[name]
    from smartcab import cabinet, client
    app = cabinet.Cabinet(["Pepsi"], type("S", (), {"read": lambda self: [True]})(), None)
    session = client.Session(app, "cab")
    session.started = True
    app.on_start(session, 0)
    return session.next_chunk() is not None


class Hw:
    resets = 0
    armed = None

    def reset(self):
        Hw.resets += 1

    def arm(self, ms, callback):
        Hw.armed = ms


key = ota.board_key("cab-secret-token-1")
'''


@pytest.fixture
def vm():
    machine = mpvm.MicroPythonVM({"/lib/otavm.py": HELPER})
    machine.step("from otavm import *")
    yield machine
    print(f"update on the VM: peak live heap {machine.peak / KB:.1f} KB")
    assert machine.peak <= ESP32_HEAP_BUDGET, f"live heap peaked at {machine.peak} bytes"
    machine.close()


@pytest.mark.parametrize("size", [0, 1, 32, 63, 64, 65, 200])
def test_the_hand_written_hmac_matches_cpython(vm, size):
    key, message = os.urandom(size), os.urandom(size * 3 + 1)
    args = f"bytes.fromhex({key.hex()!r}), bytes.fromhex({message.hex()!r})"
    got = vm.eval(f"ota.hexlify(ota.hmac_sha256({args}))")
    assert got == hmac.new(key, message, hashlib.sha256).hexdigest()
    assert (
        vm.eval(f"ota.hexlify(ota.board_key({TOKEN!r}))")
        == hashlib.sha256(TOKEN.encode()).hexdigest()
    )


def test_a_good_update_is_swapped_in_and_confirmed(vm):
    vm.step("offer(Http(release(), key))")
    assert vm.eval("marked()") and vm.eval("otaboot.read_journal()")["state"] == "pending"
    assert vm.eval("otaboot.exists('prev/cabinet.py') and not otaboot.exists('next')")
    assert vm.eval("otaboot.recover()") == "pending"
    assert vm.eval("bootable()")
    assert vm.eval("otaboot.confirm()") and vm.eval("ota.installed_version()") == "2.0.0"
    assert vm.eval("otaboot.read_journal()") == {"state": "done", "version": "2.0.0"}


def refused(vm, setup: str) -> str:
    out = vm.step(
        f"{setup}\ntry:\n    offer(http, key)\n    print('installed')\n"
        "except ota.UpdateError as exc:\n"
        "    otaboot.rmtree(otaboot.NEXT)\n    print('refused:', exc)"
    )
    assert not vm.eval("marked()") and vm.eval("otaboot.read_journal()") == {}
    assert vm.eval("not otaboot.exists('next') and bootable()")
    return out


def test_a_corrupted_bundle_is_refused(vm):
    out = refused(vm, "http = Http(release(), key)\ncorrupt('client.py')")
    assert "client.py does not match its sha256" in out


def test_a_bundle_not_from_this_deployment_is_refused(vm):
    out = refused(vm, "http = Http(release(), ota.board_key('another-deployment'))")
    assert "not signed by this deployment" in out


def test_a_bundle_that_crashes_is_rolled_back(vm):
    vm.step(
        "srv = release()\n"
        "put('cabinet.py', b'raise RuntimeError(\"broken\")\\n')\n"
        "offer(Http(srv, key))"
    )
    vm.step(
        "def start():\n    import smartcab.cabinet\notaboot.main(start, Hw(), log=lambda *a: None)"
    )
    assert vm.eval("Hw.resets") == 1 and vm.eval("Hw.armed") == 120000
    journal = vm.eval("otaboot.read_journal()")
    assert journal["state"] == "failed" and "broken" in journal["reason"]
    assert vm.eval("bootable() and not otaboot.exists('prev')")
    assert vm.eval("otaboot.failed_version()") == "2.0.0"


def test_an_update_that_never_registers_is_rolled_back_after_its_boots(vm):
    vm.step("offer(Http(release(), key))")
    assert [vm.eval("otaboot.recover()") for _ in range(3)] == ["pending", "pending", "failed"]
    assert not vm.eval("marked()") and vm.eval("bootable()")


@pytest.mark.parametrize("step", ["journal", "moved-old", "moved-new", "pending"])
def test_a_power_cut_in_the_swap_leaves_a_bootable_board(vm, step):
    vm.step(
        f"def cut(name):\n    if name == {step!r}:\n        raise Cut(name)\n"
        "otaboot.step_hook = cut\ntry:\n    offer(Http(release(), key))\nexcept Cut:\n    pass\n"
        "otaboot.step_hook = None"
    )
    assert vm.eval("otaboot.recover()") == "pending"  # the next boot
    assert vm.eval("marked() and bootable() and not otaboot.exists('next')")


def test_a_power_cut_in_a_rollback_leaves_the_old_code(vm):
    vm.step(
        "offer(Http(release(), key))\n"
        "def cut(name):\n    if name == 'removed-new':\n        raise Cut(name)\n"
        "otaboot.step_hook = cut\ntry:\n    otaboot.rollback('test')\nexcept Cut:\n    pass\n"
        "otaboot.step_hook = None"
    )
    assert vm.eval("otaboot.recover()") == "failed"
    assert not vm.eval("marked()") and vm.eval("bootable()")


def test_an_older_signed_release_replayed_is_refused(vm):
    vm.step("offer(Http(release(), key))\notaboot.recover()\notaboot.confirm()")
    out = vm.step(
        "try:\n    offer(Http(release(), key, version='1.9.0', at=50))\n"
        "except ota.UpdateError as exc:\n    print('refused:', exc)"
    )
    assert "older than the code running" in out
    assert vm.eval("ota.installed_version()") == "2.0.0"
