"""Host-only code: simulated hardware, the asyncio fleet driver and ``python -m firmware.sim``."""
