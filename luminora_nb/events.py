"""Events published by the client, and the bus observers subscribe to.

The session log, analytics and widgets never poll the client: they subscribe to the
:class:`EventBus` and receive typed events. A failing subscriber is logged and never
breaks the turn that published the event, nor any other subscriber.

Example:
    >>> bus = EventBus()
    >>> seen = []
    >>> sub = bus.subscribe(seen.append, types=[SessionCreated])
    >>> import asyncio
    >>> asyncio.run(bus.publish(SessionCreated(session_id="s1", personality_name="p", provider="offline")))
    >>> [e.type for e in seen]
    ['session_created']
    >>> sub.close()
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import Field

from .types._base import Model, utcnow

__all__ = [
    "AffinityChanged",
    "BlendCreated",
    "EpisodeCreated",
    "Event",
    "EventBus",
    "EventHandler",
    "ExtractionFailed",
    "FactDeleted",
    "FactLearned",
    "MemoryFailed",
    "MoodChanged",
    "SentimentScored",
    "SessionCreated",
    "SessionDeleted",
    "SessionExpired",
    "Subscription",
    "TurnCompleted",
    "TurnFailed",
    "TurnStarted",
]

logger = logging.getLogger("luminora_nb.events")


class Event(Model):
    """Base of every event."""

    type: ClassVar[str] = "event"
    session_id: str | None = None
    timestamp: datetime = Field(default_factory=utcnow)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict including the event type."""
        return {"type": self.type, **self.model_dump(mode="json")}

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """Build an event from values the library has already validated, without validation.

        The client publishes a few events on every turn; this is ``model_construct``
        without its generality (aliases, extras), several times cheaper. Omitted fields
        get their defaults; given every field in declared order, it costs little more
        than the call. Never use it with outside input.

        Example:
            >>> TurnStarted.trusted(session_id="s1", personality_name="aurora", user_message="Hi").streamed
            False
        """
        fields, names = _fields_of(cls)
        if values.keys() == names:  # every field given (the client's hot path): take them as they are
            data = values
        else:
            data = {}
            for name, factory, default in fields:
                if name in values:
                    data[name] = values[name]
                else:
                    data[name] = factory() if factory is not None else default
            if len(data) < len(values) or any(value is _MISSING for value in data.values()):
                unknown = sorted(set(values) - set(data))
                missing = sorted(name for name, value in data.items() if value is _MISSING)
                raise TypeError(
                    f"{cls.__name__}.trusted: unknown field(s) {unknown}, missing field(s) {missing}"
                )
        event = cls.__new__(cls)
        object.__setattr__(event, "__dict__", data)
        object.__setattr__(event, "__pydantic_fields_set__", set(values))
        object.__setattr__(event, "__pydantic_extra__", None)
        object.__setattr__(event, "__pydantic_private__", None)
        return event


_MISSING: Any = object()


@functools.cache
def _fields_of(
    cls: type[Event],
) -> tuple[tuple[tuple[str, Callable[[], Any] | None, Any], ...], frozenset[str]]:
    """Each field in declared order with its default factory or default (required: missing)."""
    fields = []
    for name, info in cls.model_fields.items():
        factory: Callable[[], Any] | None = info.default_factory  # type: ignore[assignment]
        fields.append((name, factory, _MISSING if info.is_required() else info.default))
    return tuple(fields), frozenset(cls.model_fields)


class SessionCreated(Event):
    """A session was created (or resumed from storage)."""

    type: ClassVar[str] = "session_created"
    personality_name: str
    provider: str
    model: str | None = None
    user_id: str | None = None
    resumed: bool = False
    blend: dict[str, Any] | None = None
    """For a blended personality: ``sources``, normalised ``weights`` and ``blend_type``."""


class BlendCreated(Event):
    """Personalities were blended and the result registered under ``personality_name``."""

    type: ClassVar[str] = "blend_created"
    personality_name: str
    sources: list[str]
    weights: dict[str, float]
    blend_type: str


class SessionDeleted(Event):
    """A session was deleted."""

    type: ClassVar[str] = "session_deleted"


class SessionExpired(Event):
    """A session passed its idle timeout."""

    type: ClassVar[str] = "session_expired"


class TurnStarted(Event):
    """A user message was accepted and is on its way to the provider."""

    type: ClassVar[str] = "turn_started"
    personality_name: str
    user_message: str
    streamed: bool = False


class TurnCompleted(Event):
    """A turn finished: the reply is stored.

    ``timestamp`` is the reply's time and ``user_timestamp`` the user message's, as
    stored. ``finish_reason`` is ``"stopped"`` when the stream was stopped by
    :meth:`~luminora_nb.client.LuminoraCoreClient.stop_stream` (the partial reply is stored).
    """

    type: ClassVar[str] = "turn_completed"
    personality_name: str
    provider: str
    model: str | None = None
    user_id: str | None = None
    user_message: str
    user_timestamp: datetime | None = None
    reply: str
    finish_reason: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    latency_ms: float = 0.0
    streamed: bool = False
    turn_index: int = 0
    affinity_points: int | None = None
    relationship_level: str | None = None
    mood: str | None = None


class TurnFailed(Event):
    """A turn failed; nothing of it was stored."""

    type: ClassVar[str] = "turn_failed"
    personality_name: str | None = None
    provider: str | None = None
    stage: Literal["provider", "storage", "session", "memory"] = "provider"
    error_type: str
    message: str


class _FactEvent(Event):
    """What every fact event names: whose fact, its category and its key (v1.1)."""

    user_id: str
    category: str
    key: str

    def to_record(self) -> dict[str, Any]:
        """The record, with the fact's key also as ``fact_name``.

        Observers that scrub credential-named fields (the session log drops any field
        called ``key``) would otherwise lose which fact it was.

        Example:
            >>> FactLearned(user_id="u", category="personal_info", key="name", value="Ana",
            ...             confidence=0.9).to_record()["fact_name"]
            'name'
        """
        return {**super().to_record(), "fact_name": self.key}


class FactLearned(_FactEvent):
    """A fact about the user was learned (v1.1)."""

    type: ClassVar[str] = "fact_learned"
    value: Any
    confidence: float
    change: Literal["new", "updated", "saved"] = "new"
    previous_value: Any = None


class FactDeleted(_FactEvent):
    """A stored fact about the user was deleted (v1.1).

    Published only when a fact was there to delete. It names the fact and never carries
    its value (which may be something the user wanted gone), so observers such as a second
    memory inspector on the same user drop the fact without reading the store again.

    Example:
        >>> FactDeleted(user_id="u", category="preferences", key="tea").to_record()["fact_name"]
        'tea'
    """

    type: ClassVar[str] = "fact_deleted"


class EpisodeCreated(Event):
    """A memorable episode was recorded (v1.1)."""

    type: ClassVar[str] = "episode_created"
    user_id: str
    episode_type: str
    title: str
    importance: float
    sentiment: str
    episode_id: str | None = None
    summary: str = ""


class ExtractionFailed(Event):
    """The fact extractor could not read a user message (v1.1); the turn itself is stored.

    ``raw`` is the extractor's last output (an LLM's reply text) so nothing is dropped
    silently; ``fallback`` says whether the rules extractor's facts were kept instead.
    """

    type: ClassVar[str] = "extraction_failed"
    user_id: str
    extractor: str
    error: str
    raw: str | None = None
    attempts: int = 1
    fallback: bool = False


class MemoryFailed(Event):
    """A step of the v1.1 memory pipeline failed after a stored turn (v1.1).

    ``stage`` is ``learn`` (the pipeline), ``store`` (writing what was learned) or
    ``embed`` (the embedder, for semantic search). The turn is stored and its reply
    returned; only what this step would have learned is missing.
    """

    type: ClassVar[str] = "memory_failed"
    user_id: str | None = None
    stage: Literal["prepare", "learn", "store", "embed"]
    error_type: str
    message: str


class AffinityChanged(Event):
    """The affinity between a user and a personality changed (v1.1).

    ``reason`` is ``interaction`` (a classified user message) or ``explicit``
    (``update_affinity``); ``requested_delta`` is what was asked before the per-turn cap
    and the 0..100 bounds.
    """

    type: ClassVar[str] = "affinity_changed"
    user_id: str
    personality_name: str
    points_delta: int
    affinity_points: int
    previous_level: str | None = None
    current_level: str
    interaction_type: str
    reason: str = "explicit"
    requested_delta: int | None = None


class SentimentScored(Event):
    """The sentiment of one user message (v1.1), scored before affinity and mood move.

    ``score`` runs from -1 (very negative) to 1 (very positive); ``sentiment`` is its label.
    """

    type: ClassVar[str] = "sentiment_scored"
    user_id: str
    sentiment: str
    score: float
    turn_index: int | None = None


class MoodChanged(Event):
    """The persona's mood changed (v1.1); ``reason`` says why (``trigger``, ``sentiment``, ``decay``)."""

    type: ClassVar[str] = "mood_changed"
    user_id: str | None = None
    previous_mood: str | None = None
    current_mood: str
    mood_intensity: float = 1.0
    reason: str | None = None
    trigger: str | None = None


EventHandler = Callable[[Event], Awaitable[None] | None]


class Subscription:
    """Handle returned by :meth:`EventBus.subscribe`; ``close()`` unsubscribes."""

    def __init__(self, bus: EventBus, handler: EventHandler, types: tuple[type[Event], ...] | None) -> None:
        self._bus = bus
        self.handler = handler
        self.types = types

    def wants(self, event: Event) -> bool:
        """Whether this subscription receives ``event``."""
        return self.types is None or isinstance(event, self.types)

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Delivers events to subscribers, sync or async, in subscription order."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, handler: EventHandler, *, types: Iterable[type[Event]] | None = None) -> Subscription:
        """Call ``handler(event)`` for each published event (of ``types`` only, if given).

        The handler may be a plain function or a coroutine function.
        """
        sub = Subscription(self, handler, tuple(types) if types is not None else None)
        self._subscriptions.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    @property
    def has_subscribers(self) -> bool:
        """Whether anyone listens (lets publishers skip building events)."""
        return bool(self._subscriptions)

    async def publish(self, event: Event) -> None:
        """Deliver ``event``; an exception in one handler is logged and skipped."""
        for sub in tuple(self._subscriptions):  # a handler may unsubscribe meanwhile
            if sub.types is not None and not isinstance(event, sub.types):
                continue
            try:
                result = sub.handler(event)
                if result is not None and inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("event handler %r failed on %s", sub.handler, event.type)
