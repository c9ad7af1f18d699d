"""Affinity between a user and a personality: points, levels and their changes.

Points run from 0 to 100. A personality's ``relationship_levels`` map points to a level
name; personalities without levels (or not loaded) use :data:`DEFAULT_LEVELS`.

Example:
    >>> level_name(None, 45)
    'friend'
    >>> apply_delta(98, 5)
    100
"""

from __future__ import annotations

from ..types.persona import PersonaDefinition

__all__ = ["DEFAULT_LEVELS", "MAX_POINTS", "MIN_POINTS", "apply_delta", "level_name"]

MIN_POINTS = 0
MAX_POINTS = 100

# The conventional ladder of the LuminoraCore v1.1 documentation.
DEFAULT_LEVELS: tuple[tuple[str, int, int], ...] = (
    ("stranger", 0, 20),
    ("acquaintance", 21, 40),
    ("friend", 41, 60),
    ("close_friend", 61, 80),
    ("soulmate", 81, 100),
)


def apply_delta(points: int, delta: int, *, max_change: int | None = None) -> int:
    """``points + delta``, the change capped at ``max_change`` and the result kept in 0..100."""
    if max_change is not None:
        delta = max(-max_change, min(max_change, delta))
    return max(MIN_POINTS, min(MAX_POINTS, points + delta))


def level_name(definition: PersonaDefinition | None, points: int) -> str:
    """The relationship level at ``points`` for ``definition`` (default ladder if none)."""
    if definition is not None and definition.relationship_levels:
        level = definition.level_for(points)
        if level is not None:
            return level.name
        return min(definition.relationship_levels, key=lambda lvl: lvl.affinity_range[0]).name
    for name, low, high in DEFAULT_LEVELS:
        if low <= points <= high:
            return name
    return DEFAULT_LEVELS[-1][0] if points > MAX_POINTS else DEFAULT_LEVELS[0][0]
