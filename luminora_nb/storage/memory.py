"""In-process storage: fast, nothing survives the process. The default backend.

The simplest backend, and the example to read before writing one (see
:mod:`luminora_nb.storage`): it implements the primitives of
:class:`~luminora_nb.storage.base.Storage` over dicts.

Every document is kept as its JSON bytes (``pydantic_core.to_json``, parsed back with
``from_json``, both in Rust), so callers never share state with the store: what they
saved, appended or loaded can change without changing what is stored. A session keeps
its messages as one JSON array per save and per append, read back as messages in one
pass. Text that UTF-8 cannot hold (an unpaired surrogate, valid in a Python ``str``) is
kept as ASCII-escaped JSON written by Python's ``json``, and read back by it.

A write runs without awaiting anything, so a batch is applied whole: no other call can
see it half done, and if a document cannot be serialised nothing is stored.

An embedding's vector is kept apart from its JSON document as the raw float32 bytes (put
back as ``bytes`` under :data:`~._vectors.VECTOR_FIELD` on read, as the binary columns of
PostgreSQL and MongoDB are), so a search never decodes base64 or JSON: the first search of
a user builds a float32 matrix of the user's vectors (:class:`~._vectors.VectorMatrix`),
and later searches reuse it. Every write of an embedding gives the user a new version and
logs the item it changed (:class:`~._vector_cache.VectorChanges`): the next search updates
the cached matrix from those rows alone (:meth:`~._vectors.VectorMatrix.updated`), which
keeps the order first put (a replaced vector stays in its place, a new or re-added one
comes last). Encryption changes nothing here: nothing leaves the process.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core

from ..types.session import Message, StorageConfig
from . import _documents as docs
from ._vector_cache import VectorCache, VectorChanges
from ._vectors import VECTOR_FIELD, VectorMatrix, VectorRow, stored_vector
from .base import Storage
from .codec import DocumentCodec

__all__ = ["InMemoryStorage", "InMemoryStorageV11"]

_USER_KINDS = {kind.name for kind in docs.USER_KINDS}


def _freeze(document: Any) -> bytes:
    """A document as JSON bytes (a NaN in message metadata becomes ``null``, as in every version)."""
    try:
        return pydantic_core.to_json(document, inf_nan_mode="null")
    except pydantic_core.PydanticSerializationError:  # an unpaired surrogate: Python's json escapes it
        return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _thaw(data: bytes) -> Any:
    """A fresh document from its JSON bytes."""
    try:
        return pydantic_core.from_json(data)
    except ValueError:  # ASCII-escaped unpaired surrogates, which only Python's json reads
        return json.loads(data)


@dataclass(slots=True)
class _Session:
    """One stored session: its head, its messages (JSON arrays), and the latest append's time."""

    head: bytes
    batches: list[bytes]  # one JSON array of message documents per save and per append
    count: int  # messages in all batches
    last_active: str | None = None

    def read_head(self) -> docs.Document:
        head: docs.Document = _thaw(self.head)
        return head if self.last_active is None else docs.touched(head, self.last_active)

    def read_messages(self) -> list[Message | docs.Document]:
        messages: list[Message | docs.Document] = []
        for batch in self.batches:
            try:
                messages.extend(docs.messages_from_json(batch))
            except ValueError:  # ASCII-escaped unpaired surrogates: Python's json, then the caller validates
                messages.extend(json.loads(batch))
        return messages

    def read_listing(self) -> tuple[docs.Document, int]:
        return self.read_head(), self.count


class InMemoryStorage(Storage):
    """Keeps everything in this process, as JSON bytes.

    Example:
        >>> import asyncio
        >>> store = InMemoryStorage()
        >>> asyncio.run(store.save_affinity("user1", "alicia", 50, "friend"))
        True
    """

    backend_name = "memory"

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config)
        if self.config.encryption_enabled:
            # Nothing is written anywhere, but a config asking for encryption without a key is
            # wrong on every backend: fail the same way (StorageError naming what to set).
            DocumentCodec.from_config(self.config)
        self._sessions: dict[str, _Session] = {}
        # (kind name, owner) -> names -> document, in the order first put
        self._documents: dict[tuple[str, str], dict[tuple[str, ...], bytes]] = {}
        self._metadata: str | None = None
        self._appended = itertools.count()  # names of appended documents (episodes)
        # user -> item names -> (kind, float32 bytes): the vectors, in the order first put
        self._vectors: dict[str, dict[tuple[str, ...], tuple[str, bytes]]] = {}
        # a new version per change of a user's embeddings, and what changed (see _nearest)
        self._changes: VectorChanges[tuple[str, ...]] = VectorChanges()
        self._matrices: VectorCache[tuple[str, ...]] = VectorCache(changes=self._changes)

    # -- documents -------------------------------------------------------------------------
    async def _write(self, writes: Sequence[docs.Write]) -> list[bool]:
        # Serialise everything first: a document that cannot be stored leaves the store untouched.
        steps = [self._step(write) for write in writes]
        return [step() for step in steps]

    def _step(self, write: docs.Write) -> Callable[[], bool]:
        """The change ``write`` makes, serialised already."""
        if isinstance(write, docs.SaveSession):
            session = _Session(_freeze(write.head), [_freeze(write.messages)], len(write.messages))

            def save() -> bool:
                if write.if_absent and write.record.session_id in self._sessions:
                    return False
                self._sessions[write.record.session_id] = session
                return True

            return save
        key = write.key
        if isinstance(write, docs.Delete):

            def delete() -> bool:
                vectors = self._vectors.get(key.owner) if key.kind is docs.EMBEDDING else None
                if vectors is not None and vectors.pop(key.names, None) is not None:
                    self._changes.record({key.owner: [(key.names, True)]})
                return self._documents.get((key.kind.name, key.owner), {}).pop(key.names, None) is not None

            return delete
        if key.kind is docs.EMBEDDING:
            return self._put_embedding(key, write.document)
        data = _freeze(write.document)

        def put() -> bool:
            documents = self._documents.setdefault((key.kind.name, key.owner), {})
            if key.kind.appended:
                documents[(str(next(self._appended)),)] = data
            elif key.kind.keep and key.names in documents:
                previous = _thaw(documents[key.names])
                documents[key.names] = _freeze(docs.kept(write.document, previous, key.kind.keep))
            else:
                documents[key.names] = data
            return True

        return put

    def _put_embedding(self, key: docs.Key, document: docs.Document) -> Callable[[], bool]:
        """The put of an embedding: its document without the vector, and the vector's bytes apart."""
        vector = stored_vector(document)  # also the JSON list of a document written before
        data = _freeze({k: v for k, v in document.items() if k not in (VECTOR_FIELD, "vector")})
        kind = str(document.get("kind"))

        def put() -> bool:
            self._documents.setdefault((key.kind.name, key.owner), {})[key.names] = data
            self._vectors.setdefault(key.owner, {})[key.names] = (kind, vector)
            self._changes.record({key.owner: [(key.names, False)]})
            return True

        return put

    def _read(self, kind: docs.Kind, owner: str, names: tuple[str, ...], data: bytes) -> docs.Document:
        """A fresh document; an embedding gets its vector's bytes back."""
        document: docs.Document = _thaw(data)
        if kind is docs.EMBEDDING:
            document[VECTOR_FIELD] = self._vectors.get(owner, {}).get(names, ("", b""))[1]
        return document

    async def _get(self, key: docs.Key) -> docs.Document | None:
        data = self._documents.get((key.kind.name, key.owner), {}).get(key.names)
        return None if data is None else self._read(key.kind, key.owner, key.names, data)

    async def _list(
        self, kind: docs.Kind, owner: str, where: Mapping[str, str] | None
    ) -> list[docs.Document]:
        documents = self._documents.get((kind.name, owner), {})
        return [self._read(kind, owner, names, data) for names, data in documents.items()]

    async def _nearest(
        self, user_id: str, query: list[float], kind: str | None, limit: int
    ) -> list[tuple[float, docs.Document]]:
        vectors = self._vectors.get(user_id, {})

        async def build() -> VectorMatrix[tuple[str, ...]]:
            return VectorMatrix(
                list(vectors),
                [vector for _, vector in vectors.values()],
                [kind for kind, _ in vectors.values()],
            )

        async def rows(changed: list[tuple[tuple[str, ...], bool]]) -> list[VectorRow[tuple[str, ...]]]:
            # New and re-added items are the last entries of the dict, in the order put:
            # walking it backwards while its keys changed finds them all, in that order.
            moved = dict(changed)
            tail = list(itertools.takewhile(moved.__contains__, reversed(vectors)))[::-1]
            in_tail = set(tail)
            order = tail + [names for names in moved if names not in in_tail]
            return [(names, moved[names], vectors.get(names)) for names in order]

        version = self._changes.version(user_id)
        matrix = await self._matrices.matrix(user_id, version, build, rows)
        documents = self._documents.get((docs.EMBEDDING.name, user_id), {})
        return [
            (score, self._read(docs.EMBEDDING, user_id, names, documents[names]))
            for score, names in matrix.rank(query, limit, label=kind)
        ]

    # -- sessions --------------------------------------------------------------------------
    async def _load_session(self, session_id: str) -> docs.StoredSession | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        memory = await self._list(docs.MEMORY, session_id, None)
        return docs.StoredSession(session.read_head(), session.read_messages(), memory)

    async def _append_messages(
        self, session_id: str, messages: list[docs.Document], last_active: str, at: int | None
    ) -> int | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        count = session.count
        if at is None or at == count:
            session.batches.append(_freeze(messages))
            session.count += len(messages)
            session.last_active = last_active
        return count

    async def _message_count(self, session_id: str) -> int | None:
        session = self._sessions.get(session_id)
        return None if session is None else session.count

    async def _session_heads(self, user_id: str | None) -> list[docs.SessionHead]:
        return [
            docs.SessionHead(f"session {sid!r}", session.read_listing)
            for sid, session in self._sessions.items()
        ]

    async def _delete_session(self, session_id: str) -> bool:
        self._documents.pop((docs.MEMORY.name, session_id), None)
        self._documents.pop((docs.MOOD.name, session_id), None)
        return self._sessions.pop(session_id, None) is not None

    # -- users -----------------------------------------------------------------------------
    def _moods(self) -> list[tuple[str, str]]:
        """``(session id, user id)`` of every stored mood."""
        return [
            (owner, _thaw(mood)["user_id"])
            for (kind, owner), documents in self._documents.items()
            if kind == docs.MOOD.name
            for mood in documents.values()
        ]

    async def _list_users(self) -> list[str]:
        owners = [owner for kind, owner in self._documents if kind in _USER_KINDS]
        return owners + [user for _, user in self._moods()]

    async def _delete_user(self, user_id: str) -> int:
        keys = [(kind, user_id) for kind in _USER_KINDS]
        keys += [(docs.MOOD.name, session) for session, user in self._moods() if user == user_id]
        if self._vectors.pop(user_id, None) is not None:
            self._changes.record({user_id: None})
        return sum(len(self._documents.pop(key, {})) for key in keys)

    # -- metadata --------------------------------------------------------------------------
    async def _read_metadata(self) -> str | None:
        return self._metadata

    async def _swap_metadata(self, expected: str | None, record: str) -> bool:
        if self._metadata != expected:
            return False
        self._metadata = record
        return True

    async def _first_document(self) -> None:
        return None  # nothing outlives the instance: there is never an older store to check


class InMemoryStorageV11(InMemoryStorage):
    """The seed's name for the in-memory v1.1 storage."""
