"""ESP32-CAM board: answers ``img`` with a VGA JPEG; no threads on this board."""

import otaboot  # outside the library an update replaces: it can undo a bad update


def start():
    from smartcab import board, camera

    cfg = board.load_config()
    cam = camera.EspCam(cfg.get("jpeg_quality", 12), cfg.get("flash_pin"))
    board.run(camera.from_config(cfg, cam), cfg, board.Platform(cfg))


otaboot.main(start)
