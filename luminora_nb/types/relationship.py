"""v1.1 relationship types: affinity between a user and a personality."""

from __future__ import annotations

from datetime import datetime
from typing import NotRequired, TypedDict

from pydantic import Field

from ._base import Model, utcnow

__all__ = ["Affinity", "AffinityDict", "AffinityHistoryEntry"]


class AffinityDict(TypedDict):
    """Relationship state of one user with one personality."""

    user_id: str
    personality_name: str
    affinity_points: int
    current_level: str
    updated_at: NotRequired[str]
    total_interactions: NotRequired[int]


class AffinityHistoryEntry(Model):
    """One change of affinity."""

    points_delta: int
    interaction_type: str
    affinity_points: int
    current_level: str
    timestamp: datetime = Field(default_factory=utcnow)


class Affinity(Model):
    """Validated form of :class:`AffinityDict`; points run from 0 to 100."""

    user_id: str = Field(min_length=1)
    personality_name: str = Field(min_length=1)
    affinity_points: int = Field(ge=0, le=100)
    current_level: str
    total_interactions: int = Field(default=0, ge=0)
    updated_at: datetime = Field(default_factory=utcnow)
