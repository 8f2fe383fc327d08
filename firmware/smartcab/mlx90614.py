"""MLX90614 infrared thermometer over I2C (SMBus with a CRC-8 packet error code)."""

ADDR = 0x5A
REG_TA = 0x06  # die (ambient) temperature
REG_TOBJ1 = 0x07  # object temperature, zone 1
KELVIN = 273.15
LSB_K = 0.02
ERROR_FLAG = 0x8000
RETRIES = 3


def crc8(data, crc=0):
    """SMBus PEC: CRC-8, polynomial x^8 + x^2 + x + 1, no reflection."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def raw_to_celsius(raw):
    """A 16-bit RAM word -> °C; ValueError if the chip flags the reading as bad."""
    if raw & ERROR_FLAG:
        raise ValueError("MLX90614 flagged the reading as invalid")
    return raw * LSB_K - KELVIN


def celsius_to_raw(celsius):
    """The inverse, for fakes and tests."""
    return int((celsius + KELVIN) / LSB_K + 0.5)


def frame_ok(addr, reg, buf):
    """True if the three bytes (LSB, MSB, PEC) read from ``reg`` carry a valid PEC."""
    return crc8((addr << 1, reg, (addr << 1) | 1, buf[0], buf[1])) == buf[2]


class MLX90614:
    """The sensor on an I2C bus at 100 kHz or less (its SMBus limit)."""

    def __init__(self, i2c, addr=ADDR):
        self.i2c = i2c
        self.addr = addr

    def read_raw(self, reg):
        for _ in range(RETRIES):
            buf = self.i2c.readfrom_mem(self.addr, reg, 3)
            if frame_ok(self.addr, reg, buf):
                return buf[0] | (buf[1] << 8)
        raise OSError("MLX90614: bad PEC from register 0x%02x" % reg)

    def object_temp(self):
        return raw_to_celsius(self.read_raw(REG_TOBJ1))

    def ambient_temp(self):
        return raw_to_celsius(self.read_raw(REG_TA))
