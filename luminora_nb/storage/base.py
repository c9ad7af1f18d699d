"""The storage protocol, implemented once over a few primitives per backend.

The public methods — conversations (v1.0: sessions, appended messages, per-session memory)
and user state (v1.1, the seed's ``StorageV11Extension``: affinity, facts, episodes, moods,
embeddings) — are written once, here. Each checks its arguments (ids, keys and names must
be strings: a dict such as ``{"$ne": "x"}`` must never reach a query), builds its documents
(:mod:`._documents`) and calls the backend's primitives, which :class:`Storage` declares
with the guarantees each must give (see :mod:`luminora_nb.storage` for how to add one).

Besides the seed's methods a storage offers:

* ``append_messages(..., expected_count=n)`` — an append that applies only at position
  ``n``, so a re-sent append (the reply of the first one was lost) is recognised and never
  stores a turn twice; when another writer appended first it raises :class:`AppendConflict`;
* ``message_count`` — how many messages a stored session holds, one cheap read (a client
  compares it with what it knows before each turn, and reloads only when it changed);
* ``async with storage.batch():`` — the writes made in the block are stored together, all
  or nothing (e.g. a snapshot import: a session, its facts, episodes and affinity);
* ``read_metadata`` / ``write_metadata`` — one small JSON record per store, written with
  compare-and-set (an encrypted store keeps its key check there, hidden, see :mod:`._keys`);
* ``search_embeddings`` — the stored embeddings nearest to a vector by cosine similarity;
* ``delete_memory`` — forget one memory key of a session.

Backends raise :class:`~luminora_nb.errors.StorageError` (never a driver exception)
with a message naming the backend, the operation and what to do.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .. import _arguments
from .._arguments import EpisodeArguments, arguments_of
from ..errors import StorageError
from ..types.session import Message, SessionRecord, SessionSummary, StorageConfig
from ._documents import (
    AFFINITY,
    EMBEDDING,
    EPISODE,
    FACT,
    MEMORY,
    MOOD,
    Delete,
    Document,
    Key,
    Kind,
    Put,
    SaveSession,
    SessionHead,
    StoredSession,
    Write,
    affinity_document,
    embedding_document,
    episode_document,
    fact_document,
    memory_document,
    message_documents,
    mood_document,
    names_of,
    plain_json,
    require_strings,
    select_episodes,
    session_from_documents,
    session_summary,
)
from ._keys import CODEC_FIELD, NAMES_KEYED, Sample, check_key, public_record
from ._vectors import cosine_ranking, stored_vector, with_floats
from .codec import DocumentCodec

__all__ = ["AppendConflict", "ConversationStorage", "Storage", "StorageV11Extension", "require_strings"]

logger = logging.getLogger("luminora_nb.storage")

# The primitives each half of the protocol is written over (declared, with what each must
# guarantee, in Storage): as annotations, so a class written against the seed can still
# subclass StorageV11Extension and implement its public methods itself.
_WriteOne = Callable[[Write, str], Awaitable[bool]]
_Get = Callable[[Key], Awaitable[Document | None]]
_List = Callable[[Kind, str, Mapping[str, str] | None], Awaitable[list[Document]]]


class AppendConflict(StorageError):
    """An append at an expected position found another number of messages stored.

    Another writer (a second client on the same stored session) appended first; nothing of
    this append was stored. Reload the session (``load_session``) and append after what it
    holds now.
    """


class ConversationStorage(abc.ABC):
    """Sessions and their conversations (v1.0), over the primitives of :class:`Storage`."""

    backend_name: str
    _write_one: _WriteOne
    _outside_batch: Callable[[str], None]
    _get: _Get
    _load_session: Callable[[str], Awaitable[StoredSession | None]]
    _append_messages: Callable[[str, list[Document], str, int | None], Awaitable[int | None]]
    _message_count: Callable[[str], Awaitable[int | None]]
    _session_heads: Callable[[str | None], Awaitable[list[SessionHead]]]
    _delete_session: Callable[[str], Awaitable[bool]]

    async def save_session(self, record: SessionRecord) -> None:
        """Insert or replace the whole session, messages included (its memory is kept apart)."""
        await self._write_one(SaveSession.of(record), "save_session")

    async def insert_session(self, record: SessionRecord) -> bool:
        """Store a new session unless one with its id is stored: ``True`` if it was stored.

        The check and the write are one atomic step on every backend (insert-if-absent), so
        of two clients or processes creating the same session id exactly one succeeds; the
        stored session is never replaced. Not part of a ``batch()``.

        Raises:
            StorageError: called inside a batch, or the store failed.
        """
        self._outside_batch("insert_session")
        return await self._write_one(SaveSession.of(record, if_absent=True), "insert_session")

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The stored session, or ``None`` if there is none.

        Raises:
            StorageError: the stored document is corrupt or cannot be decrypted;
                the message names the session.
        """
        require_strings(self.backend_name, "load_session", session_id=session_id)
        stored = await self._load_session(session_id)
        if stored is None:
            return None
        memory = {doc["key"]: doc.get("value") for doc in stored.memory}
        return session_from_documents(
            stored.head, stored.messages, memory=memory, what=f"session {session_id!r}"
        )

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        last_active: datetime,
        expected_count: int | None = None,
    ) -> None:
        """Append messages to a stored session, in order, and touch ``last_active``.

        With ``expected_count`` (the number of messages the caller knows are stored before
        these) the append applies only at that position. Sent again after its reply was
        lost, it finds the same messages stored there and succeeds without storing them twice.

        Raises:
            AppendConflict: ``expected_count`` is given and the session holds another number
                of messages (another writer appended); nothing was stored.
            StorageError: the session is not stored, or the store failed.
        """
        require_strings(self.backend_name, "append_messages", session_id=session_id)
        self._outside_batch("append_messages")
        documents = message_documents(messages)
        stored = await self._append_messages(session_id, documents, last_active.isoformat(), expected_count)
        what = f"session {session_id!r}"
        if stored is None:
            raise StorageError(
                f"{self.backend_name} storage: {what} is not stored (never saved, deleted, or expired after "
                "its timeout); save it with save_session before appending"
            )
        if expected_count is None or stored == expected_count:
            return
        if stored == expected_count + len(documents) and await self._holds_tail(session_id, documents):
            return  # the same append, sent again: it is stored already
        raise AppendConflict(
            f"{self.backend_name} storage: could not append to {what} at position {expected_count}: it holds "
            f"{stored} messages (another writer appended); reload the session and send the turn again"
        )

    async def _holds_tail(self, session_id: str, documents: list[Document]) -> bool:
        stored = await self._load_session(session_id)
        if stored is None or len(stored.messages) < len(documents):
            return False
        tail = stored.messages[len(stored.messages) - len(documents) :]
        return [Message.model_validate(m) for m in tail] == [Message.model_validate(d) for d in documents]

    async def message_count(self, session_id: str) -> int | None:
        """How many messages the stored session holds (``None``: it is not stored).

        One cheap read on every backend (a counter kept with the session, never a load of
        its messages): a client compares it with the count it knows before each turn and
        reloads the conversation only when another writer changed it.

        Example:
            >>> import asyncio
            >>> from luminora_nb.storage import InMemoryStorage
            >>> asyncio.run(InMemoryStorage().message_count("nope")) is None
            True
        """
        require_strings(self.backend_name, "message_count", session_id=session_id)
        return await self._message_count(session_id)

    async def list_sessions(self, *, user_id: str | None = None) -> list[SessionSummary]:
        """Summaries of stored sessions (of one user if given), oldest first.

        A session whose stored head cannot be read is left out (and logged), so one damaged
        session never hides the others.
        """
        require_strings(self.backend_name, "list_sessions", user_id=user_id, optional=("user_id",))
        rows: list[SessionSummary] = []
        for head in await self._session_heads(user_id):
            try:
                document, message_count = head.read()
                summary = session_summary(document, message_count, what=head.where)
            except StorageError as exc:
                logger.warning(
                    "%s storage: leaving %s out of the session list: %s", self.backend_name, head.where, exc
                )
                continue
            if user_id is None or summary.user_id == user_id:
                rows.append(summary)
        return sorted(rows, key=lambda s: (s.created_at, s.session_id))

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session, its messages, memory and mood; ``True`` if it existed."""
        require_strings(self.backend_name, "delete_session", session_id=session_id)
        self._outside_batch("delete_session")
        return await self._delete_session(session_id)

    async def set_memory(self, session_id: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` for the session."""
        require_strings(self.backend_name, "set_memory", session_id=session_id, key=key)
        await self._write_one(Put(Key(MEMORY, session_id, (key,)), memory_document(key, value)), "set_memory")

    async def get_memory(self, session_id: str, key: str) -> Any:
        """The value stored under ``key``, or ``None``."""
        require_strings(self.backend_name, "get_memory", session_id=session_id, key=key)
        document = await self._get(Key(MEMORY, session_id, (key,)))
        return None if document is None else document.get("value")

    async def delete_memory(self, session_id: str, key: str) -> bool:
        """Forget the value stored under ``key``; ``True`` if there was one."""
        require_strings(self.backend_name, "delete_memory", session_id=session_id, key=key)
        return await self._write_one(Delete(Key(MEMORY, session_id, (key,))), "delete_memory")


class StorageV11Extension(abc.ABC):
    """v1.1 user state (the seed's interface): affinity, facts, episodes, mood, embeddings.

    Implemented here over the primitives of :class:`Storage`. A class written against the
    seed may subclass this one and implement the public methods itself instead.
    """

    backend_name: str
    _write_one: _WriteOne
    _outside_batch: Callable[[str], None]
    _get: _Get
    _list: _List
    _list_users: Callable[[], Awaitable[list[str]]]
    _delete_user: Callable[[str], Awaitable[int]]

    async def save_affinity(
        self, user_id: str, personality_name: str, affinity_points: int, current_level: str, **kwargs: Any
    ) -> bool:
        """Save or replace the affinity of ``user_id`` with ``personality_name``."""
        require_strings(
            self.backend_name, "save_affinity", user_id=user_id, personality_name=personality_name
        )
        document = affinity_document(user_id, personality_name, affinity_points, current_level, kwargs)
        return await self._write_one(
            Put(Key(AFFINITY, user_id, (personality_name,)), document), "save_affinity"
        )

    async def get_affinity(self, user_id: str, personality_name: str) -> dict[str, Any] | None:
        """The affinity record, or ``None``."""
        require_strings(self.backend_name, "get_affinity", user_id=user_id, personality_name=personality_name)
        return await self._get(Key(AFFINITY, user_id, (personality_name,)))

    async def save_fact(self, user_id: str, category: str, key: str, value: Any, **kwargs: Any) -> bool:
        """Save a fact; a fact with the same ``category`` and ``key`` is replaced in its place."""
        require_strings(self.backend_name, "save_fact", user_id=user_id, category=category, key=key)
        document = fact_document(user_id, category, key, value, kwargs)
        return await self._write_one(Put(Key(FACT, user_id, (category, key)), document), "save_fact")

    async def get_facts(self, user_id: str, category: str | None = None) -> list[dict[str, Any]]:
        """The user's facts (of one category if given), in the order first learned."""
        require_strings(
            self.backend_name, "get_facts", user_id=user_id, category=category, optional=("category",)
        )
        where = None if category is None else {"category": category}
        facts = await self._list(FACT, user_id, where)
        return [f for f in facts if category is None or f.get("category") == category]

    async def delete_fact(self, user_id: str, category: str, key: str) -> bool:
        """Delete one fact; ``True`` if it existed."""
        require_strings(self.backend_name, "delete_fact", user_id=user_id, category=category, key=key)
        return await self._write_one(Delete(Key(FACT, user_id, (category, key))), "delete_fact")

    @arguments_of(_arguments.save_episode)
    async def save_episode(self, episode: EpisodeArguments) -> bool:
        """Append an episode; the extras (``episode_id``, ``session_id``, ...) are stored with it."""
        user_id = episode.user_id
        require_strings(self.backend_name, "save_episode", user_id=user_id)
        document = episode_document(user_id, episode.extra, **episode.fields)
        return await self._write_one(Put(Key(EPISODE, user_id), document), "save_episode")

    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[dict[str, Any]]:
        """Episodes with ``importance >= min_importance``, most important first, then newest."""
        require_strings(self.backend_name, "get_episodes", user_id=user_id)
        return await self._episodes(user_id, min_importance, max_results)

    async def _episodes(
        self, user_id: str, min_importance: float | None, max_results: int | None
    ) -> list[Document]:
        """The selection of :meth:`get_episodes` (a backend may run it natively)."""
        return select_episodes(await self._list(EPISODE, user_id, None), min_importance, max_results)

    async def save_mood(
        self, session_id: str, user_id: str, current_mood: str, mood_intensity: float = 1.0, **kwargs: Any
    ) -> bool:
        """Save the current mood of a session."""
        require_strings(self.backend_name, "save_mood", session_id=session_id, user_id=user_id)
        document = mood_document(session_id, user_id, current_mood, mood_intensity, kwargs)
        return await self._write_one(Put(Key(MOOD, session_id), document), "save_mood")

    async def get_mood(self, session_id: str) -> dict[str, Any] | None:
        """The session's mood record, or ``None``."""
        require_strings(self.backend_name, "get_mood", session_id=session_id)
        return await self._get(Key(MOOD, session_id))

    async def save_embedding(
        self, user_id: str, item_id: str, kind: str, text: str, vector: Sequence[float], **kwargs: Any
    ) -> bool:
        """Save (or replace, keeping its place) the embedding of a memory item for semantic search."""
        require_strings(self.backend_name, "save_embedding", user_id=user_id, item_id=item_id, kind=kind)
        document = embedding_document(item_id, kind, text, vector, kwargs)
        return await self._write_one(Put(Key(EMBEDDING, user_id, (item_id,)), document), "save_embedding")

    async def get_embeddings(self, user_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Embeddings of a user's memory items: dicts with item_id, kind, text, vector."""
        require_strings(self.backend_name, "get_embeddings", user_id=user_id, kind=kind, optional=("kind",))
        rows = await self._list(EMBEDDING, user_id, None if kind is None else {"kind": kind})
        return [with_floats(r) for r in rows if kind is None or r.get("kind") == kind]

    async def search_embeddings(
        self, user_id: str, query: Sequence[float], *, kind: str | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """The user's embeddings nearest to ``query`` by cosine similarity, best first.

        Each result is the stored embedding with its ``score`` (cosine similarity of the
        float32 vectors, in [-1, 1]; 0 for a zero vector). Embeddings of another dimension
        than ``query`` are left out; ties keep the order the embeddings were first saved in.

        Raises:
            StorageError: ``user_id`` or ``kind`` is not a string.
        """
        require_strings(
            self.backend_name, "search_embeddings", user_id=user_id, kind=kind, optional=("kind",)
        )
        vector = [float(v) for v in query]
        if not vector or limit <= 0:
            return []
        return [
            {**with_floats(doc), "score": score}
            for score, doc in await self._nearest(user_id, vector, kind, int(limit))
        ]

    async def _nearest(
        self, user_id: str, query: list[float], kind: str | None, limit: int
    ) -> list[tuple[float, Document]]:
        """The ranking of :meth:`search_embeddings`: exact cosine over the stored float32 bytes
        (the stored documents, as :meth:`_list` gives them; the caller makes the public form).

        A backend that can rank in its own engine (DuckDB) overrides this.
        """
        rows = await self._list(EMBEDDING, user_id, None if kind is None else {"kind": kind})
        rows = [row for row in rows if kind is None or row.get("kind") == kind]
        return cosine_ranking(query, [(row, stored_vector(row)) for row in rows], limit)

    async def list_users(self) -> list[str]:
        """Users with any stored state, sorted."""
        return sorted(set(await self._list_users()))

    async def delete_user_data(self, user_id: str) -> int:
        """Delete every affinity, fact, episode, mood and embedding of a user; returns the count."""
        require_strings(self.backend_name, "delete_user_data", user_id=user_id)
        self._outside_batch("delete_user_data")
        return await self._delete_user(user_id)


class Storage(ConversationStorage, StorageV11Extension):
    """A complete backend: both halves of the protocol, life-cycle, batches and metadata.

    A backend implements the primitives below (see :mod:`luminora_nb.storage` for a
    walk-through with the in-memory backend). Every primitive receives checked arguments
    and documents built already; it raises :class:`StorageError` for every failure.
    """

    backend_name: str = "abstract"

    def __init__(self, config: StorageConfig | None = None) -> None:
        self.config = config or StorageConfig()
        # The writes of an open ``batch()`` block of this storage, in this task (and its children).
        self._batch: contextvars.ContextVar[list[Write] | None] = contextvars.ContextVar(
            f"luminora_storage_batch_{id(self)}", default=None
        )

    async def initialize(self) -> None:
        """Connect and create what is missing (tables, indexes, directories)."""

    async def close(self) -> None:
        """Release connections. Safe to call more than once."""

    async def __aenter__(self) -> Storage:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend_name!r}>"

    # -- batches ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Store the writes made in the block together when it ends: all of them, or none.

        Inside the block ``save_session``, ``set_memory``, ``save_affinity``, ``save_fact``,
        ``save_episode``, ``save_mood`` and ``save_embedding`` are collected (each still
        checks its arguments and builds its document at once); reads see the store as it
        was before the block. If the block raises, nothing is written.

        Raises:
            StorageError: the batch could not be stored (then none of it is), another
                kind of call was made in the block, or a batch was opened inside one.

        Example:
            >>> import asyncio
            >>> from luminora_nb.storage import InMemoryStorage
            >>> async def main():
            ...     store = InMemoryStorage()
            ...     async with store.batch():
            ...         await store.save_fact("u1", "pets", "dog", "Rex")
            ...         await store.save_affinity("u1", "aurora", 10, "friend")
            ...     return len(await store.get_facts("u1"))
            >>> asyncio.run(main())
            1
        """
        if self._batch.get() is not None:
            raise StorageError(f"{self.backend_name} storage: batches do not nest; use one batch() block")
        writes: list[Write] = []
        token = self._batch.set(writes)
        try:
            yield
        finally:
            self._batch.reset(token)
        if writes:
            await self._write(writes)

    async def _write_one(self, write: Write, operation: str) -> bool:
        """Apply one write now, or collect it into the open batch (saves only)."""
        pending = self._batch.get()
        if pending is None:
            [result] = await self._write([write])
            return result
        if isinstance(write, Delete):
            self._outside_batch(operation)
        pending.append(write)
        return True

    def _outside_batch(self, operation: str) -> None:
        """Refuse a call that cannot be collected into a batch while one is open."""
        if self._batch.get() is not None:
            raise StorageError(
                f"{self.backend_name} storage: {operation} cannot be part of a batch; call it after the batch"
            )

    # -- metadata --------------------------------------------------------------------------
    async def read_metadata(self) -> dict[str, Any]:
        """The store's metadata record (``{}`` until one is written).

        The record is stored as plain JSON, never encrypted (it is read before the key is
        known): it must hold nothing secret. The field the storage keeps there (an
        encrypted store's key check, see :mod:`._keys`) is not shown.
        """
        record, _ = public_record(await self._read_metadata())
        return record

    async def write_metadata(self, record: Mapping[str, Any], *, expected: Mapping[str, Any] | None) -> bool:
        """Replace the metadata record by ``record`` if the stored one equals ``expected``.

        ``expected=None`` writes only when there is no record yet (two processes setting up
        one store agree on the first record written). Returns whether it was written. The
        storage's own field (the key check) is kept as it is.

        Raises:
            StorageError: ``record`` is not JSON-serialisable or names the storage's field
                (``"luminora_codec"``), or the store failed.
        """
        if CODEC_FIELD in record:
            raise StorageError(
                f"{self.backend_name} storage: the metadata field {CODEC_FIELD!r} is kept by the storage "
                "itself (an encrypted store's key check); use another name"
            )
        new = _canonical(record)
        text = await self._read_metadata()
        if text is None:  # nothing stored: only a first record may be written
            return expected is None and await self._swap_metadata(None, new)
        stored, codec_part = public_record(text)
        if codec_part is None:  # the record is all the caller's
            wanted = expected is not None and _canonical(stored) == _canonical(expected)
        else:  # keep the storage's field; "no record yet" means none of the caller's
            wanted = _canonical(stored) == _canonical(expected) if expected is not None else not stored
            new = _canonical({**json.loads(new), CODEC_FIELD: codec_part})
        return wanted and await self._swap_metadata(text, new)

    async def _check_key(self, codec: DocumentCodec, *, read_only: bool = False) -> DocumentCodec:
        """The codec to use from now on (built with the store's passphrase salt), its key
        checked against the store (:mod:`._keys`); backends call it at the end of
        ``initialize``, once the metadata primitives and ``_first_document`` work.

        Raises:
            StorageError: the key does not open the store (and the other refusals of
                :func:`._keys.check_key`).
        """
        return await check_key(
            f"{self.backend_name} storage",
            self.config,
            codec,
            read=self._read_metadata,
            swap=self._swap_metadata,
            first_document=self._first_document,
            read_only=read_only,
        )

    async def _migrate_names(self, codec: DocumentCodec, *, force: bool = False) -> int:
        """Move the documents of an encrypted store kept under codec v1's unkeyed name digests
        to their keyed digests (:meth:`DocumentCodec.name_digest`), once; returns how many.

        Backends that address documents by digests of their names (DuckDB, Redis,
        PostgreSQL, MongoDB) call it at ``initialize`` once the key is checked. The store's
        metadata record says when it is done (:data:`._keys.NAMES_KEYED`); until then no
        lookup by name runs (``initialize`` has not returned). Each document moves in one
        all-or-none write per owner (delete under the old digests, put under the new ones,
        re-encrypted for their new place), so an interrupted migration resumes where it
        stopped; documents keep their order. Episodes and moods have no names and stay where they are.
        ``force``: migrate even if the record says it is done (a backend found unkeyed digests).
        """
        if not codec.keyed_names:
            return 0
        text = await self._read_metadata()
        record, part = public_record(text)
        if not isinstance(part, Mapping) or (part.get("names") == NAMES_KEYED and not force):
            return 0
        owners: list[tuple[Kind, str]] = [
            (kind, user) for user in await self._list_users() for kind in (AFFINITY, FACT, EMBEDDING)
        ]
        for head in await self._session_heads(None):
            try:
                owners.append((MEMORY, str(head.read()[0]["session_id"])))
            except (StorageError, KeyError) as exc:
                logger.warning(
                    "%s storage: left the memory of %s as it is: %s", self.backend_name, head.where, exc
                )
        moved = 0
        for kind, owner in owners:
            named = [(names_of(kind, d), d) for d in await self._list(kind, owner, None)]
            keys = [(Key(kind, owner, n), d) for n, d in named if n is not None]
            if not self._batches_atomically():
                # One document at a time, the new row first: a crash between the two leaves
                # both, and the next initialize finishes the move (the record is not yet marked).
                for key, document in keys:
                    await self._write([Put(key, document)])
                    moved += (await self._write([Delete(Key(kind, owner, key.names, legacy=True))]))[0]
                continue
            # All of an owner's documents in one write, put again in their order (which keeps it).
            deletes: list[Write] = [Delete(Key(k.kind, owner, k.names, legacy=True)) for k, _ in keys]
            deletes += [Delete(k) for k, _ in keys]
            done = await self._write([*deletes, *(Put(k, d) for k, d in keys)]) if keys else []
            moved += sum(done[: len(keys)])
        updated = json.dumps(
            {**record, CODEC_FIELD: {**part, "names": NAMES_KEYED}}, sort_keys=True, separators=(",", ":")
        )
        await self._swap_metadata(text, updated)  # lost to another process doing the same: fine
        if moved:
            logger.info("%s storage: moved %d documents to keyed name digests", self.backend_name, moved)
        return moved

    def _batches_atomically(self) -> bool:
        """Whether ``_write`` takes several writes at once (MongoDB without transactions does not)."""
        return True

    @staticmethod
    def _ident(key: Key, codec: DocumentCodec) -> str:
        """The digest a document's names are stored under: keyed (codec v2) unless ``key.legacy``."""
        return key.digest if key.legacy else codec.name_digest(*key.names)

    # -- the primitives a backend implements -------------------------------------------------
    @abc.abstractmethod
    async def _write(self, writes: Sequence[Write]) -> list[bool]:
        """Apply the writes in order, all or none (if one fails, none is stored).

        * :class:`Put` stores a document under its key. For an appended kind (episodes) it
          adds one; else it replaces the one stored under the same names, which keeps its
          place in :meth:`_list` order and the fields named in ``key.kind.keep``.
        * :class:`Delete` removes the document under its key.
        * :class:`SaveSession` replaces the whole session (head and messages); the
          session's memory and mood are left as they are. With ``if_absent`` it stores
          nothing when a session with that id is stored, decided atomically with the write.

        Returns, per write, whether it changed something: ``True`` for puts and saves (for a
        save ``if_absent``: whether it was stored), for a delete whether the document existed.
        """

    @abc.abstractmethod
    async def _get(self, key: Key) -> Document | None:
        """The document stored under ``key`` (a fresh copy), or ``None``."""

    @abc.abstractmethod
    async def _list(self, kind: Kind, owner: str, where: Mapping[str, str] | None) -> list[Document]:
        """The documents of one kind and owner, in the order first put (fresh copies).

        ``where`` (field -> value, e.g. ``{"category": "pets"}``) may narrow the result
        where the backend can filter natively; the caller filters again either way.
        """

    @abc.abstractmethod
    async def _load_session(self, session_id: str) -> StoredSession | None:
        """The session's head (touched by the latest append), messages in order, and memory."""

    @abc.abstractmethod
    async def _append_messages(
        self, session_id: str, messages: list[Document], last_active: str, at: int | None
    ) -> int | None:
        """Append messages after the stored ones and touch the head, in one atomic step.

        Returns how many messages were stored before, or ``None`` when the session is not
        stored. With ``at``, appends only if exactly ``at`` messages are stored (else
        nothing changes and the stored count is returned).
        """

    async def _message_count(self, session_id: str) -> int | None:
        """The number of messages the session holds, or ``None`` when it is not stored.

        This default loads the session; every backend here overrides it with one read of the
        count it keeps (a backend whose reservations can run ahead of its messages returns
        the reserved count: the position of its next append).
        """
        stored = await self._load_session(session_id)
        return None if stored is None else len(stored.messages)

    @abc.abstractmethod
    async def _session_heads(self, user_id: str | None) -> list[SessionHead]:
        """One :class:`SessionHead` per stored session (of ``user_id`` where it filters natively)."""

    @abc.abstractmethod
    async def _delete_session(self, session_id: str) -> bool:
        """Delete the session's head, messages, memory and mood; ``True`` if it was stored."""

    @abc.abstractmethod
    async def _list_users(self) -> list[str]:
        """The owners of any user-owned document, and the users named by stored moods."""

    @abc.abstractmethod
    async def _delete_user(self, user_id: str) -> int:
        """Delete the user's affinity, facts, episodes, embeddings and moods; returns the count."""

    @abc.abstractmethod
    async def _read_metadata(self) -> str | None:
        """The store's metadata record, as the JSON text last written, or ``None``."""

    @abc.abstractmethod
    async def _swap_metadata(self, expected: str | None, record: str) -> bool:
        """Store ``record`` if the stored text equals ``expected`` (``None``: none stored), atomically."""

    @abc.abstractmethod
    async def _first_document(self) -> Sample | None:
        """Any stored document as stored (a session head preferred), or ``None`` if none is.

        Used once, at ``initialize``, to check an encryption key against a store written
        before key checks.
        """


def _canonical(record: Mapping[str, Any]) -> str:
    """One spelling of a metadata record (sorted keys, ASCII), so stored texts compare equal."""
    return json.dumps(plain_json(record, what="metadata record"), sort_keys=True, separators=(",", ":"))
