"""Start the board's code, and finish, undo or roll back an update a reset interrupted.

This module sits outside the library an update replaces (``/lib/otaboot.py``, put
there once by cable) so that a broken update cannot break the code that undoes it.
Paths are relative to the working directory, which is ``/`` on a board.

The library lives in ``lib/smartcab``. An update is downloaded and verified into
``next`` (by ``smartcab.ota``), then ``install()`` swaps it in by two directory
renames under a journal (``ota.json``, replaced by write-then-rename):

1. journal ``swap``; 2. ``lib/smartcab`` -> ``prev``; 3. ``next`` -> ``lib/smartcab``;
4. journal ``pending``.

``recover()`` runs first at every boot. A power cut between any two steps leaves a
state it completes (the new code was verified before step 1). A ``pending`` update has
``MAX_BOOTS`` boots and ``CONFIRM_MS`` per boot to register with the gateway
(``confirm()``); a crash, a hang or a silent board instead rolls back to ``prev``.
"""

import json
import os

LIB = "lib/smartcab"
NEXT = "next"
PREV = "prev"
JOURNAL = "ota.json"
MAX_BOOTS = 2  # boots a pending update gets to register before it is rolled back
CONFIRM_MS = 120000  # per boot: come up and register within two minutes

# Called with each step's name during a swap; tests set it to cut the power there.
step_hook = None


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def rmtree(path):
    """Remove a file or a directory tree (MicroPython has no shutil)."""
    if not exists(path):
        return
    if os.stat(path)[0] & 0x4000:  # S_IFDIR
        for name in os.listdir(path):
            rmtree(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


def read_journal():
    try:
        with open(JOURNAL) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_journal(state):
    """Replace the journal whole: rename over the old one is atomic on LittleFS and FAT."""
    tmp = JOURNAL + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.rename(tmp, JOURNAL)


def _step(name):
    if step_hook is not None:
        step_hook(name)


def install(version, previous):
    """Swap the verified code in ``next`` in; the caller resets the board afterwards."""
    if not exists(NEXT):
        raise OSError("nothing staged in " + NEXT)
    rmtree(PREV)  # the journal is still at rest: a cut here leaves the old code running
    write_journal({"state": "swap", "version": version, "from": previous})
    _finish_swap(read_journal())


def _finish_swap(journal):
    _step("journal")
    if exists(NEXT) and exists(LIB):
        os.rename(LIB, PREV)
    _step("moved-old")
    if exists(NEXT):
        os.rename(NEXT, LIB)
    _step("moved-new")
    journal["state"] = "pending"
    journal["boots"] = 0
    write_journal(journal)
    _step("pending")


def rollback(reason):
    """Put ``prev`` back as the library; the failed code goes to ``next`` to be removed."""
    journal = read_journal()
    journal["state"] = "rollback"
    journal["reason"] = reason
    write_journal(journal)
    _undo(journal)


def _undo(journal):
    if exists(PREV):
        if exists(LIB):
            rmtree(NEXT)
            os.rename(LIB, NEXT)
        _step("removed-new")
        os.rename(PREV, LIB)
    rmtree(NEXT)
    write_journal(
        {"state": "failed", "version": journal.get("version"), "reason": journal.get("reason")}
    )


def recover():
    """At boot: complete a swap or a rollback, count a pending update's boots; the state."""
    journal = read_journal()
    state = journal.get("state")
    if state == "swap":
        _finish_swap(journal)
        state = "pending"
    elif state == "rollback":
        _undo(journal)
        return "failed"
    if state == "pending":
        journal = read_journal()
        journal["boots"] = journal.get("boots", 0) + 1
        if journal["boots"] > MAX_BOOTS:
            write_journal(journal)
            rollback("did not register after %d boots" % MAX_BOOTS)
            return "failed"
        write_journal(journal)
    return state


def pending():
    return read_journal().get("state") == "pending"


def confirm():
    """The new code registered with the gateway: keep it. Idempotent; False if nothing pending."""
    journal = read_journal()
    if journal.get("state") != "pending":
        return False
    write_journal({"state": "done", "version": journal.get("version")})
    return True


def failed_version():
    """The version that was last rolled back, so it is not installed again."""
    journal = read_journal()
    return journal.get("version") if journal.get("state") == "failed" else None


class Esp32:
    """Reset and a one-shot timer on the ESP32."""

    def __init__(self):
        import machine

        self.machine = machine
        self._timer = None

    def reset(self):
        self.machine.reset()

    def arm(self, ms, callback):
        self._timer = self.machine.Timer(0)
        self._timer.init(mode=self.machine.Timer.ONE_SHOT, period=ms, callback=callback)


def main(start, hw=None, log=print):
    """Recover, run ``start()``; a pending update that crashes or stays silent rolls back."""
    hw = hw or Esp32()
    state = recover()
    if state == "pending":

        def _deadline(_timer=None):
            if pending():
                log("ota: new code did not register in time, restarting")
                hw.reset()

        hw.arm(CONFIRM_MS, _deadline)
    try:
        start()
    except Exception as exc:  # any crash of the board's code ends in a reset
        log("boot: the board's code crashed:", repr(exc))
        if pending():
            log("ota: rolling back the update")
            rollback("crashed: " + repr(exc))
    hw.reset()
