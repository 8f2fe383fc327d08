"""Firmware over the air: boards fetch their release here; admins publish and follow it."""

import logging

from flask import Blueprint, Response, current_app, request

from services.common import logs

from .. import firmware
from ..errors import NotFound, ValidationError
from . import hub

log = logging.getLogger(__name__)
bp = Blueprint("firmware", __name__)


def store() -> firmware.Store:
    return firmware.Store(current_app.config["SETTINGS"].firmware_dir)


def boards() -> dict[str, firmware.Board]:
    return firmware.load_boards(current_app.config["SETTINGS"].devices)


def _board(device_id: str) -> firmware.Board:
    """The board asking, by its own token: no user session is involved."""
    try:
        return firmware.authenticate(boards(), device_id, request.headers.get("Authorization", ""))
    except (NotFound, ValidationError):
        logs.event(log, logging.WARNING, "web.firmware_refused", device=device_id)
        raise NotFound("no such board") from None


@bp.route("/firmware/<device_id>/manifest")
def manifest(device_id: str):
    board = _board(device_id)
    body = store().manifest(board.kind)
    store().note(board.device_id, board.kind, "manifest")
    logs.event(log, logging.INFO, "web.firmware_manifest", device=device_id)
    response = Response(body, mimetype="application/json")
    response.headers["X-Manifest-HMAC"] = firmware.sign(board, body)
    return response


@bp.route("/firmware/<device_id>/files/<name>")
def file(device_id: str, name: str):
    board = _board(device_id)
    data = store().file(board.kind, name)
    store().note(board.device_id, board.kind, name)
    return Response(data, mimetype="application/octet-stream")


def publish(kind: str, version: str, uploads) -> dict:
    """Store an uploaded bundle as the kind's release and offer it to its boards."""
    files = {f.filename: f.read() for f in uploads if f.filename}
    manifest = store().publish(kind, version, files)
    told = offer(kind)
    logs.event(log, logging.INFO, "web.firmware_published", kind=kind, version=version, told=told)
    return manifest


def overview() -> list[dict]:
    """The admin page's rollout table: each board, its version and its state."""
    live = hub()
    versions = live.firmware_versions if live is not None else {}
    try:
        return firmware.rollout(store(), boards(), versions)
    except ValidationError as exc:  # an unreadable registry must not take the page down
        logs.event(log, logging.WARNING, "web.firmware_registry_unreadable", error=exc)
        return []


def offer(kind: str) -> int:
    """Send ``upd`` to every registered board of ``kind``; how many were told."""
    live = hub()
    if live is None:
        return 0
    told = 0
    for board in boards().values():
        if board.kind == kind:
            live.offer_update(board.device_id)
            told += 1
    return told


def auto_offer(settings, live) -> None:
    """A board that registers on another version than its kind's release is offered it once."""
    releases = firmware.Store(settings.firmware_dir)

    def on_version(device: str, version: str) -> None:
        board = firmware.load_boards(settings.devices).get(device)
        release = releases.current(board.kind) if board else None
        if release is None or release == version:
            return
        if releases.progress(device).get("version") == release:
            return  # it fetched this release already and kept or restored its old code
        live.offer_update(device)

    live.on_firmware = on_version
