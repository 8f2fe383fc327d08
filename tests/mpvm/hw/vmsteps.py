"""Helpers the tests call inside the VM, one call per step (one event)."""

import binascii

from smartcab import protocol


def unhex(text):
    return binascii.unhexlify(text) if text else b""


def chunked(data, cuts):
    """``data`` split at the sorted, de-duplicated cut points (as the CPython tests do)."""
    points = sorted(set([c % (len(data) + 1) for c in cuts]))
    pieces = []
    last = 0
    for point in points + [len(data)]:
        if point > last:
            pieces.append(data[last:point])
            last = point
    return pieces


def describe(ev):
    """An event as a plain list, the same under CPython and MicroPython."""
    name = type(ev).__name__
    if name == "Payload":
        return [name, binascii.hexlify(ev.data).decode()]
    if name == "Hello":
        return [name, ev.device_id, ev.token]
    if name == "Reading":
        return [name, ev.unit, ev.value, ev.metric]
    if name == "BadReading":
        return [name, ev.unit, ev.raw.decode()]
    if name == "SizeDeclared":
        return [name, ev.size]
    if name == "Command":
        return [name, ev.name]
    return [name]


def gateway_session(turns, cuts):
    """A device's turns played into a GatewayLink: (events, bytes sent back as hex)."""
    link = protocol.GatewayLink()
    out = link.greeting()
    events = []
    for piece in chunked(turns[0], cuts):
        link.feed(piece)
    events.append(describe(link.end_of_hello()))
    out += link.accept()
    for turn in turns[1:]:
        for piece in chunked(turn, cuts):
            for ev in link.feed(piece):
                events.append(describe(ev))
            out += link.data_to_send()
    return events, binascii.hexlify(out).decode()


def device_session(stream, cuts):
    link = protocol.DeviceLink()
    events = []
    for piece in chunked(stream, cuts):
        for ev in link.feed(piece):
            events.append(describe(ev))
    return events, link.registered


def malformed(junk):
    """The ProtocolError reason a ready GatewayLink gives for ``junk``."""
    link = protocol.GatewayLink()
    link.greeting()
    link.feed(b"new~wch")
    link.end_of_hello()
    link.accept()
    try:
        link.feed(junk)
    except protocol.ProtocolError as exc:
        return exc.reason
    return None


def exchange(session, data_hex, now, max_chunks=64):
    """One event: gateway bytes in, the app polled, the board's writes out (hex lines)."""
    if data_hex:
        session.feed(unhex(data_hex), now)
    session.app.poll(session, now)
    for _ in range(max_chunks):
        chunk = session.next_chunk()
        if chunk is None:
            break
        print(">" + binascii.hexlify(chunk).decode())
    else:
        print("more")
