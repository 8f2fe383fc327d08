"""The cabinet (``cab``): debounced slot sensors, inventory JSON, a WS2812 strip.

Each item has one or more positions, each with a sensor that reads true while an
item stands there; an item's count is the number of occupied positions. The
inventory goes out (convention 1) on connect, on every settled change and on
``inv``, its items always in the order of the config's ``slots``: that order is
what the slot command ``ls<NN>`` counts (``ls00`` the first item). LED ``i`` sits
under position ``i`` and shows a cue when it changes; ``ls<NN>`` lights the LEDs
of that item's positions until ``lof``.
"""

import json

try:
    from . import wire  # on the board: lib/smartcab/wire.py
except ImportError:
    from services.common import wire

POLL_MS = 20
DEBOUNCE_MS = 100
CUE_MS = 1500
ON_COLOUR = (60, 60, 60)
OFF_COLOUR = (0, 0, 0)
TAKEN_COLOUR = (255, 60, 0)
RETURNED_COLOUR = (0, 160, 0)
DUE_COLOUR = (0, 90, 255)  # a dose of this slot's medicine is due (ls<NN>)


class Cabinet:
    """``sensors.read()`` gives one bool per position; ``strip`` is a NeoPixel or None."""

    kind = "cab"

    def __init__(self, items, sensors, strip=None, poll_ms=POLL_MS, debounce_ms=DEBOUNCE_MS):
        self.items = items  # item name per position, in strip order
        self.names = []  # each item once, in the order of the config's slots
        for name in items:
            if name not in self.names:
                self.names.append(name)
        self.lit_slots = set()  # indexes into names, lit by ls<NN>
        self.sensors = sensors
        self.strip = strip
        self.poll_ms = poll_ms
        self.debounce_ms = debounce_ms
        self.cue_ms = CUE_MS
        self.log = print
        self.lights_on = True
        self.stable = None
        self._seen = None
        self._since = None
        self._cues = {}  # position -> time the cue ends
        self._dirty = False
        self.sent = 0

    def counts(self):
        out = {}
        for i in range(len(self.items)):
            name = self.items[i]
            out[name] = out.get(name, 0) + (1 if self.stable[i] else 0)
        return out

    def inventory(self):
        """The counts as JSON, items in slot order (MicroPython's dicts keep no order)."""
        counts = self.counts()
        parts = [json.dumps(name) + ": " + str(counts[name]) for name in self.names]
        return ("{" + ", ".join(parts) + "}").encode()

    def on_start(self, session, now):
        if self.stable is None:
            self._sample(now)
            self.stable = list(self._seen)
        self._show(now)
        self._send(session)

    def on_command(self, session, name, now):
        if name == "inv":
            self._send(session)
        elif name == "lof":
            self.lights_on = False
            self.lit_slots = set()
            self._show(now)
        elif name == "lon":
            self.lights_on = True
            self._show(now)
        else:
            slot = wire.slot_of(name.encode())
            if slot is not None and slot < len(self.names):
                self.lit_slots.add(slot)
                self._show(now)
            elif slot is not None:
                self.log("cabinet: no slot %d" % slot)

    def next_poll(self, now):
        return self.poll_ms

    def poll(self, session, now):
        if self.stable is None:
            return
        self._sample(now)
        changed = False
        for i in range(len(self.stable)):
            if self._seen[i] != self.stable[i] and now - self._since[i] >= self.debounce_ms:
                self.stable[i] = self._seen[i]
                self._cues[i] = now + self.cue_ms
                self.log("cabinet: %s %s" % (self.items[i], "back" if self._seen[i] else "taken"))
                changed = True
        if changed:
            self._dirty = True
            self._show(now)
        elif self._cues and min(self._cues.values()) <= now:
            self._show(now)
        # coalesce: while one inventory is on its way, only the newest state waits
        if self._dirty and not session.transfer_pending:
            self._send(session)

    def on_disconnect(self):
        self._dirty = False  # on_start sends the whole inventory anyway

    def _sample(self, now):
        raw = self.sensors.read()
        if self._seen is None:
            self._seen = list(raw)
            self._since = [now] * len(raw)
            return
        for i in range(len(raw)):
            if raw[i] != self._seen[i]:
                self._seen[i] = raw[i]
                self._since[i] = now  # any flip restarts that position's settle time

    def _send(self, session):
        data = self.inventory()
        if session.send_sized(len(data), (data,)):
            self._dirty = False
            self.sent += 1

    def _show(self, now):
        for i in list(self._cues):
            if self._cues[i] <= now:
                del self._cues[i]
        strip = self.strip
        if strip is None:
            return
        base = ON_COLOUR if self.lights_on else OFF_COLOUR
        due = [self.names.index(self.items[i]) in self.lit_slots for i in range(len(self.items))]
        for i in range(len(strip)):
            colour = DUE_COLOUR if i < len(due) and due[i] else base
            if i in self._cues and i < len(self.stable):
                colour = RETURNED_COLOUR if self.stable[i] else TAKEN_COLOUR
            strip[i] = colour
        strip.write()


class PinSensors:
    """Microswitches or IR break-beams on GPIOs with pull-ups, pressed = item present."""

    def __init__(self, pins, active_low=True):
        from machine import Pin

        self.pins = [Pin(p, Pin.IN, Pin.PULL_UP) for p in pins]
        self.active_low = active_low

    def read(self):
        low = self.active_low
        return [(p.value() == 0) == low for p in self.pins]


def layout(cfg):
    """(item per position, pin per position) from config ``slots``: [[name, [pins]], ...]."""
    items = []
    pins = []
    for name, slot_pins in cfg["slots"]:
        for pin in slot_pins:
            items.append(name)
            pins.append(pin)
    return items, pins


def from_config(cfg, sensors, strip=None):
    items, _pins = layout(cfg)
    return Cabinet(
        items,
        sensors,
        strip,
        poll_ms=cfg.get("poll_ms", POLL_MS),
        debounce_ms=cfg.get("debounce_ms", DEBOUNCE_MS),
    )
