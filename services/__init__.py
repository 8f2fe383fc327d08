"""Health Plus Smart Cabinet services."""
