"""Relationship logic: affinity points, levels, their changes, and interaction types."""

from .affinity import (
    DEFAULT_LEVELS,
    MAX_POINTS,
    MIN_POINTS,
    AffinityChange,
    append_history,
    apply_delta,
    change_affinity,
    check_points_delta,
    interaction_change,
    level_definition,
    level_name,
    starting_points,
)
from .interactions import (
    BUILTIN_INTERACTIONS,
    DEFAULT_INTERACTION_CUES,
    Interaction,
    classify_interaction,
    interaction_points,
)

__all__ = [
    "BUILTIN_INTERACTIONS",
    "DEFAULT_INTERACTION_CUES",
    "DEFAULT_LEVELS",
    "MAX_POINTS",
    "MIN_POINTS",
    "AffinityChange",
    "Interaction",
    "append_history",
    "apply_delta",
    "change_affinity",
    "check_points_delta",
    "classify_interaction",
    "interaction_change",
    "interaction_points",
    "level_definition",
    "level_name",
    "starting_points",
]
