"""Affinity between a user and a personality: points, levels and their changes.

Points run from 0 to 100. A personality's ``relationship_levels`` map points to a level
name; personalities without levels (or not loaded) use :data:`DEFAULT_LEVELS`. A
relationship starts at the persona's ``affinity_config.initial_points``
(:func:`starting_points`).

**One scheme for every change.** Points move in two ways, both producing an
:class:`AffinityChange` (the history entry: when, the interaction type, why, the delta
asked for and the delta applied, the points and the level before and after):

* :func:`interaction_change`, once per user message: the message's interaction type
  (:func:`~luminora_nb.relationship.interactions.classify_interaction`) gives its
  points, capped at ``affinity_config.max_change_per_turn`` either way; with
  ``affinity_config.enabled`` off it returns ``None`` (nothing moves);
* :func:`change_affinity`, an explicit delta (the seed's ``update_affinity``): not
  capped per turn unless ``max_change`` is given.

Either way the result stays within 0..100 (:func:`apply_delta`) and the level follows
the points (:func:`level_name`). A delta must be a finite number (an integral float is
accepted; ``True``, ``NaN`` or ``"5"`` are :class:`~luminora_nb.errors.SessionError`).

Example:
    >>> level_name(None, 45)
    'friend'
    >>> apply_delta(98, 5)
    100
    >>> change = change_affinity(18, 5, interaction_type="positive")
    >>> change.points_after, change.level_before, change.level_after, change.level_changed
    (23, 'stranger', 'acquaintance', True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from ..errors import SessionError, shown
from ..types._base import Model, utcnow
from ..types.persona import AffinityConfig, PersonaDefinition, RelationshipLevel
from ..types.relationship import AffinityHistoryEntry

__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "DEFAULT_LEVELS",
    "MAX_POINTS",
    "MIN_POINTS",
    "AffinityChange",
    "append_history",
    "apply_delta",
    "change_affinity",
    "check_points",
    "check_points_delta",
    "interaction_change",
    "level_definition",
    "level_name",
    "starting_points",
]

MIN_POINTS = 0
MAX_POINTS = 100
#: How many changes :func:`append_history` keeps by default.
DEFAULT_HISTORY_LIMIT = 200

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


def _default_level_models() -> tuple[RelationshipLevel, ...]:
    return tuple(
        RelationshipLevel(name=name, affinity_range=(low, high)) for name, low, high in DEFAULT_LEVELS
    )


_DEFAULT_LEVEL_MODELS = _default_level_models()


def level_definition(definition: PersonaDefinition | None, points: int) -> RelationshipLevel:
    """The relationship level at ``points`` as a model, for the compiled prompt.

    The persona's own level (with its modifiers, behavioural rules and greetings), else
    the default ladder's level of that name (no modifiers: the persona speaks as defined).

    Example:
        >>> level_definition(None, 45).name
        'friend'
        >>> from luminora_nb.personality.library import get_builtin
        >>> friend = level_definition(get_builtin("aurora").definition, 90)
        >>> friend.name, friend.behavioral_rules
        ('friend', ['Connect new topics to what the learner already mastered.'])
    """
    if definition is not None and definition.relationship_levels:
        level = definition.level_for(points)
        if level is not None:
            return level
        return min(definition.relationship_levels, key=lambda lvl: lvl.affinity_range[0])
    name = level_name(None, points)
    return next(level for level in _DEFAULT_LEVEL_MODELS if level.name == name)


def check_points_delta(delta: Any) -> int:
    """``delta`` as an int: an int, or a finite float rounded to the nearest int.

    Raises:
        SessionError: a bool, NaN, an infinity or anything that is not a number.

    Example:
        >>> check_points_delta(5), check_points_delta(-2.0)
        (5, -2)
        >>> check_points_delta(float("nan"))
        Traceback (most recent call last):
        ...
        luminora_nb.errors.SessionError: points_delta must be a finite number, got nan
    """
    if isinstance(delta, bool) or not isinstance(delta, int | float):
        raise SessionError(f"points_delta must be a number, got {shown(delta)} ({type(delta).__name__})")
    if isinstance(delta, float):
        if not math.isfinite(delta):
            raise SessionError(f"points_delta must be a finite number, got {shown(delta)}")
        return round(delta)
    return int(delta)


def check_points(points: Any) -> int:
    """``points`` if it is an int from 0 to 100.

    Raises:
        SessionError: anything else.
    """
    if isinstance(points, bool) or not isinstance(points, int) or not MIN_POINTS <= points <= MAX_POINTS:
        raise SessionError(f"affinity points must be an integer from 0 to 100, got {shown(points)}")
    return points


def starting_points(definition: PersonaDefinition | None) -> int:
    """Where a new relationship starts: the persona's ``initial_points`` (0 without one).

    Example:
        >>> from luminora_nb.personality.library import get_builtin
        >>> starting_points(get_builtin("willow").definition), starting_points(None)
        (20, 0)
    """
    return definition.affinity_config.initial_points if definition is not None else 0


class AffinityChange(Model):
    """One change of affinity: the history entry of the relationship.

    Attributes:
        timestamp: When it happened.
        interaction_type: The interaction type (``compliment``, ``explicit`` ...).
        reason: Why (``interaction``, ``explicit``, or the caller's words).
        requested_delta: The delta asked for (the type's points, or the explicit delta).
        points_delta: The delta applied (after the per-turn cap and the 0..100 bounds).
        points_before: Points before.
        points_after: Points after.
        level_before: Level before.
        level_after: Level after.
        capped: Whether ``max_change_per_turn`` cut the requested delta.
    """

    timestamp: datetime = Field(default_factory=utcnow)
    interaction_type: str = Field(min_length=1)
    reason: str = "interaction"
    requested_delta: int
    points_delta: int
    points_before: int = Field(ge=MIN_POINTS, le=MAX_POINTS)
    points_after: int = Field(ge=MIN_POINTS, le=MAX_POINTS)
    level_before: str
    level_after: str
    capped: bool = False

    @property
    def changed(self) -> bool:
        """Whether the points moved."""
        return self.points_delta != 0

    @property
    def level_changed(self) -> bool:
        """Whether the relationship level changed."""
        return self.level_before != self.level_after

    def history_entry(self) -> AffinityHistoryEntry:
        """The seed-shaped history entry (:class:`~luminora_nb.types.relationship.AffinityHistoryEntry`)."""
        return AffinityHistoryEntry(
            points_delta=self.points_delta,
            interaction_type=self.interaction_type,
            affinity_points=self.points_after,
            current_level=self.level_after,
            timestamp=self.timestamp,
        )


def change_affinity(
    points: int,
    delta: Any,
    *,
    definition: PersonaDefinition | None = None,
    interaction_type: str = "explicit",
    reason: str | None = None,
    max_change: int | None = None,
    now: datetime | None = None,
) -> AffinityChange:
    """Apply ``delta`` to ``points`` and describe the change.

    Args:
        points: Current points (0..100).
        delta: The change asked for (see :func:`check_points_delta`).
        definition: The persona, for its levels (default ladder when ``None``).
        interaction_type: What kind of interaction it was.
        reason: Why; ``explicit`` by default.
        max_change: Cap on ``abs(delta)``; none by default.
        now: The time of the change.

    Raises:
        SessionError: bad ``points``, ``delta`` or ``interaction_type``.

    Example:
        >>> c = change_affinity(95, 10)
        >>> c.requested_delta, c.points_delta, c.points_after
        (10, 5, 100)
    """
    points = check_points(points)
    requested = check_points_delta(delta)
    if not isinstance(interaction_type, str) or not interaction_type.strip():
        raise SessionError(f"interaction_type must be a non-empty string, got {shown(interaction_type)}")
    after = apply_delta(points, requested, max_change=max_change)
    capped = max_change is not None and abs(requested) > max_change
    return AffinityChange(
        timestamp=now or utcnow(),
        interaction_type=interaction_type,
        reason=reason or "explicit",
        requested_delta=requested,
        points_delta=after - points,
        points_before=points,
        points_after=after,
        level_before=level_name(definition, points),
        level_after=level_name(definition, after),
        capped=capped,
    )


def interaction_change(
    points: int,
    interaction_type: str,
    definition: PersonaDefinition | None = None,
    *,
    config: AffinityConfig | None = None,
    now: datetime | None = None,
) -> AffinityChange | None:
    """The change one message of ``interaction_type`` makes, or ``None`` when affinity is off.

    The points come from the persona's ``interaction_points`` (built-in types it leaves
    out keep their defaults; unknown types give 0), capped by ``max_change_per_turn``.

    Args:
        points: Current points.
        interaction_type: The message's type (see
            :func:`~luminora_nb.relationship.interactions.classify_interaction`).
        definition: The persona (its affinity config and levels).
        config: An affinity config overriding the definition's.
        now: The time of the change.

    Example:
        >>> c = interaction_change(50, "hostile")
        >>> c.requested_delta, c.points_delta, c.capped
        (-10, -10, False)
        >>> from luminora_nb.personality.library import get_builtin
        >>> interaction_change(50, "hostile", get_builtin("bastion").definition).points_delta
        -6
    """
    from .interactions import interaction_points

    config = config or (definition.affinity_config if definition is not None else AffinityConfig())
    if not config.enabled:
        return None
    requested = interaction_points(config, interaction_type)
    change = change_affinity(
        points,
        requested,
        definition=definition,
        interaction_type=interaction_type,
        reason="interaction",
        max_change=config.max_change_per_turn,
        now=now,
    )
    return change


def append_history(
    history: Iterable[AffinityChange | Mapping[str, Any]],
    change: AffinityChange,
    *,
    limit: int = DEFAULT_HISTORY_LIMIT,
) -> list[AffinityChange]:
    """``history`` with ``change`` appended, the oldest entries dropped beyond ``limit``.

    Raises:
        SessionError: an entry of ``history`` is not a valid change.

    Example:
        >>> h = append_history([], change_affinity(10, 3))
        >>> len(append_history(h, change_affinity(13, 2), limit=1))
        1
    """
    entries: list[AffinityChange] = []
    for entry in history:
        if isinstance(entry, AffinityChange):
            entries.append(entry)
            continue
        try:
            entries.append(AffinityChange.model_validate(dict(entry)))
        except Exception as exc:
            raise SessionError(f"affinity history entry {shown(dict(entry))} is not valid: {exc}") from None
    entries.append(change)
    return entries[-limit:] if limit > 0 else []
