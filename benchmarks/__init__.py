"""Benchmarks of the generated project: `make bench` (see README.md here)."""
