"""The storage protocol: conversations (v1.0) and user state (v1.1).

Every backend subclasses :class:`Storage` and implements both halves:

* conversations — whole :class:`~luminora_nb.types.SessionRecord` documents, appended
  messages, listing, deletion, and the per-session key/value memory behind
  ``store_memory`` / ``get_memory``;
* user state — the seed's ``StorageV11Extension``: affinity, facts, episodes and mood,
  plus listing/deletion and memory embeddings for semantic search.

Backends raise :class:`~luminora_nb.errors.StorageError` (never a driver exception)
with a message naming the backend, the operation and what to do.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..errors import StorageError
from ..types.session import Message, SessionRecord, SessionSummary, StorageConfig

__all__ = ["ConversationStorage", "Storage", "StorageV11Extension", "require_strings"]


def require_strings(
    backend: str, operation: str, /, *, optional: tuple[str, ...] = (), **values: object
) -> None:
    """Check that every id, key and name passed to a storage call is a ``str``.

    A backend that puts an argument into a query (a MongoDB filter, a Redis key) must not
    let a dict such as ``{"$ne": "x"}`` through: it would match other users' documents.
    Names listed in ``optional`` may also be ``None``.

    Raises:
        StorageError: a value is not a string.

    Example:
        >>> require_strings("mongodb", "load_session", session_id="s1")
        >>> require_strings("mongodb", "get_facts", user_id="u1", category=None, optional=("category",))
    """
    for name, value in values.items():
        if isinstance(value, str) or (value is None and name in optional):
            continue
        raise StorageError(
            f"{backend} storage: {operation} got {name} of type {type(value).__name__}; "
            f"{name} must be a string (ids, keys and names are plain text, never query objects)"
        )


class ConversationStorage(abc.ABC):
    """Sessions and their conversations."""

    @abc.abstractmethod
    async def save_session(self, record: SessionRecord) -> None:
        """Insert or replace the whole session, messages included."""

    @abc.abstractmethod
    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The stored session, or ``None`` if there is none.

        Raises:
            StorageError: the stored document is corrupt or cannot be decrypted;
                the message names the session.
        """

    @abc.abstractmethod
    async def append_messages(
        self, session_id: str, messages: Sequence[Message], *, last_active: datetime
    ) -> None:
        """Append messages to a stored session, in order, and touch ``last_active``.

        Raises:
            StorageError: the session is not stored.
        """

    @abc.abstractmethod
    async def list_sessions(self, *, user_id: str | None = None) -> list[SessionSummary]:
        """Summaries of stored sessions (of one user if given), oldest first."""

    @abc.abstractmethod
    async def delete_session(self, session_id: str) -> bool:
        """Delete a session and its memory; ``True`` if it existed."""

    @abc.abstractmethod
    async def set_memory(self, session_id: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` for the session."""

    @abc.abstractmethod
    async def get_memory(self, session_id: str, key: str) -> Any:
        """The value stored under ``key``, or ``None``."""


class StorageV11Extension(abc.ABC):
    """v1.1 user state: affinity, facts, episodes, mood, embeddings."""

    @abc.abstractmethod
    async def save_affinity(
        self, user_id: str, personality_name: str, affinity_points: int, current_level: str, **kwargs: Any
    ) -> bool:
        """Save or replace the affinity of ``user_id`` with ``personality_name``."""

    @abc.abstractmethod
    async def get_affinity(self, user_id: str, personality_name: str) -> dict[str, Any] | None:
        """The affinity record, or ``None``."""

    @abc.abstractmethod
    async def save_fact(self, user_id: str, category: str, key: str, value: Any, **kwargs: Any) -> bool:
        """Save a fact; a fact with the same ``category`` and ``key`` is replaced."""

    @abc.abstractmethod
    async def get_facts(self, user_id: str, category: str | None = None) -> list[dict[str, Any]]:
        """The user's facts (of one category if given), in the order first learned."""

    @abc.abstractmethod
    async def delete_fact(self, user_id: str, category: str, key: str) -> bool:
        """Delete one fact; ``True`` if it existed."""

    @abc.abstractmethod
    async def save_episode(
        self,
        user_id: str,
        episode_type: str,
        title: str,
        summary: str,
        importance: float,
        sentiment: str,
        **kwargs: Any,
    ) -> bool:
        """Append an episode."""

    @abc.abstractmethod
    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[dict[str, Any]]:
        """Episodes with ``importance >= min_importance``, most important first, then newest."""

    @abc.abstractmethod
    async def save_mood(
        self, session_id: str, user_id: str, current_mood: str, mood_intensity: float = 1.0, **kwargs: Any
    ) -> bool:
        """Save the current mood of a session."""

    @abc.abstractmethod
    async def get_mood(self, session_id: str) -> dict[str, Any] | None:
        """The session's mood record, or ``None``."""

    @abc.abstractmethod
    async def save_embedding(
        self, user_id: str, item_id: str, kind: str, text: str, vector: Sequence[float], **kwargs: Any
    ) -> bool:
        """Save (or replace) the embedding of a memory item for semantic search."""

    @abc.abstractmethod
    async def get_embeddings(self, user_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Embeddings of a user's memory items: dicts with item_id, kind, text, vector."""

    @abc.abstractmethod
    async def list_users(self) -> list[str]:
        """Users with any stored state, sorted."""

    @abc.abstractmethod
    async def delete_user_data(self, user_id: str) -> int:
        """Delete every affinity, fact, episode, mood and embedding of a user; returns the count."""


class Storage(ConversationStorage, StorageV11Extension):
    """A complete backend: both halves, plus life-cycle."""

    backend_name: str = "abstract"

    def __init__(self, config: StorageConfig | None = None) -> None:
        self.config = config or StorageConfig()

    async def initialize(self) -> None:
        """Connect and create what is missing (tables, indexes, directories)."""

    async def close(self) -> None:
        """Release connections. Safe to call more than once."""

    async def __aenter__(self) -> Storage:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend_name!r}>"
