"""The device gateway: the seed's raw-socket protocol to MQTT and back."""
