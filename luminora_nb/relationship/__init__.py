"""Relationship logic: affinity points and levels."""

from .affinity import DEFAULT_LEVELS, MAX_POINTS, MIN_POINTS, apply_delta, level_name

__all__ = ["DEFAULT_LEVELS", "MAX_POINTS", "MIN_POINTS", "apply_delta", "level_name"]
