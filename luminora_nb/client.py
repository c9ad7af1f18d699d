"""``LuminoraCoreClient``: the async v1.0 client of the LuminoraCore SDK API.

One turn: load the session, compile the system prompt (definition + relationship level +
mood + memories when extensions provide them), trim the history to ``max_history``, call
the provider, append both messages, persist them, publish events.

Example:
    >>> import asyncio
    >>> from luminora_nb import LuminoraCoreClient, ProviderConfig
    >>> async def main():
    ...     async with LuminoraCoreClient() as client:
    ...         sid = await client.create_session("aurora", ProviderConfig(name="offline"))
    ...         reply = await client.send_message(sid, "Hello!")
    ...         return reply.finish_reason
    >>> asyncio.run(main())
    'stop'
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from .errors import LuminoraError, PersonalityError, SessionError, StorageError
from .events import (
    BlendCreated,
    Event,
    EventBus,
    SessionCreated,
    SessionDeleted,
    SessionExpired,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from .personality.blend import blend_personalities as _blend
from .personality.blend import blend_recipe
from .personality.compile import compile_prompt, effective_parameters
from .personality.library import builtin_names, get_builtin
from .personality.validate import definition_for, parse_personality
from .providers.base import GENERATION_PARAMETERS, ChatRequest, Provider
from .providers.registry import create_provider
from .storage.base import Storage
from .storage.factory import create_storage
from .turns import TurnExtension, TurnState
from .types._base import utcnow
from .types.personality import PersonalityBlend, PersonalityData
from .types.provider import ChatMessage, ChatResponse, ProviderConfig
from .types.session import (
    Conversation,
    MemoryConfig,
    Message,
    MessageRole,
    SessionConfig,
    SessionRecord,
    SessionSummary,
    StorageConfig,
)

if TYPE_CHECKING:
    from .sessionlog import SessionLog

__all__ = ["LuminoraCoreClient"]

logger = logging.getLogger("luminora_nb.client")

_TURN_OPTIONS = frozenset(GENERATION_PARAMETERS) | {"metadata"}


@dataclass
class _Session:
    """A live session: its record, provider and the state of its turns."""

    record: SessionRecord
    personality: PersonalityData
    provider: Provider
    history: list[ChatMessage]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    unsaved: list[Message] = field(default_factory=list)
    memory_keys: list[str] = field(default_factory=list)
    turn_index: int = -1
    inflight: asyncio.Future[None] | None = None
    # A running stream: the task iterating it, whether it waits on the provider, and
    # whether stop_stream asked it to finish early.
    stream_task: asyncio.Task[Any] | None = None
    awaiting_chunk: bool = False
    stop_requested: bool = False

    def __post_init__(self) -> None:
        if self.turn_index < 0:
            self.turn_index = sum(1 for m in self.history if m.role == "user")

    @property
    def session_id(self) -> str:
        return self.record.session_id


def _check_session_id(session_id: object) -> None:
    # Ids reach storage filters (MongoDB, SQL): anything but a plain string is refused here.
    if not isinstance(session_id, str) or not session_id:
        raise SessionError(f"invalid session id {session_id!r}; use the id create_session returned")


def _blend_info(personality: PersonalityData) -> dict[str, Any] | None:
    provenance = personality.metadata.get("blend")
    if not isinstance(provenance, Mapping):
        return None
    return {k: provenance.get(k) for k in ("sources", "weights", "blend_type")}


def _provider_key(config: ProviderConfig) -> str:
    # Sessions with the same config share one adapter (one connection pool); the key is
    # hashed so the API key never sits in a readable structure.
    raw = json.dumps(
        [config.name, config.model, config.base_url, config.api_key, config.extra],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(raw.encode()).hexdigest()


class LuminoraCoreClient:
    """The async client: personalities, blends, sessions, messages and memory.

    Args:
        storage_config: Where sessions are stored (in memory by default).
        memory_config: Limits of the per-session key/value memory.
        storage: A ready backend instance, instead of ``storage_config``.
        default_provider: Provider used when ``create_session`` gets none (offline).
        session_log: Log every session, turn and event to DuckDB: a
            :class:`~luminora_nb.sessionlog.SessionLog`, or the path of its file (the
            client then owns the log and closes it in :meth:`cleanup`).

    Example:
        >>> from luminora_nb.types import StorageConfig, MemoryConfig
        >>> client = LuminoraCoreClient(storage_config=StorageConfig(storage_type="memory"),
        ...                             memory_config=MemoryConfig())
    """

    def __init__(
        self,
        storage_config: StorageConfig | None = None,
        memory_config: MemoryConfig | None = None,
        *,
        storage: Storage | None = None,
        default_provider: ProviderConfig | None = None,
        session_log: SessionLog | str | os.PathLike[str] | None = None,
    ) -> None:
        self.storage_config = storage_config or (storage.config if storage else StorageConfig())
        self.memory_config = memory_config or MemoryConfig()
        self.storage: Storage = storage or create_storage(self.storage_config)
        self.default_provider = default_provider or ProviderConfig(name="offline")
        self.events = EventBus()
        self._personalities: dict[str, PersonalityData] = {}
        self._sessions: dict[str, _Session] = {}
        self._providers: dict[str, Provider] = {}
        self._extensions: list[TurnExtension] = []
        self._initialized = False
        self._init_lock = asyncio.Lock()
        self._resume_lock = asyncio.Lock()
        self.session_log: SessionLog | None = None
        self._owns_log = False
        if session_log is not None:
            if isinstance(session_log, str | os.PathLike):
                from .sessionlog import SessionLog  # lazy: the log needs duckdb and pandas

                self.session_log, self._owns_log = SessionLog(session_log), True
            else:
                self.session_log = session_log
            self.session_log.attach(self)

    def __repr__(self) -> str:
        return (
            f"<LuminoraCoreClient storage={self.storage.backend_name!r} "
            f"sessions={len(self._sessions)} personalities={len(self._personalities)}>"
        )

    # -- life-cycle -------------------------------------------------------------------
    async def initialize(self) -> None:
        """Connect the storage backend. Called automatically on first use."""
        async with self._init_lock:
            if not self._initialized:
                await self.storage.initialize()
                self._initialized = True

    async def _ready(self) -> None:
        if not self._initialized:
            await self.initialize()

    async def cleanup(self) -> None:
        """Close provider connections and the storage backend.

        Stored sessions stay stored; a new client on the same storage can resume them.
        """
        providers, self._providers = list(self._providers.values()), {}
        self._sessions.clear()
        for provider in providers:
            try:
                await provider.aclose()
            except Exception:  # a failing close must not keep the others open
                logger.exception("closing provider %r failed", provider)
        if self._initialized:
            self._initialized = False
            await self.storage.close()
        if self.session_log is not None:
            # flushing writes a file: off the event loop
            log = self.session_log
            await asyncio.to_thread(log.close if self._owns_log else log.flush)

    async def __aenter__(self) -> LuminoraCoreClient:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cleanup()

    def add_extension(self, extension: TurnExtension) -> None:
        """Run ``extension`` on every turn (see :mod:`luminora_nb.turns`)."""
        self._extensions.append(extension)

    # -- personalities ----------------------------------------------------------------
    async def load_personality(self, name: str, data: Mapping[str, Any] | PersonalityData) -> PersonalityData:
        """Load a personality from a full definition or the simple seed form.

        Raises:
            PersonalityError: invalid data; the message lists every fault with its path.
        """
        personality = parse_personality(name, data)
        self._personalities[personality.name] = personality
        return personality

    async def get_personality(self, name: str) -> PersonalityData | None:
        """A loaded (or shipped) personality, or ``None`` if there is none by that name."""
        found = self._lookup(name)
        return found.model_copy(deep=True) if found is not None else None

    def _lookup(self, name: str) -> PersonalityData | None:
        found = self._personalities.get(name)
        if found is None and name in builtin_names():
            found = self._personalities[name] = get_builtin(name)
        return found

    def _require(self, name: str) -> PersonalityData:
        found = self._lookup(name) if isinstance(name, str) else None
        if found is None:
            known = ", ".join(sorted(set(self._personalities) | set(builtin_names())))
            raise PersonalityError(
                f"unknown personality {name!r}; load it with load_personality() first. Known: {known}"
            )
        return found

    async def list_personalities(self) -> list[str]:
        """Names of the loaded and shipped personalities, sorted."""
        return sorted(set(self._personalities) | set(builtin_names()))

    async def blend_personalities(
        self,
        personality_names: Sequence[str],
        weights: Sequence[float],
        blend_name: str,
        *,
        blend_type: str = "weighted_average",
        custom_rules: Mapping[str, Any] | None = None,
    ) -> PersonalityData:
        """Blend personalities by weight and register the result as ``blend_name``.

        Weights are normalised (7 and 3 act as 0.7 and 0.3).

        Raises:
            PersonalityError: no names, an unknown or duplicate name, a weight count
                mismatch, or a negative, NaN, infinite or all-zero weight.
        """
        names = list(personality_names)
        if not names:
            raise PersonalityError("a blend needs at least one personality; pass one or more names")
        sources = [self._require(n) for n in names]
        blended = _blend(sources, weights, name=blend_name, blend_type=blend_type, custom_rules=custom_rules)
        self._personalities[blended.name] = blended
        await self._publish_blend(blended)
        return blended.model_copy(deep=True)

    async def blend(self, blend: PersonalityBlend, blend_name: str) -> PersonalityData:
        """Apply a :class:`PersonalityBlend` recipe and register the result as ``blend_name``."""
        blended = blend_recipe(blend, name=blend_name)
        self._personalities[blended.name] = blended
        await self._publish_blend(blended)
        return blended.model_copy(deep=True)

    async def _publish_blend(self, blended: PersonalityData) -> None:
        provenance = blended.metadata.get("blend") or {}
        await self._publish(
            BlendCreated(
                personality_name=blended.name,
                sources=list(provenance.get("sources", [])),
                weights=dict(provenance.get("weights", {})),
                blend_type=str(provenance.get("blend_type", "")),
            )
        )

    # -- sessions ---------------------------------------------------------------------
    def _provider_for(self, config: ProviderConfig) -> Provider:
        key = _provider_key(config)
        provider = self._providers.get(key)
        if provider is None:
            provider = self._providers[key] = create_provider(config)
        return provider

    async def create_session(
        self,
        personality_name: str | None = None,
        provider_config: ProviderConfig | Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        session_config: SessionConfig | Mapping[str, Any] | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a session with a personality and a provider; returns its id.

        ``provider_config`` may be a :class:`ProviderConfig` or a dict (default:
        offline). ``session_config`` sets ``max_history``, ``timeout`` and the session
        type; its ``personality`` / ``provider_config`` are used when the arguments are
        omitted.

        Raises:
            PersonalityError: unknown personality.
            ProviderError: unknown provider, or one that needs an API key and has none.
            SessionError: the session id is already in use.
        """
        await self._ready()
        config = self._session_config(session_config)
        name = personality_name or config.personality.get("name")
        if not name:
            raise SessionError(
                "create_session needs a personality name (or session_config.personality['name'])"
            )
        personality = self._require(str(name))
        provider_cfg = self._provider_config(provider_config, config)
        provider = self._provider_for(provider_cfg)
        sid = session_id or config.session_id or f"sess_{uuid.uuid4().hex}"
        if sid in self._sessions or await self.storage.load_session(sid) is not None:
            raise SessionError(f"session id {sid!r} is already in use; omit session_id to get a fresh one")
        now = utcnow()
        config = config.model_copy(
            update={
                "session_id": sid,
                "personality": {"name": personality.name},
                "provider_config": provider_cfg.model_dump(mode="json"),
                "user_id": user_id or config.user_id,
                "metadata": {**config.metadata, **(metadata or {})},
            }
        )
        record = SessionRecord(
            session_id=sid,
            personality_name=personality.name,
            personality=personality,
            provider_config=provider_cfg.model_dump(mode="json"),
            session_config=config,
            user_id=config.user_id,
            conversation=Conversation(
                session_id=sid, metadata=dict(config.metadata), created_at=now, updated_at=now
            ),
            created_at=now,
            last_active=now,
        )
        await self.storage.save_session(record)
        self._sessions[sid] = _Session(record=record, personality=personality, provider=provider, history=[])
        await self._publish(
            SessionCreated(
                session_id=sid,
                personality_name=personality.name,
                provider=provider_cfg.name,
                model=provider.model,
                user_id=config.user_id,
                blend=_blend_info(personality),
            )
        )
        return sid

    def _session_config(self, value: SessionConfig | Mapping[str, Any] | None) -> SessionConfig:
        if value is None:
            return SessionConfig()
        if isinstance(value, SessionConfig):
            return value
        try:
            return SessionConfig.model_validate(dict(value))
        except ValidationError as exc:
            raise SessionError(f"invalid session_config: {exc.errors(include_url=False)[0]['msg']}") from None

    def _provider_config(
        self, value: ProviderConfig | Mapping[str, Any] | None, config: SessionConfig
    ) -> ProviderConfig:
        if value is None:
            value = config.provider_config or self.default_provider
        return ProviderConfig.coerce(value)

    async def resume_session(
        self, session_id: str, provider_config: ProviderConfig | Mapping[str, Any] | None = None
    ) -> str:
        """Continue a stored session, e.g. one created by another process.

        The stored provider config has no API key: pass ``provider_config`` with the key,
        or let the adapter read it from its environment variable.

        Raises:
            SessionError: no such session in storage, or it has expired.
        """
        await self._ready()
        # One resume at a time: two turns arriving for a stored session must share one
        # live session (one lock, one history), not race to build two.
        async with self._resume_lock:
            live = self._sessions.get(session_id)
            if live is not None:
                if provider_config is not None:
                    provider_cfg = self._provider_config(provider_config, live.record.session_config)
                    async with live.lock:  # never swap the adapter under a running turn
                        live.provider = self._provider_for(provider_cfg)
                return session_id
            await self._load_live(session_id, provider_config)
        return session_id

    async def _load_live(
        self, session_id: str, provider_config: ProviderConfig | Mapping[str, Any] | None
    ) -> _Session:
        record = await self.storage.load_session(session_id)
        if record is None:
            raise SessionError(f"unknown session {session_id!r}; list stored sessions with list_sessions()")
        self._check_not_expired(record)
        if provider_config is None:
            provider_cfg = ProviderConfig.model_validate(record.provider_config)
        else:
            provider_cfg = self._provider_config(provider_config, record.session_config)
        provider = self._provider_for(provider_cfg)
        history = [
            ChatMessage.model_construct(
                role="user" if m.role is MessageRole.USER else "assistant", content=m.content, name=None
            )
            for m in record.conversation.messages
            if m.role is not MessageRole.SYSTEM
        ]
        sess = self._sessions[session_id] = _Session(
            record=record,
            personality=record.personality,
            provider=provider,
            history=history,
            # keys stored by earlier processes count towards max_entries too (oldest first)
            memory_keys=[k for k, v in record.memory.items() if v is not None],
        )
        await self._publish(
            SessionCreated(
                session_id=session_id,
                personality_name=record.personality_name,
                provider=provider_cfg.name,
                model=provider.model,
                user_id=record.user_id,
                resumed=True,
                blend=_blend_info(record.personality),
            )
        )
        return sess

    def _check_not_expired(self, record: SessionRecord) -> None:
        timeout = record.session_config.timeout
        if timeout and utcnow() - record.last_active > timedelta(seconds=timeout):
            raise SessionError(
                f"session {record.session_id!r} expired after {timeout} s without activity; "
                "create a new session (its history is still readable with get_conversation)"
            )

    async def _session(self, session_id: str) -> _Session:
        await self._ready()
        sess = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if sess is None:
            _check_session_id(session_id)
            async with self._resume_lock:
                sess = self._sessions.get(session_id) or await self._load_live(session_id, None)
            return sess
        try:
            self._check_not_expired(sess.record)
        except SessionError:
            del self._sessions[session_id]
            await self._publish(SessionExpired(session_id=session_id))
            raise
        return sess

    async def session_info(self, session_id: str) -> SessionSummary | None:
        """The summary (personality, provider, user, message count, times) of one session.

        ``None`` when there is no such session, live or stored.
        """
        _check_session_id(session_id)
        await self._ready()
        sess = self._sessions.get(session_id)
        if sess is not None:
            return sess.record.summary()
        record = await self.storage.load_session(session_id)
        return record.summary() if record is not None else None

    async def list_sessions(self, *, user_id: str | None = None) -> list[str]:
        """Ids of the stored sessions (of one user if given), oldest first."""
        return [s.session_id for s in await self.session_summaries(user_id=user_id)]

    async def session_summaries(self, *, user_id: str | None = None) -> list[SessionSummary]:
        """Summaries (personality, provider, message count, times) of the stored sessions."""
        await self._ready()
        return await self.storage.list_sessions(user_id=user_id)

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session, its conversation and its memory; ``True`` if it existed."""
        _check_session_id(session_id)
        await self._ready()
        live = self._sessions.pop(session_id, None)
        existed = await self.storage.delete_session(session_id)
        if existed or live is not None:
            await self._publish(SessionDeleted(session_id=session_id))
        return existed or live is not None

    async def get_conversation(self, session_id: str) -> Conversation | None:
        """The session's conversation (a copy), or ``None`` if there is no such session."""
        _check_session_id(session_id)
        await self._ready()
        sess = self._sessions.get(session_id)
        if sess is not None:
            return sess.record.conversation.model_copy(deep=True)
        record = await self.storage.load_session(session_id)
        return record.conversation if record is not None else None

    # -- turns --------------------------------------------------------------------------
    def _turn_options(self, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        unknown = sorted(set(kwargs) - _TURN_OPTIONS)
        if unknown:
            raise SessionError(f"unknown message option(s) {unknown}; accepted: {sorted(_TURN_OPTIONS)}")
        params = {k: v for k, v in kwargs.items() if k in GENERATION_PARAMETERS and v is not None}
        metadata = dict(kwargs.get("metadata") or {})
        return params, metadata

    async def _prepare(
        self, sess: _Session, message: str, params: dict[str, Any]
    ) -> tuple[TurnState, ChatRequest]:
        if not isinstance(message, str) or not message.strip():
            raise SessionError("message must be a non-empty string")
        record = sess.record
        turn = TurnState(
            session_id=sess.session_id,
            user_id=record.user_id,
            personality=sess.personality,
            user_message=message,
            turn_index=sess.turn_index,
        )
        for extension in self._extensions:
            await extension.prepare(turn)
        definition = sess.personality.definition
        if turn.level is None and turn.mood is None and not turn.memories:
            system = sess.personality.system_prompt
            parameters = definition.advanced_parameters.as_dict() if definition else None
        else:
            definition = definition or definition_for(sess.personality)
            system = compile_prompt(
                definition,
                level=turn.level,
                affinity_points=turn.affinity_points,
                mood=turn.mood,
                mood_intensity=turn.mood_intensity,
                memories=turn.memories,
            )
            parameters = effective_parameters(definition, turn.level, turn.mood, turn.mood_intensity)
        max_history = record.session_config.max_history
        history = sess.history[-max_history:] if max_history else []
        # Chat APIs want the history to open with a user message (Anthropic refuses
        # anything else), so an odd max_history never starts on a reply.
        while history and history[0].role != "user":
            history = history[1:]
        context: dict[str, Any] = {"turn_index": turn.turn_index, **turn.context}
        if parameters is not None:
            context["parameters"] = parameters
        if turn.level is not None:
            context["relationship_level"] = turn.level.name
            context["affinity_points"] = turn.affinity_points
        if turn.mood is not None:
            context["mood"] = turn.mood.name
            context["mood_intensity"] = turn.mood_intensity
        # Our own, already validated data: skip re-validation on the hot path.
        request = ChatRequest.model_construct(
            system=system,
            messages=[*history, ChatMessage.model_construct(role="user", content=message, name=None)],
            persona=definition,
            persona_name=sess.personality.name,
            params=params,
            context=context,
        )
        return turn, request

    async def _persist(self, sess: _Session, prompt: ChatMessage, user: Message, reply: Message) -> None:
        record = sess.record
        record.conversation.messages.extend((user, reply))
        sess.history.append(prompt)
        sess.history.append(ChatMessage.model_construct(role="assistant", content=reply.content, name=None))
        sess.turn_index += 1
        now = reply.timestamp
        # Plain attribute writes: these values are ours and valid, and assignment
        # validation would cost more than the rest of the bookkeeping of a turn.
        record.conversation.__dict__["updated_at"] = now
        record.__dict__["last_active"] = now
        sess.unsaved.extend((user, reply))
        await self._flush(sess, now)

    async def _flush(self, sess: _Session, now: datetime) -> None:
        """Write the session's unsaved messages; a cancelled turn still finishes its write.

        The write runs as a shielded task, so interrupting a turn (a notebook cell, a
        timeout) never leaves storage unsure whether the messages landed: the task settles
        ``unsaved`` itself, and the next turn waits for it before writing again.
        """
        if sess.inflight is not None:
            with contextlib.suppress(Exception):  # its messages stay in unsaved: written below
                await asyncio.shield(sess.inflight)
        pending = list(sess.unsaved)
        task = asyncio.ensure_future(self.storage.append_messages(sess.session_id, pending, last_active=now))
        sess.inflight = task

        def settle(done: asyncio.Future[None]) -> None:
            if sess.inflight is done:
                sess.inflight = None
            if not done.cancelled() and done.exception() is None:
                del sess.unsaved[: len(pending)]

        task.add_done_callback(settle)
        await asyncio.shield(task)

    async def _finish(
        self,
        sess: _Session,
        turn: TurnState,
        prompt: ChatMessage,
        response: ChatResponse,
        started: float,
        user_time: datetime,
        metadata: dict[str, Any],
        streamed: bool,
    ) -> ChatResponse:
        latency_ms = (time.perf_counter() - started) * 1000.0
        user = Message.model_construct(
            role=MessageRole.USER, content=turn.user_message, timestamp=user_time, metadata=metadata
        )
        reply_meta: dict[str, Any] = {
            "model": response.model,
            "finish_reason": response.finish_reason,
            "usage": dict(response.usage),
            "latency_ms": round(latency_ms, 3),
        }
        reply = Message.model_construct(
            role=MessageRole.ASSISTANT, content=response.content, timestamp=utcnow(), metadata=reply_meta
        )
        try:
            await self._persist(sess, prompt, user, reply)
        except StorageError as exc:
            await self._publish_failure(sess, exc, "storage")
            raise
        events: list[Event] = []
        for extension in self._extensions:
            try:
                events.extend(await extension.complete(turn, response))
            except Exception as exc:
                # The turn is stored: a failing observer must not turn it into an error.
                logger.exception("turn extension %r failed after turn %d", extension, turn.turn_index)
                await self._publish_failure(sess, exc, "memory")
        if self.events.has_subscribers:
            # Built from our own validated values on every turn: construct, don't re-validate.
            await self.events.publish(
                TurnCompleted.trusted(
                    session_id=sess.session_id,
                    timestamp=reply.timestamp,
                    personality_name=sess.personality.name,
                    provider=sess.provider.name or sess.provider.config.name,
                    model=response.model,
                    user_id=sess.record.user_id,
                    user_message=turn.user_message,
                    user_timestamp=user_time,
                    reply=response.content,
                    finish_reason=response.finish_reason,
                    usage=dict(response.usage),
                    latency_ms=latency_ms,
                    streamed=streamed,
                    turn_index=turn.turn_index,
                    affinity_points=turn.affinity_points,
                    relationship_level=turn.level.name if turn.level else None,
                    mood=turn.mood.name if turn.mood else None,
                )
            )
            for event in events:
                await self.events.publish(event)
        response.metadata.update(
            session_id=sess.session_id, turn_index=turn.turn_index, latency_ms=round(latency_ms, 3)
        )
        return response

    async def send_message(self, session_id: str, message: str, **kwargs: Any) -> ChatResponse:
        """Send a user message and return the personality's reply.

        Keyword options: ``temperature``, ``max_tokens``, ``top_p``, ``stop`` (this turn
        only) and ``metadata`` (stored with the user message).

        Raises:
            SessionError: unknown or expired session, empty message, unknown option.
            ProviderError: the provider failed (nothing of the turn is stored).
            StorageError: the reply was produced but could not be stored; it is kept in
                memory and written with the next successful turn.
        """
        params, metadata = self._turn_options(kwargs)
        sess = await self._session(session_id)
        async with sess.lock:
            turn, request = await self._prepare(sess, message, params)
            await self._publish_started(sess, turn, streamed=False)
            started, user_time = time.perf_counter(), utcnow()
            try:
                response = await sess.provider.chat(request)
            except LuminoraError as exc:
                await self._publish_failure(sess, exc, "provider")
                raise
            return await self._finish(
                sess, turn, request.messages[-1], response, started, user_time, metadata, streamed=False
            )

    async def stream_message(
        self, session_id: str, message: str, **kwargs: Any
    ) -> AsyncGenerator[ChatResponse, None]:
        """Send a user message and yield the reply in chunks as they arrive.

        The stored reply equals the concatenation of the chunks' ``content``. The last
        chunk carries ``finish_reason`` and ``usage``, and is yielded only once the turn
        is stored, so stopping at it (``if chunk.finish_reason: break``) keeps the turn.
        Options as in :meth:`send_message`. A stream abandoned before its last chunk
        stores nothing; close it (``aclose()``) when you stop early, since an open stream
        keeps the session busy. To stop early and keep the partial reply as a turn, call
        :meth:`stop_stream` instead: the stream then ends with ``finish_reason="stopped"``.
        """
        params, metadata = self._turn_options(kwargs)
        sess = await self._session(session_id)
        async with sess.lock:
            turn, request = await self._prepare(sess, message, params)
            await self._publish_started(sess, turn, streamed=True)
            started, user_time = time.perf_counter(), utcnow()
            parts: list[str] = []
            held: list[ChatResponse] = []  # the final chunk(s), kept back until the turn is stored
            sess.stream_task, sess.stop_requested = asyncio.current_task(), False
            stopped = False
            try:
                chunks = sess.provider.stream(request)
                try:
                    while not sess.stop_requested:
                        chunk = await self._next_chunk(sess, chunks)
                        if chunk is None:
                            break
                        parts.append(chunk.content)
                        if held or chunk.finish_reason is not None:
                            held.append(chunk)
                        else:
                            yield chunk
                    stopped = sess.stop_requested and not held
                finally:
                    sess.stream_task, sess.stop_requested = None, False
                    # A consumer that stops early must not leave the HTTP response open.
                    aclose = getattr(chunks, "aclose", None)
                    if aclose is not None:
                        await aclose()
            except LuminoraError as exc:
                await self._publish_failure(sess, exc, "provider")
                raise
            last = held[-1] if held else None
            final = ChatResponse.model_construct(
                content="".join(parts),
                role="assistant",
                finish_reason="stopped"
                if stopped
                else next((c.finish_reason for c in held if c.finish_reason), "stop"),
                usage=next((dict(c.usage) for c in reversed(held) if c.usage), {}),
                model=last.model if last else sess.provider.model,
                metadata=dict(last.metadata) if last else {},
            )
            finished = await self._finish(
                sess, turn, request.messages[-1], final, started, user_time, metadata, streamed=True
            )
            yield ChatResponse.model_construct(
                content="".join(c.content for c in held),
                role="assistant",
                finish_reason=finished.finish_reason,
                usage=dict(finished.usage),
                model=finished.model,
                metadata=dict(finished.metadata),
            )

    @staticmethod
    async def _next_chunk(sess: _Session, chunks: AsyncIterator[ChatResponse]) -> ChatResponse | None:
        """The provider's next chunk; ``None`` at the end or when :meth:`stop_stream` interrupts the wait."""
        task = asyncio.current_task()
        sess.stream_task, sess.awaiting_chunk = task, True
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None
        except asyncio.CancelledError:
            # stop_stream cancels the wait for a chunk that may take seconds; any other
            # cancellation (the caller's own) still propagates.
            if sess.stop_requested and task is not None and task.uncancel() == 0:
                return None
            raise
        finally:
            sess.awaiting_chunk = False

    def stop_stream(self, session_id: str) -> bool:
        """Ask the session's running stream to finish now, keeping what it has so far.

        The stream stops at once (even while waiting for the provider), stores the
        partial reply as a turn with ``finish_reason="stopped"`` and yields a last chunk
        with that finish reason. Call it on the client's event loop (from another task);
        returns ``False`` when no stream of the session is running.

        Example:
            >>> import asyncio
            >>> from luminora_nb import LuminoraCoreClient
            >>> async def main():
            ...     async with LuminoraCoreClient() as client:
            ...         sid = await client.create_session("aurora")
            ...         async for chunk in client.stream_message(sid, "Tell me about volcanoes."):
            ...             if not chunk.finish_reason:
            ...                 client.stop_stream(sid)
            ...         return chunk.finish_reason
            >>> asyncio.run(main())
            'stopped'
        """
        sess = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if sess is None or sess.stream_task is None:
            return False
        sess.stop_requested = True
        if sess.awaiting_chunk and sess.stream_task is not asyncio.current_task():
            sess.stream_task.cancel()
        return True

    async def _publish_failure(
        self, sess: _Session, exc: Exception, stage: Literal["provider", "storage", "session", "memory"]
    ) -> None:
        if self.events.has_subscribers:
            await self.events.publish(
                TurnFailed(
                    session_id=sess.session_id,
                    personality_name=sess.personality.name,
                    provider=sess.provider.config.name,
                    stage=stage,
                    error_type=type(exc).__name__,
                    message=str(exc),
                )
            )

    async def _publish_started(self, sess: _Session, turn: TurnState, *, streamed: bool) -> None:
        if self.events.has_subscribers:
            await self.events.publish(
                TurnStarted.trusted(
                    session_id=sess.session_id,
                    timestamp=utcnow(),
                    personality_name=sess.personality.name,
                    user_message=turn.user_message,
                    streamed=streamed,
                )
            )

    async def _publish(self, event: Event) -> None:
        if self.events.has_subscribers:
            await self.events.publish(event)

    # -- memory -------------------------------------------------------------------------
    async def store_memory(self, session_id: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` for the session.

        When the session holds ``memory_config.max_entries`` keys, the oldest is dropped.

        Raises:
            SessionError: memory is disabled, the session is unknown, or the key is empty.
            StorageError: the value is not JSON-serialisable or the backend failed.
        """
        if not self.memory_config.enabled:
            raise SessionError("memory is disabled; create the client with MemoryConfig(enabled=True)")
        if not isinstance(key, str) or not key:
            raise SessionError("memory key must be a non-empty string")
        sess = await self._session(session_id)
        await self.storage.set_memory(session_id, key, value)
        if key in sess.memory_keys:
            sess.memory_keys.remove(key)
        sess.memory_keys.append(key)
        limit = self.memory_config.max_entries
        while limit and len(sess.memory_keys) > limit:
            await self.storage.set_memory(session_id, sess.memory_keys.pop(0), None)

    async def get_memory(self, session_id: str, key: str) -> Any:
        """The value stored under ``key`` for the session, or ``None``."""
        _check_session_id(session_id)
        await self._ready()
        if session_id not in self._sessions and await self.storage.load_session(session_id) is None:
            raise SessionError(f"unknown session {session_id!r}; use the id create_session returned")
        return await self.storage.get_memory(session_id, key)
