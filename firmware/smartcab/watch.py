"""The watch (``wch``): on ``bpm``, measure for a window and send bpm, temp and spo2."""

from . import max30102, mlx90614

MEASURE_S = 15  # the original firmware's calculate_bpm_over_15sec
POLL_MS = 100  # the FIFO holds 32 samples: at 25 per second it must be drained within 1.2 s


class Watch:
    """Reacts to ``bpm``; finger-off or no pulse found means no reading at all."""

    kind = "wch"

    def __init__(self, pulse, thermo, measure_s=MEASURE_S, poll_ms=POLL_MS, temp_offset=0.0):
        self.pulse = pulse
        self.thermo = thermo
        self.measure_s = measure_s
        self.poll_ms = poll_ms
        self.temp_offset = temp_offset
        self.meter = None
        self.started_at = 0
        self.log = print
        self.measurements = 0
        self.finger_off = 0

    def on_start(self, session, now):
        pass

    def on_command(self, session, name, now):
        if name != "bpm" or self.meter is not None:
            return  # a bpm during a measurement is answered by that measurement
        try:
            self.pulse.start()
        except OSError as exc:
            self.log("watch: pulse sensor error", exc)
            return
        self.meter = max30102.PulseMeter(self.pulse.rate, self.measure_s)
        self.started_at = now

    def next_poll(self, now):
        return self.poll_ms if self.meter is not None else None

    def poll(self, session, now):
        meter = self.meter
        if meter is None:
            return
        try:
            red, ir = self.pulse.read()
        except OSError as exc:
            self.log("watch: pulse sensor error", exc)
            self._stop()
            return
        for i in range(len(ir)):
            meter.add(red[i], ir[i])
            if meter.done:
                break
        # a sensor that stopped delivering samples must not keep the watch measuring
        if meter.done or now - self.started_at > self.measure_s * 2000 + 2000:
            self._finish(session)

    def _finish(self, session):
        result = self.meter.result()
        self._stop()
        self.measurements += 1
        if result is None:
            self.finger_off += 1
            self.log("watch: finger off or no pulse, nothing reported")
            return
        bpm, spo2 = result
        try:
            temp = self.thermo.object_temp() + self.temp_offset
        except (OSError, ValueError) as exc:
            self.log("watch: thermometer error", exc)
            temp = None
        session.send_reading(bpm, "bpm")
        if temp is not None:
            session.send_reading(temp, "temp")
        if spo2 is not None:
            session.send_reading(spo2, "spo2")

    def _stop(self):
        self.meter = None
        try:
            self.pulse.shutdown()
        except OSError:
            pass

    def on_disconnect(self):
        if self.meter is not None:
            self._stop()


def from_config(cfg, i2c):
    """The watch for a board's config.json on the given I2C bus."""
    pulse = max30102.MAX30102(
        i2c,
        sample_rate=cfg.get("sample_rate", 100),
        averaging=cfg.get("averaging", 4),
        led_ma=cfg.get("led_ma", 7.0),
    )
    return Watch(
        pulse,
        mlx90614.MLX90614(i2c),
        measure_s=cfg.get("measure_s", MEASURE_S),
        poll_ms=cfg.get("poll_ms", POLL_MS),
        temp_offset=cfg.get("temp_offset", 0.0),
    )
