"""Benchmarks: the scale dataset and the load generator."""
