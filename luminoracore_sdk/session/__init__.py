"""Seed import path ``luminoracore_sdk.session``."""
