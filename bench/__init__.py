"""Benchmarks: mxc against the same training loops in NumPy and (when installed) PyTorch.

Run `python -m bench` (or `python bench/run.py`); `--quick` for a short smoke run.
"""
