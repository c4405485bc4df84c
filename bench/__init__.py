"""Benchmarks that print machine-readable results: ``python -m bench NAME [--quick] [--seed S]``."""
