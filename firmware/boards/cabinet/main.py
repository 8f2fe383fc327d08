"""Cabinet board: slot sensors on GPIOs, a WS2812 strip; answers ``inv``, ``lof``, ``lon``."""

import otaboot  # outside the library an update replaces: it can undo a bad update


def start():
    import neopixel
    from machine import Pin
    from smartcab import board, cabinet

    cfg = board.load_config()
    _items, pins = cabinet.layout(cfg)
    sensors = cabinet.PinSensors(pins, cfg.get("active_low", True))
    strip = neopixel.NeoPixel(Pin(cfg.get("led_pin", 13)), cfg.get("led_count", len(pins)))
    board.run(cabinet.from_config(cfg, sensors, strip), cfg, board.Platform(cfg))


otaboot.main(start)
