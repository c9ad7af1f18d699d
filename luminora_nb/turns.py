"""Extension points of a chat turn.

A :class:`TurnExtension` sees every turn of a client twice: :meth:`~TurnExtension.prepare`
before the provider is called (it may set the relationship level, mood and memories that
go into the system prompt) and :meth:`~TurnExtension.complete` after the reply is stored
(it may learn facts, update affinity and mood, and return events to publish). The v1.1
client plugs its memory and relationship logic in here; users can add their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import Event
    from .types.persona import MoodDefinition, RelationshipLevel
    from .types.personality import PersonalityData
    from .types.provider import ChatResponse

__all__ = ["TurnExtension", "TurnState"]


@dataclass
class TurnState:
    """What one turn knows; extensions read it and fill in the prompt inputs."""

    session_id: str
    user_id: str | None
    personality: PersonalityData
    user_message: str
    turn_index: int
    level: RelationshipLevel | None = None
    affinity_points: int | None = None
    mood: MoodDefinition | None = None
    mood_intensity: float = 1.0
    memories: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


class TurnExtension:
    """Base class of turn extensions; override either hook (the defaults do nothing)."""

    async def prepare(self, turn: TurnState) -> None:
        """Called before the provider; set ``turn.level``, ``turn.mood``, ``turn.memories``."""
        return None

    async def complete(self, turn: TurnState, response: ChatResponse) -> list[Event]:
        """Called after the reply is stored; returns events to publish."""
        return []
