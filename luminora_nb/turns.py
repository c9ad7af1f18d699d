"""One chat turn as an object, and the extension points every turn passes through.

The client (:mod:`luminora_nb.client`) keeps the registry of personalities, the pool
of provider adapters and the life cycle of sessions; everything that happens between a
user message and its stored reply lives here, in :class:`Turn`:

1. :meth:`Turn.prepare` asks each :class:`TurnExtension` for the relationship level,
   mood and memories of this turn, compiles the system prompt from them when they are
   set, and builds the provider request from the history trimmed to ``max_history``;
2. :meth:`Turn.run` (a whole reply) or :meth:`Turn.stream` (chunks as they arrive)
   calls the provider;
3. the reply and the user message are appended to the live session and written to
   storage in a shielded task (an interrupted turn never leaves storage unsure whether
   its messages landed), then each extension's :meth:`~TurnExtension.complete` runs and
   the events are published.

A :class:`LiveSession` is the in-process state of a session between turns: its record,
provider adapter, history, lock and the bookkeeping of writes and of a running stream.

Several clients may share one stored session (two kernels on one Redis or PostgreSQL
store). Each live session knows how many messages it has seen stored (``stored_count``):
before each turn :func:`sync_with_storage` reads the stored count (one cheap read) and
reloads the conversation only when another writer changed it, so the history sent to the
provider and ``get_conversation`` match storage. Writes append at that expected position
(:func:`write_unsaved`): an append sent again after its reply was lost is recognised and
never stored twice, and one that finds another writer's messages there reloads and
appends after them.

Extensions see every turn twice: :meth:`~TurnExtension.prepare` before the provider
is called and :meth:`~TurnExtension.complete` after the reply is stored (it may learn
facts, update affinity and mood, and return events to publish). The v1.1 client plugs
its memory and relationship logic in here; users can add their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ._locks import LoopFreeLock
from .errors import LuminoraError, SessionError, StorageError, shown
from .events import Event, EventBus, TurnCompleted, TurnFailed, TurnStarted
from .personality.cards import CARD_METADATA_KEY
from .personality.compile import compile_prompt, effective_parameters
from .personality.validate import definition_for, json_problem
from .providers.base import GENERATION_PARAMETERS, ChatRequest, Provider
from .types._base import is_secret_key
from .types.provider import ChatMessage, ChatResponse
from .types.session import Message, MessageRole, SessionRecord, SessionType

if TYPE_CHECKING:
    from .storage.base import Storage
    from .types.persona import MoodDefinition, RelationshipLevel
    from .types.personality import PersonalityData

__all__ = [
    "LiveSession",
    "Turn",
    "TurnExtension",
    "TurnState",
    "refuse_extra_options",
    "storable_metadata",
    "sync_with_storage",
    "turn_options",
]

logger = logging.getLogger("luminora_nb.client")

Stage = Literal["provider", "storage", "session", "memory"]

_TURN_OPTIONS = frozenset(GENERATION_PARAMETERS) | {"metadata"}
# How often a write that keeps finding other writers' messages at its position reloads
# and tries again before it gives up (each round another writer won: progress is made).
_CONFLICT_ROUNDS = 20


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


@dataclass
class LiveSession:
    """A session in this process: its record, provider and the state of its turns."""

    record: SessionRecord
    personality: PersonalityData
    provider: Provider
    history: list[ChatMessage]
    # Not an asyncio.Lock: a session may be used from several event loops (successive
    # asyncio.run calls, two threads), and its turns must exclude each other across all.
    lock: LoopFreeLock = field(default_factory=LoopFreeLock)
    unsaved: list[Message] = field(default_factory=list)
    memory_keys: list[str] = field(default_factory=list)
    turn_index: int = -1
    inflight: asyncio.Future[None] | None = None
    #: How many messages this process knows are stored: where its next append goes.
    stored_count: int = -1
    # A running stream: the task iterating it, whether it waits on the provider, and
    # whether request_stop asked it to finish early.
    stream_task: asyncio.Task[Any] | None = None
    awaiting_chunk: bool = False
    stop_requested: bool = False

    def __post_init__(self) -> None:
        if self.turn_index < 0:
            self.turn_index = sum(1 for m in self.history if m.role == "user")
        if self.stored_count < 0:  # a new or just loaded session: what it holds is stored
            self.stored_count = len(self.record.conversation.messages)

    @property
    def session_id(self) -> str:
        """The session's id."""
        return self.record.session_id

    def request_stop(self) -> bool:
        """Ask the running stream to end now, keeping its partial reply; ``False`` if none runs.

        A stream waiting for the provider (which may take seconds) is interrupted at once.
        """
        if self.stream_task is None:
            return False
        self.stop_requested = True
        if self.awaiting_chunk and self.stream_task is not asyncio.current_task():
            self.stream_task.cancel()
        return True


def turn_options(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Split ``send_message`` keyword options into generation parameters, metadata and
    provider options we do not model.

    ``temperature``, ``max_tokens``, ``top_p`` and ``stop`` are checked and translated by
    every adapter; ``metadata`` is stored with the user message; anything else (``seed``,
    ``presence_penalty``, ``response_format``, ...) is sent to an HTTP provider as given
    (where in the request: :meth:`~luminora_nb.providers._http.HTTPProvider.with_extra`)
    and refused by providers that take none, such as the offline simulator.

    Raises:
        SessionError: an option whose value JSON cannot hold, or a credential-named one
            (credentials belong in ``ProviderConfig``).

    Example:
        >>> turn_options({"temperature": 0.2, "metadata": {"source": "cli"}, "seed": 7})
        ({'temperature': 0.2}, {'source': 'cli'}, {'seed': 7})
    """
    params = {k: v for k, v in kwargs.items() if k in GENERATION_PARAMETERS and v is not None}
    extra = {k: v for k, v in kwargs.items() if k not in _TURN_OPTIONS}
    for name, value in extra.items():
        if is_secret_key(name):
            raise SessionError(
                f"message option {shown(name)} looks like a credential; "
                "pass keys in ProviderConfig(api_key=...)"
            )
        problem = json_problem({name: value})
        if problem is not None:
            raise SessionError(f"message option {problem} cannot be sent as JSON; use JSON values")
    return params, storable_metadata(kwargs.get("metadata")), extra


def refuse_extra_options(provider: Any, extra: Mapping[str, Any]) -> None:
    """Raise when ``provider`` takes no options beyond the modelled ones and some were given.

    Raises:
        SessionError: naming the options and the accepted ones.
    """
    if extra and not getattr(provider, "accepts_extra_options", False):
        name = getattr(provider, "name", "") or "this provider"
        raise SessionError(
            f"unknown message option(s) {sorted(extra)} for the {name} provider; "
            f"accepted: {sorted(_TURN_OPTIONS)}"
        )


def storable_metadata(metadata: object) -> dict[str, Any]:
    """Message or session metadata as a dict, checked to be storable as JSON.

    A value that cannot be written would fail this write and every later one of the
    session, so it is refused when it is given.

    Raises:
        SessionError: not a dict, or a value that is not JSON (the message names its key).

    Example:
        >>> storable_metadata({"source": "cli", "tags": ["a"]})
        {'source': 'cli', 'tags': ['a']}
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise SessionError(f"metadata must be a dict of JSON values, not {type(metadata).__name__}")
    problem = json_problem(metadata)
    if problem is not None:
        raise SessionError(
            f"metadata{problem} cannot be stored as JSON; use strings, numbers, booleans, None, "
            "lists and dicts (e.g. str(value))"
        )
    return dict(metadata)


class Turn:
    """One user message and its reply, on a live session whose lock the caller holds.

    Args:
        session: The live session (its ``lock`` held for the whole turn).
        message: The user's message.
        params: Generation parameters of this turn only.
        metadata: Stored with the user message.
        storage: Where the turn is written.
        events: Where the turn's events are published.
        extensions: Run before the provider call and after the write.
        clock: The time of messages (an aware UTC ``datetime``).
    """

    def __init__(
        self,
        session: LiveSession,
        message: str,
        params: dict[str, Any],
        metadata: dict[str, Any],
        *,
        storage: Storage,
        events: EventBus,
        extensions: Sequence[TurnExtension],
        clock: Callable[[], datetime],
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(message, str) or not message.strip():
            raise SessionError("message must be a non-empty string")
        try:
            message.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SessionError(
                f"message holds an unpaired surrogate ({message[exc.start]!r} at position {exc.start}), "
                "which is not text; decode the input with errors='replace' or remove it"
            ) from None
        self.session = session
        self.params = params
        self.extra = dict(extra or {})
        refuse_extra_options(session.provider, self.extra)
        self.metadata = metadata
        self.storage = storage
        self.events = events
        self.extensions = extensions
        self.clock = clock
        self.state = TurnState(
            session_id=session.session_id,
            user_id=session.record.user_id,
            personality=session.personality,
            user_message=message,
            turn_index=session.turn_index,
        )
        self.request: ChatRequest | None = None
        self._prompt: ChatMessage | None = None
        self._started = 0.0
        self._user_time: datetime | None = None

    # -- before the provider ------------------------------------------------------------
    async def prepare(self, *, streamed: bool) -> ChatRequest:
        """Run the extensions' ``prepare``, build the request, publish :class:`TurnStarted`."""
        turn, sess = self.state, self.session
        for extension in self.extensions:
            await extension.prepare(turn)
        personality = sess.personality
        definition = personality.definition
        if turn.level is None and turn.mood is None and not turn.memories:
            system = personality.system_prompt
            parameters = definition.advanced_parameters.as_dict() if definition else None
        else:
            definition = definition or definition_for(personality)
            system = compile_prompt(
                definition,
                level=turn.level,
                affinity_points=turn.affinity_points,
                mood=turn.mood,
                mood_intensity=turn.mood_intensity,
                memories=turn.memories,
            )
            parameters = effective_parameters(definition, turn.level, turn.mood, turn.mood_intensity)
        config = sess.record.session_config
        # A stateless session answers each message on its own: its history is stored
        # but never sent.
        max_history = 0 if config.session_type is SessionType.STATELESS else config.max_history
        history = sess.history[-max_history:] if max_history else []
        # Chat APIs want the history to open with a user message (Anthropic refuses
        # anything else), so an odd max_history never starts on a reply.
        while history and history[0].role != "user":
            history = history[1:]
        after: list[ChatMessage] = []
        if isinstance(personality.metadata.get(CARD_METADATA_KEY), Mapping):
            # A character card: its own prompt sections, lorebook matched against the
            # history sent, post-history instructions placed for this provider.
            from .personality.cards.prompt import card_turn_prompt  # local: card sessions only

            system, after = card_turn_prompt(
                personality,
                history=[m.content for m in history],
                user_message=turn.user_message,
                provider=sess.provider.name or sess.provider.config.name,
                user_name=turn.context.get("user_name"),
                level=turn.level,
                affinity_points=turn.affinity_points,
                mood=turn.mood,
                mood_intensity=turn.mood_intensity,
                memories=turn.memories,
            )
        self._prompt = ChatMessage.model_construct(role="user", content=turn.user_message, name=None)
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
        self.request = ChatRequest.model_construct(
            system=system,
            messages=[*history, self._prompt, *after],
            persona=definition,
            persona_name=personality.name,
            params=self.params,
            extra=self.extra,
            context=context,
        )
        if self.events.has_subscribers:
            await self.events.publish(
                TurnStarted.trusted(
                    session_id=sess.session_id,
                    timestamp=self.clock(),
                    personality_name=personality.name,
                    user_message=turn.user_message,
                    streamed=streamed,
                )
            )
        self._started, self._user_time = time.perf_counter(), self.clock()
        return self.request

    # -- the provider ---------------------------------------------------------------------
    async def run(self) -> ChatResponse:
        """The whole turn with one complete reply."""
        request = await self.prepare(streamed=False)
        try:
            response = await self.session.provider.chat(request)
        except LuminoraError as exc:
            await self.failed(exc, "provider")
            raise
        return await self.complete(response, streamed=False)

    async def stream(self) -> AsyncGenerator[ChatResponse, None]:
        """The whole turn, yielding the reply's chunks as they arrive.

        The stored reply equals the concatenation of the chunks; the last chunk (with
        ``finish_reason`` and ``usage``) is yielded only once the turn is stored.
        """
        request = await self.prepare(streamed=True)
        sess = self.session
        parts: list[str] = []
        held: list[ChatResponse] = []  # the final chunk(s), kept back until the turn is stored
        sess.stream_task, sess.stop_requested = asyncio.current_task(), False
        stopped = False
        try:
            chunks = sess.provider.stream(request)
            try:
                while not sess.stop_requested:
                    chunk = await _next_chunk(sess, chunks)
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
            await self.failed(exc, "provider")
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
        finished = await self.complete(final, streamed=True)
        yield ChatResponse.model_construct(
            content="".join(c.content for c in held),
            role="assistant",
            finish_reason=finished.finish_reason,
            usage=dict(finished.usage),
            model=finished.model,
            metadata=dict(finished.metadata),
        )

    # -- after the provider ---------------------------------------------------------------
    async def complete(self, response: ChatResponse, *, streamed: bool) -> ChatResponse:
        """Store both messages, run the extensions' ``complete``, publish the events."""
        assert self.request is not None and self._user_time is not None, "prepare() first"
        assert self._prompt is not None
        sess, turn = self.session, self.state
        latency_ms = (time.perf_counter() - self._started) * 1000.0
        user = Message.model_construct(
            role=MessageRole.USER,
            content=turn.user_message,
            timestamp=self._user_time,
            metadata=self.metadata,
        )
        reply_meta: dict[str, Any] = {
            "model": response.model,
            "finish_reason": response.finish_reason,
            "usage": dict(response.usage),
            "latency_ms": round(latency_ms, 3),
        }
        reply = Message.model_construct(
            role=MessageRole.ASSISTANT, content=response.content, timestamp=self.clock(), metadata=reply_meta
        )
        try:
            await self._store(self._prompt, user, reply)
        except StorageError as exc:
            await self.failed(exc, "storage")
            raise
        events: list[Event] = []
        for extension in self.extensions:
            try:
                events.extend(await extension.complete(turn, response))
            except Exception as exc:
                # The turn is stored: a failing observer must not turn it into an error.
                logger.exception("turn extension %r failed after turn %d", extension, turn.turn_index)
                await self.failed(exc, "memory")
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
                    user_timestamp=self._user_time,
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

    async def _store(self, prompt: ChatMessage, user: Message, reply: Message) -> None:
        sess = self.session
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
        await write_unsaved(sess, self.storage, now)

    async def failed(self, exc: Exception, stage: Stage) -> None:
        """Publish :class:`TurnFailed` for ``exc`` at ``stage``."""
        sess = self.session
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


async def write_unsaved(sess: LiveSession, storage: Storage, now: datetime) -> None:
    """Write the session's unsaved messages; a cancelled turn still finishes its write.

    The write runs as a shielded task, so interrupting a turn (a notebook cell, a
    timeout) never leaves storage unsure whether the messages landed: the task settles
    ``unsaved`` itself, and the next turn waits for it before writing again.
    """
    inflight = sess.inflight
    if inflight is not None:
        if inflight.get_loop() is asyncio.get_running_loop():
            with contextlib.suppress(Exception):  # its messages stay in unsaved: written below
                await asyncio.shield(inflight)
        else:
            # Started on another loop (an earlier asyncio.run, another thread): it can be
            # neither awaited nor given a callback from here (neither is thread-safe), but
            # it settles on its own loop, or was cancelled when that loop ended.
            while not inflight.done():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    task = asyncio.ensure_future(_append_unsaved(sess, storage, now))
    sess.inflight = task

    def settle(done: asyncio.Future[None]) -> None:
        if sess.inflight is done:
            sess.inflight = None

    task.add_done_callback(settle)
    await asyncio.shield(task)


async def _append_unsaved(sess: LiveSession, storage: Storage, now: datetime) -> None:
    """Append ``unsaved`` at the position this session knows is next, then settle it.

    At an expected position an append sent again after its reply was lost finds its own
    messages there and succeeds without storing them twice. When another writer appended
    first, the conversation is reloaded (this session's messages go after the other
    writer's, as storage holds them) and the append tried at the new position.
    """
    from .storage.base import AppendConflict  # storage sits below: imported where needed

    for _ in range(_CONFLICT_ROUNDS):
        pending = list(sess.unsaved)
        if not pending:
            return
        at = sess.stored_count
        try:
            await storage.append_messages(sess.session_id, pending, last_active=now, expected_count=at)
        except AppendConflict:
            await _reload(sess, storage)
            continue
        del sess.unsaved[: len(pending)]  # a later turn may have added more meanwhile
        sess.stored_count = at + len(pending)
        return
    raise StorageError(
        f"could not store the turn of session {sess.session_id!r}: other clients kept appending to it; "
        "the turn is kept and written with the next one"
    )


async def sync_with_storage(sess: LiveSession, storage: Storage) -> None:
    """Bring the live conversation up to date when another writer changed the stored one.

    One read of the stored message count; the conversation is loaded only when it differs
    from ``sess.stored_count``. A store that cannot be reached is not an error here: the
    turn goes on with the conversation in memory, and its write reports the store's state.
    """
    inflight = sess.inflight
    if inflight is not None and not inflight.done():
        return  # this session's own write is under way; it reloads if it meets another writer's
    try:
        count = await storage.message_count(sess.session_id)
    except StorageError as exc:
        logger.debug(
            "session %r: stored count not read (%s); using the conversation in memory", sess.session_id, exc
        )
        return
    if count is not None and count != sess.stored_count:
        await _reload(sess, storage)


async def _reload(sess: LiveSession, storage: Storage) -> None:
    """Replace the live conversation by the stored one, this session's unsaved messages after it.

    Unsaved messages found stored where they were sent (an append whose reply was lost)
    count as stored; the others stay unsaved, to be appended after what is stored. A stored
    count ahead of the messages read is a reservation whose messages are missing (MongoDB
    appends in two ordered steps; a connection lost between them leaves one): when this
    session's unsaved messages can fill it, they are sent again there, which fills it.
    """
    sid = sess.session_id
    for look in range(2):  # a second look after filling a reservation (never a second fill)
        count = await storage.message_count(sid)
        record = await storage.load_session(sid)
        if count is None or record is None:
            return  # deleted meanwhile: the next write says so
        stored = record.conversation.messages
        at, pending = sess.stored_count, sess.unsaved
        found = 0
        while (
            found < len(pending)
            and at + found < len(stored)
            and _identity(stored[at + found]) == _identity(pending[found])
        ):
            found += 1
        del pending[:found]
        at += found
        missing = count - len(stored)
        if look or not (pending and missing > 0 and len(stored) == at and missing <= len(pending)):
            break
        try:
            await storage.append_messages(
                sid, pending[:missing], last_active=pending[missing - 1].timestamp, expected_count=at
            )
        except StorageError:
            break  # someone else's reservation, or the store failed: append after it below
        del pending[:missing]
        sess.stored_count = at + missing
    assert count is not None and record is not None  # the loop returned otherwise
    # Past a reservation left by another writer: the next append goes after it.
    sess.stored_count = max(count, len(stored))
    messages = [*stored, *pending]
    conversation = sess.record.conversation
    conversation.messages[:] = messages
    latest = max(record.last_active, sess.record.last_active)
    conversation.__dict__["updated_at"] = max(conversation.updated_at, record.conversation.updated_at)
    sess.record.__dict__["last_active"] = latest
    sess.history[:] = [
        ChatMessage.model_construct(
            role="user" if m.role is MessageRole.USER else "assistant", content=m.content, name=None
        )
        for m in messages
        if m.role is not MessageRole.SYSTEM
    ]
    sess.turn_index = sum(1 for m in messages if m.role is MessageRole.USER)


def _identity(message: Message) -> tuple[str, str, datetime]:
    """What tells two messages apart: role, text and the instant it was written."""
    return (message.role.value, message.content, message.timestamp)


async def _next_chunk(sess: LiveSession, chunks: AsyncIterator[ChatResponse]) -> ChatResponse | None:
    """The provider's next chunk; ``None`` at the end or when a stop interrupts the wait."""
    task = asyncio.current_task()
    sess.stream_task, sess.awaiting_chunk = task, True
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None
    except asyncio.CancelledError:
        # request_stop cancels the wait for a chunk that may take seconds; any other
        # cancellation (the caller's own) still propagates.
        if sess.stop_requested and task is not None and task.uncancel() == 0:
            return None
        raise
    finally:
        sess.awaiting_chunk = False
