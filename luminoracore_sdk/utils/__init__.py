"""Seed import path ``luminoracore_sdk.utils``."""
