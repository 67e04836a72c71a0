"""Benchmarks: run with `make bench`. Targets are asserted here, never in unit tests."""
