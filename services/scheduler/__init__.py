"""The scheduler: asks watches for readings, cabinets for inventory, and runs report jobs."""
