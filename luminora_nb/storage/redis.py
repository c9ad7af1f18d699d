"""Redis storage (``redis.asyncio``): JSON documents under one key prefix, TTL from the session timeout.

Keys (``p`` is ``StorageConfig.key_prefix``; every value is a :class:`DocumentCodec` document,
so JSON, optionally compressed and encrypted — never pickle):

==========================  ======  ==========================================================
``p:s:<session_id>``        hash    ``doc`` (the session without messages), ``touch``
                                    (``last_active`` / ``updated_at``), ``ttl`` (seconds)
``p:m:<session_id>``        list    one message document per element, appended with RPUSH
``p:kv:<session_id>``       hash    the session's key/value memory
``p:mood:<session_id>``     hash    ``user`` and ``doc``: the session's mood
``p:u:<user_id>:aff``       hash    affinity per personality
``p:u:<user_id>:facts``     hash    facts (with their first-learned order)
``p:u:<user_id>:episodes``  list    episodes in the order saved
``p:u:<user_id>:emb``       hash    memory embeddings
``p:u:<user_id>:moods``     set     ids of the user's sessions that have a mood
==========================  ======  ==========================================================

Hash fields that would otherwise carry names (memory keys, personality names, fact
categories and keys, item ids) are SHA-256 digests, so with encryption on nothing readable
but session and user ids is stored. The three session keys expire after
``session_config.timeout`` seconds (``0``: never), refreshed on every save, append and
``set_memory``. Listing uses SCAN, never KEYS, and keeps only keys of the type this store
writes whose content names the same session or user: a prefix may contain ``:``, so
``p:s:*`` also matches the keys of a store with the prefix ``p:s``. Appends are one server-side script:
atomic, ordered, and O(messages appended), whatever the conversation's length.

The client reconnects by itself: when the server goes away the failing call raises
:class:`~luminora_nb.errors.StorageError`, and the next call after the server is back
opens a new connection.

Example:
    >>> from luminora_nb.types import StorageConfig
    >>> store = RedisStorage(StorageConfig(storage_type="redis", connection_string="redis://127.0.0.1:6379/0"))
    >>> store.backend_name
    'redis'
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import StorageError
from ..types.session import Message, SessionRecord, SessionSummary, StorageConfig
from ._documents import (
    affinity_document,
    embedding_document,
    episode_document,
    fact_document,
    message_documents,
    mood_document,
    select_episodes,
    session_documents,
    session_from_documents,
)
from ._names import name_digest, redacted_url
from .base import Storage, require_strings
from .codec import DocumentCodec

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["RedisStorage"]

logger = logging.getLogger("luminora_nb.storage")

DEFAULT_URL = "redis://localhost:6379/0"
_SEQ_FIELD = "#seq"  # order counter inside the facts / embeddings hashes (never a hex digest)
_USER_SUFFIXES = (":aff", ":facts", ":episodes", ":emb", ":moods")
_PUSH_CHUNK = 1000  # Lua's unpack() has a stack limit; push long appends in slices

# KEYS: session hash, messages list, memory hash. ARGV: touch document, then the messages.
# Returns the new length of the list, or -1 when the session is not stored.
_APPEND_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('HSET', KEYS[1], 'touch', ARGV[1])
local n = redis.call('LLEN', KEYS[2])
local total = #ARGV
local i = 2
while i <= total do
  local last = math.min(i + 999, total)
  n = redis.call('RPUSH', KEYS[2], unpack(ARGV, i, last))
  i = last + 1
end
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl') or '0') or 0
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
return n
"""

# KEYS: memory hash, session hash, messages list. ARGV: field, value.
_SET_MEMORY_LUA = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(redis.call('HGET', KEYS[2], 'ttl') or '0') or 0
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
return 1
"""


class RedisStorage(Storage):
    """Conversations and user state in Redis.

    Config: ``connection_string`` (default ``redis://localhost:6379/0``; ``rediss://`` for
    TLS), ``key_prefix``, ``connect_timeout``, and in ``extra``: ``socket_timeout``
    (seconds a reply may take, default 30), ``max_connections`` (default 50),
    ``health_check_interval`` (seconds, default 15).

    Example:
        >>> from luminora_nb.types import StorageConfig
        >>> cfg = StorageConfig(storage_type="redis", connection_string="redis://127.0.0.1:6379/0",
        ...                     key_prefix="notebook1")
        >>> RedisStorage(cfg).key("s", "abc")
        'notebook1:s:abc'
    """

    backend_name = "redis"

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config or StorageConfig(storage_type="redis"))
        self._url = self.config.connection_string or DEFAULT_URL
        self._where = redacted_url(self._url, kind="Redis URL")
        self._prefix = self.config.key_prefix
        self._client: Redis | None = None
        self._codec: DocumentCodec | None = None
        self._append_script: AsyncScript | None = None
        self._set_memory_script: AsyncScript | None = None
        self._errors: tuple[type[BaseException], ...] = ()

    # -- life-cycle ----------------------------------------------------------------
    async def initialize(self) -> None:
        """Connect and check the server answers, within ``config.connect_timeout`` seconds.

        Raises:
            StorageError: no encryption key while encryption is on, the driver is not
                installed, the URL is invalid, or the server does not answer in time.
        """
        if self._client is not None:
            return
        codec = DocumentCodec.from_config(self.config)
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff
            from redis.exceptions import AuthenticationError, RedisError, ResponseError
            from redis.exceptions import ConnectionError as RedisConnectionError
        except ImportError:
            raise StorageError(
                "redis storage needs the 'redis' package; install it with: pip install 'luminora_nb[redis]'"
            ) from None
        extra = self.config.extra
        timeout = self.config.connect_timeout
        socket_timeout = float(extra.get("socket_timeout", 30.0))
        try:
            # A blocking pool: many concurrent calls queue for a connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(
                self._url,
                max_connections=int(extra.get("max_connections", 50)),
                timeout=socket_timeout,
                socket_connect_timeout=timeout,
                socket_timeout=socket_timeout,
                # No retry of a sent command: a connection that breaks after the server ran it (the
                # reply lost on the way) would run an append twice. The pool replaces a stale pooled
                # connection before use (health check, and a readable EOF on checkout), so after a
                # server restart only the call that met the broken connection fails.
                retry=Retry(
                    ExponentialBackoff(cap=min(timeout / 4, 0.5), base=0.02),
                    retries=0,
                    supported_errors=(RedisConnectionError,),
                ),
                health_check_interval=int(extra.get("health_check_interval", 15)),
                decode_responses=False,
            )
            client = aioredis.Redis.from_pool(pool)
        except (ValueError, TypeError) as exc:
            raise StorageError(
                f"redis storage: invalid connection_string {self._where!r} ({exc}); "
                "use redis://[:password@]host:port/db"
            ) from None
        self._errors = (RedisError, OSError, TimeoutError)
        try:
            await asyncio.wait_for(client.ping(), timeout)
        except self._errors as exc:
            await _quiet_close(client)
            if isinstance(exc, (AuthenticationError, ResponseError)):
                raise StorageError(
                    f"redis storage: the Redis server at {self._where} refused the connection "
                    f"({self._scrub(str(exc))}); check the user name and password in connection_string"
                ) from None
            reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
            raise StorageError(
                f"redis storage: cannot reach the Redis server at {self._where} within {timeout:g} s "
                f"({self._scrub(reason)}); check that it is running and that connection_string is right, "
                "or raise StorageConfig.connect_timeout"
            ) from None
        self._codec = codec
        self._append_script = client.register_script(_APPEND_LUA)
        self._set_memory_script = client.register_script(_SET_MEMORY_LUA)
        self._client = client

    async def close(self) -> None:
        """Close the connection pool. Safe to call more than once."""
        client, self._client = self._client, None
        if client is not None:
            await _quiet_close(client)

    # -- helpers -------------------------------------------------------------------
    def key(self, kind: str, *parts: str) -> str:
        """The full Redis key of ``kind`` (``s``, ``m``, ``kv``, ``mood``, ``u``) and its parts."""
        return ":".join((self._prefix, kind, *parts))

    def _user_key(self, user_id: str, suffix: str) -> str:
        return f"{self._prefix}:u:{user_id}:{suffix}"

    def _ready(self) -> tuple[Redis, DocumentCodec]:
        if self._client is None or self._codec is None:
            raise StorageError("redis storage is not initialised; call 'await storage.initialize()' first")
        return self._client, self._codec

    def _scrub(self, text: str) -> str:
        parts = urllib.parse.urlsplit(self._url)
        for secret in (parts.password, parts.username):
            if secret:
                text = text.replace(secret, "***")
        return text

    @asynccontextmanager
    async def _op(self, operation: str, subject: str) -> AsyncIterator[None]:
        """Turn driver failures of one operation into a :class:`StorageError`."""
        try:
            yield
        except StorageError:
            raise
        except UnicodeEncodeError:
            raise StorageError(
                f"redis storage: could not {operation} {subject}: an id or name holds text that is not "
                "valid Unicode (an unpaired surrogate such as '\\ud800'); use valid text"
            ) from None
        except self._errors as exc:
            from redis.exceptions import ResponseError

            reason = "timed out" if isinstance(exc, TimeoutError) else self._scrub(str(exc))
            if isinstance(exc, ResponseError):  # the server answered with an error (OOM, WRONGTYPE, ...)
                hint = (
                    "the server refused the command; check its memory limit and that no other program "
                    f"writes keys under the prefix '{self._prefix}:'"
                )
            else:
                hint = f"check that the Redis server at {self._where} is running and reachable, then retry"
            raise StorageError(
                f"redis storage: could not {operation} {subject}: {reason} ({type(exc).__name__}); {hint}"
            ) from None

    def _ttl(self, record: SessionRecord) -> int:
        return int(record.session_config.timeout)

    # -- conversations -------------------------------------------------------------
    async def save_session(self, record: SessionRecord) -> None:
        client, codec = self._ready()
        sid = record.session_id
        subject = f"session {sid!r}"
        doc, messages = session_documents(record)
        touch = {"last_active": doc["last_active"], "updated_at": doc["conversation"]["updated_at"]}
        encoded = [codec.encode(m, what=f"message of {subject}") for m in messages]
        session_key, messages_key, memory_key = self.key("s", sid), self.key("m", sid), self.key("kv", sid)
        ttl = self._ttl(record)
        doc_data = codec.encode(doc, what=subject)
        touch_data = codec.encode(touch, what=subject)
        async with self._op("save", subject), client.pipeline(transaction=True) as pipe:
            pipe.delete(session_key, messages_key)
            pipe.hset(session_key, mapping={"doc": doc_data, "touch": touch_data, "ttl": ttl})
            for start in range(0, len(encoded), _PUSH_CHUNK):
                pipe.rpush(messages_key, *encoded[start : start + _PUSH_CHUNK])
            if ttl > 0:
                for key in (session_key, messages_key, memory_key):
                    pipe.expire(key, ttl)
            else:
                pipe.persist(memory_key)
            await pipe.execute()

    async def load_session(self, session_id: str) -> SessionRecord | None:
        require_strings(self.backend_name, "load_session", session_id=session_id)
        client, codec = self._ready()
        subject = f"session {session_id!r}"
        async with self._op("load", subject), client.pipeline(transaction=True) as pipe:
            pipe.hmget(self.key("s", session_id), ["doc", "touch"])
            pipe.lrange(self.key("m", session_id), 0, -1)
            pipe.hgetall(self.key("kv", session_id))
            (raw_doc, raw_touch), raw_messages, raw_memory = await pipe.execute()
        if raw_doc is None:
            return None
        doc = self._session_doc(codec, raw_doc, raw_touch, subject)
        messages = [codec.decode(m, what=f"message {i} of {subject}") for i, m in enumerate(raw_messages)]
        memory = {}
        for raw in raw_memory.values():
            item = codec.decode(raw, what=f"memory of {subject}")
            memory[item["key"]] = item["value"]
        return session_from_documents(doc, messages, memory=memory, what=subject)

    @staticmethod
    def _session_doc(
        codec: DocumentCodec, raw_doc: bytes, raw_touch: bytes | None, subject: str
    ) -> dict[str, Any]:
        doc = codec.decode(raw_doc, what=subject)
        if raw_touch is not None:
            touch = codec.decode(raw_touch, what=subject)
            doc["last_active"] = touch["last_active"]
            if isinstance(doc.get("conversation"), dict):
                doc["conversation"]["updated_at"] = touch["updated_at"]
        return doc

    async def append_messages(
        self, session_id: str, messages: Sequence[Message], *, last_active: datetime
    ) -> None:
        require_strings(self.backend_name, "append_messages", session_id=session_id)
        _, codec = self._ready()
        script = self._append_script
        assert script is not None
        subject = f"session {session_id!r}"
        stamp = last_active.isoformat()
        args: list[bytes] = [codec.encode({"last_active": stamp, "updated_at": stamp}, what=subject)]
        args.extend(codec.encode(m, what=f"message of {subject}") for m in message_documents(messages))
        keys = [self.key("s", session_id), self.key("m", session_id), self.key("kv", session_id)]
        async with self._op("append to", subject):
            result = await script(keys=keys, args=args)
        if int(result) < 0:
            raise StorageError(
                f"redis storage: {subject} is not stored (never saved, deleted, or expired after its "
                "timeout); save it with save_session before appending"
            )

    async def list_sessions(self, *, user_id: str | None = None) -> list[SessionSummary]:
        require_strings(self.backend_name, "list_sessions", user_id=user_id, optional=("user_id",))
        client, codec = self._ready()
        start = len(self._prefix) + 3
        async with self._op("list", "sessions"):
            # Only hashes: a prefix may contain ':', so 'p:s:*' also matches the message lists (and
            # other keys) of a store whose prefix is 'p:s'.
            session_keys = [
                k async for k in client.scan_iter(match=f"{self._prefix}:s:*", count=1000, _type="HASH")
            ]
            async with client.pipeline(transaction=False) as pipe:
                for key in session_keys:
                    pipe.hmget(key, ["doc", "touch"])
                replies = await pipe.execute()
        found: list[tuple[str, SessionSummary]] = []
        for key, (raw_doc, raw_touch) in zip(session_keys, replies, strict=True):
            if raw_doc is None:  # expired or deleted between SCAN and the read, or not a session hash
                continue
            sid = key.decode("utf-8", "surrogateescape")[start:]
            try:
                doc = self._session_doc(codec, raw_doc, raw_touch, f"session {sid!r}")
                if doc.get("session_id") != sid:  # a session of another store whose prefix extends ours
                    continue
                if user_id is not None and doc.get("user_id") != user_id:
                    continue
                summary = session_from_documents(doc, [], what=f"session {sid!r}").summary()
            except StorageError as exc:  # one unreadable session must not hide the others
                if _foreign_shape(sid):
                    logger.debug("redis storage: skipping %s (another store's key?): %s", sid, exc)
                else:
                    logger.warning("redis storage: leaving %s out of the session list: %s", sid, exc)
                continue
            found.append((sid, summary))
        async with self._op("list", "sessions"), client.pipeline(transaction=False) as pipe:
            for sid, _ in found:
                pipe.llen(self.key("m", sid))
            counts = await pipe.execute(raise_on_error=False)
        rows = [
            summary.model_copy(update={"message_count": count if isinstance(count, int) else 0})
            for (_, summary), count in zip(found, counts, strict=True)
        ]
        return sorted(rows, key=lambda s: (s.created_at, s.session_id))

    async def delete_session(self, session_id: str) -> bool:
        require_strings(self.backend_name, "delete_session", session_id=session_id)
        client, _ = self._ready()
        subject = f"session {session_id!r}"
        mood_key = self.key("mood", session_id)
        async with self._op("delete", subject):
            mood_user = await client.hget(mood_key, "user")
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(self.key("s", session_id))
                pipe.delete(self.key("m", session_id), self.key("kv", session_id), mood_key)
                if mood_user is not None:
                    pipe.srem(self._user_key(_text(mood_user), "moods"), session_id)
                replies = await pipe.execute()
        return bool(replies[0])

    async def set_memory(self, session_id: str, key: str, value: Any) -> None:
        require_strings(self.backend_name, "set_memory", session_id=session_id, key=key)
        _, codec = self._ready()
        script = self._set_memory_script
        assert script is not None
        subject = f"memory {key!r} of session {session_id!r}"
        data = codec.encode({"key": key, "value": value}, what=f"memory value for key {key!r}")
        keys = [self.key("kv", session_id), self.key("s", session_id), self.key("m", session_id)]
        async with self._op("save", subject):
            await script(keys=keys, args=[name_digest(key), data])

    async def get_memory(self, session_id: str, key: str) -> Any:
        require_strings(self.backend_name, "get_memory", session_id=session_id, key=key)
        client, codec = self._ready()
        subject = f"memory {key!r} of session {session_id!r}"
        async with self._op("load", subject):
            raw = await client.hget(self.key("kv", session_id), name_digest(key))
        if raw is None:
            return None
        return codec.decode(raw, what=subject).get("value")

    # -- v1.1 user state -----------------------------------------------------------
    async def save_affinity(
        self, user_id: str, personality_name: str, affinity_points: int, current_level: str, **kwargs: Any
    ) -> bool:
        require_strings(
            self.backend_name, "save_affinity", user_id=user_id, personality_name=personality_name
        )
        client, codec = self._ready()
        subject = f"affinity of user {user_id!r} with {personality_name!r}"
        doc = affinity_document(user_id, personality_name, affinity_points, current_level, kwargs)
        data = codec.encode(doc, what="affinity")
        async with self._op("save", subject):
            await client.hset(self._user_key(user_id, "aff"), name_digest(personality_name), data)
        return True

    async def get_affinity(self, user_id: str, personality_name: str) -> dict[str, Any] | None:
        require_strings(self.backend_name, "get_affinity", user_id=user_id, personality_name=personality_name)
        client, codec = self._ready()
        subject = f"affinity of user {user_id!r} with {personality_name!r}"
        async with self._op("load", subject):
            raw = await client.hget(self._user_key(user_id, "aff"), name_digest(personality_name))
        return None if raw is None else codec.decode(raw, what=subject)

    async def _ordered_put(
        self, key: str, field: str, build: Any, subject: str, *, user_id: str, keep_fields: bool
    ) -> None:
        """Store ``build(previous)`` under ``field`` keeping (or assigning) its position."""
        client, codec = self._ready()
        async with self._op("save", subject):
            async with client.pipeline(transaction=False) as pipe:
                pipe.hget(key, field)
                pipe.hincrby(key, _SEQ_FIELD, 1)
                raw_previous, next_order = await pipe.execute()
            previous = codec.decode(raw_previous, what=subject) if raw_previous is not None else None
            order = previous["order"] if previous is not None else next_order
            doc = build(previous["doc"] if previous is not None and keep_fields else None)
            await client.hset(
                key, field, codec.encode({"order": order, "doc": doc, "user": user_id}, what=subject)
            )

    async def _ordered_all(self, key: str, subject: str) -> list[dict[str, Any]]:
        client, codec = self._ready()
        async with self._op("load", subject):
            raw = await client.hgetall(key)
        items = [
            codec.decode(value, what=subject) for field, value in raw.items() if field != _SEQ_FIELD.encode()
        ]
        items.sort(key=lambda item: int(item["order"]))
        return [item["doc"] for item in items]

    async def save_fact(self, user_id: str, category: str, key: str, value: Any, **kwargs: Any) -> bool:
        require_strings(self.backend_name, "save_fact", user_id=user_id, category=category, key=key)
        subject = f"fact {category}/{key} of user {user_id!r}"
        await self._ordered_put(
            self._user_key(user_id, "facts"),
            name_digest(category, key),
            lambda previous: fact_document(user_id, category, key, value, kwargs, previous),
            subject,
            user_id=user_id,
            keep_fields=True,
        )
        return True

    async def get_facts(self, user_id: str, category: str | None = None) -> list[dict[str, Any]]:
        require_strings(
            self.backend_name, "get_facts", user_id=user_id, category=category, optional=("category",)
        )
        facts = await self._ordered_all(self._user_key(user_id, "facts"), f"facts of user {user_id!r}")
        return [f for f in facts if category is None or f.get("category") == category]

    async def delete_fact(self, user_id: str, category: str, key: str) -> bool:
        require_strings(self.backend_name, "delete_fact", user_id=user_id, category=category, key=key)
        client, _ = self._ready()
        async with self._op("delete", f"fact {category}/{key} of user {user_id!r}"):
            removed = await client.hdel(self._user_key(user_id, "facts"), name_digest(category, key))
        return bool(removed)

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
        require_strings(self.backend_name, "save_episode", user_id=user_id)
        client, codec = self._ready()
        doc = episode_document(user_id, episode_type, title, summary, importance, sentiment, kwargs)
        data = codec.encode(doc, what="episode")
        async with self._op("save", f"episode of user {user_id!r}"):
            await client.rpush(self._user_key(user_id, "episodes"), data)
        return True

    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[dict[str, Any]]:
        require_strings(self.backend_name, "get_episodes", user_id=user_id)
        client, codec = self._ready()
        subject = f"episodes of user {user_id!r}"
        async with self._op("load", subject):
            raw = await client.lrange(self._user_key(user_id, "episodes"), 0, -1)
        episodes = [codec.decode(item, what=f"episode {i} of user {user_id!r}") for i, item in enumerate(raw)]
        return select_episodes(episodes, min_importance, max_results)

    async def save_mood(
        self, session_id: str, user_id: str, current_mood: str, mood_intensity: float = 1.0, **kwargs: Any
    ) -> bool:
        require_strings(self.backend_name, "save_mood", session_id=session_id, user_id=user_id)
        client, codec = self._ready()
        subject = f"mood of session {session_id!r}"
        data = codec.encode(
            mood_document(session_id, user_id, current_mood, mood_intensity, kwargs), what="mood"
        )
        mood_key = self.key("mood", session_id)
        async with self._op("save", subject):
            previous_user = await client.hget(mood_key, "user")
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(mood_key, mapping={"user": user_id, "doc": data})
                if previous_user is not None and _text(previous_user) != user_id:
                    pipe.srem(self._user_key(_text(previous_user), "moods"), session_id)
                pipe.sadd(self._user_key(user_id, "moods"), session_id)
                await pipe.execute()
        return True

    async def get_mood(self, session_id: str) -> dict[str, Any] | None:
        require_strings(self.backend_name, "get_mood", session_id=session_id)
        client, codec = self._ready()
        subject = f"mood of session {session_id!r}"
        async with self._op("load", subject):
            raw = await client.hget(self.key("mood", session_id), "doc")
        return None if raw is None else codec.decode(raw, what=subject)

    async def save_embedding(
        self, user_id: str, item_id: str, kind: str, text: str, vector: Sequence[float], **kwargs: Any
    ) -> bool:
        require_strings(self.backend_name, "save_embedding", user_id=user_id, item_id=item_id, kind=kind)
        await self._ordered_put(
            self._user_key(user_id, "emb"),
            name_digest(item_id),
            lambda _previous: embedding_document(item_id, kind, text, vector, kwargs),
            f"embedding {item_id!r} of user {user_id!r}",
            user_id=user_id,
            keep_fields=False,
        )
        return True

    async def get_embeddings(self, user_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        require_strings(self.backend_name, "get_embeddings", user_id=user_id, kind=kind, optional=("kind",))
        rows = await self._ordered_all(self._user_key(user_id, "emb"), f"embeddings of user {user_id!r}")
        return [r for r in rows if kind is None or r.get("kind") == kind]

    async def list_users(self) -> list[str]:
        client, codec = self._ready()
        start = len(self._prefix) + 3
        candidates: list[tuple[str, str, str]] = []  # (key, user id, suffix)
        async with self._op("list", "users"):
            async for raw_key in client.scan_iter(match=f"{self._prefix}:u:*", count=1000):
                key = raw_key.decode("utf-8", "surrogateescape")
                for suffix in _USER_SUFFIXES:
                    if key.endswith(suffix) and len(key) > start + len(suffix):
                        candidates.append((key, key[start : -len(suffix)], suffix))
                        break
            # A prefix may contain ':', so 'p:u:*' also matches keys of a store whose prefix is
            # 'p:u' (its 'p:u:u:carol:facts' reads as user 'u:carol'). Keep a key only when its
            # type is the one this store writes and a sample of its content names the same user.
            async with client.pipeline(transaction=False) as pipe:
                for key, _, suffix in candidates:
                    if suffix == ":episodes":
                        pipe.lindex(key, 0)
                    elif suffix == ":moods":
                        pipe.srandmember(key)
                    else:
                        pipe.hrandfield(key, 2)
                samples = await pipe.execute(raise_on_error=False)
            async with client.pipeline(transaction=False) as pipe:
                for (key, _, suffix), sample in zip(candidates, samples, strict=True):
                    if suffix == ":moods" and isinstance(sample, bytes):
                        pipe.hget(self.key("mood", _text(sample)), "user")
                    elif isinstance(sample, list) and any(f != _SEQ_FIELD.encode() for f in sample):
                        pipe.hget(key, next(f for f in sample if f != _SEQ_FIELD.encode()))
                    else:
                        pipe.echo(b"")
                details = await pipe.execute(raise_on_error=False)
        users: set[str] = set()
        for (_, uid, suffix), sample, detail in zip(candidates, samples, details, strict=True):
            if uid not in users and self._owned_by(codec, uid, suffix, sample, detail):
                users.add(uid)
        return sorted(users)

    @staticmethod
    def _owned_by(codec: DocumentCodec, uid: str, suffix: str, sample: Any, detail: Any) -> bool:
        """Whether a user key's sampled content (see :meth:`list_users`) belongs to ``uid`` here."""
        if isinstance(sample, BaseException) or isinstance(detail, BaseException) or not sample:
            return False  # the wrong type (another store's key), or gone since the SCAN
        if suffix == ":moods":
            return isinstance(detail, bytes) and _text(detail) == uid
        if suffix == ":episodes":
            raw = sample
        elif all(field == _SEQ_FIELD.encode() for field in sample):
            return True  # only the order counter left: items were saved, then deleted
        else:
            raw = detail
        if not isinstance(raw, bytes):
            return False
        try:
            item = codec.decode(raw, what=f"data of user {uid!r}")
        except StorageError:
            return False  # not readable with this store's codec: another store's data
        if suffix in (":facts", ":emb"):  # {"order", "doc", "user"} ("user" since 0.1; older: absent)
            if item.get("user", uid) != uid:
                return False
            doc = item.get("doc")
            return isinstance(doc, dict) and doc.get("user_id", uid) == uid
        return bool(item.get("user_id", uid) == uid)

    async def delete_user_data(self, user_id: str) -> int:
        require_strings(self.backend_name, "delete_user_data", user_id=user_id)
        client, _ = self._ready()
        keys = {
            suffix: self._user_key(user_id, suffix) for suffix in ("aff", "facts", "episodes", "emb", "moods")
        }
        async with self._op("delete", f"data of user {user_id!r}"):
            async with client.pipeline(transaction=True) as pipe:
                pipe.hlen(keys["aff"])
                pipe.hlen(keys["facts"])
                pipe.hexists(keys["facts"], _SEQ_FIELD)
                pipe.llen(keys["episodes"])
                pipe.hlen(keys["emb"])
                pipe.hexists(keys["emb"], _SEQ_FIELD)
                pipe.smembers(keys["moods"])
                aff, facts, facts_seq, episodes, emb, emb_seq, moods = await pipe.execute()
            mood_keys = [self.key("mood", sid.decode("utf-8")) for sid in moods]
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(*keys.values())
                for mood_key in mood_keys:
                    # only moods still owned by this user (another save may have moved one)
                    pipe.hget(mood_key, "user")
                replies = await pipe.execute()
            owned = [k for k, owner in zip(mood_keys, replies[1:], strict=True) if owner == user_id.encode()]
            if owned:
                await client.delete(*owned)
        return int(aff) + int(facts) - int(facts_seq) + int(episodes) + int(emb) - int(emb_seq) + len(owned)


def _foreign_shape(session_id: str) -> bool:
    """Whether a session id read from a key looks like the key of a store whose prefix extends ours."""
    kind, sep, _ = session_id.partition(":")
    return bool(sep) and kind in ("s", "m", "kv", "mood", "u")


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


async def _quiet_close(client: Redis) -> None:
    try:
        await client.aclose()
    except Exception as exc:  # closing a pool whose server is gone must not fail the caller
        logger.debug("redis storage: ignoring error while closing the client: %s", type(exc).__name__)
