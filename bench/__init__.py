"""Benchmarks, run by hand: ``python -m bench`` (or ``--quick``)."""
