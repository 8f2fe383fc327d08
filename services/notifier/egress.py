"""Where a contact's channel may connect: public addresses, and the hosts the deployment lists.

Patients and doctors type channels (Apprise URLs) into the dashboard, and the notifier
connects wherever they point. Without a limit, ``json://influxdb:8086/...`` or
``json://169.254.169.254/`` would make it a way into the deployment's own network. So,
while a message is sent, every name the sending thread resolves is filtered to global
addresses: the check sits on the very resolution the connection uses (``getaddrinfo``),
so a host name that changes its address between a check and the connection, or an
address written as a number, cannot slip past. The deployment's SMTP server and the
entries of ``NOTIFIER_ALLOWED_HOSTS`` (a LAN webhook, a local ntfy) stay reachable.
"""

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterable, Iterator

from services.common.errors import ConfigError

_guarded = threading.local()
_resolve = socket.getaddrinfo
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Egress:
    """The private hosts and networks a channel may reach besides the public internet."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.names: set[str] = set()
        self.networks: list[Network] = []
        for entry in (e.strip() for e in allowed):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if any(c in entry for c in "/:@ ") or entry.startswith("."):
                    raise ConfigError(
                        f"NOTIFIER_ALLOWED_HOSTS: {entry!r} is neither a host name,"
                        " an address nor a network"
                    ) from None
                self.names.add(entry.lower().rstrip("."))

    @classmethod
    def parse(cls, text: str | None, *also: str | None) -> "Egress":
        """``NOTIFIER_ALLOWED_HOSTS`` (comma-separated) and the hosts given besides."""
        return cls([*(text or "").split(","), *(a for a in also if a)])

    def permits(self, host: object, address: str) -> bool:
        """May a channel connect to ``address``, which ``host`` resolved to?"""
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.lower().rstrip(".") in self.names:
            return True
        found = _address(address)
        if found is None:
            return False
        return found.is_global or any(found in network for network in self.networks)


# IPv6 ranges that carry an IPv4 address in their last 32 bits: NAT64 and the old
# IPv4-compatible form; the address inside is what decides.
_EMBEDDING = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


def _address(text: str) -> Address | None:
    """The address a connection really reaches: IPv4 inside IPv6 forms is unwrapped."""
    try:
        found = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address):
        if found.ipv4_mapped is not None or found.sixtofour is not None:
            return found.ipv4_mapped or found.sixtofour
        if any(found in net for net in _EMBEDDING):
            return ipaddress.IPv4Address(int(found) & 0xFFFFFFFF)
    return found


def _getaddrinfo(host, port, *args, **kwargs):
    """``socket.getaddrinfo``, filtered while this thread sends a channel's message."""
    results = _resolve(host, port, *args, **kwargs)
    egress = getattr(_guarded, "egress", None)
    if egress is None:
        return results
    kept = [r for r in results if egress.permits(host, r[4][0])]
    if not kept:
        _guarded.refused.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME, refusal(str(host)))
    return kept


def refusal(host: str) -> str:
    """Why a channel's message did not go out (its delivery's last error)."""
    return (
        f"refused: {host} is not a public internet address (a deployment may allow hosts"
        " of its own network in NOTIFIER_ALLOWED_HOSTS)"
    )


def install() -> None:
    """Route the process's name lookups through the filter (idle unless a send is guarded)."""
    socket.getaddrinfo = _getaddrinfo


@contextlib.contextmanager
def guarded(egress: Egress) -> Iterator[list[str]]:
    """While inside, this thread's connections reach only what ``egress`` permits.

    Yields the list of hosts refused meanwhile (plugins report only "could not connect").
    """
    if socket.getaddrinfo is not _getaddrinfo:
        install()
    _guarded.egress, _guarded.refused = egress, []
    try:
        yield _guarded.refused
    finally:
        _guarded.egress = None
