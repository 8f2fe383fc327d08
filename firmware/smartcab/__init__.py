"""The boards' shared library: copied to /lib/smartcab/ on every board."""
