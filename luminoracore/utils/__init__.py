"""Seed import path ``luminoracore.utils``."""
