"""Semantic search of the DuckDB backend: a float32 matrix per user, kept in this process.

DuckDB's own vector functions scan the ``FLOAT[]`` column at about 60 ms per 100,000
vectors of 384 dimensions here (``list_cosine_similarity``, and no faster with a fixed-size
``FLOAT[384]`` column and ``array_cosine_similarity``); numpy does the same product in a few
milliseconds. So the first search of a user reads the user's vectors once (the ``vec``
column through Arrow; with encryption on, the decrypted documents) into a
:class:`~._vectors.VectorMatrix`, and every later search ranks that matrix, then reads the
few documents it returns by their ids.

The matrix stays valid because only this process can write the file while it is open
(DuckDB locks a database file to one process), and every write in this process goes
through a :class:`~.duckdb.DuckDBStorage`: a write that saves, replaces or deletes an
embedding (and ``delete_user_data``) gives the user a new version, and logs the item ids it
changed, in a :class:`~._vector_cache.VectorChanges` shared by all storages of this process
on the same file and table, after its transaction commits. The next search reads just
those rows and updates the matrix (a few ms at 100,000 vectors, where a rebuild takes
about a second). A search reads the version before it reads any vector, so a write that
lands in between is read again by the next search, never missed. A program writing the
tables with its own SQL meanwhile is not seen until the storage is closed (closing forgets
the matrices).

Trade-offs: the matrix of a user with 100,000 vectors of 384 dimensions holds about 150 MB;
at most :data:`USERS` users' matrices are kept. With encryption on, the vectors are decrypted
once per change rather than per search, and stay decrypted in this process's memory (never
on disk) while cached.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import duckdb

from . import _documents as docs
from ._vector_cache import VectorCache, VectorChanges
from ._vectors import VectorMatrix, VectorRow, pack, stored_vector

__all__ = ["DuckDBVectorIndex"]

#: Users whose matrices one storage keeps (the least recently searched is dropped).
USERS = 4

_registry_lock = threading.Lock()
# (database file, table name) -> the versions of its users' embeddings and what changed,
# shared by the storages of this process
_changes: dict[tuple[str, str], VectorChanges[str]] = {}

Connection = duckdb.DuckDBPyConnection


class _Store(Protocol):
    """What the index uses of :class:`~.duckdb.DuckDBStorage`."""

    _vectors: bool

    def _run(
        self, operation: str, subject: str, fn: Callable[[Connection], Any], *, transaction: bool = False
    ) -> Awaitable[Any]: ...

    def _name(self, value: str, *, legacy: bool = False) -> str: ...

    def _decode(self, data: Any, what: str, at: str) -> dict[str, Any]: ...


class DuckDBVectorIndex:
    """The cached matrices of one storage, and the process-wide versions they are checked against.

    Example:
        >>> index = DuckDBVectorIndex(":memory:", '"t_embeddings"')
        >>> before = index.version("u1"); index.changed({"u1": [("a", False)]}); index.version("u1") != before
        True
    """

    def __init__(self, path: str, table: str) -> None:
        # An in-memory database is private to its connection: its versions are too.
        place = f":memory:{id(self)}" if path == ":memory:" else os.path.realpath(path)
        with _registry_lock:
            self._changes = _changes.setdefault((place, table), VectorChanges())
        self._table = table
        self._matrices: VectorCache[str] = VectorCache(users=USERS, changes=self._changes)

    def version(self, user_id: str) -> int:
        """The current version of the user's embeddings (-1: unchanged since this process started)."""
        return self._changes.version(user_id)

    def changed(self, changes: Mapping[str, Iterable[tuple[str, bool]] | None]) -> None:
        """Record, once a write has committed, each user's changed ``(item id, deleted)`` pairs as
        stored (``None``: not listed, e.g. the whole user deleted)."""
        self._changes.record(changes)

    def info(self) -> dict[str, int]:
        """How this storage's searches got their matrices (see :meth:`VectorCache.info`)."""
        return self._matrices.info()

    def clear(self) -> None:
        """Forget the matrices (the storage is closing: other processes may write from now on)."""
        self._matrices.clear()

    async def nearest(
        self, store: _Store, user_id: str, query: list[float], kind: str | None, limit: int
    ) -> list[tuple[float, docs.Document]]:
        """The ranking of ``search_embeddings``: the cached matrix, then the chosen documents."""
        subject = f"embeddings of user {user_id!r}"
        version = self.version(user_id)  # before the vectors are read (see the module docstring)

        async def build() -> VectorMatrix[str]:
            read = self._read_vectors if store._vectors else self._read_documents
            built: VectorMatrix[str] = await store._run(
                "search_embeddings", subject, lambda con: read(store, con, user_id)
            )
            return built

        async def changed_rows(changed: list[tuple[str, bool]]) -> list[VectorRow[str]]:
            ids = [item for item, _ in changed]
            current = await store._run(
                "search_embeddings", subject, lambda con: self._read_rows(store, con, user_id, ids)
            )
            moved = dict(changed)
            return [(item, moved[item], current.get(item)) for item in [*current, *(moved.keys() - current)]]

        matrix = await self._matrices.matrix(user_id, version, build, changed_rows)
        ranked = matrix.rank(query, limit, label=None if kind is None else store._name(kind))
        if not ranked:
            return []
        ids = [item_id for _, item_id in ranked]
        # = ANY(list): about 3x faster here than IN (?, ...) or one lookup per id
        sql = f"SELECT item_id, doc FROM {self._table} WHERE user_id = ? AND item_id = ANY(?::VARCHAR[])"
        rows = await store._run(
            "search_embeddings", subject, lambda con: con.execute(sql, [user_id, ids]).fetchall()
        )
        found = {str(item_id): doc for item_id, doc in rows}
        return [
            (score, store._decode(found[item_id], subject, docs.place("embedding", user_id, item_id)))
            for score, item_id in ranked
            if item_id in found  # deleted by another storage since the matrix was read
        ]

    def _read_vectors(self, store: _Store, con: Connection, user_id: str) -> VectorMatrix[str]:
        """The user's ``vec`` column through Arrow: one buffer of float32 values, sliced per row."""
        table = con.sql(
            f"SELECT item_id, kind, vec FROM {self._table} WHERE user_id = ? ORDER BY ord", params=[user_id]
        ).to_arrow_table()
        import pyarrow.compute as pc  # type: ignore[import-untyped]  # present wherever DuckDB gives Arrow tables

        items = [str(v) for v in table.column("item_id").to_pylist()]
        kinds = [str(v) for v in table.column("kind").to_pylist()]
        column = table.column("vec")
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        values = pc.list_flatten(column).to_numpy(zero_copy_only=False)
        if column.null_count == 0 and len(lengths) and (lengths == lengths[0]).all():
            # the usual case, one embedder: the flat values are the matrix, no row is copied alone
            return VectorMatrix.of_rows(items, values.reshape(len(lengths), int(lengths[0])), kinds)
        if sys.byteorder != "little":  # pragma: no cover - no big-endian CI; the bytes are read as <f4
            values = values.byteswap()
        offsets = [0, *itertools.accumulate(int(n) if n == n else 0 for n in lengths)]  # NaN: a NULL row
        vectors: Sequence[bytes] = [values[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(items))]
        return VectorMatrix(items, vectors, kinds)

    def _read_rows(
        self, store: _Store, con: Connection, user_id: str, ids: list[str]
    ) -> dict[str, tuple[str | None, bytes]]:
        """The current ``(kind, vector bytes)`` of those of ``ids`` that exist, in the store's order."""
        column = "vec" if store._vectors else "doc"
        rows = con.execute(
            f"SELECT item_id, kind, {column} FROM {self._table} "
            "WHERE user_id = ? AND item_id = ANY(?::VARCHAR[]) ORDER BY ord",
            [user_id, ids],
        ).fetchall()
        subject = f"embeddings of user {user_id!r}"
        found: dict[str, tuple[str | None, bytes]] = {}
        for item_id, kind, value in rows:
            if store._vectors:
                vector = b"" if value is None else pack(value)
            else:
                at = docs.place("embedding", user_id, item_id)
                vector = stored_vector(store._decode(value, subject, at))
            found[str(item_id)] = (str(kind), vector)
        return found

    def _read_documents(self, store: _Store, con: Connection, user_id: str) -> VectorMatrix[str]:
        """The vectors of the user's documents (encrypted, or a table without the ``vec`` column)."""
        rows = con.execute(
            f"SELECT item_id, kind, doc FROM {self._table} WHERE user_id = ? ORDER BY ord", [user_id]
        ).fetchall()
        subject = f"embeddings of user {user_id!r}"
        vectors = [
            stored_vector(store._decode(doc, subject, docs.place("embedding", user_id, item_id)))
            for item_id, _, doc in rows
        ]
        return VectorMatrix([str(r[0]) for r in rows], vectors, [str(r[1]) for r in rows])
