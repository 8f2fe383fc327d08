"""Several gateways on one broker: which gateway holds which device, and who answers.

A gateway with an id (``GATEWAY_ID``) publishes, retained, which of its connections holds
each device it registers (``devices/<id>/gateway``, docs/topics.md) and follows what the
others publish there and on their status topics. Everything is decided from what came
through the broker, in the broker's order, so every gateway reaches the same answer:

* a command is answered by the gateway the holder record names, while that gateway is
  online; a device no online gateway holds is answered ("device not connected") by the
  online gateway whose id sorts first;
* a device that registers elsewhere moves there: the old gateway closes its connection
  once the newer record reaches it, and publishes no ``offline`` for it;
* a starting gateway clears only the retained ``online`` of devices recorded as its own.

The one gateway without an id keeps the single-gateway rules: it answers every command,
clears every stale ``online``, and publishes no holder records (a leftover record of a
device it takes is cleared, so the availability rule falls back to it).
"""

import logging
import secrets
from dataclasses import dataclass
from typing import Protocol

from services.common import logs
from services.common.devices import Holder, holder_body, parse_holder
from services.common.timeutil import now_ms
from services.common.topics import OFFLINE, ONLINE, gateway_of_service

log = logging.getLogger(__name__)


class Connection(Protocol):
    """What the cluster needs of a registered device (``server.Device``)."""

    device_id: str
    closed: bool

    def close(self, reason: str) -> None: ...


@dataclass
class Held:
    """One of this gateway's device connections and how far the broker has confirmed it."""

    device: Connection
    connection: str
    confirmed: bool = False  # our own record came back: a later foreign one is newer
    moved: bool = False  # another gateway took it: no "offline" from here


class Cluster:
    """This gateway's view of the others; every method runs on the event loop."""

    def __init__(self, gateway_id: str | None, bridge, devices: dict) -> None:
        self.me = gateway_id or ""
        self.bridge = bridge
        self.devices = devices  # the fleet's registered devices, by id
        self.holders: dict[str, Holder] = {}
        self.gateways: dict[str, str] = {}  # gateway id -> online/offline
        self.statuses: dict[str, str] = {}  # device -> its last status seen
        self.held: dict[str, Held] = {}

    @property
    def named(self) -> bool:
        return bool(self.me)

    # the fleet's side ----------------------------------------------------------------

    def registered(self, device: Connection) -> None:
        """A device registered here: record it as ours (before its ``online``)."""
        device_id = device.device_id
        if not self.named:
            if self.holders.pop(device_id, None) is not None:
                self.bridge.holder(device_id, "")  # a leftover record would hide it
            return
        connection = secrets.token_hex(8)
        self.held[device_id] = Held(device, connection)
        self.bridge.holder(device_id, holder_body(self.me, connection, now_ms()))

    def unregistered(self, device: Connection) -> bool:
        """A device's connection ended; True when its ``offline`` is ours to publish."""
        held = self.held.get(device.device_id)
        if held is None or held.device is not device:
            return True
        del self.held[device.device_id]
        return not held.moved

    def answerer(self, device_id: str) -> str | None:
        """The id of the gateway that answers a command for ``device_id``."""
        holder = self.holders.get(device_id)
        if holder is not None and self.gateways.get(holder.gateway) == ONLINE:
            return holder.gateway
        # a gateway receiving commands is connected: count it even before its echo
        online = {g for g, state in self.gateways.items() if g and state == ONLINE} | {self.me}
        return min(online)

    def answers(self, device_id: str) -> bool:
        """Whether this gateway answers a command for ``device_id`` (without an id: always)."""
        return not self.named or self.answerer(device_id) == self.me

    # the broker's side ---------------------------------------------------------------

    def on_service(self, name: str, payload: bytes) -> None:
        """A service's retained status; the gateways' are kept."""
        gateway_id = gateway_of_service(name)
        state = payload.decode("utf-8", "replace")
        if gateway_id and state in (ONLINE, OFFLINE):
            self.gateways[gateway_id] = state

    def on_holder(self, device_id: str, payload: bytes, retained: bool) -> None:
        """A ``devices/<id>/gateway`` record, from any gateway (our own echo included)."""
        try:
            holder = parse_holder(payload)
        except ValueError as exc:
            logs.event(log, logging.WARNING, "holder.invalid", device=device_id, error=exc)
            return
        if holder is None:
            self.holders.pop(device_id, None)
        else:
            self.holders[device_id] = holder
        if not self.named:
            return
        held = self.held.get(device_id)
        if holder is not None and holder.gateway == self.me:
            if held is not None and holder.connection == held.connection:
                held.confirmed = True
            elif retained:
                self._clear_if_stale(device_id)
            return
        if self.bridge.discovery is not None:
            self.bridge.discovery.forget(device_id)  # announced again if it comes back
        # Unconfirmed, the foreign record is older than ours and ours will win.
        if held is not None and held.confirmed and not held.device.closed:
            held.moved = True
            taker = holder.gateway if holder is not None else "without an id"
            logs.event(log, logging.INFO, "device.moved", device=device_id, gateway=taker)
            held.device.close(f"moved to gateway {taker}")

    def on_status(self, device_id: str, payload: bytes, retained: bool) -> None:
        """A device's status, as the broker has it."""
        state = payload.decode("utf-8", "replace")
        if not self.named:
            if retained and state == ONLINE:
                self._clear_if_stale(device_id)
            return
        self.statuses[device_id] = state
        if state == ONLINE and retained:
            self._clear_if_stale(device_id)
        elif state == OFFLINE:
            held = self.held.get(device_id)
            if held is not None and not held.moved and not held.device.closed:
                # the gateway it left noticed only now: the device is here, and online
                logs.event(log, logging.INFO, "device.status_restored", device=device_id)
                self.bridge.status(device_id, True)

    def _clear_if_stale(self, device_id: str) -> None:
        """A retained ``online`` left by this gateway's previous run (or any, without ids)."""
        if device_id in self.devices:
            return
        if self.named:
            holder = self.holders.get(device_id)
            if holder is None or holder.gateway != self.me:
                return  # another gateway's, or not known to be ours: not ours to clear
            if self.statuses.get(device_id) != ONLINE:
                return
        logs.event(log, logging.INFO, "device.stale_online_cleared", device=device_id)
        self.statuses[device_id] = OFFLINE
        self.bridge.status(device_id, False)
