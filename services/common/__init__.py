"""Code the services share: settings, topics, logging, MQTT and the device protocol."""
