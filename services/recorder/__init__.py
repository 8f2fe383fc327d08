"""The recorder: everything the devices report, written to InfluxDB without losing any of it."""
