"""Benchmark harness of invoke-checkpoints: ``python bench/run.py`` (see bench/README.md)."""
