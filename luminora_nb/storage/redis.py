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
``p:u:<user_id>:emb``       hash    memory embeddings (unencrypted: without their vectors)
``p:u:<user_id>:vec``       hash    unencrypted, each embedding's vector: float32 bytes
``p:u:<user_id>:embv``      string  a random token, new with every change of the embeddings
``p:u:<user_id>:moods``     set     ids of the user's sessions that have a mood
``p:meta``                  string  the store's metadata record (once written)
==========================  ======  ==========================================================

Hash fields that would otherwise carry names (memory keys, personality names, fact
categories and keys, item ids) are digests (with encryption on keyed HMAC-SHA-256, see
:mod:`.codec`; else SHA-256), so with encryption on nothing readable
but session and user ids is stored. The three session keys expire after
``session_config.timeout`` seconds (``0``: never), refreshed on every save, append and
``set_memory``. Listing uses SCAN, never KEYS. A key prefix holds no ``:`` (the config
refuses it), so the keys of one store never spell another store's keys.

Writes are one ``MULTI`` transaction; when a write depends on what is stored (the place
of a replaced fact, the user a mood moves from, whether a session created with
``insert_session`` exists, the moods a deleted session or user names) the keys it read are
``WATCH``\\ ed and the transaction is tried again (after a short random pause, for up to
10 s) if another client changed them meanwhile: no read-then-write is ever split. An
append is one server-side script: atomic, ordered, O(messages appended) whatever the
conversation's length, and it applies only at the position asked for when one is given.

Embeddings: unencrypted, the vector is kept as raw little-endian float32 bytes in the
``vec`` hash, under the field of its document (binary, never base64 inside JSON); documents
written before (the vector in the document) still read, and move to this form when saved
again. With encryption on, the vector stays inside its encrypted document, so nothing of it
is readable at rest. A search ranks a float32 matrix of the user's vectors kept in this
process (:class:`~._vectors.VectorMatrix`), checked per search against the ``embv`` token
(one ``GET``): any client's embedding write sets a new token in its transaction, so the
matrix is rebuilt (one ``MULTI`` reading the token, documents and vectors together) only
after a change. With encryption on, the trade-off is that the decrypted vectors of the
users searched recently stay in this process's memory (never on the server), instead of
decrypting every embedding of the user on every search.

The client reconnects by itself: when the server goes away the failing call raises
:class:`~luminora_nb.errors.StorageError`, and the first calls after the server is back
succeed — the pool checks each connection as it hands it out and reopens one the server
closed (redis-py's own check is skipped while its maintenance notifications are on, their
default).

Example:
    >>> from luminora_nb.types import StorageConfig
    >>> store = RedisStorage(StorageConfig(storage_type="redis", connection_string="redis://127.0.0.1:6379/0"))
    >>> store.backend_name
    'redis'
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import random
import select
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StorageError, shown
from ..types.session import StorageConfig
from . import _documents as docs
from ._keys import Sample
from ._names import checked_key_prefix
from ._server import ServerBackend, verb
from ._vector_cache import VectorCache
from ._vectors import VECTOR_FIELD, VectorMatrix, stored_vector
from .base import Storage
from .codec import DocumentCodec

if TYPE_CHECKING:
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.client import Pipeline
    from redis.asyncio.connection import AbstractConnection
    from redis.commands.core import AsyncScript

__all__ = ["RedisStorage"]

logger = logging.getLogger("luminora_nb.storage")
T = TypeVar("T")

_SEQ_FIELD = "#seq"  # order counter inside the facts / embeddings hashes (never a hex digest)
_PUSH_CHUNK = 1000  # Lua's unpack() has a stack limit; push long appends in slices
_WATCH_BUDGET = 10.0  # seconds a write WATCHing contended keys keeps trying
# The user keys of each kind, and what is ordered (a wrapper {"order", "doc", "user"} per field)
_USER_KEYS = {"affinity": "aff", "fact": "facts", "episode": "episodes", "embedding": "emb"}
_ORDERED = {"fact", "embedding"}
_USER_SUFFIXES = (":aff", ":facts", ":episodes", ":emb", ":moods")

# Every script below takes the session's three keys (session hash, messages list, memory
# hash) and ends by refreshing their time to live from the session's "ttl" field.
_REFRESH_TTL_LUA = """
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl') or '0') or 0
if ttl > 0 then
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
end
"""

# ARGV: touch document, the position the append must apply at (-1: anywhere), then the
# messages. Returns the length of the list before (nothing is appended when it differs
# from the position), -1 when the session is not stored.
_APPEND_LUA = (
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('LLEN', KEYS[2])
local at = tonumber(ARGV[2])
if at >= 0 and at ~= n then return n end
redis.call('HSET', KEYS[1], 'touch', ARGV[1])
local total = #ARGV
local i = 3
while i <= total do
  local last = math.min(i + 999, total)
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, last))
  i = last + 1
end
"""
    + _REFRESH_TTL_LUA
    + "return n"
)

# ARGV: the memory field and its value.
_SET_MEMORY_LUA = "redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])" + _REFRESH_TTL_LUA + "return 1"

# KEYS: the metadata key. ARGV: the expected text ('' for none), the new text.
_SWAP_LUA = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


class RedisStorage(ServerBackend, Storage):
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
        super().__init__(config)
        self._prefix = self.config.key_prefix
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._matrices: VectorCache[docs.Document] = VectorCache()  # see _nearest

    # -- life-cycle ----------------------------------------------------------------
    async def _connect(self, codec: DocumentCodec) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError

        # Checked here, where it is used: a prefix holding ':' or a glob character (a config
        # changed without validation) would reach other stores' keys through SCAN patterns.
        self._prefix = checked_key_prefix(self.backend_name, self.config.key_prefix)
        extra = self.config.extra
        timeout = self.config.connect_timeout
        socket_timeout = float(extra.get("socket_timeout", 30.0))
        try:
            # A blocking pool: many concurrent calls queue for a connection instead of failing.
            # It checks every connection as it is handed out (_checked_pool): after a server
            # restart each pooled connection is found closed and reopened before use, so the
            # first calls after the server is back succeed.
            pool = _checked_pool().from_url(
                self._url,
                max_connections=int(extra.get("max_connections", 50)),
                timeout=socket_timeout,
                socket_connect_timeout=timeout,
                socket_timeout=socket_timeout,
                # No retry of a sent command: a connection that breaks after the server ran it (the
                # reply lost on the way) would run a write twice; a call that meets a server that
                # went away fails with StorageError and the caller decides.
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
            raise self._invalid_url(exc) from None
        self._driver_errors = (RedisError,)
        try:
            await asyncio.wait_for(client.ping(), timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            await _quiet_close(client)
            raise self._cannot_connect(exc) from None
        self._scripts = {
            "append": client.register_script(_APPEND_LUA),
            "set_memory": client.register_script(_SET_MEMORY_LUA),
            "swap": client.register_script(_SWAP_LUA),
        }
        self._client = client

    def _connect_refusal(self, exc: BaseException) -> str | None:
        from redis.exceptions import AuthenticationError, ResponseError

        return (
            self._credentials_refused(exc) if isinstance(exc, AuthenticationError | ResponseError) else None
        )

    def _refused(self, exc: BaseException) -> bool:
        from redis.exceptions import ResponseError

        return isinstance(exc, ResponseError)  # the server answered with an error (OOM, WRONGTYPE, ...)

    @property
    def _refusal_advice(self) -> str:
        return (
            f"check its memory limit and that no other program writes keys under the prefix '{self._prefix}:'"
        )

    async def close(self) -> None:
        """Close the connection pool. Safe to call more than once."""
        client, self._client, self._codec = self._client, None, None
        if client is not None:
            await _quiet_close(client)

    # -- keys ----------------------------------------------------------------------
    def key(self, kind: str, *parts: str) -> str:
        """The full Redis key of ``kind`` (``s``, ``m``, ``kv``, ``mood``, ``u``) and its parts."""
        return ":".join((self._prefix, kind, *parts))

    def _user_key(self, user_id: str, suffix: str) -> str:
        return f"{self._prefix}:u:{user_id}:{suffix}"

    def _session_keys(self, session_id: str) -> list[str]:
        """The session hash, its message list and its memory hash (they expire together)."""
        return [self.key("s", session_id), self.key("m", session_id), self.key("kv", session_id)]

    def _place(self, key: docs.Key) -> tuple[str, str]:
        """The Redis key and hash field of a document (mood: its hash, field ``doc``)."""
        if key.kind is docs.MOOD:
            return self.key("mood", key.owner), "doc"
        ident = self._ident(key, self._ready())
        if key.kind is docs.MEMORY:
            return self.key("kv", key.owner), ident
        return self._user_key(key.owner, _USER_KEYS[key.kind.name]), ident

    def _at(self, redis_key: str | bytes, field: str | bytes = "") -> str:
        """Where a document is stored, for the codec: its key without the store's prefix, and field."""
        return docs.place(_text(redis_key)[len(self._prefix) + 1 :], _text(field))

    def _client_codec(self) -> tuple[Redis, DocumentCodec]:
        codec = self._ready()
        assert self._client is not None
        return self._client, codec

    # -- documents -----------------------------------------------------------------
    async def _write(self, writes: Sequence[docs.Write]) -> list[bool]:
        client, codec = self._client_codec()
        operation, subject = docs.described(writes)
        # What the writes depend on: the stored wrappers of ordered puts, the user of each mood,
        # whether a session created only if absent exists. Those keys are WATCHed, read, and the
        # writes queued in MULTI: if another client changes them meanwhile, EXEC applies nothing
        # and the whole write is tried again, so every read-then-write is atomic.
        reads: list[tuple[str, str]] = []
        for write in writes:
            if isinstance(write, docs.SaveSession):
                if write.if_absent:
                    reads.append((self.key("s", write.record.session_id), "doc"))
            elif write.key.kind is docs.MOOD or write.key.kind.name in _ORDERED:
                place_key, field = self._place(write.key)
                reads.append((place_key, "user" if write.key.kind is docs.MOOD else field))
                if write.key.kind.name in _ORDERED:
                    reads.append((place_key, _SEQ_FIELD))

        async def attempt(pipe: Pipeline) -> list[bool]:
            stored: dict[tuple[str, str], Any] = {}
            if reads:
                await pipe.watch(*{place_key for place_key, _ in reads})
                for read in dict.fromkeys(reads):
                    stored[read] = await pipe.hget(*read)
                pipe.multi()  # type: ignore[no-untyped-call]
            results = [await self._queue(pipe, codec, write, stored) for write in writes]
            replies = await pipe.execute() if pipe.command_stack else []
            return [result if isinstance(result, bool) else bool(replies[result]) for result in results]

        return await self._watched(client, verb(operation), subject, attempt)

    async def _queue(
        self, pipe: Pipeline, codec: DocumentCodec, write: docs.Write, stored: dict[tuple[str, str], Any]
    ) -> int | bool:
        """Queue the commands of one write: its result, or the index of the reply that tells it."""
        if isinstance(write, docs.SaveSession):
            if write.if_absent and stored.get((self.key("s", write.record.session_id), "doc")) is not None:
                return False  # taken (WATCHed: the check holds until EXEC)
            self._queue_session(pipe, codec, write)
            return True
        key = write.key
        place_key, field = self._place(key)
        if key.kind is docs.MOOD:
            previous_user = stored.get((place_key, "user"))
            if previous_user is not None:
                pipe.srem(self._user_key(_text(previous_user), "moods"), key.owner)
            if isinstance(write, docs.Delete):
                pipe.delete(place_key)
                return len(pipe.command_stack) - 1
            user = str(write.document["user_id"])
            pipe.hset(
                place_key,
                mapping={
                    "user": user,
                    "doc": codec.encode(write.document, what=key.subject, at=self._at(place_key, "doc")),
                },
            )
            pipe.sadd(self._user_key(user, "moods"), key.owner)
            return True
        document = (
            self._queue_vector(pipe, codec, key.owner, field, write) if key.kind is docs.EMBEDDING else {}
        )
        if isinstance(write, docs.Delete):
            pipe.hdel(place_key, field)
            return len(pipe.command_stack) - 1
        document = document or write.document
        if key.kind.appended:
            pipe.rpush(place_key, codec.encode(document, what=key.subject, at=self._at(place_key)))
        elif key.kind.name in _ORDERED:
            raw = stored.get((place_key, field))
            previous = (
                codec.decode(raw, what=key.subject, at=self._at(place_key, field))
                if raw is not None
                else None
            )
            if previous is None:  # a new field: the next place in the hash's order
                order = int(stored.get((place_key, _SEQ_FIELD)) or 0) + 1
                stored[(place_key, _SEQ_FIELD)] = str(order).encode()
                pipe.hset(place_key, _SEQ_FIELD, order)
            else:
                order = int(previous["order"])
                document = docs.kept(document, previous.get("doc"), key.kind.keep)
            wrapper = {"order": order, "doc": document, "user": key.owner}
            pipe.hset(
                place_key, field, codec.encode(wrapper, what=key.subject, at=self._at(place_key, field))
            )
        elif key.kind is docs.MEMORY:
            data = codec.encode(
                document, what=f"memory value for key {shown(key.names[0])}", at=self._at(place_key, field)
            )
            await self._scripts["set_memory"](
                keys=self._session_keys(key.owner), args=[field, data], client=pipe
            )
        else:
            pipe.hset(
                place_key, field, codec.encode(document, what=key.subject, at=self._at(place_key, field))
            )
        return True

    def _queue_vector(
        self, pipe: Pipeline, codec: DocumentCodec, user_id: str, field: str, write: docs.Put | docs.Delete
    ) -> docs.Document:
        """Queue an embedding's vector (unencrypted: raw bytes in the ``vec`` hash) and a new
        ``embv`` token; returns the document to store (unencrypted: without its vector)."""
        pipe.set(self._user_key(user_id, "embv"), uuid.uuid4().hex)
        vector_key = self._user_key(user_id, "vec")
        if isinstance(write, docs.Delete) or codec.encrypted:  # encrypted: inside the document
            pipe.hdel(vector_key, field)
            return {} if isinstance(write, docs.Delete) else write.document
        pipe.hset(vector_key, field, stored_vector(write.document))
        return {k: v for k, v in write.document.items() if k not in (VECTOR_FIELD, "vector")}

    def _with_vector(self, document: docs.Document, vector: bytes | str | None) -> docs.Document:
        """An embedding document with its vector's bytes back (kept beside it when unencrypted)."""
        if isinstance(vector, bytes):  # the client returns bytes (decode_responses=False)
            document[VECTOR_FIELD] = vector
        return document

    async def _nearest(
        self, user_id: str, query: list[float], kind: str | None, limit: int
    ) -> list[tuple[float, docs.Document]]:
        client, codec = self._client_codec()
        subject = docs.EMBEDDING.of(user_id)
        token_key = self._user_key(user_id, "embv")
        async with self._op("load", subject):
            matrix = self._matrices.get(user_id, await client.get(token_key))
            if matrix is None:
                async with client.pipeline(transaction=True) as pipe:  # one snapshot of all three
                    pipe.get(token_key)
                    pipe.hgetall(self._user_key(user_id, "emb"))
                    pipe.hgetall(self._user_key(user_id, "vec"))
                    token, raw, vectors = await pipe.execute()
        if matrix is None:
            rows = self._embeddings(codec, user_id, raw, vectors)
            matrix = VectorMatrix(rows, [stored_vector(r) for r in rows], [r.get("kind") for r in rows])
            self._matrices.put(user_id, token, matrix)
        return [(score, copy.deepcopy(doc)) for score, doc in matrix.rank(query, limit, label=kind)]

    def _embeddings(
        self, codec: DocumentCodec, user_id: str, raw: dict[bytes, bytes], vectors: dict[bytes, bytes]
    ) -> list[docs.Document]:
        """The user's embedding documents from the ``emb`` and ``vec`` hashes, in the order first saved."""
        place_key = self._user_key(user_id, "emb")
        wrappers = [
            (codec.decode(value, what=docs.EMBEDDING.of(user_id), at=self._at(place_key, field)), field)
            for field, value in raw.items()
            if field != _SEQ_FIELD.encode()
        ]
        wrappers.sort(key=lambda pair: int(pair[0]["order"]))
        return [self._with_vector(wrapper["doc"], vectors.get(field)) for wrapper, field in wrappers]

    def _queue_session(self, pipe: Pipeline, codec: DocumentCodec, write: docs.SaveSession) -> None:
        sid = write.record.session_id
        subject = f"session {sid!r}"
        head = write.head
        touch = {"last_active": head["last_active"], "updated_at": head["conversation"]["updated_at"]}
        session_key, messages_key, memory_key = self._session_keys(sid)
        at = self._at(messages_key)
        encoded = [codec.encode(m, what=f"message of {subject}", at=at) for m in write.messages]
        ttl = int(write.record.session_config.timeout)
        pipe.delete(session_key, messages_key)
        pipe.hset(
            session_key,
            mapping={
                "doc": codec.encode(head, what=subject, at=self._at(session_key, "doc")),
                "touch": codec.encode(touch, what=subject, at=self._at(session_key, "touch")),
                "ttl": ttl,
            },
        )
        for start in range(0, len(encoded), _PUSH_CHUNK):
            pipe.rpush(messages_key, *encoded[start : start + _PUSH_CHUNK])
        if ttl > 0:
            for key in (session_key, messages_key, memory_key):
                pipe.expire(key, ttl)
        else:
            pipe.persist(memory_key)

    def _unwrapped(
        self, codec: DocumentCodec, kind: docs.Kind, raw: bytes | str, subject: str, at: str
    ) -> docs.Document:
        document = codec.decode(raw, what=subject, at=at)
        return document["doc"] if kind.name in _ORDERED else document

    async def _get(self, key: docs.Key) -> docs.Document | None:
        client, codec = self._client_codec()
        place_key, field = self._place(key)
        async with self._op("load", key.subject):
            raw = await client.hget(place_key, field)
            vector = (
                await client.hget(self._user_key(key.owner, "vec"), field)
                if key.kind is docs.EMBEDDING
                else None
            )
        at = self._at(place_key, field)
        if raw is None:
            return None
        return self._with_vector(self._unwrapped(codec, key.kind, raw, key.subject, at), vector)

    async def _list(
        self, kind: docs.Kind, owner: str, where: Mapping[str, str] | None
    ) -> list[docs.Document]:
        client, codec = self._client_codec()
        place_key, _ = self._place(docs.Key(kind, owner))
        subject = kind.of(owner)
        async with self._op("load", subject):
            if kind is docs.EPISODE:
                items = await client.lrange(place_key, 0, -1)
                return [
                    codec.decode(item, what=f"episode {i} of user {shown(owner)}", at=self._at(place_key))
                    for i, item in enumerate(items)
                ]
            if kind is docs.EMBEDDING:
                async with client.pipeline(transaction=True) as pipe:
                    pipe.hgetall(place_key)
                    pipe.hgetall(self._user_key(owner, "vec"))
                    raw, vectors = await pipe.execute()
                return self._embeddings(codec, owner, raw, vectors)
            raw = await client.hgetall(place_key)
        documents = [
            codec.decode(value, what=subject, at=self._at(place_key, field))
            for field, value in raw.items()
            if field != _SEQ_FIELD.encode()
        ]
        if kind.name not in _ORDERED:
            return documents
        return [item["doc"] for item in sorted(documents, key=lambda item: int(item["order"]))]

    # -- sessions ------------------------------------------------------------------
    def _session_head(
        self, codec: DocumentCodec, raw_doc: bytes, raw_touch: bytes | None, subject: str, session_key: str
    ) -> docs.Document:
        head = codec.decode(raw_doc, what=subject, at=self._at(session_key, "doc"))
        if raw_touch is not None:
            touch = codec.decode(raw_touch, what=subject, at=self._at(session_key, "touch"))
            docs.touched(head, touch["last_active"])
            if isinstance(head.get("conversation"), dict):
                head["conversation"]["updated_at"] = touch["updated_at"]
        return head

    def _listing(
        self,
        codec: DocumentCodec,
        raw_doc: bytes,
        raw_touch: bytes | None,
        subject: str,
        count: int,
        session_key: str,
    ) -> tuple[docs.Document, int]:
        return self._session_head(codec, raw_doc, raw_touch, subject, session_key), count

    async def _load_session(self, session_id: str) -> docs.StoredSession | None:
        client, codec = self._client_codec()
        subject = f"session {session_id!r}"
        session_key, messages_key, memory_key = self._session_keys(session_id)
        async with self._op("load", subject), client.pipeline(transaction=True) as pipe:
            pipe.hmget(session_key, ["doc", "touch"])
            pipe.lrange(messages_key, 0, -1)
            pipe.hgetall(memory_key)
            (raw_doc, raw_touch), raw_messages, raw_memory = await pipe.execute()
        if raw_doc is None:
            return None
        head = self._session_head(codec, raw_doc, raw_touch, subject, session_key)
        at = self._at(messages_key)
        messages = [
            codec.decode(m, what=f"message {i} of {subject}", at=at) for i, m in enumerate(raw_messages)
        ]
        memory = [
            codec.decode(raw, what=f"memory of {subject}", at=self._at(memory_key, field))
            for field, raw in raw_memory.items()
        ]
        return docs.StoredSession(head, messages, memory)

    async def _append_messages(
        self, session_id: str, messages: list[docs.Document], last_active: str, at: int | None
    ) -> int | None:
        _, codec = self._client_codec()
        subject = f"session {session_id!r}"
        session_key, messages_key, _ = self._session_keys(session_id)
        touch = {"last_active": last_active, "updated_at": last_active}
        args: list[bytes | int] = [
            codec.encode(touch, what=subject, at=self._at(session_key, "touch")),
            -1 if at is None else at,
        ]
        place = self._at(messages_key)
        args.extend(codec.encode(m, what=f"message of {subject}", at=place) for m in messages)
        async with self._op("append to", subject):
            stored = int(await self._scripts["append"](keys=self._session_keys(session_id), args=args))
        return None if stored < 0 else stored

    async def _message_count(self, session_id: str) -> int | None:
        client, _ = self._client_codec()
        session_key, messages_key, _ = self._session_keys(session_id)
        # one round trip, one snapshot
        async with self._op("load", f"session {session_id!r}"), client.pipeline(transaction=True) as pipe:
            pipe.exists(session_key)
            pipe.llen(messages_key)
            exists, count = await pipe.execute()
        return int(count) if exists else None

    async def _session_heads(self, user_id: str | None) -> list[docs.SessionHead]:
        client, codec = self._client_codec()
        start = len(self._prefix) + 3
        async with self._op("list", "sessions"):
            session_keys = [k async for k in client.scan_iter(match=f"{self._prefix}:s:*", count=1000)]
            async with client.pipeline(transaction=False) as pipe:
                for key in session_keys:
                    pipe.hmget(key, ["doc", "touch"])
                    pipe.llen(self.key("m", key.decode("utf-8", "surrogateescape")[start:]))
                replies = await pipe.execute(raise_on_error=False)
        heads: list[docs.SessionHead] = []
        for index, key in enumerate(session_keys):
            fields, count = replies[2 * index], replies[2 * index + 1]
            if not isinstance(fields, list) or fields[0] is None:  # expired or deleted since the SCAN
                continue
            subject = f"session {key.decode('utf-8', 'surrogateescape')[start:]!r}"
            count = count if isinstance(count, int) else 0
            raw_doc, raw_touch = fields

            heads.append(
                docs.SessionHead(
                    subject,
                    functools.partial(self._listing, codec, raw_doc, raw_touch, subject, count, _text(key)),
                )
            )
        return heads

    async def _delete_session(self, session_id: str) -> bool:
        client, _ = self._client_codec()
        mood_key = self.key("mood", session_id)

        async def delete(pipe: Pipeline) -> bool:
            await pipe.watch(mood_key)  # the user the mood names, read and used atomically
            mood_user = await pipe.hget(mood_key, "user")
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(self.key("s", session_id))
            pipe.delete(*self._session_keys(session_id)[1:], mood_key)
            if mood_user is not None:
                pipe.srem(self._user_key(_text(mood_user), "moods"), session_id)
            replies = await pipe.execute()
            return bool(replies[0])

        return await self._watched(client, "delete", f"session {session_id!r}", delete)

    async def _watched(
        self, client: Redis, operation: str, subject: str, attempt: Callable[[Pipeline], Awaitable[T]]
    ) -> T:
        """Run ``attempt`` (WATCH, reads, MULTI, EXEC) again while other clients change what it read."""
        from redis.exceptions import WatchError

        # Optimistic: under contention one writer of a key wins each round. The others wait a
        # random, growing pause (so many clients on one user's keys do not livelock) and try
        # again, for up to _WATCH_BUDGET seconds.
        deadline = time.monotonic() + _WATCH_BUDGET
        pause = 0.001
        async with self._op(operation, subject):
            while True:
                async with client.pipeline(transaction=True) as pipe:
                    try:
                        return await attempt(pipe)
                    except WatchError:
                        pass
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(random.uniform(0, pause))
                pause = min(pause * 2, 0.05)
        raise StorageError(
            f"redis storage: could not {operation} {subject}: other clients kept changing "
            "the same keys; retry"
        )

    # -- users ---------------------------------------------------------------------
    async def _list_users(self) -> list[str]:
        client, _ = self._client_codec()
        start = len(self._prefix) + 3
        users: list[str] = []
        async with self._op("list", "users"):
            async for raw_key in client.scan_iter(match=f"{self._prefix}:u:*", count=1000):
                key = raw_key.decode("utf-8", "surrogateescape")
                suffix = next((s for s in _USER_SUFFIXES if key.endswith(s)), None)
                if suffix is not None and len(key) > start + len(suffix):
                    users.append(key[start : -len(suffix)])
        return users

    async def _delete_user(self, user_id: str) -> int:
        client, _ = self._client_codec()
        keys = {
            suffix: self._user_key(user_id, suffix)
            for suffix in ("aff", "facts", "episodes", "emb", "vec", "embv", "moods")
        }

        async def delete(pipe: Pipeline) -> int:
            # WATCH what is counted and the moods named: a mood saved or moved meanwhile makes
            # EXEC apply nothing, and the whole deletion runs again.
            await pipe.watch(*keys.values())
            moods = await pipe.smembers(keys["moods"])
            mood_keys = [self.key("mood", _text(sid)) for sid in moods]
            if mood_keys:
                await pipe.watch(*mood_keys)
            owned = [k for k in mood_keys if await pipe.hget(k, "user") == user_id.encode()]
            count = len(owned)
            for suffix in ("aff", "facts", "emb"):
                count += int(await pipe.hlen(keys[suffix]))
                if suffix != "aff":
                    count -= int(await pipe.hexists(keys[suffix], _SEQ_FIELD))
            count += int(await pipe.llen(keys["episodes"]))
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(*keys.values(), *owned)
            await pipe.execute()
            return count

        return await self._watched(client, "delete", f"data of user {user_id!r}", delete)

    async def _first_document(self) -> Sample | None:
        client, _ = self._client_codec()
        async with self._op("load", "a stored document"):
            async for raw_key in client.scan_iter(match=f"{self._prefix}:s:*", count=1000):
                raw = await client.hget(raw_key, "doc")
                if raw is not None:
                    return Sample(raw, f"session {_text(raw_key)[len(self._prefix) + 3 :]!r}")
            for pattern in (":kv:*", ":mood:*", ":u:*"):
                async for raw_key in client.scan_iter(match=f"{self._prefix}{pattern}", count=1000):
                    key = _text(raw_key)
                    if pattern == ":mood:*":
                        raw = await client.hget(raw_key, "doc")
                    elif key.endswith(":episodes"):
                        raw = await client.lindex(raw_key, 0)
                    elif key.endswith((":moods", ":vec", ":embv")):  # no documents there
                        continue
                    else:
                        fields = await client.hgetall(raw_key)
                        raw = next((v for f, v in fields.items() if f != _SEQ_FIELD.encode()), None)
                    if raw is not None:
                        return Sample(raw, f"a document under {key!r}")
        return None

    # -- metadata ------------------------------------------------------------------
    async def _read_metadata(self) -> str | None:
        client, _ = self._client_codec()
        async with self._op("load", "the metadata record"):
            raw = await client.get(self.key("meta"))
        return None if raw is None else _text(raw)

    async def _swap_metadata(self, expected: str | None, record: str) -> bool:
        self._client_codec()
        async with self._op("save", "the metadata record"):
            swapped = await self._scripts["swap"](keys=[self.key("meta")], args=[expected or "", record])
        return bool(swapped)


@functools.cache
def _checked_pool() -> type[BlockingConnectionPool]:
    """A ``BlockingConnectionPool`` that checks each connection when it hands it out.

    redis-py checks a pooled connection at checkout only while its maintenance notifications
    are off, and they are on ("auto") by default; with our retries off, every connection the
    server closed (a restart) then failed one call. This pool always looks: a connection
    with unread data or at end-of-file (closed by the server) is reopened before use.
    """
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    class CheckedPool(aioredis.BlockingConnectionPool):
        async def ensure_connection(self, connection: AbstractConnection) -> None:
            await connection.connect()  # type: ignore[no-untyped-call]
            try:
                # The socket itself first: a server that went away left it readable (EOF),
                # even before the event loop has run and told the stream so.
                stale = _readable(connection) or await connection.can_read()
            except (RedisConnectionError, RedisTimeoutError, OSError):
                stale = True
            if stale:
                await connection.disconnect()
                await connection.connect()  # type: ignore[no-untyped-call]

    return CheckedPool


def _readable(connection: AbstractConnection) -> bool:
    """Whether an idle connection's socket has something to read: end-of-file or stray data.

    Either way it cannot carry the next command; a closed server shows up here as EOF.
    """
    writer = getattr(connection, "_writer", None)
    sock = writer.get_extra_info("socket") if writer is not None else None
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


async def _quiet_close(client: Redis) -> None:
    try:
        await client.aclose()
    except Exception as exc:  # closing a pool whose server is gone must not fail the caller
        logger.debug("redis storage: ignoring error while closing the client: %s", type(exc).__name__)
