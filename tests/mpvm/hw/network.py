"""Simulated ``network``: a station interface that joins after a few polls."""

STA_IF = 0
AP_IF = 1
joins = []  # (ssid, password) per connect() call
polls_to_join = 2


class WLAN:
    def __init__(self, interface_id=STA_IF):
        if interface_id not in (STA_IF, AP_IF):
            raise ValueError("invalid interface")
        self._active = False
        self._left = None

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("STA must be active")  # the ESP32 port's error
        joins.append((ssid, key))
        self._left = polls_to_join

    def isconnected(self):
        if self._left is None:
            return False
        if self._left > 0:
            self._left -= 1
            return False
        return True

    def ifconfig(self):
        return ("192.0.2.20", "255.255.255.0", "192.0.2.1", "192.0.2.1")
