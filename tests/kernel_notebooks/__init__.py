"""Helpers of the tests that run real Jupyter kernels (tests/test_kernel.py, tests/test_magics.py)."""
