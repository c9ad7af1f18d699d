"""``LuminoraCoreClientV11``: the v1.1 client — memory and relationships that learn.

Constructing ``LuminoraCoreClientV11(base_client, storage_v11=...)`` attaches its memory
and relationship pipeline to the base client's turns (a
:class:`~luminora_nb.turns.TurnExtension`, see :mod:`luminora_nb._memory_turns`), so
``base_client.send_message`` / ``stream_message`` learn into ``storage_v11`` exactly as
the reference's examples are written; nothing else has to change in user code.

What a memory-enabled turn does (``base_client.memory_config.enabled``, on by default):

* **before the provider** it loads the user's relationship with the persona (points and
  level), the session's mood, the facts and top episodes worth the prompt
  (:mod:`luminora_nb.memory.ranking`) and the memories nearest to the message by meaning
  (semantic search); the compiled system prompt gets the level's modifiers and rules, the
  mood and those memories inside its fenced data block (user text can never close it);
* **after the reply is stored** it runs :class:`~luminora_nb.memory.MemoryPipeline`
  (sentiment, facts, episode, interaction type, affinity, mood), stores what was learned,
  embeds new memories and the message for search, and publishes ``SentimentScored``,
  ``FactLearned``, ``EpisodeCreated``, ``AffinityChanged`` and ``MoodChanged`` events
  (the session log records them). A failing extractor, embedder or store never fails the turn: the turn is
  stored and the failure is an ``ExtractionFailed`` / ``MemoryFailed`` event.

Sessions belong to the ``user_id`` given at ``create_session``, else ``default_user_id``
(the base client's, else ``"default_user"``), never to an id derived from the session.

The base client may be any object with the methods used (duck typing, for code written
for LuminoraCore): without ``get_personality`` the default level ladder is used, without
an ``events`` bus nothing is published, without ``add_extension`` turns do not learn.

Example:
    >>> import asyncio
    >>> from luminora_nb.client import LuminoraCoreClient
    >>> from luminora_nb.storage import InMemoryStorageV11
    >>> async def main():
    ...     base = LuminoraCoreClient()
    ...     v11 = LuminoraCoreClientV11(base, storage_v11=InMemoryStorageV11(), embedder=None)
    ...     sid = await base.create_session("aurora", user_id="u1")
    ...     await base.send_message(sid, "Hi! My name is Diego and I love jazz.")
    ...     facts = await v11.get_facts("u1")
    ...     return [(f["key"], f["value"]) for f in facts]
    >>> asyncio.run(main())
    [('name', 'Diego'), ('jazz', 'likes')]
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from . import _arguments
from ._arguments import EpisodeArguments, arguments_of

# affinity_event and fact_extras stay importable from here: the turn extension
# (_memory_turns) publishes and stores what the client's methods do
from ._client_v11_support import affinity_event as affinity_event
from ._client_v11_support import (
    attached_extension,
    check_category,
    check_fact_key,
    episode_event,
    new_id,
    pick_extractor,
    remember_extension,
)
from ._client_v11_support import fact_extras as fact_extras
from ._locks import LoopFreeLock
from ._memory_turns import MemoryTurnExtension
from .errors import SessionError, shown
from .events import Event, FactDeleted, FactLearned
from .memory._pipeline import MemoryPipeline
from .memory.facts import FactExtractor, merge_fact
from .personality.validate import definition_for
from .relationship.affinity import (
    DEFAULT_HISTORY_LIMIT,
    AffinityChange,
    change_affinity,
    check_points_delta,
    interaction_change,
    level_name,
    starting_points,
)
from .types.memory import (
    EPISODE_TYPES,
    SENTIMENTS,
    EpisodeDict,
    ExtractedFact,
    FactCategory,
    FactDict,
    MemorySearchResult,
    check_importance,
    check_unit,
    check_user_id,
)
from .types.persona import PersonaDefinition
from .types.personality import PersonalityData
from .types.relationship import AffinityDict
from .types.session import MemoryConfig
from .types.snapshot import PersonalitySnapshotDict, SnapshotExportOptions

if TYPE_CHECKING:
    from .memory.embeddings import Embedder
    from .snapshot import Snapshot
    from .storage.base import StorageV11Extension
    from .types.provider import ChatResponse

__all__ = ["DEFAULT_USER_ID", "LuminoraCoreClientV11"]


#: The user of sessions created without a ``user_id`` (when the base client sets none).
DEFAULT_USER_ID = "default_user"

PersonalityRef = str | PersonalityData


class LuminoraCoreClientV11:
    """v1.1 features on top of a base client, and the pipeline that makes its turns learn.

    Args:
        base_client: The v1.0 client whose personalities, sessions and turns are used.
        storage_v11: Where user state lives; defaults to the base client's ``storage``.
        extractor: The fact extractor: ``"rules"`` (offline, the default), ``"llm"`` (an
            :class:`~luminora_nb.memory.LLMFactExtractor` on the base client's
            ``default_provider``: validated JSON, one retry, the rules' facts kept and an
            ``ExtractionFailed`` event when it fails), or any
            :class:`~luminora_nb.memory.FactExtractor` such as
            ``LLMFactExtractor(create_provider(ProviderConfig(name="openai", ...)))``.
        embedder: The embedder of semantic search: ``"default"`` (the shipped offline
            model, loaded on first use), any :class:`~luminora_nb.memory.Embedder`, or
            ``None`` (no embeddings; ``search_memories`` ranks by words only).
        learn: Attach the pipeline to the base client's turns (default ``True``). A base
            client has one pipeline: constructing another v1.1 client on it hands the
            pipeline to the newer one, so a turn never learns twice.
        default_user_id: The user of sessions created without one (else the base
            client's ``default_user_id``, else ``"default_user"``).
        prompt_search_hits: How many search hits for the current message join the
            prompt's memory block (0: none).

    Raises:
        SessionError: no ``storage_v11`` and a base client without ``storage``.
    """

    def __init__(
        self,
        base_client: Any,
        storage_v11: StorageV11Extension | None = None,
        *,
        extractor: FactExtractor | Literal["rules", "llm"] | None = None,
        embedder: Embedder | Literal["default"] | None = "default",
        learn: bool = True,
        default_user_id: str | None = None,
        prompt_search_hits: int = 3,
    ) -> None:
        storage = storage_v11 if storage_v11 is not None else getattr(base_client, "storage", None)
        if storage is None:
            raise SessionError(
                "LuminoraCoreClientV11 needs a v1.1 store: pass storage_v11=InMemoryStorageV11() "
                "(or any StorageV11Extension), or a base client that has a .storage"
            )
        if default_user_id is not None:
            check_user_id(default_user_id)
        if (
            isinstance(prompt_search_hits, bool)
            or not isinstance(prompt_search_hits, int)
            or prompt_search_hits < 0
        ):
            raise SessionError(f"prompt_search_hits must be an integer >= 0, got {shown(prompt_search_hits)}")
        self.base_client = base_client
        self.storage: StorageV11Extension = storage
        self.pipeline = MemoryPipeline(pick_extractor(extractor, base_client))
        self._embedder_choice = embedder
        self._embedder: Embedder | None = None
        self.default_user_id = default_user_id
        self.prompt_search_hits = prompt_search_hits
        # read-modify-write of one (user, personality) affinity or (user, category, key)
        # fact must not interleave; loop-free: the facade and successive asyncio.run calls
        self._locks: dict[tuple[str, ...], LoopFreeLock] = {}
        add = getattr(base_client, "add_extension", None)
        self.learning = bool(learn and callable(add))
        attached = attached_extension(base_client) if self.learning else None
        if attached is not None:
            # One learning pipeline per base client: a turn must not learn twice, so a
            # newer v1.1 client (its store, extractor, embedder) takes the existing one over.
            attached.client = self
            self.extension = attached
        else:
            self.extension = MemoryTurnExtension(self)
            if self.learning:
                assert add is not None
                add(self.extension)
                remember_extension(base_client, self.extension)

    def __repr__(self) -> str:
        return f"<LuminoraCoreClientV11 base={self.base_client!r} learning={self.learning}>"

    # -- what the turn extension and the methods share -------------------------------------
    @property
    def memory_config(self) -> MemoryConfig:
        """The base client's ``memory_config`` (defaults when it has none)."""
        config = getattr(self.base_client, "memory_config", None)
        return config if isinstance(config, MemoryConfig) else MemoryConfig()

    def user_of(self, session_user: str | None) -> str:
        """The user a session belongs to: its own, else the default user."""
        if session_user:
            return session_user
        base_default = getattr(self.base_client, "default_user_id", None)
        return (
            self.default_user_id
            or (base_default if isinstance(base_default, str) else None)
            or DEFAULT_USER_ID
        )

    def embedder(self) -> Embedder | None:
        """The embedder of semantic search (loaded on first use), or ``None`` if disabled.

        Raises:
            EmbeddingError: the default model cannot be loaded (``model2vec`` missing).
        """
        if self._embedder is None and self._embedder_choice is not None:
            if self._embedder_choice == "default":
                from .memory.embeddings import default_embedder

                self._embedder = default_embedder()
            else:
                self._embedder = self._embedder_choice
        return self._embedder

    def lock(self, *key: str) -> LoopFreeLock:
        """The lock of one read-modify-write (an affinity, a fact)."""
        return self._locks.setdefault(key, LoopFreeLock())

    async def publish(self, events: list[Event]) -> None:
        """Publish ``events`` on the base client's bus (none: nothing is published)."""
        bus = getattr(self.base_client, "events", None)
        publish = getattr(bus, "publish", None)
        if publish is None:
            return
        for event in events:
            await publish(event)

    async def resolve(self, personality: Any) -> tuple[str, PersonaDefinition | None]:
        """The name and definition of a personality given by name or as ``PersonalityData``.

        An unknown name (or a base client without ``get_personality``) has no definition:
        the default ladder and interaction points apply.

        Raises:
            SessionError: neither a non-empty string nor a ``PersonalityData``.
        """
        if isinstance(personality, PersonalityData):
            return personality.name, definition_for(personality)
        if not isinstance(personality, str) or not personality.strip():
            raise SessionError(
                f"personality_name must be a name or a PersonalityData, got {shown(personality)} "
                f"({type(personality).__name__})"
            )
        getter = getattr(self.base_client, "get_personality", None)
        found = None
        if getter is not None:
            try:
                found = await getter(personality)
            except Exception:  # an invalid name for the registry is still a valid key here
                found = None
        return personality, definition_for(found) if isinstance(found, PersonalityData) else None

    # -- memory -------------------------------------------------------------------------
    async def get_facts(self, user_id: str, category: str | None = None) -> list[FactDict]:
        """Facts learned about the user (of one category if given), in the order first learned.

        Raises:
            SessionError: a user id that is not a non-empty string, an unknown category.

        Example:
            >>> # facts = await client_v11.get_facts("user123", category="personal_info")
        """
        user_id = check_user_id(user_id)
        if category is not None:
            check_category(category)
        rows = await self.storage.get_facts(user_id, category)
        return [cast(FactDict, row) for row in rows]

    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[EpisodeDict]:
        """Memorable episodes, most important first, optionally filtered and capped.

        Raises:
            SessionError: a bad user id, ``min_importance`` outside 0..10, a negative
                ``max_results``.
        """
        user_id = check_user_id(user_id)
        if min_importance is not None:
            check_importance(min_importance)
        if max_results is not None and (
            isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 0
        ):
            raise SessionError(f"max_results must be an integer >= 0 or None, got {shown(max_results)}")
        rows = await self.storage.get_episodes(user_id, min_importance, max_results)
        return [cast(EpisodeDict, row) for row in rows]

    async def save_fact(
        self, user_id: str, category: str, key: str, value: Any, confidence: float = 1.0, **kwargs: Any
    ) -> bool:
        """Save (or update) a fact; an existing value of the same (category, key) goes to its history.

        Extra keywords (``session_id``, ``source_message`` ...) are stored with it.

        Raises:
            SessionError: a bad user id, an unknown category, an empty key, a confidence
                outside 0..1.

        Example:
            >>> # await client_v11.save_fact("user123", "preferences", "tea", "likes", confidence=0.9)
        """
        user_id = check_user_id(user_id)
        check_category(category)
        if not isinstance(key, str) or not key.strip():
            raise SessionError(f"fact key must be a non-empty string, got {shown(key)}")
        confidence = check_unit("confidence", confidence)
        async with self.lock("fact", user_id, category, key):
            stored = [f for f in await self.storage.get_facts(user_id, category) if f.get("key") == key]
            update = merge_fact(
                stored[0] if stored else None,
                # any key text is allowed here (the caller names it), so no identifier check
                ExtractedFact.model_construct(
                    category=cast("FactCategory", category),
                    key=key,
                    value=value,
                    confidence=confidence,
                    source=None,
                    extractor="manual",
                ),
                user_id=user_id,
                session_id=kwargs.get("session_id"),
            )
            # the confidence given wins over a merged one: the caller states it
            document = {**kwargs, **fact_extras(update.fact), "confidence": confidence}
            saved = await self.storage.save_fact(user_id, category, key, value, **document)
        await self.publish(
            [
                FactLearned(
                    user_id=user_id,
                    session_id=kwargs.get("session_id"),
                    category=category,
                    key=key,
                    value=value,
                    confidence=confidence,
                    change="updated" if update.change == "updated" else "saved",
                    previous_value=update.previous_value,
                )
            ]
        )
        await self.extension.embed_quietly(user_id, facts=[update.fact], session_id=kwargs.get("session_id"))
        return bool(saved)

    async def delete_fact(
        self, user_id: str, category: str, key: str, *, session_id: str | None = None
    ) -> bool:
        """Forget one fact; ``True`` when it existed.

        A deleted fact is published as a ``FactDeleted`` event (its user, category and key,
        never its value), so every observer of the user (a second memory inspector, the
        session log) sees it go; deleting a fact that is not there publishes nothing.

        Args:
            user_id: Whose fact.
            category: The fact's category.
            key: The fact's key.
            session_id: The session the deletion happens in, when there is one (the
                event carries it).

        Raises:
            SessionError: a bad user id, an unknown category or an empty key.
        """
        user_id = check_user_id(user_id)
        check_category(category)
        check_fact_key(key)
        async with self.lock("fact", user_id, category, key):
            deleted = bool(await self.storage.delete_fact(user_id, category, key))
        if deleted:
            await self.publish(
                [FactDeleted(user_id=user_id, session_id=session_id, category=category, key=key)]
            )
        return deleted

    @arguments_of(_arguments.save_episode)
    async def save_episode(self, episode: EpisodeArguments) -> bool:
        """Save a memorable episode (extra keywords such as ``session_id`` are stored with it).

        Raises:
            SessionError: a bad user id, an unknown episode type or sentiment, an importance
                outside 0..10, an empty title.

        Example:
            >>> # await client_v11.save_episode("user123", "milestone", "Engagement",
            >>> #                               "User got engaged.", 8, "very_positive")
        """
        user_id = check_user_id(episode.user_id)
        episode_type, title, summary, importance, sentiment = episode.fields.values()
        if episode_type not in EPISODE_TYPES:
            raise SessionError(
                f"unknown episode type {shown(episode_type)}; use one of: {', '.join(EPISODE_TYPES)}"
            )
        if sentiment not in SENTIMENTS:
            raise SessionError(f"unknown sentiment {shown(sentiment)}; use one of: {', '.join(SENTIMENTS)}")
        fields = {**episode.fields, "importance": check_importance(importance)}
        if not isinstance(title, str) or not title.strip():
            raise SessionError("an episode needs a non-empty title")
        if not isinstance(summary, str):
            raise SessionError(f"summary must be a string, got {type(summary).__name__}")
        extras = {**episode.extra, "episode_id": episode.extra.get("episode_id") or new_id()}
        checked = EpisodeArguments(user_id, fields, extras)
        saved = await self.storage.save_episode(*checked.positional(), **checked.extra)
        stored = {**extras, "user_id": user_id, **fields}
        await self.publish([episode_event(stored)])
        await self.extension.embed_quietly(user_id, episodes=[stored], session_id=extras.get("session_id"))
        return bool(saved)

    async def get_memory_stats(self, user_id: str) -> dict[str, Any]:
        """Counts of what is remembered about the user, and their relationships.

        Returns ``total_facts``, ``total_episodes``, ``fact_categories`` (count per
        category), ``episode_types`` (count per type), ``most_important_episode`` (the
        episode, or ``None``) and ``affinities`` (per personality: points, level,
        interactions).

        Raises:
            SessionError: a bad user id.
        """
        user_id = check_user_id(user_id)
        facts = await self.storage.get_facts(user_id)
        episodes = await self.storage.get_episodes(user_id)
        return {
            "user_id": user_id,
            "total_facts": len(facts),
            "total_episodes": len(episodes),
            "fact_categories": dict(Counter(str(f.get("category")) for f in facts)),
            "episode_types": dict(Counter(str(e.get("episode_type")) for e in episodes)),
            "most_important_episode": episodes[0] if episodes else None,
            "affinities": await self._affinities(user_id),
        }

    async def _affinities(self, user_id: str) -> dict[str, dict[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        lister = getattr(self.storage, "_list", None)
        if lister is not None:  # our own stores list a user's affinities directly
            from .storage._documents import AFFINITY

            rows = await lister(AFFINITY, user_id, None)
        else:  # a custom store: the personalities the base client knows
            names = getattr(self.base_client, "list_personalities", None)
            for name in await names() if names is not None else []:
                row = await self.storage.get_affinity(user_id, name)
                if row is not None:
                    rows.append(row)
        return {
            str(r["personality_name"]): {
                "affinity_points": r.get("affinity_points"),
                "current_level": r.get("current_level"),
                "total_interactions": r.get("total_interactions", 0),
            }
            for r in rows
        }

    async def search_memories(self, user_id: str, query: str, top_k: int = 5) -> list[MemorySearchResult]:
        """The user's facts, episodes and past messages nearest to ``query`` by meaning.

        Ranked by cosine similarity of the embeddings blended with a small lexical score,
        importance and recency (:class:`~luminora_nb.memory.MemoryIndex`). Stored vectors
        are used when they came from the current embedder; others are embedded again.

        Raises:
            SessionError: a bad user id, an empty query, ``top_k`` not a positive integer.

        Example:
            >>> # hits = await client_v11.search_memories("user123", "my dog?", top_k=5)
        """
        user_id = check_user_id(user_id)
        if not isinstance(query, str) or not query.strip():
            raise SessionError(f"query must be a non-empty string, got {shown(query)}")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0:
            raise SessionError(f"top_k must be a positive integer, got {shown(top_k)}")
        hits = await self.extension.search(user_id, query, top_k)
        return [hit.to_result() for hit in hits]

    # -- affinity -----------------------------------------------------------------------
    async def get_affinity(self, user_id: str, personality_name: PersonalityRef) -> AffinityDict:
        """The relationship of the user with the personality.

        A pair with no history has its starting state: the persona's
        ``affinity_config.initial_points`` (0 without one), the level at those points,
        0 interactions, an empty ``history``. It is not saved until something changes it.

        Raises:
            SessionError: a bad user id or personality.
        """
        user_id = check_user_id(user_id)
        name, definition = await self.resolve(personality_name)
        row = await self.storage.get_affinity(user_id, name)
        if row is not None:
            return cast(AffinityDict, {"total_interactions": 0, "history": [], **row})
        points = starting_points(definition)
        return cast(
            AffinityDict,
            {
                "user_id": user_id,
                "personality_name": name,
                "affinity_points": points,
                "current_level": level_name(definition, points),
                "total_interactions": 0,
                "history": [],
            },
        )

    async def update_affinity(
        self,
        user_id: str,
        personality_name: PersonalityRef,
        points_delta: float | None = None,
        interaction_type: str = "explicit",
        *,
        reason: str | None = None,
    ) -> AffinityDict:
        """Change the affinity and recompute the relationship level; returns the new state.

        With ``points_delta`` the delta is applied as given (kept within 0..100, any
        ``interaction_type`` label); without it, ``interaction_type`` must be one the
        persona scores (``affinity_config.interaction_points``) and its points apply,
        capped by ``max_change_per_turn``. Every change is kept in ``history`` and
        published as an ``AffinityChanged`` event.

        Raises:
            SessionError: a bad user id or personality, a ``points_delta`` that is NaN,
                infinite or not a number, an empty ``interaction_type``.

        Example:
            >>> # await client_v11.update_affinity("user123", "alicia", points_delta=5,
            >>> #                                  interaction_type="positive")
        """
        user_id = check_user_id(user_id)
        name, definition = await self.resolve(personality_name)
        if not isinstance(interaction_type, str) or not interaction_type.strip():
            raise SessionError(f"interaction_type must be a non-empty string, got {shown(interaction_type)}")
        delta = None if points_delta is None else check_points_delta(points_delta)
        async with self.lock("affinity", user_id, name):
            current = await self.storage.get_affinity(user_id, name)
            points = int(current["affinity_points"]) if current else starting_points(definition)
            if delta is not None:
                change: AffinityChange | None = change_affinity(
                    points,
                    delta,
                    definition=definition,
                    interaction_type=interaction_type,
                    reason=reason or "explicit",
                )
            else:
                change = interaction_change(points, interaction_type, definition)
            if change is not None:
                await self.save_affinity_change(user_id, name, change, current)
        if change is not None:
            await self.publish([affinity_event(user_id, name, change, None, current is None)])
        return await self.get_affinity(user_id, name)

    async def save_affinity_change(
        self, user_id: str, name: str, change: AffinityChange, current: Mapping[str, Any] | None
    ) -> None:
        """Store ``change`` on top of ``current`` (the stored record, or ``None``)."""
        stored = current.get("history") if current else None
        # The stored entries are our own records: kept as they are (validating a long
        # history again on every turn would cost more than the rest of the turn).
        history = [*(stored if isinstance(stored, list) else []), change.model_dump(mode="json")]
        await self.storage.save_affinity(
            user_id,
            name,
            change.points_after,
            change.level_after,
            total_interactions=int(current.get("total_interactions", 0)) + 1 if current else 1,
            last_interaction_type=change.interaction_type,
            history=history[-DEFAULT_HISTORY_LIMIT:],
        )

    # -- conveniences -------------------------------------------------------------------
    async def send_message(self, session_id: str, message: str, **kwargs: Any) -> ChatResponse:
        """``base_client.send_message`` (the turn learns through the attached pipeline)."""
        response: ChatResponse = await self.base_client.send_message(session_id, message, **kwargs)
        return response

    async def stream_message(
        self, session_id: str, message: str, **kwargs: Any
    ) -> AsyncGenerator[ChatResponse, None]:
        """``base_client.stream_message`` (the turn learns through the attached pipeline)."""
        async for chunk in self.base_client.stream_message(session_id, message, **kwargs):
            yield chunk

    # -- snapshots and analytics --------------------------------------------------------
    #: The size limit of ``import_snapshot`` / ``load_snapshot``: bytes of the document's
    #: UTF-8 JSON text (default 50 MB). Set it on an instance to allow larger snapshots.
    max_snapshot_bytes: int = 50 * 1024 * 1024

    async def export_snapshot(
        self, session_id: str, options: SnapshotExportOptions | Mapping[str, Any] | None = None
    ) -> PersonalitySnapshotDict:
        """Export a session's personality, relationship, memories and conversation.

        The document has the seed's ``PersonalitySnapshotDict`` shape plus the format
        name and version, the full personality (a blend restores without its sources),
        the blend's sources and weights and the conversation (see
        :mod:`luminora_nb.snapshot`). It never holds a secret. The result is a
        :class:`~luminora_nb.snapshot.Snapshot`: a plain dict that renders as a card.

        Args:
            session_id: The session to export.
            options: ``include_conversation_history``, ``include_facts``,
                ``include_episodes``, ``include_affinity``, ``include_mood`` (default
                ``True``), ``include_embeddings`` (default ``False``), ``max_messages``
                (the last N; default all), ``anonymize_user_data`` (a pseudonym for the
                user id, no message metadata).

        Raises:
            SessionError: an unknown session or an unknown / mistyped option.

        Example:
            >>> # snapshot = await client_v11.export_snapshot("session123",
            >>> #     options={"include_conversation_history": True, "include_facts": True})
        """
        from .snapshot import Snapshot, build_snapshot

        return cast(PersonalitySnapshotDict, Snapshot(await build_snapshot(self, session_id, options)))

    async def import_snapshot(
        self,
        snapshot: PersonalitySnapshotDict | Mapping[str, Any],
        user_id: str,
        *,
        provider_config: Any = None,
        max_bytes: int | None = None,
    ) -> str:
        """Restore a snapshot's state for ``user_id`` as a new session; returns its id.

        The whole document is checked first (size limit :attr:`max_snapshot_bytes`,
        major version, no credentials, shape and ranges), each fault named by its JSON
        path; then every record is written in one all-or-nothing batch. The session is
        usable at once (``send_message(new_id, ...)``).

        Args:
            snapshot: The document (``export_snapshot``'s, a loaded file, another tool's).
            user_id: Whose state it becomes (facts, episodes, affinity, the session).
            provider_config: The new session's provider (default: the snapshot's, which
                never holds an API key: the adapter reads it from its environment).
            max_bytes: This call's size limit (default :attr:`max_snapshot_bytes`).

        Raises:
            SnapshotError: an invalid, too large, newer-major or secret-holding snapshot
                (a :class:`SessionError`); nothing was written.
            SessionError: a bad ``user_id``.
            StorageError: the store failed; nothing was written.

        Example:
            >>> # new_session_id = await client_v11.import_snapshot(snapshot, user_id="user456")
        """
        from .snapshot import apply_snapshot

        limit = self.max_snapshot_bytes if max_bytes is None else max_bytes
        return await apply_snapshot(self, snapshot, user_id, max_bytes=limit, provider_config=provider_config)

    async def save_snapshot(
        self,
        session_id: str,
        path: str | os.PathLike[str],
        options: SnapshotExportOptions | Mapping[str, Any] | None = None,
        *,
        compress: bool | None = None,
    ) -> Path:
        """Export a session and write it to ``path`` as JSON (gzip for ``.gz`` or ``compress=True``).

        Returns the path written (atomically: a reader never sees half a file).

        Example:
            >>> # await client_v11.save_snapshot(sid, "aurora-sam.json.gz")
        """
        from .snapshot import write_snapshot

        return write_snapshot(dict(await self.export_snapshot(session_id, options)), path, compress=compress)

    async def load_snapshot(self, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Snapshot:
        """Read and validate a snapshot file (JSON or gzip); import it with :meth:`import_snapshot`.

        Raises:
            SnapshotError: too large, not JSON, or invalid (the file and JSON paths named).

        Example:
            >>> # snapshot = await client_v11.load_snapshot("aurora-sam.json.gz")
            >>> # new_id = await client_v11.import_snapshot(snapshot, user_id="user456")
        """
        from .snapshot import read_snapshot

        return read_snapshot(path, max_bytes=self.max_snapshot_bytes if max_bytes is None else max_bytes)

    async def get_session_analytics(self, session_id: str) -> dict[str, Any]:
        """Metrics of one session from its stored messages, facts and episodes, with affinity,
        mood and sentiment from the session log when one is attached (else from storage).

        Keys: see :class:`luminora_nb.analytics.session.SessionAnalytics`; where each
        number comes from: :mod:`luminora_nb._session_analytics`.

        Raises:
            SessionError: no such session.
        """
        from ._session_analytics import gather_session_analytics

        return await gather_session_analytics(self, session_id)
