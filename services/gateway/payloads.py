"""Decoding convention-1 payloads: base64 JPEG frames and inventory JSON."""

import binascii
import json

import pybase64

JPEG_SOI = b"\xff\xd8"


class PayloadError(ValueError):
    """A payload arrived whole but its content is not what it claims."""


def is_inventory(data: bytes) -> bool:
    return data.lstrip()[:1] == b"{"


def decode_image(data: bytes) -> bytes:
    """Base64 text from the camera -> JPEG bytes."""
    try:
        # pybase64 (SIMD) decodes and validates a 96 KB frame ~30x faster than the
        # standard library, which was a third of the gateway's time per frame.
        jpeg = pybase64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"image is not valid base64: {exc}") from exc
    if not jpeg.startswith(JPEG_SOI):
        raise PayloadError("image is not a JPEG (no SOI marker)")
    return jpeg


def decode_inventory(data: bytes) -> dict[str, int]:
    """UTF-8 JSON ``{"item": count}`` from the cabinet -> a checked dict."""
    try:
        items = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"inventory is not UTF-8 JSON: {exc}") from exc
    if not isinstance(items, dict):
        raise PayloadError("inventory is not a JSON object")
    for name, count in items.items():
        if not name or len(name) > 64:
            raise PayloadError(f"inventory item name {name!r} is empty or too long")
        if type(count) is not int or count < 0:
            raise PayloadError(f"inventory count for {name!r} is not a non-negative integer")
    return items
