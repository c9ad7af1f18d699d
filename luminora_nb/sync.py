"""``Luminora``: the synchronous facade for notebooks and scripts.

Every method of the async :class:`~luminora_nb.client.LuminoraCoreClient` is here as a
plain call with the same name and arguments, on defaults that need nothing: the
offline provider, in-memory storage and the DuckDB session log.

Design: the facade owns one :class:`~luminora_nb._loop.LoopThread` (an event loop on
a daemon thread) and runs its client there. A call hands its coroutine to that loop and
waits, so the facade never nests loops and behaves the same in a script, inside a
running Jupyter kernel, in an ipywidgets callback and from many threads at once.
Streams are plain iterators fed by a task on the loop thread: chunks arrive as they are
produced, and breaking out of the loop (or ``close()``) cancels the stream and releases
the session. Errors are the library's own exceptions, raised in the caller's thread.

Example:
    >>> with Luminora(log=None) as lum:
    ...     sid = lum.create_session("aurora")
    ...     reply = lum.send_message(sid, "Hello! My name is Sam.")
    ...     text = "".join(chunk.content for chunk in lum.stream_message(sid, "How are you?"))
    ...     len(lum.get_conversation(sid).messages)
    4
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from . import _arguments
from ._arguments import EpisodeArguments, arguments_of
from ._loop import LoopThread
from .client import LuminoraCoreClient
from .errors import LuminoraError, SessionError
from .events import Event, Subscription
from .types.memory import EpisodeDict, FactDict, MemorySearchResult
from .types.personality import PersonalityBlend, PersonalityData
from .types.provider import ChatResponse, ProviderConfig
from .types.relationship import AffinityDict
from .types.session import Conversation, MemoryConfig, SessionConfig, SessionSummary, StorageConfig
from .types.snapshot import PersonalitySnapshotDict, SnapshotExportOptions

if TYPE_CHECKING:
    import concurrent.futures

    import pandas as pd
    from typing_extensions import Unpack

    from .client import BlendOptions, CardOptions
    from .client_v11 import LuminoraCoreClientV11
    from .compare import BlendSpec, CompareOptions, CompareResult
    from .sessionlog import SessionLog
    from .snapshot import Snapshot

__all__ = ["DEFAULT_LOG", "ChatStream", "Luminora"]

T = TypeVar("T")

#: The session log's file when neither ``log=`` nor ``LUMINORA_LOG`` says otherwise.
DEFAULT_LOG = "luminora.duckdb"


class _Default:
    def __repr__(self) -> str:
        return "<default>"


_DEFAULT: Any = _Default()
_live: weakref.WeakSet[Luminora] = weakref.WeakSet()


def _provider(value: ProviderConfig | Mapping[str, Any] | str | None) -> ProviderConfig | None:
    return None if value is None else ProviderConfig.coerce(value)


def _storage(value: StorageConfig | Mapping[str, Any] | str | None) -> StorageConfig:
    return StorageConfig.coerce(value)


class Luminora:
    """The LuminoraCore API as plain (blocking) calls, for notebooks and scripts.

    Args:
        provider: Default provider of new sessions: a :class:`ProviderConfig`, a
            provider name (``"openai"``) or a dict. Default: the offline simulator.
        storage: Where sessions are stored: a :class:`StorageConfig`, a storage type
            (``"memory"``) or a dict. Default: in memory.
        memory_config: Limits of the per-session key/value memory.
        log: The DuckDB session log: a file path, a
            :class:`~luminora_nb.sessionlog.SessionLog`, or ``None`` for no log. By
            default ``$LUMINORA_LOG`` or ``luminora.duckdb`` in the working directory
            (an empty ``LUMINORA_LOG`` turns it off).
        user_id: Default user of new sessions.
        client: Use this async client instead of creating one (its loop must be ours:
            only pass a client that has not been used yet).
        learn: Make turns learn (v1.1 memory and relationships: facts, episodes,
            affinity, mood, semantic search). On by default, so a session with no
            configuration remembers what the user says and its replies follow what it
            learned (the user's name, the relationship level, the mood); the shipped
            embedder loads on the first turn that needs it.
            ``learn=False`` gives the plain v1.0 turn; the v1.1 methods (``get_facts``,
            ``update_affinity``, ``search_memories`` ...) work either way, on :attr:`v11`.
        v11_options: Keyword options of
            :class:`~luminora_nb.client_v11.LuminoraCoreClientV11` (``extractor``,
            ``embedder``, ``prompt_search_hits``, ``storage_v11`` ...).

    Example:
        >>> lum = Luminora(log=None)
        >>> "aurora" in lum.list_personalities()
        True
        >>> lum.close()
    """

    def __init__(
        self,
        *,
        provider: ProviderConfig | Mapping[str, Any] | str | None = None,
        storage: StorageConfig | Mapping[str, Any] | str | None = None,
        memory_config: MemoryConfig | None = None,
        log: SessionLog | str | os.PathLike[str] | None = _DEFAULT,
        user_id: str | None = None,
        client: LuminoraCoreClient | None = None,
        learn: bool = True,
        v11_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.user_id = user_id
        self._closed = False
        self._lock = threading.Lock()
        self.log: SessionLog | None = self._open_log(log)
        self._owns_log = self.log is not None and not _is_log(log)
        self._loop = LoopThread()
        try:
            if client is None:
                client = self._loop.run(
                    self._new_client(_provider(provider), _storage(storage), memory_config)
                )
            elif provider is not None:
                client.default_provider = _provider(provider) or client.default_provider
            self.client: LuminoraCoreClient = client
            if self.log is not None and client.session_log is not self.log:
                self._log_subscription: Subscription | None = self.log.attach(client)
            else:
                self._log_subscription = None
            self._loop.run(client.initialize())
            self._v11_options = dict(v11_options or {})
            self._v11: LuminoraCoreClientV11 | None = None
            if learn:
                self._v11 = self._new_v11(learn=True)
        except BaseException:
            self._loop.close()
            if self.log is not None and self._owns_log:
                self.log.close()
            raise
        _live.add(self)

    def _new_v11(self, *, learn: bool) -> LuminoraCoreClientV11:
        from .client_v11 import LuminoraCoreClientV11  # lazy: the memory rules compile on import

        return LuminoraCoreClientV11(self.client, learn=learn, **self._v11_options)

    @property
    def v11(self) -> LuminoraCoreClientV11:
        """The v1.1 client (facts, episodes, search, affinity) over this facade's client.

        Built with the facade when it learns (the default), else on first use.
        """
        if self._v11 is None:
            with self._lock:
                if self._v11 is None:
                    self._v11 = self._new_v11(learn=False)
        return self._v11

    @staticmethod
    async def _new_client(
        provider: ProviderConfig | None, storage: StorageConfig, memory_config: MemoryConfig | None
    ) -> LuminoraCoreClient:
        # Built on the loop thread: whatever the client binds at construction binds there.
        return LuminoraCoreClient(
            storage_config=storage, memory_config=memory_config, default_provider=provider
        )

    @staticmethod
    def _open_log(log: SessionLog | str | os.PathLike[str] | None) -> SessionLog | None:
        if log is None or _is_log(log):
            return log
        from .sessionlog import SessionLog  # lazy: duckdb and pandas load only with a log

        if log is _DEFAULT:
            path = os.environ.get("LUMINORA_LOG", DEFAULT_LOG)
            if not path.strip():
                return None
            try:
                return SessionLog(path)
            except LuminoraError as exc:
                # The default place is not writable (a read-only working directory):
                # chatting still works, the user is told once how to get a log.
                warnings.warn(
                    f"session log disabled: {exc}. Pass Luminora(log='path/to/log.duckdb') "
                    "or set LUMINORA_LOG to keep one",
                    stacklevel=3,
                )
                return None
        if isinstance(log, str | os.PathLike):
            return SessionLog(log)
        raise LuminoraError(
            f"log must be a file path, a SessionLog or None, not {type(log).__name__}; "
            "e.g. Luminora(log='luminora.duckdb')"
        )

    # -- life-cycle -------------------------------------------------------------------
    def __repr__(self) -> str:
        if self._closed:
            return "<Luminora closed>"
        log = f"{self.log.path}" if self.log is not None else "off"
        provider = self.client.default_provider.name
        storage = self.client.storage.backend_name
        return f"<Luminora provider={provider!r} storage={storage!r} log={log!r}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close the client (provider connections, storage), flush the log, stop the loop.

        Stored sessions stay stored. Safe to call twice; also called at interpreter exit.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _live.discard(self)
        try:
            if not self._loop.closed:
                self._loop.run(self.client.cleanup(), timeout=30)
        finally:
            self._loop.close()
            if self._log_subscription is not None:
                self._log_subscription.close()
            if self.log is not None:
                if self._owns_log:
                    self.log.close()
                else:
                    self.log.flush()

    def __enter__(self) -> Luminora:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coro)

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Run a coroutine of the async client (``lum.client``) on the facade's loop and wait.

        For what the facade does not wrap: ``lum.run(lum.client.storage.list_sessions())``.

        Raises:
            LuminoraError: ``timeout`` seconds passed (the coroutine is cancelled).
        """
        return self._loop.run(coro, timeout=timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine of the async client on the facade's loop without waiting.

        Returns a :class:`concurrent.futures.Future`; widgets use it to keep the kernel
        free while a reply streams.
        """
        return self._loop.submit(coro)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the facade's loop thread (thread-safe)."""
        self._loop.call_soon(callback, *args)

    def subscribe(
        self,
        handler: Callable[[Event], Awaitable[None] | None],
        *,
        types: Sequence[type[Event]] | None = None,
    ) -> Subscription:
        """Receive the client's events (see :mod:`luminora_nb.events`).

        The handler runs on the facade's loop thread: keep it short, and never make a
        blocking facade call from it.
        """
        return self.client.events.subscribe(handler, types=types)

    # -- personalities ----------------------------------------------------------------
    def list_personalities(self) -> list[str]:
        """Names of the loaded and shipped personalities, sorted."""
        return self._run(self.client.list_personalities())

    def load_personality(
        self, name: str, data: Mapping[str, Any] | PersonalityData, *, replace: bool = False
    ) -> PersonalityData:
        """Load a personality from a full definition or the simple seed form.

        A different personality under a taken name needs ``replace=True``.
        """
        return self._run(self.client.load_personality(name, data, replace=replace))

    def load_card(self, source: Any, **options: Unpack[CardOptions]) -> PersonalityData:
        """Import a Character Card (V1/V2/V3; JSON, PNG or CHARX) and register it.

        Same arguments as :meth:`LuminoraCoreClient.load_card` (``name``, ``traits``,
        ``parameters``, ``replace``); a different personality under a taken name needs
        ``replace=True``.

        Example:
            >>> lum = Luminora(log=None)
            >>> lum.load_card({"name": "Mira", "description": "A cheerful cartographer."}).name
            'mira'
            >>> lum.close()
        """
        return self._run(self.client.load_card(source, **options))

    def get_personality(self, name: str | PersonalityData) -> PersonalityData | None:
        """A loaded (or shipped) personality, or ``None``."""
        return self._run(self.client.get_personality(name))

    def blend_personalities(
        self,
        personality_names: Sequence[str | PersonalityData],
        weights: Sequence[float],
        blend_name: str | None = None,
        **options: Unpack[BlendOptions],
    ) -> PersonalityData:
        """Blend personalities by weight and register the result as ``blend_name``.

        Options as the async client's (``blend_type``, ``custom_rules``, ``replace``); a
        different personality under a taken name needs ``replace=True``.
        """
        return self._run(self.client.blend_personalities(personality_names, weights, blend_name, **options))

    def blend(self, blend: PersonalityBlend, blend_name: str, *, replace: bool = False) -> PersonalityData:
        """Apply a :class:`PersonalityBlend` recipe and register the result."""
        return self._run(self.client.blend(blend, blend_name, replace=replace))

    # -- sessions ---------------------------------------------------------------------
    def create_session(
        self,
        personality_name: str | PersonalityData | None = None,
        provider_config: ProviderConfig | Mapping[str, Any] | str | None = None,
        *,
        user_id: str | None = None,
        session_config: SessionConfig | Mapping[str, Any] | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Start a session; returns its id. A provider may also be given by name."""
        return self._run(
            self.client.create_session(
                personality_name,
                _provider(provider_config),
                user_id=user_id if user_id is not None else self.user_id,
                session_config=session_config,
                session_id=session_id,
                metadata=metadata,
            )
        )

    def resume_session(
        self, session_id: str, provider_config: ProviderConfig | Mapping[str, Any] | str | None = None
    ) -> str:
        """Continue a stored session, e.g. one created by another process."""
        return self._run(self.client.resume_session(session_id, _provider(provider_config)))

    def list_sessions(self, *, user_id: str | None = None) -> list[str]:
        """Ids of the stored sessions (of one user if given), oldest first."""
        return self._run(self.client.list_sessions(user_id=user_id))

    def session_summaries(self, *, user_id: str | None = None) -> list[SessionSummary]:
        """Summaries of the stored sessions."""
        return self._run(self.client.session_summaries(user_id=user_id))

    def session_info(self, session_id: str) -> SessionSummary | None:
        """Personality, provider, user, message count and times of one session, or ``None``."""
        return self._run(self.client.session_info(session_id))

    def delete_session(self, session_id: str) -> bool:
        """Delete a session, its conversation and its memory."""
        return self._run(self.client.delete_session(session_id))

    def get_conversation(self, session_id: str) -> Conversation | None:
        """The session's conversation (a copy), or ``None``."""
        return self._run(self.client.get_conversation(session_id))

    # -- turns --------------------------------------------------------------------------
    def send_message(self, session_id: str, message: str, **kwargs: Any) -> ChatResponse:
        """Send a user message and return the reply (options as the async client's)."""
        return self._run(self.client.send_message(session_id, message, **kwargs))

    def stream_message(self, session_id: str, message: str, **kwargs: Any) -> ChatStream:
        """Send a user message; iterate the returned :class:`ChatStream` for the chunks.

        Example:
            >>> with Luminora(log=None) as lum:
            ...     sid = lum.create_session("vex")
            ...     with lum.stream_message(sid, "Hello!") as stream:
            ...         text = "".join(chunk.content for chunk in stream)
            ...     stream.finish_reason, text == stream.text
            ('stop', True)
        """
        return ChatStream(self, session_id, message, kwargs)

    def stop_stream(self, session_id: str) -> None:
        """Stop the session's running stream, keeping its partial reply (``"stopped"``)."""
        self._loop.call_soon(self.client.stop_stream, session_id)

    # -- memory -------------------------------------------------------------------------
    def store_memory(self, session_id: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` for the session."""
        self._run(self.client.store_memory(session_id, key, value))

    def get_memory(self, session_id: str, key: str) -> Any:
        """The value stored under ``key`` for the session, or ``None``."""
        return self._run(self.client.get_memory(session_id, key))

    # -- v1.1: memory and relationships ------------------------------------------------------
    def get_facts(self, user_id: str, category: str | None = None) -> list[FactDict]:
        """Facts learned about the user (of one category if given)."""
        return self._run(self.v11.get_facts(user_id, category))

    def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[EpisodeDict]:
        """Memorable episodes, most important first."""
        return self._run(self.v11.get_episodes(user_id, min_importance, max_results))

    def search_memories(self, user_id: str, query: str, top_k: int = 5) -> list[MemorySearchResult]:
        """The user's memories nearest to ``query`` by meaning."""
        return self._run(self.v11.search_memories(user_id, query, top_k))

    def save_fact(
        self, user_id: str, category: str, key: str, value: Any, confidence: float = 1.0, **kwargs: Any
    ) -> bool:
        """Save (or update) a fact about the user."""
        return self._run(self.v11.save_fact(user_id, category, key, value, confidence, **kwargs))

    def delete_fact(self, user_id: str, category: str, key: str, *, session_id: str | None = None) -> bool:
        """Forget one fact; ``True`` when it existed (published as a ``FactDeleted`` event)."""
        return self._run(self.v11.delete_fact(user_id, category, key, session_id=session_id))

    @arguments_of(_arguments.save_episode)
    def save_episode(self, episode: EpisodeArguments) -> bool:
        """Save a memorable episode (extra keywords such as ``session_id`` are stored with it)."""
        return self._run(self.v11.save_episode(*episode.positional(), **episode.extra))

    def get_memory_stats(self, user_id: str) -> dict[str, Any]:
        """Counts of what is remembered about the user, and their relationships."""
        return self._run(self.v11.get_memory_stats(user_id))

    def get_affinity(self, user_id: str, personality_name: str | PersonalityData) -> AffinityDict:
        """The user's relationship with the personality (its starting state if none yet)."""
        return self._run(self.v11.get_affinity(user_id, personality_name))

    def update_affinity(
        self,
        user_id: str,
        personality_name: str | PersonalityData,
        points_delta: float | None = None,
        interaction_type: str = "explicit",
        *,
        reason: str | None = None,
    ) -> AffinityDict:
        """Change the affinity and recompute the level."""
        return self._run(
            self.v11.update_affinity(user_id, personality_name, points_delta, interaction_type, reason=reason)
        )

    def export_snapshot(
        self, session_id: str, options: SnapshotExportOptions | Mapping[str, Any] | None = None
    ) -> PersonalitySnapshotDict:
        """Export a session's complete state (a dict that renders as a card); see ``LuminoraCoreClientV11``.

        Example:
            >>> # snap = lum.export_snapshot(sid, {"max_messages": 100})
        """
        return self._run(self.v11.export_snapshot(session_id, options))

    def import_snapshot(
        self,
        snapshot: PersonalitySnapshotDict | Mapping[str, Any],
        user_id: str,
        *,
        provider_config: ProviderConfig | Mapping[str, Any] | str | None = None,
        max_bytes: int | None = None,
    ) -> str:
        """Restore a snapshot for ``user_id``, all or nothing; returns the new session id."""
        return self._run(
            self.v11.import_snapshot(snapshot, user_id, provider_config=provider_config, max_bytes=max_bytes)
        )

    def save_snapshot(
        self,
        session_id: str,
        path: str | os.PathLike[str],
        options: SnapshotExportOptions | Mapping[str, Any] | None = None,
        *,
        compress: bool | None = None,
    ) -> Path:
        """Export a session to a JSON file (gzip for ``.gz`` or ``compress=True``); returns the path.

        Example:
            >>> # lum.save_snapshot(sid, "willow-sam.json.gz")
        """
        return self._run(self.v11.save_snapshot(session_id, path, options, compress=compress))

    def load_snapshot(self, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> Snapshot:
        """Read and validate a snapshot file; import it with :meth:`import_snapshot`.

        Example:
            >>> # new_sid = lum.import_snapshot(lum.load_snapshot("willow-sam.json.gz"), "zoe")
        """
        return self._run(self.v11.load_snapshot(path, max_bytes=max_bytes))

    def get_session_analytics(self, session_id: str) -> dict[str, Any]:
        """Metrics of one session."""
        return self._run(self.v11.get_session_analytics(session_id))

    # -- comparisons ----------------------------------------------------------------------
    def compare(
        self,
        blends: Sequence[BlendSpec] | Mapping[str, BlendSpec],
        prompts: Sequence[str],
        **options: Unpack[CompareOptions],
    ) -> CompareResult:
        """Run every prompt against every blend side by side: :func:`luminora_nb.compare.compare`.

        Options as there (``provider``, ``concurrency=8``, ``repeat=1``, ``baseline``,
        ``progress``, ``on_cell``, ...); ``user_id`` defaults to the facade's.
        ``on_cell`` runs on the facade's loop thread as each cell finishes.
        """
        from .compare import compare

        options.setdefault("user_id", self.user_id)
        return self._run(compare(self.client, blends, prompts, **options))

    # -- the log -------------------------------------------------------------------------
    def _require_log(self) -> SessionLog:
        if self.log is None:
            raise LuminoraError("this Luminora has no session log; create it with log='path.duckdb'")
        return self.log

    def sessions(self) -> pd.DataFrame:
        """The session log's sessions table as a DataFrame."""
        return self._require_log().sessions()

    def messages(self, session_id: str | None = None) -> pd.DataFrame:
        """The session log's messages (of one session if given) as a DataFrame."""
        return self._require_log().messages(session_id)

    def events(self, type: str | None = None, session_id: str | None = None) -> pd.DataFrame:
        """The session log's events as a DataFrame."""
        return self._require_log().events(type, session_id)


def _is_log(value: object) -> TypeGuard[SessionLog]:
    # duck-typed, so importing sessionlog (duckdb, pandas) is never needed to check
    return hasattr(value, "attach") and hasattr(value, "flush") and not isinstance(value, str | Path)


_CHUNK, _END, _ERROR = 0, 1, 2


class _Feed:
    """The loop-side half of a :class:`ChatStream`: runs the stream, queues its chunks.

    It holds no reference to the :class:`ChatStream`, so dropping the stream (breaking
    out of a ``for`` loop) frees it at once and its ``__del__`` cancels the feed.
    """

    def __init__(self, client: LuminoraCoreClient, session_id: str) -> None:
        self.client = client
        self.session_id = session_id
        self.queue: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self.stop_wanted = False
        self.finished = threading.Event()

    async def run(self, message: str, options: dict[str, Any]) -> None:
        put = self.queue.put
        stop_sent = False
        try:
            stream = self.client.stream_message(self.session_id, message, **options)
            try:
                async for chunk in stream:
                    if self.stop_wanted and not stop_sent:
                        # stop() came before the stream had begun: stop it now
                        stop_sent = self.client.stop_stream(self.session_id)
                    put((_CHUNK, chunk))
            finally:
                await stream.aclose()
        except BaseException as exc:  # including cancellation: the reader must wake up
            put((_ERROR, exc))
            if not isinstance(exc, Exception):
                raise
        else:
            put((_END, None))
        finally:
            self.finished.set()


class ChatStream(Iterator[ChatResponse]):
    """A streamed reply as a plain iterator of :class:`ChatResponse` chunks.

    Chunks arrive as the provider produces them (a task on the facade's loop feeds
    them). Breaking out of a ``for`` loop over the stream, ``close()`` or leaving a
    ``with`` block cancels the stream and releases the session (a stream abandoned
    early stores nothing); :meth:`stop` instead ends it at once and keeps the partial
    reply as a stored turn with ``finish_reason="stopped"``.

    Attributes:
        text: The reply received so far.
        response: The last chunk (``finish_reason``, ``usage``) once finished.
    """

    def __init__(self, lum: Luminora, session_id: str, message: str, options: dict[str, Any]) -> None:
        self.session_id = session_id
        self.text = ""
        self.response: ChatResponse | None = None
        self._lum = lum
        self._done = False
        self._feed = _Feed(lum.client, session_id)
        self._future = lum.submit(self._feed.run(message, options))

    def __repr__(self) -> str:
        state = "finished" if self._done else "streaming"
        return f"<ChatStream session={self.session_id!r} {state} chars={len(self.text)}>"

    @property
    def finish_reason(self) -> str | None:
        """The reply's finish reason once the stream has ended."""
        return self.response.finish_reason if self.response is not None else None

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> ChatResponse:
        if self._done:
            raise StopIteration
        try:
            kind, value = self._feed.queue.get()
        except BaseException:  # an interrupt while waiting: cancel the stream, then propagate
            self.close()
            raise
        if kind == _CHUNK:
            self.text += value.content
            if value.finish_reason is not None:
                self.response = value
            return value  # type: ignore[no-any-return]
        self._done = True
        if kind == _ERROR:
            if isinstance(value, Exception):
                raise value
            raise SessionError("the stream was cancelled before it finished; nothing of it was stored")
        raise StopIteration

    def stop(self) -> None:
        """End the stream now, keeping the partial reply as a turn (``"stopped"``).

        Thread-safe: a Stop button's callback may call it while another thread iterates.
        """
        if self._done:
            return
        self._feed.stop_wanted = True
        self._lum.stop_stream(self.session_id)

    def close(self) -> None:
        """Cancel the stream if it still runs (nothing of it is stored) and release the session.

        Returns once the stream has let go of the session.
        """
        if self._done:
            return
        self._done = True
        self._future.cancel()
        if not self._lum._loop.in_loop_thread():
            self._feed.finished.wait(10.0)

    def wait(self) -> ChatResponse:
        """Consume the rest of the stream and return the final chunk."""
        for _ in self:
            pass
        if self.response is None:
            raise SessionError("the stream ended without a final chunk")
        return self.response

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Breaking out of `for chunk in lum.stream_message(...)` drops the last reference;
        # no waiting here: __del__ may run on any thread, the loop's own included.
        if not getattr(self, "_done", True):
            self._done = True
            self._future.cancel()


@atexit.register
def _close_all() -> None:
    for lum in list(_live):
        try:
            lum.close()
        except Exception as exc:  # exit must go on; say what was not closed cleanly
            warnings.warn(f"closing {lum!r} at exit failed: {exc}", stacklevel=1)
