"""The device gateway: the devices' raw-socket protocol to MQTT and back."""
