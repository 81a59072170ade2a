"""Benchmarks, run by ``./scripts/bench WORKLOAD [--quick] [--json FILE]``."""
