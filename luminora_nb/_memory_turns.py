"""The v1.1 turn extension: what a memory-enabled turn recalls before the provider and learns after.

:class:`MemoryTurnExtension` is the :class:`~luminora_nb.turns.TurnExtension` that
:class:`~luminora_nb.client_v11.LuminoraCoreClientV11` attaches to its base client.

* :meth:`~MemoryTurnExtension.prepare` (before the provider) sets the turn's
  relationship level (the persona's level at the stored points, or the default ladder's),
  its mood (the session's stored mood state) and its memories: the ranked facts and top
  episodes (:func:`~luminora_nb.memory.ranking.rank_memories`, the persona's caps and the
  client's ``importance_threshold`` / ``decay_factor``) and up to ``prompt_search_hits``
  search hits for the message, each line sanitised so nothing a user said can spell the
  fence of the prompt's memory block. It also gives the offline simulator the user's name
  and a few fact lines (``context["user_name"]``, ``context["facts"]``).
* :meth:`~MemoryTurnExtension.complete` (after the turn is stored) runs the pure
  :class:`~luminora_nb.memory.MemoryPipeline` and stores what it learned: merged facts,
  the episode, the affinity change with its history entry, the mood; then embeds the new
  memories and the user message for search. It returns the events to publish.

**Sources.** A learned fact's ``source`` and an episode's ``source_messages`` point to
the user message they came from: ``message_index`` is the turn index (the n-th user
message of the session; its stored position in the conversation is ``2 * n`` when every
turn was answered) and ``text`` the sentence or message; the session id is stored too.

**Failures never fail the turn.** Each stage is guarded: an extractor that fails is an
``ExtractionFailed`` event (with the raw output; the rules extractor's facts are kept);
an exception in the pipeline, a store or the embedder is a ``MemoryFailed`` event naming
the stage. A failure in ``prepare`` leaves the turn without memories, never without a
reply.

**Embeddings.** Vectors are saved with the store's ``save_embedding`` (with the
embedder's ``model_id`` and ``dimension``; the store keeps them as float32 arrays where it
can) under stable item ids (``fact:<category>:<key>``, ``episode:<id>``,
``message:<session>:<turn>``). A store without embeddings (a custom store written from the
reference's eight methods) still searches: its facts and episodes are embedded at query
time. Search candidates are always today's facts and episodes, so a deleted or changed
fact never comes back from an old vector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from .events import EpisodeCreated, ExtractionFailed, FactLearned, MemoryFailed, MoodChanged, SentimentScored
from .memory._pipeline import LearningState, TurnLearning
from .memory.facts import FactUpdate, kept_categories, merge_fact
from .memory.mood import MoodStep, effective_mood_config, mood_definition
from .memory.ranking import fact_line, rank_memories, sanitise_line
from .personality.validate import definition_for
from .relationship.affinity import level_definition, starting_points
from .turns import TurnExtension, TurnState
from .types.memory import Episode, ExtractedFact, Fact, FactCategory, episode_fields
from .types.persona import PersonaDefinition

if TYPE_CHECKING:
    from .client_v11 import LuminoraCoreClientV11
    from .events import Event
    from .memory.search import MemoryCandidate, SearchHit
    from .types.provider import ChatResponse

__all__ = ["MemoryTurnExtension", "episode_item_id", "episode_text", "fact_item_id", "fact_text"]

logger = logging.getLogger("luminora_nb.memory")

#: Fact lines handed to the offline simulator (it recalls one now and then).
_SIMULATOR_FACTS = 6
#: The least cosine similarity of a stored memory recalled into the prompt (below it the
#: memory is about something else; the block is for what the message calls to mind).
_MIN_RECALL = 0.3
#: Turns whose loaded state is kept between prepare() and complete().
_MAX_LOADED = 256


@dataclass(frozen=True)
class _Loaded:
    """What prepare() read for one turn."""

    turn: TurnState
    definition: PersonaDefinition
    affinity: Mapping[str, Any] | None
    mood: Mapping[str, Any] | None
    facts: Sequence[Mapping[str, Any]]


def fact_item_id(fact: Mapping[str, Any] | Fact) -> str:
    """The search item id of a fact: ``fact:<category>:<key>``."""
    if isinstance(fact, Fact):
        return f"fact:{fact.category}:{fact.key}"
    return f"fact:{fact.get('category')}:{fact.get('key')}"


def fact_text(fact: Mapping[str, Any] | Fact) -> str:
    """The text a fact is embedded and shown as (its prompt line, e.g. ``pet dog: Rex``)."""
    return fact_line(fact if isinstance(fact, Fact) else Fact.model_validate(dict(fact)))


def episode_item_id(episode: Mapping[str, Any] | Episode) -> str:
    """The search item id of an episode: ``episode:<episode_id>``."""
    value = episode.episode_id if isinstance(episode, Episode) else episode.get("episode_id")
    return f"episode:{value}"


def episode_text(episode: Mapping[str, Any] | Episode) -> str:
    """The text an episode is embedded as: its title and summary."""
    if isinstance(episode, Episode):
        return f"{episode.title}. {episode.summary}"
    return f"{episode.get('title', '')}. {episode.get('summary', '')}"


class MemoryTurnExtension(TurnExtension):
    """Recall before the provider, learn after the turn is stored (see the module docstring).

    Args:
        client: The v1.1 client whose store, pipeline, embedder and events it uses.
    """

    def __init__(self, client: LuminoraCoreClientV11) -> None:
        self.client = client
        # What prepare() loaded for a turn, reused by its complete(): the turn holds its
        # session's lock throughout, so the session's mood cannot change in between, and
        # the affinity is read again under its own lock before it is written. Keyed by
        # id(turn) and checked by identity; a turn whose provider failed never completes,
        # so the table is bounded.
        self._loaded: dict[int, _Loaded] = {}

    def __repr__(self) -> str:
        return f"<MemoryTurnExtension of {self.client!r}>"

    # -- before the provider --------------------------------------------------------------
    async def prepare(self, turn: TurnState) -> None:
        """Set the turn's level, mood and memories (nothing when memory is disabled)."""
        client = self.client
        if not client.memory_config.enabled:
            return
        user_id = client.user_of(turn.user_id)
        try:
            await self._prepare(turn, user_id)
        except Exception as exc:
            logger.exception("memory recall failed before turn %d", turn.turn_index)
            await client.publish([_failure(turn, user_id, "prepare", exc)])

    async def _prepare(self, turn: TurnState, user_id: str) -> None:
        client, storage = self.client, self.client.storage
        definition = definition_for(turn.personality)
        name = turn.personality.name
        row = await storage.get_affinity(user_id, name)
        points = int(row["affinity_points"]) if row else starting_points(definition)
        turn.level, turn.affinity_points = level_definition(definition, points), points
        mood_row = await storage.get_mood(turn.session_id)
        mood = MoodStep.from_record(mood_row, effective_mood_config(definition))
        turn.mood, turn.mood_intensity = mood_definition(definition, mood.mood), mood.intensity
        facts = await storage.get_facts(user_id)
        episodes = await storage.get_episodes(user_id)
        if len(self._loaded) >= _MAX_LOADED:
            self._loaded.pop(next(iter(self._loaded)))
        self._loaded[id(turn)] = _Loaded(turn, definition, row, mood_row, facts)
        selection = rank_memories(
            facts,
            episodes,
            preferences=definition.memory_preferences,
            config=client.memory_config,
            query=turn.user_message,
        )
        lines = selection.lines
        # Search hits are what semantic search adds to the ranking (which already lifts
        # items sharing a word with the message): none without an embedder.
        if client.prompt_search_hits and await self._can_embed(turn, user_id):
            shown = {fact_item_id(r.fact) for r in selection.facts}
            shown |= {episode_item_id(r.episode) for r in selection.episodes}
            # only what this persona attends to, as in the ranking
            preferences = definition.memory_preferences
            kept = kept_categories(preferences)
            attended = [f for f in facts if f.get("category") in kept] if preferences.remember_facts else []
            moments = list(episodes) if preferences.remember_episodes else []
            hits = await self._prompt_hits(
                turn, user_id, client.prompt_search_hits + len(shown), attended, moments
            )
            recalled = [h for h in hits if h[0] not in shown][: client.prompt_search_hits]
            lines = [*lines, *(sanitise_line(f"recalled {kind}: {text}") for _, kind, text in recalled)]
        turn.memories = lines
        name_fact = next(
            (f for f in facts if f.get("category") == "personal_info" and f.get("key") == "name"), None
        )
        if name_fact is not None and isinstance(name_fact.get("value"), str):
            turn.context["user_name"] = name_fact["value"]
        if selection.facts:
            turn.context["facts"] = [fact_line(r.fact) for r in selection.facts[:_SIMULATOR_FACTS]]

    async def _can_embed(self, turn: TurnState, user_id: str) -> bool:
        """Whether an embedder is configured and loads (a failure is an ``embed`` event)."""
        try:
            return self.client.embedder() is not None
        except Exception as exc:
            await self.client.publish([_failure(turn, user_id, "embed", exc)])
            return False

    async def _prompt_hits(
        self,
        turn: TurnState,
        user_id: str,
        limit: int,
        facts: Sequence[Mapping[str, Any]],
        episodes: Sequence[Mapping[str, Any]],
    ) -> list[tuple[str, str, str]]:
        """``(item_id, kind, text)`` of the stored memories nearest to the message.

        On every turn, so it asks the store's own vector search (DuckDB ranks its binary
        vectors in the engine; other stores run one exact numpy ranking) instead of
        building a :class:`~luminora_nb.memory.MemoryIndex`; only vectors of the current
        embedder count, and a fact or episode only while it is still what was embedded.
        A store without vector search gets the full search. Failures are ``embed`` events.
        """
        try:
            native = getattr(self.client.storage, "search_embeddings", None)
            if native is None:
                hits = await self.search(user_id, turn.user_message, limit, facts=facts, episodes=episodes)
                return [(h.item_id, h.kind, h.text) for h in hits]
            embedder = self.client.embedder()
            assert embedder is not None
            query = await _embed(embedder, [turn.user_message])
            current = {fact_item_id(f): fact_text(f) for f in facts}
            current |= {episode_item_id(e): episode_text(e) for e in episodes}
            rows = await native(user_id, [float(v) for v in query[0]], limit=limit * 2)
            out = []
            for row in rows:
                item_id, kind, text = str(row.get("item_id")), str(row.get("kind")), str(row.get("text", ""))
                if row.get("model_id") != embedder.model_id or float(row.get("score", 0.0)) < _MIN_RECALL:
                    continue
                if kind == "message" or current.get(item_id) == text:
                    out.append((item_id, kind, text))
            return out[:limit]
        except Exception as exc:
            await self.client.publish([_failure(turn, user_id, "embed", exc)])
            return []

    # -- search -------------------------------------------------------------------------
    async def search(
        self,
        user_id: str,
        query: str,
        limit: int,
        *,
        facts: Sequence[Mapping[str, Any]] | None = None,
        episodes: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[SearchHit]:
        """The user's memories nearest to ``query`` (facts, episodes and past messages)."""
        from .memory.search import MemoryIndex

        candidates = await self._candidates(user_id, facts, episodes)
        if not candidates:
            return []
        embedder = self.client.embedder()
        if embedder is None:  # no embedder: words only
            from .memory.search import lexical_tokens

            words = set(lexical_tokens(query))
            scored = [(len(words & set(lexical_tokens(c.text))), c) for c in candidates]
            return [
                _lexical_hit(c, score / max(1, len(words)))
                for score, c in sorted(scored, key=lambda s: -s[0])[:limit]
                if score > 0
            ]
        index = MemoryIndex(candidates, embedder, policy="reembed")
        hits = index.search(query, limit=limit)
        if index.reembedded:
            await self._save_vectors(
                user_id, [c for c in candidates if c.item_id in index.reembedded], index.reembedded
            )
        return hits

    async def _candidates(
        self,
        user_id: str,
        facts: Sequence[Mapping[str, Any]] | None,
        episodes: Sequence[Mapping[str, Any]] | None,
    ) -> list[MemoryCandidate]:
        from .memory.search import MemoryCandidate

        storage = self.client.storage
        facts = facts if facts is not None else await storage.get_facts(user_id)
        episodes = episodes if episodes is not None else await storage.get_episodes(user_id)
        getter = getattr(storage, "get_embeddings", None)
        stored: dict[str, Mapping[str, Any]] = {}
        if getter is not None:
            stored = {str(row.get("item_id")): row for row in await getter(user_id)}

        def candidate(
            memory: Mapping[str, Any], item_id: str, kind: str, text: str, **extra: Any
        ) -> MemoryCandidate:
            row = stored.get(item_id) or {}
            if row.get("text") != text:
                row = {}  # a vector of other text (the fact changed since) is no vector: embed again
            vector = {k: row.get(k) for k in ("vector", "model_id", "dimension")}
            return MemoryCandidate.from_document(
                {**memory, "item_id": item_id, "kind": kind, "text": text, **vector, **extra}
            )

        out = [
            candidate(f, fact_item_id(f), "fact", fact_text(f), importance=f.get("confidence")) for f in facts
        ]
        out += [candidate(e, episode_item_id(e), "episode", episode_text(e)) for e in episodes]
        out += [MemoryCandidate.from_document(r) for r in stored.values() if r.get("kind") == "message"]
        return out

    # -- after the turn -----------------------------------------------------------------
    async def complete(self, turn: TurnState, response: ChatResponse) -> list[Event]:
        """Learn from the user's message; returns the events to publish."""
        client = self.client
        if not client.memory_config.enabled:
            return []
        user_id = client.user_of(turn.user_id)
        try:
            learned, definition, affinity_row, known = await self._learn(turn, user_id)
        except Exception as exc:
            logger.exception("memory pipeline failed after turn %d", turn.turn_index)
            return [_failure(turn, user_id, "learn", exc)]
        events: list[Event] = [
            SentimentScored(
                session_id=turn.session_id,
                user_id=user_id,
                sentiment=learned.sentiment.label,
                score=round(learned.sentiment.valence, 4),
                turn_index=turn.turn_index,
            )
        ]
        if learned.extraction_failed:
            extraction = learned.extraction
            events.append(
                ExtractionFailed(
                    session_id=turn.session_id,
                    user_id=user_id,
                    extractor=extraction.extractor,
                    error=extraction.error or "extraction failed",
                    raw=extraction.raw,
                    attempts=extraction.attempts,
                    fallback=learned.fallback is not None,
                )
            )
        stored: list[Event] = []
        try:
            stored = await self._store(turn, user_id, learned, definition, affinity_row, known)
        except Exception as exc:
            logger.exception("storing what turn %d taught failed", turn.turn_index)
            events.append(_failure(turn, user_id, "store", exc))
        events += stored
        try:
            episodes = [
                {
                    **e.model_dump(
                        mode="json", include={"episode_type", "title", "summary", "importance", "timestamp"}
                    ),
                    "episode_id": e.episode_id,
                }
                for e in stored
                if isinstance(e, EpisodeCreated)
            ]
            await self.embed(
                user_id,
                facts=[u.fact for u in learned.facts if u.is_news],
                episodes=episodes,
                message=(f"message:{turn.session_id}:{turn.turn_index}", turn.user_message),
                session_id=turn.session_id,
            )
        except Exception as exc:
            events.append(_failure(turn, user_id, "embed", exc))
        return events

    async def _learn(
        self, turn: TurnState, user_id: str
    ) -> tuple[TurnLearning, PersonaDefinition, Mapping[str, Any] | None, Sequence[Mapping[str, Any]]]:
        storage = self.client.storage
        loaded = self._loaded.pop(id(turn), None)
        if loaded is not None and loaded.turn is turn:
            definition, affinity_row = loaded.definition, loaded.affinity
            mood_row, known = loaded.mood, loaded.facts
        else:  # prepare() did not run or failed: read it all now
            definition = definition_for(turn.personality)
            affinity_row = await storage.get_affinity(user_id, turn.personality.name)
            mood_row, known = await storage.get_mood(turn.session_id), await storage.get_facts(user_id)
        state = LearningState(
            user_id=user_id,
            session_id=turn.session_id,
            turn_index=turn.turn_index,
            affinity_points=int(affinity_row["affinity_points"]) if affinity_row else None,
            mood=mood_row,
            known_facts=known,
        )
        learned = await self.client.pipeline.aanalyse(
            turn.user_message, state, definition, self.client.memory_config
        )
        return learned, definition, affinity_row, known

    async def _store(
        self,
        turn: TurnState,
        user_id: str,
        learned: TurnLearning,
        definition: PersonaDefinition,
        affinity_row: Mapping[str, Any] | None,
        known: Sequence[Mapping[str, Any]],
    ) -> list[Event]:
        from .client_v11 import affinity_event, fact_extras

        client, storage = self.client, self.client.storage
        events: list[Event] = []
        read = {(str(f.get("category")), str(f.get("key"))): f.get("updated_at") for f in known}
        for update in learned.facts:
            fact = update.fact
            async with client.lock("fact", user_id, fact.category, fact.key):
                update = await self._remerge(user_id, turn, update, read)
                fact = update.fact
                await storage.save_fact(
                    user_id,
                    fact.category,
                    fact.key,
                    fact.value,
                    **fact_extras(fact),
                    personality_name=turn.personality.name,
                )
            if update.is_news:
                events.append(
                    FactLearned(
                        session_id=turn.session_id,
                        user_id=user_id,
                        **fact.model_dump(include={"category", "key", "value", "confidence"}),
                        change="updated" if update.change == "updated" else "new",
                        previous_value=update.previous_value,
                    )
                )
        episode = learned.stored_episode
        if episode is not None:
            episode_id = _new_id()
            await storage.save_episode(
                user_id,
                episode.episode_type,
                episode.title,
                episode.summary,
                episode.importance,
                episode.sentiment,
                episode_id=episode_id,
                session_id=turn.session_id,
                personality_name=turn.personality.name,
                timestamp=episode.timestamp.isoformat(),
                source_messages=[ref.model_dump(mode="json") for ref in episode.source_messages],
            )
            events.append(
                EpisodeCreated(
                    session_id=turn.session_id,
                    user_id=user_id,
                    **episode_fields(episode),
                    episode_id=episode_id,
                )
            )
        change = learned.affinity
        if change is not None:
            name = turn.personality.name
            async with client.lock("affinity", user_id, name):
                current = await storage.get_affinity(user_id, name)
                if current is not None and affinity_row is not None and current != affinity_row:
                    # changed meanwhile (update_affinity, another session): apply the delta there
                    from .relationship.affinity import change_affinity

                    change = change_affinity(
                        int(current["affinity_points"]),
                        change.points_delta,
                        definition=definition,
                        interaction_type=change.interaction_type,
                        reason="interaction",
                    )
                await client.save_affinity_change(user_id, name, change, current)
            if change.changed or current is None:
                events.append(affinity_event(user_id, name, change, turn.session_id, current is None))
        mood = learned.mood
        await storage.save_mood(turn.session_id, user_id, **mood.record())
        if mood.changed:
            events.append(
                MoodChanged(
                    session_id=turn.session_id,
                    user_id=user_id,
                    previous_mood=mood.previous_mood,
                    current_mood=mood.mood,
                    mood_intensity=mood.intensity,
                    reason=mood.reason,
                    trigger=mood.trigger,
                )
            )
        return events

    async def _remerge(
        self, user_id: str, turn: TurnState, update: FactUpdate, read: Mapping[tuple[str, str], Any]
    ) -> FactUpdate:
        """``update`` merged again into the stored fact if that changed since the turn read it.

        Another session of the same user (or ``save_fact``) may have written the fact while
        this turn's provider answered: its value then goes to the history instead of being
        overwritten.
        """
        fact = update.fact
        rows = [
            f for f in await self.client.storage.get_facts(user_id, fact.category) if f.get("key") == fact.key
        ]
        stored = rows[0] if rows else None
        if (stored.get("updated_at") if stored else None) == read.get((fact.category, fact.key)):
            return update  # unchanged since it was read: the pipeline's merge stands
        new = ExtractedFact.model_construct(
            category=cast("FactCategory", fact.category),
            key=fact.key,
            value=fact.value,
            confidence=fact.confidence,
            source=fact.source,
            extractor=self.client.pipeline.extractor.name,
        )
        return merge_fact(stored, new, user_id=user_id, session_id=turn.session_id)

    # -- embeddings ---------------------------------------------------------------------

    async def embed_quietly(
        self,
        user_id: str,
        *,
        facts: Iterable[Fact] = (),
        episodes: Iterable[Mapping[str, Any] | Episode] = (),
        session_id: str | None = None,
    ) -> None:
        """:meth:`embed`, a failure published as a ``MemoryFailed`` event instead of raised."""
        try:
            await self.embed(user_id, facts=facts, episodes=episodes, session_id=session_id)
        except Exception as exc:
            await self.client.publish([_failure(session_id, user_id, "embed", exc)])

    async def embed(
        self,
        user_id: str,
        *,
        facts: Iterable[Fact] = (),
        episodes: Iterable[Mapping[str, Any] | Episode] = (),
        message: tuple[str, str] | None = None,
        session_id: str | None = None,
    ) -> None:
        """Embed and save the vectors of new memories (nothing without an embedder or a vector store)."""
        storage = self.client.storage
        if getattr(storage, "save_embedding", None) is None:
            return
        embedder = self.client.embedder()
        if embedder is None:
            return
        from .memory.search import MemoryCandidate

        items: list[MemoryCandidate] = []
        for fact in facts:
            items.append(
                MemoryCandidate(
                    fact_item_id(fact),
                    "fact",
                    fact_text(fact),
                    importance=fact.confidence,
                    timestamp=fact.updated_at,
                )
            )
        for episode in episodes:
            data = episode.model_dump(mode="json") if isinstance(episode, Episode) else dict(episode)
            items.append(
                MemoryCandidate.from_document(
                    {**data, "item_id": episode_item_id(data), "kind": "episode", "text": episode_text(data)}
                )
            )
        if message is not None:
            items.append(MemoryCandidate(message[0], "message", message[1]))
        if not items:
            return
        vectors = await _embed(embedder, [item.text for item in items])
        await self._save_vectors(
            user_id, items, {i.item_id: v for i, v in zip(items, vectors, strict=True)}, session_id=session_id
        )

    async def _save_vectors(
        self,
        user_id: str,
        items: Sequence[MemoryCandidate],
        vectors: Mapping[str, Any],
        *,
        session_id: str | None = None,
    ) -> None:
        storage = self.client.storage
        embedder = self.client.embedder()
        if getattr(storage, "save_embedding", None) is None or embedder is None:
            return
        from .memory.embeddings import embedding_metadata

        meta = embedding_metadata(embedder)
        for item in items:
            vector = vectors.get(item.item_id)
            if vector is None:
                continue
            extra: dict[str, Any] = {**meta}
            if item.importance is not None:
                extra["importance"] = item.importance * (10.0 if item.kind == "episode" else 1.0)
            if item.timestamp is not None:
                extra["timestamp"] = item.timestamp.isoformat()
            # a memory embedded again keeps the session it came from
            where = session_id if session_id is not None else item.item.get("session_id")
            if isinstance(where, str):
                extra["session_id"] = where
            await storage.save_embedding(
                user_id, item.item_id, item.kind, item.text, [float(v) for v in vector], **extra
            )


async def _embed(embedder: Any, texts: list[str]) -> Any:
    from .memory.embeddings import StaticEmbedder

    if isinstance(embedder, StaticEmbedder):  # microseconds a sentence: no thread hop
        return embedder.embed(texts)
    return await asyncio.to_thread(embedder.embed, texts)  # a model or an HTTP endpoint


def _failure(
    turn: TurnState | str | None,
    user_id: str | None,
    stage: Literal["prepare", "learn", "store", "embed"],
    exc: BaseException,
) -> MemoryFailed:
    """The ``MemoryFailed`` event of a stage that raised (``turn``: the turn or its session id)."""
    return MemoryFailed(
        session_id=turn.session_id if isinstance(turn, TurnState) else turn,
        user_id=user_id,
        stage=stage,
        error_type=type(exc).__name__,
        message=str(exc),
    )


def _lexical_hit(candidate: MemoryCandidate, score: float) -> SearchHit:
    from .memory.search import SearchHit

    return SearchHit(
        item_id=candidate.item_id,
        kind=candidate.kind,
        text=candidate.text,
        score=round(score, 6),
        similarity=0.0,
        lexical=round(score, 6),
        importance=candidate.importance,
        recency=None,
        item=candidate.item,
    )


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex
