"""v1.1 memory types: facts, episodes, moods and search hits.

The ``*Dict`` names are the seed's ``TypedDict`` shapes (what the v1.1 client returns);
the pydantic models validate the same data on its way into storage.

The memory pipeline (:mod:`luminora_nb.memory`) adds the closed vocabularies it works
with (:data:`FactCategory`, :data:`EpisodeType`), a pointer from a memory to the
message it came from (:class:`MessageRef`), a fact's earlier values
(:class:`FactRevision`, kept in :attr:`Fact.history`) and what one message yields
before it is tied to a user (:class:`ExtractedFact`, :class:`DetectedEpisode`). These
new models refuse bad input with a :class:`~luminora_nb.errors.SessionError` that names
the field, the value and what is allowed (an unknown category or episode type, a
confidence outside 0..1, an importance outside 0..10, NaN).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, NotRequired, TypedDict, get_args

from pydantic import BaseModel, BeforeValidator, Field, field_validator

from ..errors import SessionError, shown
from ._base import Model, utcnow

_KEY = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")

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

# The new models below are public API but stay out of ``__all__`` until
# tests/test_types.py has a round-trip sample of each (its SAMPLES table must cover every
# exported model); tests/test_memory_facts.py round-trips them meanwhile.
PENDING_EXPORTS: tuple[str, ...] = (
    "DetectedEpisode",
    "EPISODE_TYPES",
    "EpisodeType",
    "ExtractedFact",
    "FACT_CATEGORIES",
    "FactCategory",
    "FactRevision",
    "MessageRef",
    "SENTIMENTS",
    "EPISODE_FIELDS",
    "episode_fields",
    "check_importance",
    "check_unit",
    "check_user_id",
)

Sentiment = Literal["very_negative", "negative", "neutral", "positive", "very_positive"]
#: The five sentiment labels, most negative first.
SENTIMENTS: tuple[Sentiment, ...] = get_args(Sentiment)

FactCategory = Literal[
    "personal_info",
    "preferences",
    "relationships",
    "hobbies",
    "goals",
    "health",
    "work",
    "events",
    "other",
]
#: Every fact belongs to one of these categories.
FACT_CATEGORIES: tuple[FactCategory, ...] = get_args(FactCategory)

EpisodeType = Literal[
    "emotional_moment", "milestone", "confession", "conflict", "achievement", "bonding", "routine"
]
#: The kinds of memorable moment.
EPISODE_TYPES: tuple[EpisodeType, ...] = get_args(EpisodeType)


def check_user_id(user_id: Any) -> str:
    """``user_id`` if it is a non-empty string.

    Raises:
        SessionError: anything else (``None``, a number, a blank string).

    Example:
        >>> check_user_id("u1")
        'u1'
        >>> check_user_id(7)
        Traceback (most recent call last):
        ...
        luminora_nb.errors.SessionError: user_id must be a non-empty string, got 7 (int)
    """
    if not isinstance(user_id, str) or not user_id.strip():
        raise SessionError(
            f"user_id must be a non-empty string, got {shown(user_id)} ({type(user_id).__name__})"
        )
    return user_id


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SessionError(f"{name} must be a number, got {shown(value)} ({type(value).__name__})")
    if not math.isfinite(value):
        raise SessionError(f"{name} must be a finite number, got {shown(value)}")
    return float(value)


def check_unit(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite number from 0 to 1 (a confidence, an intensity).

    Raises:
        SessionError: not a number, NaN or infinite, or outside 0..1.

    Example:
        >>> check_unit("confidence", 1)
        1.0
        >>> check_unit("confidence", 1.5)
        Traceback (most recent call last):
        ...
        luminora_nb.errors.SessionError: confidence must lie between 0 and 1, got 1.5
    """
    number = _number(name, value)
    if not 0.0 <= number <= 1.0:
        raise SessionError(f"{name} must lie between 0 and 1, got {shown(value)}")
    return number


def check_importance(value: Any) -> float:
    """``value`` as a float if it is a finite number from 0 to 10 (an episode's importance).

    Raises:
        SessionError: not a number, NaN or infinite, or outside 0..10.

    Example:
        >>> check_importance(11)
        Traceback (most recent call last):
        ...
        luminora_nb.errors.SessionError: importance must lie between 0 and 10, got 11
    """
    number = _number("importance", value)
    if not 0.0 <= number <= 10.0:
        raise SessionError(f"importance must lie between 0 and 10, got {shown(value)}")
    return number


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise SessionError(f"unknown {name} {shown(value)}; use one of: {', '.join(choices)}")
    return value


# The field checks of the pipeline's models, each stated once as an annotated type: the
# value is checked before pydantic's own validation, so a bad one is a SessionError that
# names the field (not a pydantic ValidationError).
_Unit = Annotated[float, BeforeValidator(partial(check_unit, "confidence"))]
_Importance = Annotated[float, BeforeValidator(check_importance)]
_KnownCategory = Annotated[
    FactCategory, BeforeValidator(partial(_check_choice, "fact category", choices=FACT_CATEGORIES))
]
_KnownEpisodeType = Annotated[
    EpisodeType, BeforeValidator(partial(_check_choice, "episode type", choices=EPISODE_TYPES))
]
_KnownSentiment = Annotated[
    Sentiment, BeforeValidator(partial(_check_choice, "sentiment", choices=SENTIMENTS))
]

#: The fields every form of an episode shares (detected, stored, parsed from an LLM,
#: published as an event): what kind of moment it was, what it says and how it weighs.
EPISODE_FIELDS: tuple[str, ...] = ("episode_type", "title", "summary", "importance", "sentiment")


def episode_fields(episode: BaseModel) -> dict[str, Any]:
    """The :data:`EPISODE_FIELDS` of ``episode`` (any model that has them), to build another form.

    Example:
        >>> e = DetectedEpisode(episode_type="milestone", title="Engagement",
        ...                     summary="User got engaged.", importance=8)
        >>> episode_fields(e)["importance"], episode_fields(e)["sentiment"]
        (8.0, 'neutral')
    """
    return {name: getattr(episode, name) for name in EPISODE_FIELDS}


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


class MessageRef(Model):
    """Where a memory came from: the message's id and/or index, and the text it was read in.

    Example:
        >>> MessageRef(message_index=3, text="I live in Lyon.").message_index
        3
    """

    message_id: str | None = None
    message_index: int | None = Field(default=None, ge=0)
    text: str = ""


class FactRevision(Model):
    """An earlier value of a fact, kept in :attr:`Fact.history` when a newer one replaced it."""

    value: Any
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    source: MessageRef | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class Fact(Model):
    """Validated form of :class:`FactDict`.

    ``history`` holds the values this fact had before (oldest first) and ``source`` the
    message of its current value; both are optional extras of the stored fact.
    """

    user_id: str = Field(min_length=1)
    category: str = Field(min_length=1)
    key: str = Field(min_length=1)
    value: Any
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    session_id: str | None = None
    source_message: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    history: list[FactRevision] = Field(default_factory=list)
    source: MessageRef | None = None


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
    source_messages: list[MessageRef] = Field(default_factory=list)


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


class ExtractedFact(Model):
    """A fact read from one message, before it is tied to a user and merged into memory.

    ``key`` is a lower-case identifier (``name``, ``sister``, ``jazz``); ``value`` is what
    was learned (a string, a number or a list of strings); ``extractor`` names what
    produced it (``rules``, ``llm``).

    Raises:
        SessionError: an unknown category, a confidence outside 0..1 (or NaN), a key
            that is not a lower-case identifier.

    Example:
        >>> ExtractedFact(category="personal_info", key="name", value="Diego", confidence=0.95).key
        'name'
        >>> ExtractedFact(category="personal_info", key="name", value="Diego", confidence=2)
        Traceback (most recent call last):
        ...
        luminora_nb.errors.SessionError: confidence must lie between 0 and 1, got 2
    """

    category: _KnownCategory
    key: str
    value: Any
    confidence: _Unit = 1.0
    source: MessageRef | None = None
    extractor: str = "rules"

    @field_validator("key", mode="before")
    @classmethod
    def _identifier(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _KEY.fullmatch(value):
            raise SessionError(
                "fact key must be a lower-case identifier (letters, digits, '_'; at most 64), "
                f"got {shown(value)}"
            )
        return value


class DetectedEpisode(Model):
    """A memorable moment read from a message, before it is tied to a user.

    Raises:
        SessionError: an unknown episode type or sentiment, an importance outside 0..10.

    Example:
        >>> e = DetectedEpisode(episode_type="milestone", title="Engagement",
        ...                     summary="User got engaged.", importance=8, sentiment="very_positive")
        >>> e.to_episode("u1").episode_type
        'milestone'
    """

    episode_type: _KnownEpisodeType
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=2000)
    importance: _Importance
    sentiment: _KnownSentiment = "neutral"
    timestamp: datetime = Field(default_factory=utcnow)
    source_messages: list[MessageRef] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list, description="What in the message marked the moment.")

    def to_episode(
        self, user_id: str, *, session_id: str | None = None, personality_name: str | None = None
    ) -> Episode:
        """The storable :class:`Episode` of ``user_id``.

        Raises:
            SessionError: ``user_id`` is not a non-empty string.
        """
        return Episode(
            user_id=check_user_id(user_id),
            **episode_fields(self),
            session_id=session_id,
            personality_name=personality_name,
            timestamp=self.timestamp,
            source_messages=list(self.source_messages),
        )
