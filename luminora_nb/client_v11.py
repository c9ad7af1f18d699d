"""``LuminoraCoreClientV11``: the v1.1 extension of the client (facts, episodes, affinity).

It wraps a :class:`~luminora_nb.client.LuminoraCoreClient` and a v1.1 storage (by
default the base client's own backend, which implements both halves of the protocol).

Example:
    >>> import asyncio
    >>> from luminora_nb.client import LuminoraCoreClient
    >>> from luminora_nb.storage import InMemoryStorageV11
    >>> async def main():
    ...     base = LuminoraCoreClient()
    ...     v11 = LuminoraCoreClientV11(base, storage_v11=InMemoryStorageV11())
    ...     return await v11.update_affinity("user123", "alicia", points_delta=5, interaction_type="positive")
    >>> asyncio.run(main())["current_level"]
    'stranger'
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from .client import LuminoraCoreClient
from .errors import SessionError
from .events import AffinityChanged
from .relationship import apply_delta, level_name
from .storage.base import StorageV11Extension
from .types.memory import EpisodeDict, FactDict
from .types.relationship import AffinityDict

__all__ = ["LuminoraCoreClientV11"]

_PENDING = "is not available in this version of luminora_nb yet"


class LuminoraCoreClientV11:
    """v1.1 features on top of a base client.

    Args:
        base_client: The v1.0 client whose personalities and sessions are used.
        storage_v11: Where user state lives; defaults to the base client's storage.
    """

    def __init__(
        self, base_client: LuminoraCoreClient, storage_v11: StorageV11Extension | None = None
    ) -> None:
        self.base_client = base_client
        self.storage: StorageV11Extension = storage_v11 if storage_v11 is not None else base_client.storage
        # read-modify-write of one (user, personality) affinity must not interleave
        self._affinity_locks: dict[tuple[str, str], asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"<LuminoraCoreClientV11 base={self.base_client!r}>"

    @staticmethod
    def _user(user_id: str) -> str:
        if not isinstance(user_id, str) or not user_id.strip():
            raise SessionError("user_id must be a non-empty string")
        return user_id

    # -- memory -------------------------------------------------------------------
    async def get_facts(self, user_id: str, category: str | None = None) -> list[FactDict]:
        """Facts learned about the user, optionally of one category."""
        rows = await self.storage.get_facts(self._user(user_id), category)
        return [cast(FactDict, row) for row in rows]

    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[EpisodeDict]:
        """Memorable episodes, most important first, optionally filtered and capped."""
        rows = await self.storage.get_episodes(self._user(user_id), min_importance, max_results)
        return [cast(EpisodeDict, row) for row in rows]

    async def search_memories(self, user_id: str, query: str, top_k: int = 5) -> list[Any]:
        """Semantic search in the user's memories."""
        raise NotImplementedError(f"search_memories {_PENDING}")

    # -- affinity -----------------------------------------------------------------
    async def get_affinity(self, user_id: str, personality_name: str) -> AffinityDict | None:
        """The relationship state of the user with the personality, or ``None``."""
        row = await self.storage.get_affinity(self._user(user_id), personality_name)
        return cast(AffinityDict, row) if row is not None else None

    async def update_affinity(
        self, user_id: str, personality_name: str, points_delta: int, interaction_type: str
    ) -> AffinityDict | None:
        """Add ``points_delta`` (kept within 0..100) and recompute the relationship level.

        The personality's own ``relationship_levels`` decide the level when it is loaded
        or shipped; otherwise the conventional stranger..soulmate ladder is used.
        """
        user_id = self._user(user_id)
        lock = self._affinity_locks.setdefault((user_id, personality_name), asyncio.Lock())
        async with lock:
            return await self._update_affinity(user_id, personality_name, int(points_delta), interaction_type)

    async def _update_affinity(
        self, user_id: str, personality_name: str, points_delta: int, interaction_type: str
    ) -> AffinityDict | None:
        personality = await self.base_client.get_personality(personality_name)
        definition = personality.definition if personality is not None else None
        current = await self.storage.get_affinity(user_id, personality_name)
        if current is None:
            start = definition.affinity_config.initial_points if definition is not None else 0
            previous_level = None
            interactions = 0
        else:
            start = int(current["affinity_points"])
            previous_level = str(current["current_level"])
            interactions = int(current.get("total_interactions", 0))
        points = apply_delta(start, int(points_delta))
        level = level_name(definition, points)
        await self.storage.save_affinity(
            user_id,
            personality_name,
            points,
            level,
            total_interactions=interactions + 1,
            last_interaction_type=interaction_type,
        )
        await self.base_client.events.publish(
            AffinityChanged(
                user_id=user_id,
                personality_name=personality_name,
                points_delta=points - start,
                affinity_points=points,
                previous_level=previous_level,
                current_level=level,
                interaction_type=interaction_type,
            )
        )
        return await self.get_affinity(user_id, personality_name)

    # -- snapshots and analytics --------------------------------------------------------
    async def export_snapshot(self, session_id: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Export a personality's complete state for a session."""
        raise NotImplementedError(f"export_snapshot {_PENDING}")

    async def import_snapshot(self, snapshot: dict[str, Any], user_id: str) -> str:
        """Import a personality state from a snapshot; returns the new session id."""
        raise NotImplementedError(f"import_snapshot {_PENDING}")

    async def get_session_analytics(self, session_id: str) -> dict[str, Any]:
        """Metrics of one session."""
        raise NotImplementedError(f"get_session_analytics {_PENDING}")
