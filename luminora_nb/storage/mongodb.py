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
``t_meta``         the store's metadata record (created by its first write)
=================  ===================================================  ======================

With a plain codec each record is a real BSON sub-document under ``doc`` (queryable with
MongoDB's own tools); with compression or encryption, or when BSON cannot hold it (a NUL
in a key, an integer beyond 64 bits, an unpaired surrogate), it is the codec's bytes under
``blob``. Reads accept either form. ``ident`` is a digest of a record's names (with
encryption on a keyed HMAC-SHA-256, see :mod:`.codec`; else SHA-256), so
with encryption on no name is readable. Indexes (and the collections) are created at
``initialize`` when ``auto_create_tables``; otherwise the collections must exist.

Writes that must go together, and what keeps them together:

====================  ==================================================================
``save_session``      a transaction (head, old messages deleted, new ones inserted). Without
                      transactions (a standalone ``mongod``): idempotent steps, the head
                      last — the messages replaced in place (upserts by ``(session_id,
                      seq)``), a longer old tail cut off, then the head. A crash part-way
                      leaves a readable session (each message the old or the new one at
                      its place, never fewer than the shorter version holds); saving again
                      completes it.
``insert_session``    one upsert of the head with ``$setOnInsert`` decides atomically
                      whether the id is free (``create_session``: two clients never both
                      create it); then its messages, in the same transaction when there is one.
``append_messages``   ordered and idempotent: the sequence numbers are reserved on the
                      head (``$inc`` with the expected count as condition), then the
                      messages inserted under the unique ``(session_id, seq)`` index. A
                      reservation left without its messages (a lost reply, a crash) is
                      filled by the same append sent again at the same position, so a
                      re-sent turn is stored exactly once and a lost reply never loses it.
``delete_session``    a transaction; without one, the messages, memory and mood first and
                      the head last (a crash leaves a readable session that a second delete
                      removes; a new session of the same id never inherits old memory).
``delete_user_data``  a transaction; without one, idempotent deletes (a second call finishes).
a ``batch()``         a transaction; refused on a server without transactions.
====================  ==================================================================

Every other write is one document, atomic by itself. The driver's retryable writes stay
on: against a server with sessions (a replica set; SecantusDB) a write whose reply was lost
is sent again by the driver and applied once; without them the call raises and the
caller's re-send (with its expected count) is recognised as above. When the server goes away the
failing call raises :class:`~luminora_nb.errors.StorageError` after at most
``connect_timeout`` seconds; the driver reconnects by itself once it is back.

Example:
    >>> from luminora_nb.types import StorageConfig
    >>> store = MongoDBStorage(StorageConfig(storage_type="mongodb", table_name="chat"))
    >>> store.collection_names()[:2]
    ['chat', 'chat_messages']
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StorageError
from ..types.session import StorageConfig
from . import _documents as docs
from ._keys import Sample
from ._names import checked_identifier
from ._server import ServerBackend, verb
from ._vectors import VECTOR_FIELD, stored_vector
from .base import Storage
from .codec import DocumentCodec

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.client_session import AsyncClientSession
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.database import AsyncDatabase

__all__ = ["MongoDBStorage"]

logger = logging.getLogger("luminora_nb.storage")

DEFAULT_DATABASE = "luminora"
_SUFFIXES = ("messages", "memory", "affinity", "facts", "episodes", "moods", "embeddings")
_DB_NAME = re.compile(r'^[^/\\. "$*<>:|?\x00]{1,63}$')
#: Per kind: collection suffix and owner field (keyed kinds have an ``ident``, a mood is its ``_id``)
_COLLECTIONS = {
    "memory": ("memory", "session_id"),
    "affinity": ("affinity", "user_id"),
    "fact": ("facts", "user_id"),
    "episode": ("episodes", "user_id"),
    "mood": ("moods", "_id"),
    "embedding": ("embeddings", "user_id"),
}
_ORDERED = {"facts", "episodes", "embeddings"}  # documents with an ``ord``: the order first put
_DUPLICATE_KEY = 11000
_USER_COLLECTIONS = ("affinity", "facts", "episodes", "moods", "embeddings")
T = TypeVar("T")

_ord_lock = threading.Lock()
_last_ord = 0


def _next_ord() -> int:
    """A strictly increasing number, close to the wall clock in nanoseconds (saved order)."""
    global _last_ord
    with _ord_lock:
        _last_ord = max(time.time_ns(), _last_ord + 1)
        return _last_ord


class MongoDBStorage(ServerBackend, Storage):
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
        super().__init__(config)
        self._base = self.config.table_name
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._db: AsyncDatabase[dict[str, Any]] | None = None
        self._transactions = False
        self._not_bson: tuple[type[BaseException], ...] = ()

    # -- names ---------------------------------------------------------------------
    def collection_names(self) -> list[str]:
        """Every collection this storage uses (the metadata collection is created on demand)."""
        return [self._base, *(f"{self._base}_{s}" for s in _SUFFIXES)]

    def _col(self, suffix: str | None = None) -> AsyncCollection[dict[str, Any]]:
        if self._db is None:
            self._ready()  # raises: not initialised
        assert self._db is not None
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
    async def _connect(self, codec: DocumentCodec) -> None:
        from bson.errors import InvalidDocument
        from pymongo import AsyncMongoClient
        from pymongo.errors import ConfigurationError, InvalidURI, PyMongoError

        # Checked here, where it is used: a config changed without validation must not name
        # collections such as "x.$cmd" or "system.*".
        self._base = checked_identifier(self.backend_name, self.config.table_name)
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
            raise self._invalid_url(exc) from None
        if not _DB_NAME.match(database.name):
            await client.close()
            raise StorageError(
                f"mongodb storage: database name {database.name!r} in connection_string is not valid; "
                'use up to 63 characters without / \\ . space " $ * < > : | ?'
            )
        self._driver_errors = (PyMongoError,)
        self._not_bson = (InvalidDocument, OverflowError)
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
        except (PyMongoError, OSError, TimeoutError) as exc:
            await client.close()
            raise self._cannot_connect(exc) from None
        if missing:
            await client.close()
            raise StorageError(
                f"mongodb storage: collection(s) {', '.join(missing)} do not exist in database "
                f"{database.name!r} and auto_create_tables is off; create them (run once with "
                "StorageConfig(auto_create_tables=True)) or check table_name and the database name"
            )
        self._client = client
        self._db = database

    def _connect_refusal(self, exc: BaseException) -> str | None:
        from pymongo.errors import OperationFailure

        if isinstance(exc, OperationFailure) and exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
            return self._credentials_refused(exc)
        return None

    def _refused(self, exc: BaseException) -> bool:
        from pymongo.errors import ConnectionFailure, OperationFailure

        return isinstance(exc, OperationFailure) and not isinstance(exc, ConnectionFailure)

    @property
    def _refusal_advice(self) -> str:
        collections = f"'{self._base}*'"
        return (
            f"check the user's privileges and that the collections {collections} were created by this version"
        )

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
        client, self._client, self._db, self._codec = self._client, None, None, None
        if client is not None:
            try:
                await client.close()
            except Exception as exc:  # closing with the server gone must not fail the caller
                logger.debug("mongodb storage: ignoring error while closing: %s", type(exc).__name__)

    # -- documents -------------------------------------------------------------------
    def _fields(
        self, documents: Sequence[Mapping[str, Any]], *, what: str, at: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Per document ``{"doc": ...}`` (a BSON sub-document) or ``{"blob": ...}`` (codec bytes).

        The documents of one write go one way together: if BSON cannot hold one of them (a
        NUL in a key, an integer beyond 64 bits, an unpaired surrogate) all are stored as
        the codec's (JSON) bytes.
        """
        import bson

        codec = self._ready()
        try:
            if all(codec.json_text(d, what=what) is not None for d in documents):
                for document in documents:
                    bson.encode({"doc": document})
                return [{"doc": document} for document in documents]
        except self._not_bson:
            pass
        return [
            {"blob": codec.encode(d, what=what, at=place)} for d, place in zip(documents, at, strict=True)
        ]

    def _decode(self, stored: Mapping[str, Any], *, what: str, at: str) -> dict[str, Any]:
        codec = self._ready()
        blob = stored.get("blob")
        if blob is not None:
            document = codec.decode(bytes(blob), what=what, at=at)
        else:
            document = codec.decode_native(stored.get("doc"), what=what)
        if stored.get("vec") is not None:  # an embedding's vector, kept as BSON binary
            document[VECTOR_FIELD] = bytes(stored["vec"])
        return document

    async def _in_transaction(self, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction when the server has them, else directly."""
        if not self._transactions or self._client is None:
            return await work(None)
        async with self._client.start_session() as session:
            result: T = await session.with_transaction(lambda s: work(s))
            return result

    def _batches_atomically(self) -> bool:
        return self._transactions

    def _filter(self, key: docs.Key) -> dict[str, Any]:
        """The query selecting the document of ``key``."""
        _, owner = _COLLECTIONS[key.kind.name]
        if key.kind is docs.MOOD:
            return {owner: key.owner}
        return {owner: key.owner, "ident": self._ident(key, self._ready())}

    @staticmethod
    def _at(kind: docs.Kind, owner: str, row: Mapping[str, Any]) -> str:
        """Where a document is stored, for the codec: kind, owner and the row's digest (if it has one)."""
        return docs.place(kind.name, owner, *([str(row["ident"])] if "ident" in row else []))

    async def _apply(self, write: docs.Write, session: AsyncClientSession | None) -> bool:
        """One write (inside the caller's transaction, if any)."""
        if isinstance(write, docs.SaveSession):
            return await self._save_session(write, session)
        key = write.key
        suffix, owner = _COLLECTIONS[key.kind.name]
        collection = self._col(suffix)
        if isinstance(write, docs.Delete):
            return (await collection.delete_one(self._filter(key), session=session)).deleted_count > 0
        if key.kind.appended:
            [fields] = self._fields(
                [write.document], what=key.subject, at=[self._at(key.kind, key.owner, {})]
            )
            await collection.insert_one({owner: key.owner, "ord": _next_ord(), **fields}, session=session)
            return True
        query = self._filter(key)
        document = write.document
        body: dict[str, Any] = dict(query)
        if suffix in _ORDERED:  # a replaced document keeps its place (and what its kind keeps)
            stored = await collection.find_one(query, session=session)
            body["ord"] = int(stored["ord"]) if stored is not None and "ord" in stored else _next_ord()
            if stored is not None and key.kind.keep:
                previous = self._decode(stored, what=key.subject, at=self._at(key.kind, key.owner, query))
                document = docs.kept(document, previous, key.kind.keep)
        if key.kind is docs.MOOD:
            body["user_id"] = document["user_id"]
        if key.kind is docs.EMBEDDING and not self._ready().encrypted:  # the vector as BSON binary
            from bson.binary import Binary

            body["vec"] = Binary(stored_vector(document))
            document = {k: v for k, v in document.items() if k != VECTOR_FIELD}
        body.update(*self._fields([document], what=key.subject, at=[self._at(key.kind, key.owner, query)]))
        await collection.replace_one(query, body, upsert=True, session=session)
        return True

    async def _write(self, writes: Sequence[docs.Write]) -> list[bool]:
        operation, subject = docs.described(writes)
        if len(writes) > 1 and not self._transactions:
            raise StorageError(
                f"mongodb storage: could not write {subject}: a batch is stored all at once only with "
                "transactions, which this server does not offer; use a replica set"
            )

        async def work(session: AsyncClientSession | None) -> list[bool]:
            return [await self._apply(write, session) for write in writes]

        async with self._op(verb(operation), subject):
            if len(writes) == 1 and not isinstance(writes[0], docs.SaveSession):
                return await work(None)  # one document: atomic by itself
            return await self._in_transaction(work)

    async def _get(self, key: docs.Key) -> docs.Document | None:
        async with self._op("load", key.subject):
            stored = await self._col(_COLLECTIONS[key.kind.name][0]).find_one(self._filter(key))
        at = self._at(key.kind, key.owner, stored or {})
        return None if stored is None else self._decode(stored, what=key.subject, at=at)

    async def _list(
        self, kind: docs.Kind, owner: str, where: Mapping[str, str] | None
    ) -> list[docs.Document]:
        suffix, field = _COLLECTIONS[kind.name]
        subject = kind.of(owner)
        async with self._op("load", subject):
            cursor = self._col(suffix).find({field: owner})
            rows = await (cursor.sort("ord", 1) if suffix in _ORDERED else cursor).to_list(None)
        return [self._decode(r, what=subject, at=self._at(kind, owner, r)) for r in rows]

    # -- sessions --------------------------------------------------------------------
    async def _save_session(self, write: docs.SaveSession, session: AsyncClientSession | None) -> bool:
        """Store a whole session: in ``session``'s transaction, or ordered without one.

        Returns ``False`` when ``write.if_absent`` and the id is taken (nothing changed).
        """
        from pymongo import DeleteMany, ReplaceOne

        record = write.record
        sid = record.session_id
        subject = f"session {sid!r}"
        places = [docs.place("session", sid), *[docs.place("message", sid)] * len(write.messages)]
        head, *messages = self._fields([write.head, *write.messages], what=subject, at=places)
        body = {
            "user_id": record.user_id,
            "created_at": record.created_at,
            "message_count": len(messages),
            "touch": None,
            **head,
        }
        rows = [{"session_id": sid, "seq": i, **fields} for i, fields in enumerate(messages)]
        sessions, stored_messages = self._col(), self._col("messages")
        if write.if_absent:
            # Insert-if-absent in one operation: the upsert of _id decides, atomically.
            result = await sessions.update_one(
                {"_id": sid}, {"$setOnInsert": body}, upsert=True, session=session
            )
            if result.upserted_id is None:
                return False
            # Then its messages (a new session from create_session has none): leftovers of an
            # interrupted delete_session of the same id go first.
            await stored_messages.delete_many({"session_id": sid}, session=session)
            if rows:
                await stored_messages.insert_many(rows, ordered=True, session=session)
            return True
        if session is not None:  # one transaction: the order does not matter
            await sessions.replace_one({"_id": sid}, {"_id": sid, **body}, upsert=True, session=session)
            await stored_messages.delete_many({"session_id": sid}, session=session)
            if rows:
                await stored_messages.insert_many(rows, ordered=True, session=session)
            return True
        # No transactions: idempotent steps, the head last. The messages are replaced in
        # place and a longer old tail cut off, then the head is replaced; a crash part-way
        # leaves a readable session (some messages may be the new ones), and saving again
        # completes it.
        operations: list[Any] = [
            ReplaceOne({"session_id": sid, "seq": row["seq"]}, row, upsert=True) for row in rows
        ]
        operations.append(DeleteMany({"session_id": sid, "seq": {"$gte": len(rows)}}))
        await stored_messages.bulk_write(operations, ordered=True)
        await sessions.replace_one({"_id": sid}, {"_id": sid, **body}, upsert=True)
        return True

    def _session_head(self, stored: Mapping[str, Any], subject: str) -> docs.Document:
        head = dict(self._decode(stored, what=subject, at=docs.place("session", str(stored["_id"]))))
        touch = stored.get("touch")
        if isinstance(touch, dict):  # the exact last_active of the latest append
            docs.touched(head, touch["last_active"])
            if isinstance(head.get("conversation"), dict):
                head["conversation"] = {**head["conversation"], "updated_at": touch["updated_at"]}
        return head

    async def _load_session(self, session_id: str) -> docs.StoredSession | None:
        subject = f"session {session_id!r}"
        async with self._op("load", subject):
            stored = await self._col().find_one({"_id": session_id})
            if stored is None:
                return None
            rows = await self._col("messages").find({"session_id": session_id}).sort("seq", 1).to_list(None)
            memory_rows = await self._col("memory").find({"session_id": session_id}).to_list(None)
        at = docs.place("message", session_id)
        messages = [self._decode(r, what=f"message {r.get('seq')} of {subject}", at=at) for r in rows]
        memory = [
            self._decode(row, what=f"memory of {subject}", at=self._at(docs.MEMORY, session_id, row))
            for row in memory_rows
        ]
        return docs.StoredSession(self._session_head(stored, subject), messages, memory)

    async def _message_count(self, session_id: str) -> int | None:
        # The reserved count: the position of the next append (a reservation whose messages
        # are missing is filled by the append sent again there, see _append_messages).
        async with self._op("load", f"session {session_id!r}"):
            stored = await self._col().find_one({"_id": session_id}, {"message_count": 1})
        return None if stored is None else int(stored["message_count"])

    async def _append_messages(
        self, session_id: str, messages: list[docs.Document], last_active: str, at: int | None
    ) -> int | None:
        """Reserve the sequence numbers on the head, then insert the messages there.

        The two steps are ordered and idempotent (see the module docstring). A reservation
        whose messages are missing — its reply was lost, or its writer died before inserting
        — is the last one on the head: an append sent again at the same position fills it,
        and the unique ``(session_id, seq)`` index decides who stores what, so a turn is never
        stored twice and a lost reply never loses the turn.
        """
        from pymongo import ReturnDocument

        subject = f"session {session_id!r}"
        rows = self._fields(
            messages, what=f"message of {subject}", at=[docs.place("message", session_id)] * len(messages)
        )
        query: dict[str, Any] = (
            {"_id": session_id} if at is None else {"_id": session_id, "message_count": at}
        )
        async with self._op("append to", subject):
            # Reserve the sequence numbers atomically; concurrent appends get disjoint ranges.
            found = await self._col().find_one_and_update(
                query,
                {
                    "$inc": {"message_count": len(rows)},
                    "$set": {"touch": {"last_active": last_active, "updated_at": last_active}},
                },
                projection={"message_count": 1},
                return_document=ReturnDocument.AFTER,
            )
            if found is None:  # not stored, or stored with another count than ``at``
                stored = (
                    None
                    if at is None
                    else await self._col().find_one({"_id": session_id}, {"message_count": 1})
                )
                if stored is None:
                    return None
                count = int(stored["message_count"])
                # The last reservation has this append's place and size: fill it if its
                # messages are missing. If any is there (this very turn, stored by the first
                # sending, or another writer's), the caller compares what is stored.
                filled = (
                    at is not None
                    and bool(rows)
                    and count == at + len(rows)
                    and await self._insert_reserved(session_id, at, rows)
                )
                return at if filled else count
            first = int(found["message_count"]) - len(rows)
            if rows and not await self._insert_reserved(session_id, first, rows):
                if at is None:
                    raise StorageError(
                        f"mongodb storage: could not append to {subject}: another writer stored messages "
                        "at the positions this append reserved; reload the session and send the turn again"
                    )
                return first + len(rows)  # the caller compares what is stored there
        return first

    async def _insert_reserved(self, session_id: str, first: int, rows: list[dict[str, Any]]) -> bool:
        """Insert messages at ``first`` onwards; ``False`` if a message held one of those places."""
        from pymongo.errors import BulkWriteError

        documents = [{"session_id": session_id, "seq": first + i, **row} for i, row in enumerate(rows)]
        try:
            await self._col("messages").insert_many(documents, ordered=True)
        except BulkWriteError as exc:
            if any(error.get("code") != _DUPLICATE_KEY for error in exc.details.get("writeErrors", ())):
                raise
            return False
        return True

    def _listing(self, stored: Mapping[str, Any], count: int) -> tuple[docs.Document, int]:
        return self._session_head(stored, f"session {stored['_id']!r}"), count

    async def _session_heads(self, user_id: str | None) -> list[docs.SessionHead]:
        query: dict[str, Any] = {} if user_id is None else {"user_id": user_id}
        async with self._op("list", "sessions"):
            stored = await self._col().find(query, projection={"message_count": 0}).to_list(None)
            counts: dict[str, int] = {}
            if stored:
                cursor = await self._col("messages").aggregate(
                    [
                        {"$match": {"session_id": {"$in": [s["_id"] for s in stored]}}},
                        {"$group": {"_id": "$session_id", "n": {"$sum": 1}}},
                    ]
                )
                counts = {row["_id"]: int(row["n"]) async for row in cursor}
        return [
            docs.SessionHead(
                f"session {row['_id']!r}", functools.partial(self._listing, row, counts.get(row["_id"], 0))
            )
            for row in stored
        ]

    async def _delete_session(self, session_id: str) -> bool:
        async def work(session: AsyncClientSession | None) -> bool:
            # The head last: interrupted (without transactions), the session stays readable
            # and a second delete finishes it; a new session of the same id never inherits
            # the old memory or mood.
            for suffix, field in (("messages", "session_id"), ("memory", "session_id"), ("moods", "_id")):
                await self._col(suffix).delete_many({field: session_id}, session=session)
            result = await self._col().delete_one({"_id": session_id}, session=session)
            return result.deleted_count > 0

        async with self._op("delete", f"session {session_id!r}"):
            return await self._in_transaction(work)

    # -- users -----------------------------------------------------------------------
    async def _list_users(self) -> list[str]:
        users: list[str] = []
        async with self._op("list", "users"):
            for suffix in _USER_COLLECTIONS:
                users.extend(await self._col(suffix).distinct("user_id"))
        return users

    async def _delete_user(self, user_id: str) -> int:
        async def work(session: AsyncClientSession | None) -> int:
            # Each step is idempotent: interrupted (without transactions), a second call finishes.
            total = 0
            for suffix in _USER_COLLECTIONS:
                deleted = await self._col(suffix).delete_many({"user_id": user_id}, session=session)
                total += deleted.deleted_count
            return total

        async with self._op("delete", f"data of user {user_id!r}"):
            return await self._in_transaction(work)

    # -- metadata --------------------------------------------------------------------
    async def _read_metadata(self) -> str | None:
        async with self._op("load", "the metadata record"):
            stored = await self._col("meta").find_one({"_id": "store"})
        return None if stored is None else str(stored["doc"])

    async def _first_document(self) -> Sample | None:
        async with self._op("load", "a stored document"):
            stored = await self._col().find_one({})
            if stored is not None:
                data = stored.get("blob")
                sample = stored.get("doc") if data is None else bytes(data)
                return Sample(sample, f"session {str(stored['_id'])!r}")
            for name, _ in _COLLECTIONS.values():
                stored = await self._col(name).find_one({})
                if stored is not None:
                    data = stored.get("blob")
                    sample = stored.get("doc") if data is None else bytes(data)
                    return Sample(sample, f"a stored document of {name}")
        return None

    async def _swap_metadata(self, expected: str | None, record: str) -> bool:
        from pymongo.errors import DuplicateKeyError

        async with self._op("save", "the metadata record"):
            if expected is None:
                try:
                    await self._col("meta").insert_one({"_id": "store", "doc": record})
                except DuplicateKeyError:
                    return False
                return True
            result = await self._col("meta").update_one(
                {"_id": "store", "doc": expected}, {"$set": {"doc": record}}
            )
            return result.matched_count == 1
