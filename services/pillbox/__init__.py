"""The dose tracker: sees doses taken from the cabinet, cues them, and alerts when one is missed."""
