"""MongoDB storage (PyMongo's ``AsyncMongoClient``): documents and indexes.

The database is the one named in the connection string's path (default ``luminora``).
Collections (``t`` is ``StorageConfig.table_name``):

=================  ===================================================  ======================
``t``              one document per session (``_id`` = session id)       ``(user_id, created_at)``
``t_messages``     one document per message                              unique ``(session_id, seq)``
``t_memory``       the per-session key/value memory                      unique ``(session_id, ident)``
``t_affinity``     affinity per (user, personality)                      unique ``(user_id, ident)``
``t_facts``        facts, in first-learned order (``ord``)               unique ``(user_id, ident)``
``t_episodes``     episodes, in saved order (``ord``)                    ``(user_id, ord)``
``t_moods``        the mood of each session (``_id`` = session id)       ``user_id``
``t_embeddings``   memory embeddings per (user, item)                    unique ``(user_id, ident)``
=================  ===================================================  ======================

With a plain codec each record is a real BSON sub-document under ``doc`` (queryable with
MongoDB's own tools); with compression or encryption it is the codec's bytes under
``blob``. Reads accept either form. ``ident`` is a SHA-256 digest of a record's names, so
with encryption on no name is readable. Indexes (and the collections) are created at
``initialize`` when ``auto_create_tables``; otherwise the collections must exist.

An append reserves its sequence numbers atomically on the session document
(``$inc``), then inserts only the new messages. Saving a whole session runs in a
transaction when the server supports them (a replica set). When the server goes away
the failing call raises :class:`~luminora_nb.errors.StorageError` after at most
``connect_timeout`` seconds; the driver reconnects by itself once it is back.

Example:
    >>> from luminora_nb.types import StorageConfig
    >>> store = MongoDBStorage(StorageConfig(storage_type="mongodb", table_name="chat"))
    >>> store.collection_names()[:2]
    ['chat', 'chat_messages']
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

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
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.database import AsyncDatabase

__all__ = ["MongoDBStorage"]

logger = logging.getLogger("luminora_nb.storage")

DEFAULT_URL = "mongodb://localhost:27017/luminora"
DEFAULT_DATABASE = "luminora"
_SUFFIXES = ("messages", "memory", "affinity", "facts", "episodes", "moods", "embeddings")
_DB_NAME = re.compile(r'^[^/\\. "$*<>:|?\x00]{1,63}$')
_USER_COLLECTIONS = ("affinity", "facts", "episodes", "moods", "embeddings")
_SURROGATE = re.compile("[\\ud800-\\udfff]")
T = TypeVar("T")

_ord_lock = threading.Lock()
_last_ord = 0


def _next_ord() -> int:
    """A strictly increasing number, close to the wall clock in nanoseconds (saved order)."""
    global _last_ord
    with _ord_lock:
        _last_ord = max(time.time_ns(), _last_ord + 1)
        return _last_ord


class _NotBsonSafe(Exception):
    """A plain document BSON cannot hold (NUL in a key, an integer beyond 64 bits)."""


class MongoDBStorage(Storage):
    """Conversations and user state in MongoDB (or any server speaking its wire protocol).

    Config: ``connection_string`` (default ``mongodb://localhost:27017/luminora``; the
    path names the database), ``table_name`` (base name of the collections),
    ``auto_create_tables`` (create collections and indexes), ``connect_timeout``, and in
    ``extra``: ``socket_timeout`` (seconds, default 30), ``max_pool_size`` (default 50).

    Example:
        >>> from luminora_nb.types import StorageConfig
        >>> MongoDBStorage(StorageConfig(storage_type="mongodb")).collection_names()[0]
        'luminora_sessions'
    """

    backend_name = "mongodb"

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config or StorageConfig(storage_type="mongodb"))
        self._url = self.config.connection_string or DEFAULT_URL
        self._where = redacted_url(self._url, kind="MongoDB URL")
        self._base = self.config.table_name
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._db: AsyncDatabase[dict[str, Any]] | None = None
        self._codec: DocumentCodec | None = None
        self._plain = True
        self._transactions = False
        self._errors: tuple[type[BaseException], ...] = ()
        self._unsafe: tuple[type[BaseException], ...] = ()

    # -- names ---------------------------------------------------------------------
    def collection_names(self) -> list[str]:
        """Every collection this storage uses."""
        return [self._base, *(f"{self._base}_{s}" for s in _SUFFIXES)]

    def _col(self, suffix: str | None = None) -> AsyncCollection[dict[str, Any]]:
        if self._db is None:
            raise StorageError("mongodb storage is not initialised; call 'await storage.initialize()' first")
        return self._db[self._base if suffix is None else f"{self._base}_{suffix}"]

    def _indexes(self) -> dict[str, list[tuple[list[tuple[str, int]], bool]]]:
        return {
            self._base: [([("user_id", 1), ("created_at", 1)], False)],
            f"{self._base}_messages": [([("session_id", 1), ("seq", 1)], True)],
            f"{self._base}_memory": [([("session_id", 1), ("ident", 1)], True)],
            f"{self._base}_affinity": [([("user_id", 1), ("ident", 1)], True)],
            f"{self._base}_facts": [
                ([("user_id", 1), ("ident", 1)], True),
                ([("user_id", 1), ("ord", 1)], False),
            ],
            f"{self._base}_episodes": [([("user_id", 1), ("ord", 1)], False)],
            f"{self._base}_moods": [([("user_id", 1)], False)],
            f"{self._base}_embeddings": [
                ([("user_id", 1), ("ident", 1)], True),
                ([("user_id", 1), ("ord", 1)], False),
            ],
        }

    # -- life-cycle ----------------------------------------------------------------
    async def initialize(self) -> None:
        """Connect, check the server answers, and create collections and indexes.

        Raises:
            StorageError: no encryption key while encryption is on, the driver is not
                installed, the URL or database name is invalid, the server does not answer
                within ``connect_timeout``, or collections are missing and
                ``auto_create_tables`` is off.
        """
        if self._client is not None:
            return
        codec = DocumentCodec.from_config(self.config)
        try:
            from bson.errors import InvalidDocument
            from pymongo import AsyncMongoClient
            from pymongo.errors import ConfigurationError, InvalidURI, OperationFailure, PyMongoError
        except ImportError:
            raise StorageError(
                "mongodb storage needs the 'pymongo' package; install it with: "
                "pip install 'luminora_nb[mongodb]'"
            ) from None
        timeout = self.config.connect_timeout
        extra = self.config.extra
        try:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                self._url,
                serverSelectionTimeoutMS=int(timeout * 1000),
                connectTimeoutMS=int(timeout * 1000),
                socketTimeoutMS=int(float(extra.get("socket_timeout", 30.0)) * 1000),
                maxPoolSize=int(extra.get("max_pool_size", 50)),
                appname="luminora_nb",
                tz_aware=True,
            )
            database = client.get_default_database(default=DEFAULT_DATABASE)
        except (InvalidURI, ConfigurationError, ValueError, TypeError) as exc:
            raise StorageError(
                f"mongodb storage: invalid connection_string {self._where!r} ({self._scrub(str(exc))}); "
                "use mongodb://[user:password@]host:port/database"
            ) from None
        if not _DB_NAME.match(database.name):
            await client.close()
            raise StorageError(
                f"mongodb storage: database name {database.name!r} in connection_string is not valid; "
                'use up to 63 characters without / \\ . space " $ * < > : | ?'
            )
        self._errors = (PyMongoError, OSError, TimeoutError)
        self._unsafe = (InvalidDocument, OverflowError)
        missing: list[str] = []
        try:
            async with asyncio.timeout(timeout):
                hello = await client.admin.command("hello")
                self._transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
                if self.config.auto_create_tables:
                    await self._create_indexes(database)
                else:
                    existing = set(await database.list_collection_names())
                    missing = [name for name in self.collection_names() if name not in existing]
        except self._errors as exc:
            await client.close()
            if isinstance(exc, OperationFailure) and exc.code in (
                13,
                18,
            ):  # Unauthorized, AuthenticationFailed
                raise StorageError(
                    f"mongodb storage: the server at {self._where} refused the credentials "
                    f"({self._scrub(str(exc))}); check the user and password in connection_string"
                ) from None
            reason = "no answer in time" if isinstance(exc, TimeoutError) else self._scrub(str(exc))
            raise StorageError(
                f"mongodb storage: cannot reach the MongoDB server at {self._where} within {timeout:g} s "
                f"({reason}); check that it is running and that connection_string is right, or raise "
                "StorageConfig.connect_timeout"
            ) from None
        if not self.config.auto_create_tables and missing:
            await client.close()
            raise StorageError(
                f"mongodb storage: collection(s) {', '.join(missing)} do not exist in database "
                f"{database.name!r} and auto_create_tables is off; create them (run once with "
                "StorageConfig(auto_create_tables=True)) or check table_name and the database name"
            )
        self._codec = codec
        self._plain = codec.is_plain
        self._client = client
        self._db = database

    async def _create_indexes(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        existing = set(await database.list_collection_names())
        for name in self.collection_names():
            if name not in existing:
                try:
                    await database.create_collection(name)
                except Exception as exc:  # created meanwhile by another process
                    if "already exists" not in str(exc):
                        raise
        for name, specs in self._indexes().items():
            for keys, unique in specs:
                await database[name].create_index(keys, unique=unique)

    async def close(self) -> None:
        """Close the client. Safe to call more than once."""
        client, self._client, self._db = self._client, None, None
        if client is not None:
            try:
                await client.close()
            except Exception as exc:  # closing with the server gone must not fail the caller
                logger.debug("mongodb storage: ignoring error while closing: %s", type(exc).__name__)

    # -- helpers -------------------------------------------------------------------
    def _ready(self) -> DocumentCodec:
        if self._codec is None or self._client is None:
            raise StorageError("mongodb storage is not initialised; call 'await storage.initialize()' first")
        return self._codec

    def _scrub(self, text: str) -> str:
        try:
            parts = urllib.parse.urlsplit(self._url)
            userinfo = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
        except ValueError:
            return text
        for secret in userinfo.split(":"):
            if secret:
                text = text.replace(secret, "***").replace(urllib.parse.unquote(secret), "***")
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
                f"mongodb storage: could not {operation} {subject}: an id or name holds text that is not "
                "valid Unicode (an unpaired surrogate such as '\\ud800'); use valid text"
            ) from None
        except self._unsafe as exc:
            if self._plain:
                raise _NotBsonSafe() from exc
            raise StorageError(f"mongodb storage: could not {operation} {subject}: {exc}") from None
        except self._errors as exc:
            from pymongo.errors import ConnectionFailure, OperationFailure

            reason = "timed out" if isinstance(exc, TimeoutError) else self._scrub(str(exc))
            if isinstance(exc, OperationFailure) and not isinstance(exc, ConnectionFailure):
                hint = (
                    "the server refused the operation; check the user's privileges and that the "
                    f"collections '{self._base}*' were created by this version"
                )
            else:
                hint = f"check that the MongoDB server at {self._where} is running and reachable, then retry"
            raise StorageError(
                f"mongodb storage: could not {operation} {subject}: {reason} ({type(exc).__name__}); {hint}"
            ) from None

    async def _write(self, operation: str, subject: str, write: Callable[[bool], Awaitable[T]]) -> T:
        """Run ``write(as_bytes)``; if BSON cannot hold a plain document, store it as JSON bytes."""
        try:
            async with self._op(operation, subject):
                return await write(False)
        except _NotBsonSafe:
            async with self._op(operation, subject):
                return await write(True)

    def _fields(self, document: Mapping[str, Any], *, what: str, as_bytes: bool = False) -> dict[str, Any]:
        """``{"doc": ...}`` (a BSON sub-document) or ``{"blob": ...}`` (codec bytes)."""
        codec = self._ready()
        if self._plain and not as_bytes:
            text = codec.dumps(document, what=what)
            if not _SURROGATE.search(text):
                return {"doc": json.loads(text)}
            # BSON strings must be valid UTF-8: unpaired surrogates go as (ASCII-escaped) JSON bytes
        return {"blob": codec.encode(document, what=what)}

    def _decode(self, stored: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        codec = self._ready()
        blob = stored.get("blob")
        if blob is not None:
            return codec.decode(bytes(blob), what=what)
        doc = stored.get("doc")
        if not isinstance(doc, dict):
            raise StorageError(f"{what} is corrupt and could not be read: it has no document; delete it")
        if codec.encrypted and not self.config.extra.get("allow_unencrypted_reads", False):
            raise StorageError(
                f"{what} is stored unencrypted but encryption is enabled; refusing to read it (it may have "
                "been planted). To migrate a store written without encryption set "
                "StorageConfig(extra={'allow_unencrypted_reads': True}) until every document is rewritten"
            )
        return doc

    async def _in_transaction(self, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction when the server has them, else directly."""
        if not self._transactions or self._client is None:
            return await work(None)
        async with self._client.start_session() as session:
            result: T = await session.with_transaction(lambda s: work(s))
            return result

    # -- conversations -------------------------------------------------------------
    async def save_session(self, record: SessionRecord) -> None:
        sid = record.session_id
        subject = f"session {sid!r}"
        doc, messages = session_documents(record)

        async def write(as_bytes: bool) -> None:
            body = {
                "_id": sid,
                "user_id": record.user_id,
                "created_at": record.created_at,
                "message_count": len(messages),
                "touch": None,
                **self._fields(doc, what=subject, as_bytes=as_bytes),
            }
            rows = [
                {
                    "session_id": sid,
                    "seq": i,
                    **self._fields(m, what=f"message of {subject}", as_bytes=as_bytes),
                }
                for i, m in enumerate(messages)
            ]

            async def work(session: AsyncClientSession | None) -> None:
                await self._col().replace_one({"_id": sid}, body, upsert=True, session=session)
                await self._col("messages").delete_many({"session_id": sid}, session=session)
                if rows:
                    await self._col("messages").insert_many(rows, ordered=True, session=session)

            await self._in_transaction(work)

        await self._write("save", subject, write)

    async def load_session(self, session_id: str) -> SessionRecord | None:
        require_strings(self.backend_name, "load_session", session_id=session_id)
        subject = f"session {session_id!r}"
        async with self._op("load", subject):
            stored = await self._col().find_one({"_id": session_id})
            if stored is None:
                return None
            rows = await self._col("messages").find({"session_id": session_id}).sort("seq", 1).to_list(None)
            memory_rows = await self._col("memory").find({"session_id": session_id}).to_list(None)
        doc = self._session_doc(stored, subject)
        messages = [self._decode(r, what=f"message {r.get('seq')} of {subject}") for r in rows]
        memory: dict[str, Any] = {}
        for row in memory_rows:
            item = self._decode(row, what=f"memory of {subject}")
            memory[item["key"]] = item["value"]
        return session_from_documents(doc, messages, memory=memory, what=subject)

    def _session_doc(self, stored: Mapping[str, Any], subject: str) -> dict[str, Any]:
        doc = dict(self._decode(stored, what=subject))
        touch = stored.get("touch")
        if isinstance(touch, dict):  # the exact last_active of the latest append
            doc["last_active"] = touch["last_active"]
            if isinstance(doc.get("conversation"), dict):
                doc["conversation"] = {**doc["conversation"], "updated_at": touch["updated_at"]}
        return doc

    async def append_messages(
        self, session_id: str, messages: Sequence[Message], *, last_active: datetime
    ) -> None:
        require_strings(self.backend_name, "append_messages", session_id=session_id)
        from pymongo import ReturnDocument

        subject = f"session {session_id!r}"
        documents = message_documents(messages)
        stamp = last_active.isoformat()

        async def write(as_bytes: bool) -> int | None:
            rows = [self._fields(m, what=f"message of {subject}", as_bytes=as_bytes) for m in documents]
            # Reserve the sequence numbers atomically; concurrent appends get disjoint ranges.
            found = await self._col().find_one_and_update(
                {"_id": session_id},
                {
                    "$inc": {"message_count": len(rows)},
                    "$set": {"touch": {"last_active": stamp, "updated_at": stamp}},
                },
                projection={"message_count": 1},
                return_document=ReturnDocument.AFTER,
            )
            if found is None:
                return None
            first = int(found["message_count"]) - len(rows)
            if rows:
                await self._col("messages").insert_many(
                    [{"session_id": session_id, "seq": first + i, **row} for i, row in enumerate(rows)],
                    ordered=True,
                )
            return first

        if await self._write("append to", subject, write) is None:
            raise StorageError(
                f"mongodb storage: {subject} is not stored (never saved or deleted); save it with "
                "save_session before appending"
            )

    async def list_sessions(self, *, user_id: str | None = None) -> list[SessionSummary]:
        require_strings(self.backend_name, "list_sessions", user_id=user_id, optional=("user_id",))
        query: dict[str, Any] = {} if user_id is None else {"user_id": user_id}
        async with self._op("list", "sessions"):
            stored = await self._col().find(query, projection={"message_count": 0}).to_list(None)
            ids = [s["_id"] for s in stored]
            counts: dict[str, int] = {}
            if ids:
                cursor = await self._col("messages").aggregate(
                    [
                        {"$match": {"session_id": {"$in": ids}}},
                        {"$group": {"_id": "$session_id", "n": {"$sum": 1}}},
                    ]
                )
                counts = {row["_id"]: int(row["n"]) async for row in cursor}
        summaries: list[SessionSummary] = []
        for row in stored:
            subject = f"session {row['_id']!r}"
            try:
                summary = session_from_documents(self._session_doc(row, subject), [], what=subject).summary()
            except StorageError as exc:  # one unreadable session must not hide the others
                logger.warning("mongodb storage: leaving %s out of the session list: %s", subject, exc)
                continue
            summaries.append(summary.model_copy(update={"message_count": counts.get(row["_id"], 0)}))
        return sorted(summaries, key=lambda s: (s.created_at, s.session_id))

    async def delete_session(self, session_id: str) -> bool:
        require_strings(self.backend_name, "delete_session", session_id=session_id)
        async with self._op("delete", f"session {session_id!r}"):
            result = await self._col().delete_one({"_id": session_id})
            await self._col("messages").delete_many({"session_id": session_id})
            await self._col("memory").delete_many({"session_id": session_id})
            await self._col("moods").delete_one({"_id": session_id})
        return result.deleted_count > 0

    async def set_memory(self, session_id: str, key: str, value: Any) -> None:
        require_strings(self.backend_name, "set_memory", session_id=session_id, key=key)
        document = {"key": key, "value": value}
        what = f"memory value for key {key!r}"
        ident = name_digest(key)

        async def write(as_bytes: bool) -> None:
            body = {
                "session_id": session_id,
                "ident": ident,
                **self._fields(document, what=what, as_bytes=as_bytes),
            }
            await self._col("memory").replace_one(
                {"session_id": session_id, "ident": ident}, body, upsert=True
            )

        await self._write("save", f"memory {key!r} of session {session_id!r}", write)

    async def get_memory(self, session_id: str, key: str) -> Any:
        require_strings(self.backend_name, "get_memory", session_id=session_id, key=key)
        subject = f"memory {key!r} of session {session_id!r}"
        async with self._op("load", subject):
            stored = await self._col("memory").find_one({"session_id": session_id, "ident": name_digest(key)})
        return None if stored is None else self._decode(stored, what=subject).get("value")

    # -- v1.1 user state -----------------------------------------------------------
    async def _put(
        self,
        suffix: str,
        user_id: str,
        ident: str,
        document: Mapping[str, Any],
        subject: str,
        *,
        order: int | None = None,
    ) -> None:
        """Insert or replace one record; ``order`` (if given) is stored as its ``ord``."""
        collection = self._col(suffix)
        key = {"user_id": user_id, "ident": ident}

        async def write(as_bytes: bool) -> None:
            body: dict[str, Any] = {**key, **self._fields(document, what=subject, as_bytes=as_bytes)}
            if order is not None:
                body["ord"] = order
            await collection.replace_one(key, body, upsert=True)

        await self._write("save", subject, write)

    async def _all(self, suffix: str, user_id: str, subject: str) -> list[dict[str, Any]]:
        async with self._op("load", subject):
            rows = await self._col(suffix).find({"user_id": user_id}).sort("ord", 1).to_list(None)
        return [self._decode(r, what=subject) for r in rows]

    async def save_affinity(
        self, user_id: str, personality_name: str, affinity_points: int, current_level: str, **kwargs: Any
    ) -> bool:
        require_strings(
            self.backend_name, "save_affinity", user_id=user_id, personality_name=personality_name
        )
        doc = affinity_document(user_id, personality_name, affinity_points, current_level, kwargs)
        subject = f"affinity of user {user_id!r} with {personality_name!r}"
        await self._put("affinity", user_id, name_digest(personality_name), doc, subject)
        return True

    async def get_affinity(self, user_id: str, personality_name: str) -> dict[str, Any] | None:
        require_strings(self.backend_name, "get_affinity", user_id=user_id, personality_name=personality_name)
        subject = f"affinity of user {user_id!r} with {personality_name!r}"
        async with self._op("load", subject):
            stored = await self._col("affinity").find_one(
                {"user_id": user_id, "ident": name_digest(personality_name)}
            )
        return None if stored is None else self._decode(stored, what=subject)

    async def save_fact(self, user_id: str, category: str, key: str, value: Any, **kwargs: Any) -> bool:
        require_strings(self.backend_name, "save_fact", user_id=user_id, category=category, key=key)
        subject = f"fact {category}/{key} of user {user_id!r}"
        ident = name_digest(category, key)
        async with self._op("save", subject):
            stored = await self._col("facts").find_one({"user_id": user_id, "ident": ident})
        previous = self._decode(stored, what=subject) if stored is not None else None
        doc = fact_document(user_id, category, key, value, kwargs, previous)
        order = int(stored["ord"]) if stored is not None and "ord" in stored else _next_ord()
        await self._put("facts", user_id, ident, doc, subject, order=order)
        return True

    async def get_facts(self, user_id: str, category: str | None = None) -> list[dict[str, Any]]:
        require_strings(
            self.backend_name, "get_facts", user_id=user_id, category=category, optional=("category",)
        )
        facts = await self._all("facts", user_id, f"facts of user {user_id!r}")
        return [f for f in facts if category is None or f.get("category") == category]

    async def delete_fact(self, user_id: str, category: str, key: str) -> bool:
        require_strings(self.backend_name, "delete_fact", user_id=user_id, category=category, key=key)
        async with self._op("delete", f"fact {category}/{key} of user {user_id!r}"):
            result = await self._col("facts").delete_one(
                {"user_id": user_id, "ident": name_digest(category, key)}
            )
        return result.deleted_count > 0

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
        doc = episode_document(user_id, episode_type, title, summary, importance, sentiment, kwargs)

        async def write(as_bytes: bool) -> None:
            body = {
                "user_id": user_id,
                "ord": _next_ord(),
                **self._fields(doc, what="episode", as_bytes=as_bytes),
            }
            await self._col("episodes").insert_one(body)

        await self._write("save", f"episode of user {user_id!r}", write)
        return True

    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[dict[str, Any]]:
        require_strings(self.backend_name, "get_episodes", user_id=user_id)
        episodes = await self._all("episodes", user_id, f"episodes of user {user_id!r}")
        return select_episodes(episodes, min_importance, max_results)

    async def save_mood(
        self, session_id: str, user_id: str, current_mood: str, mood_intensity: float = 1.0, **kwargs: Any
    ) -> bool:
        require_strings(self.backend_name, "save_mood", session_id=session_id, user_id=user_id)
        doc = mood_document(session_id, user_id, current_mood, mood_intensity, kwargs)

        async def write(as_bytes: bool) -> None:
            body = {
                "_id": session_id,
                "user_id": user_id,
                **self._fields(doc, what="mood", as_bytes=as_bytes),
            }
            await self._col("moods").replace_one({"_id": session_id}, body, upsert=True)

        await self._write("save", f"mood of session {session_id!r}", write)
        return True

    async def get_mood(self, session_id: str) -> dict[str, Any] | None:
        require_strings(self.backend_name, "get_mood", session_id=session_id)
        subject = f"mood of session {session_id!r}"
        async with self._op("load", subject):
            stored = await self._col("moods").find_one({"_id": session_id})
        return None if stored is None else self._decode(stored, what=subject)

    async def save_embedding(
        self, user_id: str, item_id: str, kind: str, text: str, vector: Sequence[float], **kwargs: Any
    ) -> bool:
        require_strings(self.backend_name, "save_embedding", user_id=user_id, item_id=item_id, kind=kind)
        doc = embedding_document(item_id, kind, text, vector, kwargs)
        subject = f"embedding {item_id!r} of user {user_id!r}"
        ident = name_digest(item_id)
        async with self._op("save", subject):  # a replaced embedding keeps its place
            stored = await self._col("embeddings").find_one({"user_id": user_id, "ident": ident}, {"ord": 1})
        order = int(stored["ord"]) if stored is not None and "ord" in stored else _next_ord()
        await self._put("embeddings", user_id, ident, doc, subject, order=order)
        return True

    async def get_embeddings(self, user_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        require_strings(self.backend_name, "get_embeddings", user_id=user_id, kind=kind, optional=("kind",))
        rows = await self._all("embeddings", user_id, f"embeddings of user {user_id!r}")
        return [r for r in rows if kind is None or r.get("kind") == kind]

    async def list_users(self) -> list[str]:
        users: set[str] = set()
        async with self._op("list", "users"):
            for suffix in _USER_COLLECTIONS:
                users.update(await self._col(suffix).distinct("user_id"))
        return sorted(users)

    async def delete_user_data(self, user_id: str) -> int:
        require_strings(self.backend_name, "delete_user_data", user_id=user_id)
        total = 0
        async with self._op("delete", f"data of user {user_id!r}"):
            for suffix in _USER_COLLECTIONS:
                result = await self._col(suffix).delete_many({"user_id": user_id})
                total += result.deleted_count
        return total
