"""Watch board: MAX30102 and MLX90614 on one I2C bus; answers ``bpm``."""

import otaboot  # outside the library an update replaces: it can undo a bad update


def start():
    from machine import I2C, Pin
    from smartcab import board, watch

    cfg = board.load_config()
    i2c = I2C(0, scl=Pin(cfg.get("i2c_scl", 22)), sda=Pin(cfg.get("i2c_sda", 21)), freq=100000)
    app = watch.from_config(cfg, i2c)
    app.pulse.check()  # fail loudly at boot if the sensor is not wired
    board.run(app, cfg, board.Platform(cfg))


otaboot.main(start)
