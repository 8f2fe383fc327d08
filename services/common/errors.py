"""The small exception hierarchy shared by every service."""


class SmartcabError(Exception):
    """Base class for the project's own errors."""


class ConfigError(SmartcabError):
    """A setting from the environment is missing or malformed."""


class MqttError(SmartcabError):
    """The broker refused or could not take a message."""


class PublishQueueFull(MqttError):
    """The bounded outgoing queue is full (broker away too long)."""
