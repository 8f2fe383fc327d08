"""A device whose network vanishes without a FIN: detected by keepalive, its id free again."""

import subprocess
import sys
import time
from pathlib import Path

from tests.support.netns import DeviceHost
from tests.support.seed_clients import SeedWatch

ROOT = Path(__file__).resolve().parents[2]

DEVICE = """
import sys, time
from tests.support.seed_clients import SeedWatch
watch = SeedWatch(int(sys.argv[1]), b"wch", host=sys.argv[2])
print("registered", flush=True)
time.sleep(120)  # silent and connected: the network is cut under it
"""


def test_half_open_device_is_detected_and_its_id_freed(make_gateway, mqtt_log):
    gw = make_gateway(GATEWAY_HOST="0.0.0.0", GATEWAY_KEEPALIVE="1")
    with DeviceHost() as host:
        device = host.popen(
            [sys.executable, "-c", DEVICE, str(gw.port), host.server_ip],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert device.stdout.readline().strip() == "registered"
            mqtt_log.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"online")
            host.cut()
            cut_at = time.monotonic()
            mqtt_log.wait(
                "smartcab/devices/wch/status",
                where=lambda m: m.payload == b"offline",
                timeout=20,
            )
            detected_in = time.monotonic() - cut_at
            line = gw.wait_log("event=device.closed device=wch")
            # Keepalive probes found the peer gone (timed out, or no route once ARP
            # fails on a LAN); not the 900 s idle timeout, and no FIN ever came.
            assert "socket error" in line and "idle" not in line, line
            print(f"half-open connection detected in {detected_in:.1f} s")
        finally:
            device.kill()
            device.wait()
            device.stdout.close()

    # The device comes back (here over loopback) with the same id and is served.
    watch = SeedWatch(gw.port)
    mqtt_log.publish("smartcab/devices/wch/cmd", "bpm")
    assert watch.serve_once(68.0, 36.6) == b"bpm"
    mqtt_log.wait("smartcab/devices/wch/vitals/heart_rate")
    watch.close()
