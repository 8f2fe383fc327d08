"""Real servers and clients for the tests: no fakes of the broker or database."""
