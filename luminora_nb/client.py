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
import hashlib
import json
import logging
import os
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from ._locks import LoopFreeLock
from .errors import PersonalityError, SessionError, shown
from .events import (
    BlendCreated,
    Event,
    EventBus,
    SessionCreated,
    SessionDeleted,
    SessionExpired,
)
from .personality.blend import blend_name as default_blend_name
from .personality.blend import blend_personalities as _blend
from .personality.blend import blend_recipe
from .personality.library import builtin_names, get_builtin
from .personality.validate import check_name, parse_personality
from .providers.base import Provider
from .providers.registry import create_provider
from .storage.base import Storage
from .storage.factory import create_storage
from .turns import LiveSession, Turn, TurnExtension, storable_metadata, sync_with_storage, turn_options
from .types._base import utcnow
from .types.personality import PersonalityBlend, PersonalityData
from .types.provider import ChatMessage, ChatResponse, ProviderConfig
from .types.session import (
    Conversation,
    MemoryConfig,
    MessageRole,
    SessionConfig,
    SessionRecord,
    SessionSummary,
    StorageConfig,
)

if TYPE_CHECKING:
    from .sessionlog import SessionLog

__all__ = ["BlendOptions", "CardOptions", "LuminoraCoreClient"]

logger = logging.getLogger("luminora_nb.client")


class BlendOptions(TypedDict, total=False):
    """The keyword options of :meth:`LuminoraCoreClient.blend_personalities`."""

    blend_type: str
    custom_rules: Mapping[str, Any] | None
    replace: bool


class CardOptions(TypedDict, total=False):
    """The keyword options of :meth:`LuminoraCoreClient.load_card`."""

    name: str | None
    traits: Mapping[str, str] | None
    parameters: Mapping[str, float] | None
    replace: bool


def _check_session_id(session_id: object) -> None:
    # Ids reach storage filters (MongoDB, SQL): anything but a plain string is refused here.
    if not isinstance(session_id, str) or not session_id:
        raise SessionError(f"invalid session id {shown(session_id)}; use the id create_session returned")


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
        storage_config: Where sessions are stored (in memory by default): a
            :class:`StorageConfig`, a dict of its fields or a storage type (``"duckdb"``).
        memory_config: Limits of the per-session key/value memory (or a dict of them).
        storage: A ready backend instance, instead of ``storage_config``.
        default_provider: Provider used when ``create_session`` gets none (offline).
        session_log: Log every session, turn and event to DuckDB: a
            :class:`~luminora_nb.sessionlog.SessionLog`, or the path of its file (the
            client then owns the log and closes it in :meth:`cleanup`).
        clock: The current time as an aware UTC ``datetime`` (default: the system
            clock): message times, session activity and expiry. Tests pass a fake one to
            expire sessions without waiting.

    Example:
        >>> from luminora_nb.types import StorageConfig, MemoryConfig
        >>> client = LuminoraCoreClient(storage_config=StorageConfig(storage_type="memory"),
        ...                             memory_config=MemoryConfig())
    """

    def __init__(
        self,
        storage_config: StorageConfig | Mapping[str, Any] | str | None = None,
        memory_config: MemoryConfig | Mapping[str, Any] | None = None,
        *,
        storage: Storage | None = None,
        default_provider: ProviderConfig | Mapping[str, Any] | str | None = None,
        session_log: SessionLog | str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        # dicts and names are accepted as the facade accepts them; anything else is refused
        # here, not as an AttributeError at the first call that reads the config
        if storage_config is None and storage is not None:
            self.storage_config = storage.config
        else:
            self.storage_config = StorageConfig.coerce(storage_config)
        self.memory_config = MemoryConfig.coerce(memory_config)
        self.storage: Storage = storage or create_storage(self.storage_config)
        self.default_provider = ProviderConfig.coerce(default_provider or "offline")
        self.events = EventBus()
        self.clock = clock
        #: The user of sessions created without a ``user_id`` (v1.1 memory is per user).
        self.default_user_id: str | None = None
        self._personalities: dict[str, PersonalityData] = {}
        self._sessions: dict[str, LiveSession] = {}
        self._providers: dict[str, Provider] = {}
        self._extensions: list[TurnExtension] = []
        self._initialized = False
        # loop-free: a client is used from successive asyncio.run calls and from threads
        self._init_lock = LoopFreeLock()
        self._resume_lock = LoopFreeLock()
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
    async def load_personality(
        self, name: str, data: Mapping[str, Any] | PersonalityData, *, replace: bool = False
    ) -> PersonalityData:
        """Load a personality from a full definition or the simple seed form.

        Loading an identical personality under its own name again does nothing; a
        different one under a taken name (a shipped persona's included) needs
        ``replace=True``.

        Raises:
            PersonalityError: invalid data (the message lists every fault with its path),
                a bad name, or a taken name without ``replace=True``.
        """
        personality = parse_personality(name, data)
        self._register(personality, replace=replace)
        return personality

    def _register(self, personality: PersonalityData, *, replace: bool) -> None:
        existing = self._lookup(personality.name)
        if existing is not None and not replace and existing != personality:
            shipped = " (a shipped persona)" if personality.name in builtin_names() else ""
            raise PersonalityError(
                f"a different personality named {personality.name!r}{shipped} is already loaded; "
                "pass replace=True to replace it, or choose another name"
            )
        self._personalities[personality.name] = personality

    async def load_card(
        self,
        source: Any,
        *,
        name: str | None = None,
        traits: Mapping[str, str] | None = None,
        parameters: Mapping[str, float] | None = None,
        replace: bool = False,
    ) -> PersonalityData:
        """Import a Character Card (V1, V2 or V3; JSON, PNG or CHARX) and register it.

        ``source`` is a path, bytes, a binary file or the card as a dict; the card is
        registered under ``name`` (its name in lower case by default). Its traits and
        six parameters are estimated from its text unless ``traits`` / ``parameters``
        override them. See :mod:`luminora_nb.personality.cards` for the mapping.

        Raises:
            PersonalityError: no card in ``source``, a malformed or oversized one, a
                shipped persona's name, or a taken name without ``replace=True``;
                nothing is registered then.

        Example:
            >>> import asyncio
            >>> async def main():
            ...     async with LuminoraCoreClient() as client:
            ...         card = {"name": "Mira", "description": "A cheerful cartographer."}
            ...         return (await client.load_card(card)).name
            >>> asyncio.run(main())
            'mira'
        """
        from .personality.cards import import_card  # local: only card users pay for it

        personality = import_card(source, name=name, traits=traits, parameters=parameters)
        self._register(personality, replace=replace)
        return personality.model_copy(deep=True)

    async def get_personality(self, name: str | PersonalityData) -> PersonalityData | None:
        """A loaded (or shipped) personality, or ``None`` if there is none by that name."""
        found = self._lookup(name.name if isinstance(name, PersonalityData) else name)
        return found.model_copy(deep=True) if found is not None else None

    def _lookup(self, name: str) -> PersonalityData | None:
        name = check_name(name)
        found = self._personalities.get(name)
        if found is None and name in builtin_names():
            found = self._personalities[name] = get_builtin(name)
        return found

    def _require(self, name: str | PersonalityData) -> PersonalityData:
        if isinstance(name, PersonalityData):
            # code written for LuminoraCore passes the object where a name is asked for;
            # checked as load_personality checks it (name, metadata JSON can hold), or a
            # file or DuckDB store would keep something else than was given
            personality = parse_personality(name.name, name)
            self._register(personality, replace=False)
            return personality
        found = self._lookup(name)
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
        personality_names: Sequence[str | PersonalityData],
        weights: Sequence[float],
        blend_name: str | None = None,
        *,
        blend_type: str = "weighted_average",
        custom_rules: Mapping[str, Any] | None = None,
        replace: bool = False,
    ) -> PersonalityData:
        """Blend personalities by weight and register the result as ``blend_name``.

        Weights are normalised (7 and 3 act as 0.7 and 0.3). Without ``blend_name`` the
        blend is named after its sources and shares (``aurora70_vex30``). Blending the
        same again under the same name does nothing; a different blend under a taken name
        (a source's included) needs ``replace=True``. Sources may be names or
        :class:`PersonalityData` (registered under their name if not loaded yet).

        Raises:
            PersonalityError: no names, an unknown or duplicate name, a weight count
                mismatch, a negative, NaN, infinite or all-zero weight, or a taken
                ``blend_name`` without ``replace=True``.
        """
        if isinstance(personality_names, str) or not isinstance(personality_names, Sequence):
            raise PersonalityError(
                f"personality_names must be a list of names, not {shown(personality_names)}"
            )
        names = list(personality_names)
        if not names:
            raise PersonalityError("a blend needs at least one personality; pass one or more names")
        sources = [self._require(n) for n in names]
        if blend_name is None:
            blend_name = default_blend_name([s.name for s in sources], weights)
        blended = _blend(
            sources,
            weights,
            name=check_name(blend_name, what="blend name"),
            blend_type=blend_type,
            custom_rules=custom_rules,
        )
        self._register(blended, replace=replace)
        await self._publish_blend(blended)
        return blended.model_copy(deep=True)

    async def blend(
        self, blend: PersonalityBlend, blend_name: str, *, replace: bool = False
    ) -> PersonalityData:
        """Apply a :class:`PersonalityBlend` recipe and register the result as ``blend_name``.

        A taken ``blend_name`` holding something else needs ``replace=True``.
        """
        blended = blend_recipe(blend, name=check_name(blend_name, what="blend name"))
        self._register(blended, replace=replace)
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
        personality_name: str | PersonalityData | None = None,
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
        omitted. The session belongs to ``user_id`` (v1.1 memory is per user), else to
        its config's ``user_id``, else to the client's ``default_user_id``.

        Raises:
            PersonalityError: unknown personality.
            ProviderError: unknown provider, or one that needs an API key and has none.
            SessionError: the session id is already in use; a ``user_id`` that is not a
                non-empty string.
        """
        if session_id is not None:
            _check_session_id(session_id)
        if user_id is not None and (not isinstance(user_id, str) or not user_id.strip()):
            raise SessionError(
                "user_id must be a non-empty string (or None for the client's default_user_id), "
                f"got {shown(user_id)}"
            )
        await self._ready()
        config = SessionConfig.coerce(session_config)
        name = personality_name or config.personality.get("name")
        if not name:
            raise SessionError(
                "create_session needs a personality name (or session_config.personality['name'])"
            )
        personality = self._require(name if isinstance(name, PersonalityData) else str(name))
        session_metadata = {**storable_metadata(config.metadata), **storable_metadata(metadata)}
        provider_cfg = self._provider_config(provider_config, config)
        provider = self._provider_for(provider_cfg)
        sid = session_id or config.session_id or f"sess_{uuid.uuid4().hex}"
        if sid in self._sessions or await self.storage.load_session(sid) is not None:
            raise SessionError(
                f"session id {shown(sid)} is already in use; omit session_id to get a fresh one"
            )
        now = self.clock()
        config = config.model_copy(
            update={
                "session_id": sid,
                "personality": {"name": personality.name},
                "provider_config": provider_cfg.model_dump(mode="json"),
                # the session's user: given here, else its config's, else the client default
                "user_id": user_id or config.user_id or self.default_user_id,
                "metadata": session_metadata,
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
        if not await self.storage.insert_session(record):  # insert-if-absent: another client won the id
            raise SessionError(f"session id {sid!r} is already in use; omit session_id to get a fresh one")
        self._sessions[sid] = LiveSession(
            record=record, personality=personality, provider=provider, history=[]
        )
        await self._publish_session(self._sessions[sid], resumed=False)
        return sid

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
        _check_session_id(session_id)
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
    ) -> LiveSession:
        record = await self.storage.load_session(session_id)
        if record is None:
            raise SessionError(
                f"unknown session {shown(session_id)}; list stored sessions with list_sessions()"
            )
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
        sess = self._sessions[session_id] = LiveSession(
            record=record,
            personality=record.personality,
            provider=provider,
            history=history,
            # keys stored by earlier processes count towards max_entries too (oldest first)
            memory_keys=[k for k, v in record.memory.items() if v is not None],
        )
        await self._publish_session(sess, resumed=True)
        return sess

    def _check_not_expired(self, record: SessionRecord) -> None:
        timeout = record.session_config.timeout
        if timeout and self.clock() - record.last_active > timedelta(seconds=timeout):
            raise SessionError(
                f"session {record.session_id!r} expired after {timeout} s without activity; "
                "create a new session (its history is still readable with get_conversation)"
            )

    async def _session(self, session_id: str) -> LiveSession:
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
            if not sess.lock.locked():  # during a turn its own view is the newest; else catch up
                async with sess.lock:
                    await sync_with_storage(sess, self.storage)
            return sess.record.conversation.model_copy(deep=True)
        record = await self.storage.load_session(session_id)
        return record.conversation if record is not None else None

    # -- turns --------------------------------------------------------------------------
    def _turn(self, sess: LiveSession, message: str, kwargs: Mapping[str, Any]) -> Turn:
        params, metadata, extra = turn_options(kwargs)
        return Turn(
            sess,
            message,
            params,
            metadata,
            storage=self.storage,
            events=self.events,
            extensions=self._extensions,
            clock=self.clock,
            extra=extra,
        )

    async def send_message(self, session_id: str, message: str, **kwargs: Any) -> ChatResponse:
        """Send a user message and return the personality's reply.

        Keyword options: ``temperature``, ``max_tokens``, ``top_p``, ``stop`` (this turn
        only) and ``metadata`` (stored with the user message). Any other option (``seed``,
        ``presence_penalty``, ``response_format``, ...) is sent to an HTTP provider as
        given, for this turn only (see the README's provider table for where each adapter
        puts it); the offline provider refuses them.

        Raises:
            SessionError: unknown or expired session, empty message, unknown option.
            ProviderError: the provider failed (nothing of the turn is stored).
            StorageError: the reply was produced but could not be stored; it is kept in
                memory and written with the next successful turn.
        """
        turn_options(kwargs)  # a bad option fails before the session is looked up
        sess = await self._session(session_id)
        async with sess.lock:
            await sync_with_storage(sess, self.storage)  # another client may have written
            return await self._turn(sess, message, kwargs).run()

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
        turn_options(kwargs)
        sess = await self._session(session_id)
        async with sess.lock:
            await sync_with_storage(sess, self.storage)
            chunks = self._turn(sess, message, kwargs).stream()
            try:
                async for chunk in chunks:
                    yield chunk
            finally:
                # closing this stream early must end the turn's now, not at garbage collection
                await chunks.aclose()

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
        return sess is not None and sess.request_stop()

    async def _publish_session(self, sess: LiveSession, *, resumed: bool) -> None:
        await self._publish(
            SessionCreated(
                session_id=sess.session_id,
                personality_name=sess.record.personality_name,
                provider=sess.provider.config.name,
                model=sess.provider.model,
                user_id=sess.record.user_id,
                resumed=resumed,
                blend=_blend_info(sess.personality),
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
        try:
            key.encode("utf-8")  # DuckDB refuses such a key where the file store keeps it: refuse it here
        except UnicodeEncodeError:
            raise SessionError(
                f"memory key {shown(key)} holds an unpaired surrogate, which is not text; "
                "decode it with errors='replace' or use another key"
            ) from None
        sess = await self._session(session_id)
        await self.storage.set_memory(session_id, key, value)
        if key in sess.memory_keys:
            sess.memory_keys.remove(key)
        sess.memory_keys.append(key)
        limit = self.memory_config.max_entries
        while limit and len(sess.memory_keys) > limit:
            await self.storage.delete_memory(session_id, sess.memory_keys.pop(0))

    async def get_memory(self, session_id: str, key: str) -> Any:
        """The value stored under ``key`` for the session, or ``None``."""
        _check_session_id(session_id)
        await self._ready()
        if session_id not in self._sessions and await self.storage.load_session(session_id) is None:
            raise SessionError(f"unknown session {shown(session_id)}; use the id create_session returned")
        return await self.storage.get_memory(session_id, key)
