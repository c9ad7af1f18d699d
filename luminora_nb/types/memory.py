"""v1.1 memory types: facts, episodes, moods and search hits.

The ``*Dict`` names are the seed's ``TypedDict`` shapes (what the v1.1 client returns);
the pydantic models validate the same data on its way into storage.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from pydantic import Field

from ._base import Model, utcnow

__all__ = [
    "Episode",
    "EpisodeDict",
    "Fact",
    "FactDict",
    "MemorySearchResult",
    "MoodDict",
    "MoodState",
    "Sentiment",
]

Sentiment = Literal["very_negative", "negative", "neutral", "positive", "very_positive"]


class FactDict(TypedDict):
    """A fact learned about a user."""

    user_id: str
    category: str
    key: str
    value: Any
    confidence: float
    session_id: NotRequired[str | None]
    source_message: NotRequired[str | None]
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


class EpisodeDict(TypedDict):
    """A memorable moment of a conversation."""

    user_id: str
    episode_type: str
    title: str
    summary: str
    importance: float
    sentiment: str
    episode_id: NotRequired[str]
    session_id: NotRequired[str | None]
    personality_name: NotRequired[str | None]
    timestamp: NotRequired[str]


class MoodDict(TypedDict):
    """A persona's current mood in a session."""

    session_id: str
    user_id: str
    current_mood: str
    mood_intensity: float
    updated_at: NotRequired[str]


class Fact(Model):
    """Validated form of :class:`FactDict`."""

    user_id: str = Field(min_length=1)
    category: str = Field(min_length=1)
    key: str = Field(min_length=1)
    value: Any
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    session_id: str | None = None
    source_message: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Episode(Model):
    """Validated form of :class:`EpisodeDict`; ``importance`` runs from 0 to 10."""

    user_id: str = Field(min_length=1)
    episode_type: str = Field(min_length=1)
    title: str
    summary: str
    importance: float = Field(ge=0.0, le=10.0)
    sentiment: str = "neutral"
    episode_id: str | None = None
    session_id: str | None = None
    personality_name: str | None = None
    timestamp: datetime = Field(default_factory=utcnow)


class MoodState(Model):
    """Validated form of :class:`MoodDict`."""

    session_id: str
    user_id: str
    current_mood: str
    mood_intensity: float = Field(default=1.0, ge=0.0, le=1.0)
    updated_at: datetime = Field(default_factory=utcnow)


class MemorySearchResult(Model):
    """One hit of a semantic memory search."""

    kind: Literal["fact", "episode", "message"]
    text: str
    score: float
    item: dict[str, Any] = Field(default_factory=dict)
