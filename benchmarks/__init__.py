"""Benchmarks (not part of the test run). See README.md."""
