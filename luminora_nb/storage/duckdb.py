"""DuckDB storage: one embedded database file, the persistent default for notebooks.

``StorageConfig(storage_type="duckdb", connection_string=PATH)`` — ``PATH`` is the
database file (default ``luminora_store.duckdb``; a ``duckdb://`` prefix is accepted;
``:memory:`` keeps everything in this process). With ``table_name="T"`` (default
``luminora_sessions``) the tables are::

    T               one row per session: id, user, personality, provider, counts, times, doc
    T_messages      (session_id, seq) -> message document; appends insert rows, never rewrite
    T_memory        (session_id, key) -> {"key": ..., "value": ...}
    T_affinity      (user_id, personality_name) -> affinity document
    T_facts         (user_id, category, key) -> fact document, kept in the order first learned
    T_episodes      (user_id, episode_id) -> episode document, with importance and timestamp
    T_moods         session_id -> mood document
    T_embeddings    (user_id, item_id, kind) -> embedding document, and its vector (FLOAT[])
    T_meta          the store's metadata record

With encryption on, the name columns (memory ``key``, fact ``category`` and ``key``, embedding
``item_id`` and ``kind``, affinity ``personality_name``) hold keyed digests of the names
(:mod:`.codec`), the session listing columns ``personality_name`` and ``provider`` hold their
values encrypted (base64 text, decrypted by ``list_sessions``), and no vector is stored outside
its encrypted document; the readable names live only inside the encrypted documents. What stays
readable: session ids, user ids, message counts, creation and last-activity times, episode ids,
importance and timestamps, and the number of rows of each kind. Opening an encrypted file
written before this rewrites its readable name columns as digests, encrypts its listing columns
(once the key is checked) and clears its vectors (their old bytes may linger in freed blocks
until DuckDB reuses them).

Documents are BLOBs written by the storage's :class:`~.codec.DocumentCodec` (JSON text
when plain, compressed and/or encrypted otherwise); the other columns hold ids, counts
and ISO timestamps for listing and ordering. One connection per storage instance,
guarded by a lock; each call runs in a worker thread and in one transaction.

Natively, DuckDB selects episodes (``ORDER BY importance, ts ... LIMIT``); embeddings are
ranked in numpy over a per-user float32 matrix read once from the ``vec`` column (with
encryption on, from the decrypted documents) and kept until the user's embeddings change
(:mod:`._duckdb_vectors`).

DuckDB lets one process at a time open a database file for writing: a second process
gets a :class:`~luminora_nb.errors.StorageError` saying so (use the file, PostgreSQL,
Redis or MongoDB backend to share storage between processes).

Example:
    >>> import asyncio
    >>> from luminora_nb.types import StorageConfig
    >>> config = StorageConfig(storage_type="duckdb", connection_string=":memory:")
    >>> async def main():
    ...     async with DuckDBStorage(config) as db:
    ...         await db.save_affinity("user1", "alicia", 50, "friend")
    ...         return (await db.get_affinity("user1", "alicia"))["affinity_points"]
    >>> asyncio.run(main())
    50
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from ..errors import StorageError
from ..types.session import StorageConfig
from . import _documents as docs
from ._duckdb_schema import DuckDBSchema, creating_tables
from ._duckdb_vectors import DuckDBVectorIndex
from ._keys import Sample
from ._names import checked_identifier, name_digest
from ._vectors import stored_vector, unpack
from .base import Storage
from .codec import DocumentCodec

__all__ = ["DuckDBStorage"]

logger = logging.getLogger("luminora_nb.storage")

_T = TypeVar("_T")
Connection = duckdb.DuckDBPyConnection
# Not "luminora.duckdb": that is the session log's default file, which other kernels write to.
_DEFAULT_PATH = "luminora_store.duckdb"
_INSERT_CHUNK = 500
_CONFLICT_ATTEMPTS = 20


@dataclass(frozen=True)
class _Table:
    """How one kind of document is kept: its table, owner column and name columns."""

    suffix: str
    owner: str
    names: tuple[str, ...] = ()
    ordered: bool = False  # an ``ord`` column from the store's sequence keeps the order first put


_TABLES = {
    "memory": _Table("memory", "session_id", ("key",)),
    "affinity": _Table("affinity", "user_id", ("personality_name",)),
    "fact": _Table("facts", "user_id", ("category", "key"), ordered=True),
    "episode": _Table("episodes", "user_id", ordered=True),
    "mood": _Table("moods", "session_id"),
    "embedding": _Table("embeddings", "user_id", ("item_id",), ordered=True),
}
_USER_TABLES = ("affinity", "facts", "episodes", "moods", "embeddings")


@dataclass
class _Append:
    """One queued ``append_messages`` call."""

    session_id: str
    blobs: list[bytes]
    stamp: str
    at: int | None
    future: asyncio.Future[int | None]


class DuckDBStorage(Storage):
    """Stores sessions and user state in one DuckDB database file.

    See the module docstring for the tables.

    Example:
        >>> from luminora_nb.types import StorageConfig
        >>> DuckDBStorage(StorageConfig(storage_type="duckdb", connection_string="duckdb:///tmp/a.duckdb")).path
        '/tmp/a.duckdb'
    """

    backend_name = "duckdb"

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config or StorageConfig(storage_type="duckdb"))
        self.path = _path_of(self.config.connection_string)
        self._codec = DocumentCodec.from_config(self.config)
        self._hide_names = self._codec.encrypted
        self._unkeyed_digests = False
        self._con: Connection | None = None
        self._lock = threading.Lock()
        self._pending: list[_Append] = []
        self._flusher: asyncio.Task[None] | None = None
        self._vectors = False  # whether embeddings carry their vector in the ``vec`` column
        self._use_schema(DuckDBSchema(_valid_or_placeholder(self.config.table_name), self._codec))

    def _use_schema(self, schema: DuckDBSchema) -> None:
        self._schema = schema
        self._t, self._meta, self._seq = schema.tables, schema.meta, schema.sequence
        self._index = DuckDBVectorIndex(self.path, schema.tables["embeddings"])

    def __repr__(self) -> str:
        return f"<DuckDBStorage path={self.path!r} table={self.config.table_name!r} codec={self._codec!r}>"

    # -- life-cycle ------------------------------------------------------------------
    async def initialize(self) -> None:
        """Open the database (creating the file and, with ``auto_create_tables``, the tables).

        Raises:
            StorageError: the file cannot be opened (locked by another process, not a
                DuckDB database, unwritable directory) or the tables are missing.
        """
        if self._con is not None:
            return
        await asyncio.to_thread(self._open)
        try:  # the key is checked against the store: a wrong one is refused here
            codec = await self._check_key(self._codec)
            self._codec = self._schema._codec = codec  # with the store's passphrase salt
            await self._migrate_names(codec, force=self._unkeyed_digests)
            self._unkeyed_digests = False
            if self._hide_names:
                sealed = await self._run(
                    "initialize", "the session listings", self._seal_listings, transaction=True
                )
                if sealed:
                    logger.info(
                        "duckdb storage: encrypted the listing columns of %d sessions in %s",
                        sealed,
                        self.path,
                    )
        except BaseException:
            await self.close()
            raise

    def _open(self) -> None:
        with self._lock:
            if self._con is not None:
                return
            # Checked here, where the names are used: a config changed without validation
            # (model_copy(update=...)) must never put its table_name into SQL.
            self._use_schema(DuckDBSchema(self.config.table_name, self._codec))
            try:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                con = duckdb.connect(self.path)
            except (duckdb.Error, OSError) as exc:
                hint = (
                    "another process has it open for writing; close that client (DuckDB allows one "
                    "writing process per file) or use the file/postgres/redis/mongodb backend to share "
                    "storage between processes"
                    if "lock" in str(exc).lower()
                    else "check the path is a writable DuckDB database file"
                )
                raise StorageError(
                    f"duckdb storage: cannot open database {self.path!r} ({_first_line(exc)}); {hint}"
                ) from None
            try:
                with creating_tables(self.path):
                    self._prepare(con)
            except BaseException:
                con.close()
                raise
            self._con = con

    def _prepare(self, con: Connection) -> None:
        """Create the tables (or check they exist); bring a file of an older version up to date."""
        schema = self._schema
        try:
            if self.config.auto_create_tables:
                schema.create(con)
            elif missing := schema.missing(con):
                raise StorageError(
                    f"duckdb storage: tables {', '.join(missing)} do not exist in {self.path!r} and "
                    "auto_create_tables is off; set StorageConfig(auto_create_tables=True) or create them"
                )
        except duckdb.Error as exc:
            raise StorageError(
                f"duckdb storage: cannot create the tables of {self.config.table_name!r} in {self.path!r} "
                f"({_first_line(exc)}); check the database is writable and not opened read-only"
            ) from None
        if self._hide_names:
            try:
                moved = schema.hide_stored_names(con)
            except duckdb.Error as exc:
                raise StorageError(
                    f"duckdb storage: cannot replace readable names by digests in {self.path!r} "
                    f"({_first_line(exc)}); check the database is writable"
                ) from None
            if moved:
                logger.info("duckdb storage: replaced %d readable names by digests in %s", moved, self.path)
                self._unkeyed_digests = True  # unkeyed: moved to keyed digests once the key is checked
        self._vectors = not self._hide_names and schema.has_vectors(con)

    async def close(self) -> None:
        """Finish queued appends, checkpoint and close the connection. Safe to call more than once."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            await asyncio.shield(flusher)
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            con, self._con = self._con, None
            self._index.clear()
            if con is None:
                return
            try:
                if self.path != ":memory:":
                    con.execute("CHECKPOINT")
            except duckdb.Error:
                pass  # closing still writes the WAL back; nothing is lost
            finally:
                con.close()

    async def checkpoint(self) -> None:
        """Write the write-ahead log into the database file (so copies of the file are complete)."""
        await self._run("checkpoint", "the database", lambda con: con.execute("CHECKPOINT").fetchall())

    # -- running statements ----------------------------------------------------------
    async def _run(
        self, operation: str, subject: str, fn: Callable[[Connection], _T], *, transaction: bool = False
    ) -> _T:
        if self._con is None:
            await self.initialize()

        def call() -> _T:
            with self._lock:
                con = self._con
                if con is None:
                    raise StorageError(
                        f"duckdb storage: {operation} for {subject} after close(); create a new storage"
                    )
                if not transaction:
                    return fn(con)
                for attempt in range(_CONFLICT_ATTEMPTS):
                    con.execute("BEGIN TRANSACTION")
                    try:
                        result = fn(con)
                        con.execute("COMMIT")
                    except (duckdb.TransactionException, duckdb.ConstraintException):
                        # Another connection to this database (a second storage on the file in this
                        # process) wrote the same rows first: run the whole transaction again.
                        with contextlib.suppress(duckdb.Error):
                            con.execute("ROLLBACK")
                        if attempt == _CONFLICT_ATTEMPTS - 1:
                            raise
                        continue
                    except BaseException:
                        con.execute("ROLLBACK")
                        raise
                    return result
                raise AssertionError("unreachable")  # pragma: no cover

        try:
            return await asyncio.to_thread(call)
        except StorageError:
            raise
        except duckdb.Error as exc:
            raise StorageError(
                f"duckdb storage: {operation} failed for {subject} in {self.path!r} ({_first_line(exc)})"
            ) from None

    async def _rows(self, operation: str, subject: str, query: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one query, run in a worker thread."""
        return await self._run(operation, subject, lambda con: con.execute(query, params).fetchall())

    def _sealed(self, value: str, sid: str, column: str) -> str:
        """A listing column's value as stored: encrypted (base64 text) when documents are."""
        if not self._hide_names:
            return value
        return self._codec.encode_text({"v": value}, what="a session listing", at=docs.place(column, sid))

    def _unsealed(self, stored: str, what: str, sid: str, column: str) -> str:
        """A listing column's value as :meth:`_sealed` stored it (older clear values read as is)."""
        if not (self._hide_names and DocumentCodec.is_sealed(stored)):
            return stored
        return str(self._codec.decode(stored, what=what, at=docs.place(column, sid)).get("v", ""))

    def _seal_listings(self, con: Connection) -> int:
        """Encrypt the listing columns an encrypted file written before this left readable.

        Runs at ``initialize`` once the key is checked (never under a wrong key); returns
        how many sessions were rewritten.
        """
        t = self._t["sessions"]
        rows = con.execute(f"SELECT session_id, personality_name, provider FROM {t}").fetchall()
        stale = [
            (self._sealed(personality, sid, "personality_name"), self._sealed(provider, sid, "provider"), sid)
            for sid, personality, provider in rows
            if not (DocumentCodec.is_sealed(personality) and DocumentCodec.is_sealed(provider))
        ]
        for values in stale:
            con.execute(
                f"UPDATE {t} SET personality_name = ?, provider = ? WHERE session_id = ?", list(values)
            )
        return len(stale)

    def _decode(self, data: Any, what: str, at: str) -> dict[str, Any]:
        return self._codec.decode(bytes(data), what=what, at=at)

    def _name(self, value: str, *, legacy: bool = False) -> str:
        """A name as stored in a key column: itself, or its keyed digest when documents are
        encrypted (``legacy``: the unkeyed digest of codec v1)."""
        if not self._hide_names:
            return value
        return name_digest(value) if legacy else self._codec.name_digest(value)

    def _insert_rows(self, con: Connection, table: str, columns: int, rows: Sequence[Sequence[Any]]) -> None:
        placeholder = "(" + ", ".join("?" * columns) + ")"
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            params = [value for row in chunk for value in row]
            con.execute(f"INSERT INTO {table} VALUES {', '.join([placeholder] * len(chunk))}", params)

    # -- documents -------------------------------------------------------------------
    def _where(self, key: docs.Key) -> tuple[str, list[Any]]:
        """The condition selecting the row of ``key``, and its parameters."""
        table = _TABLES[key.kind.name]
        columns = (table.owner, *table.names)
        names = [self._name(name, legacy=key.legacy) for name in key.names]
        return " AND ".join(f"{c} = ?" for c in columns), [key.owner, *names]

    def _columns(self, kind: docs.Kind, document: docs.Document) -> dict[str, Any]:
        """The columns a kind keeps beside the document (for listing, filtering and ranking)."""
        if kind.name == "episode":
            return {
                "episode_id": document["episode_id"],
                "importance": document["importance"],
                "ts": document["timestamp"],
            }
        if kind.name == "mood":
            return {"user_id": document["user_id"]}
        if kind.name == "embedding":
            vector = {"vec": list(unpack(stored_vector(document)))} if self._vectors else {}
            return {"kind": self._name(document["kind"]), **vector}
        return {}

    def _apply(self, con: Connection, write: docs.Write) -> bool:
        """One write, on the connection (inside the caller's transaction)."""
        if isinstance(write, docs.SaveSession):
            return self._save_session(con, write)
        key = write.key
        table = _TABLES[key.kind.name]
        name = self._t[table.suffix]
        where, params = self._where(key)
        if isinstance(write, docs.Delete):
            deleted = con.execute(f"DELETE FROM {name} WHERE {where}", params).fetchall()
            return bool(deleted and deleted[0][0])
        document = write.document
        if key.kind.keep:
            rows = con.execute(f"SELECT doc FROM {name} WHERE {where}", params).fetchall()
            previous = self._decode(rows[0][0], key.subject, self._at(key.kind, params)) if rows else None
            document = docs.kept(document, previous, key.kind.keep)
        at = self._at(key.kind, params, document)
        columns = {
            "doc": self._codec.encode(document, what=key.subject, at=at),
            **self._columns(key.kind, document),
        }
        if not key.kind.appended:
            assignments = ", ".join(f"{c} = ?" for c in columns)
            updated = con.execute(
                f"UPDATE {name} SET {assignments} WHERE {where}", [*columns.values(), *params]
            )
            if updated.fetchall()[0][0]:
                return True  # replaced in place: an ordered row keeps its ord
        names = (table.owner, *table.names, *columns)
        values = [*params, *columns.values()]
        placeholders = ", ".join("?" * len(values))
        if table.ordered:
            names, placeholders = (*names, "ord"), f"{placeholders}, nextval('{self._seq}')"
        con.execute(f"INSERT INTO {name} ({', '.join(names)}) VALUES ({placeholders})", values)
        return True

    async def _write(self, writes: Sequence[docs.Write]) -> list[bool]:
        operation, subject = docs.described(writes)
        results = await self._run(
            operation, subject, lambda con: [self._apply(con, w) for w in writes], transaction=True
        )
        changes: dict[str, list[tuple[str, bool]]] = {}
        for write in writes:
            if not isinstance(write, docs.SaveSession) and write.key.kind is docs.EMBEDDING:
                item_id = self._name(write.key.names[0], legacy=write.key.legacy)  # as stored
                changes.setdefault(write.key.owner, []).append((item_id, isinstance(write, docs.Delete)))
        self._index.changed(changes)
        return results

    async def _get(self, key: docs.Key) -> docs.Document | None:
        where, params = self._where(key)
        table = self._t[_TABLES[key.kind.name].suffix]
        rows = await self._rows(
            f"get_{key.kind.name}", key.subject, f"SELECT doc FROM {table} WHERE {where}", params
        )
        return self._decode(rows[0][0], key.subject, self._at(key.kind, params)) if rows else None

    def _at(self, kind: docs.Kind, stored: Sequence[Any], document: Mapping[str, Any] | None = None) -> str:
        """Where a document of ``kind`` is stored: its owner and stored names (an episode: its id)."""
        episode = [document["episode_id"]] if kind is docs.EPISODE and document is not None else []
        return docs.place(kind.name, *stored, *episode)

    async def _list(
        self, kind: docs.Kind, owner: str, where: Mapping[str, str] | None
    ) -> list[docs.Document]:
        table = _TABLES[kind.name]
        located = ", ".join((table.owner, *table.names, *(("episode_id",) if kind is docs.EPISODE else ())))
        query = f"SELECT doc, {located} FROM {self._t[table.suffix]} WHERE {table.owner} = ?"
        params: list[Any] = [owner]
        for column, value in (where or {}).items():  # category (facts), kind (embeddings): name columns
            query += f" AND {column} = ?"
            params.append(self._name(value))
        query += " ORDER BY ord" if table.ordered else ""
        subject = kind.of(owner)
        rows = await self._rows(f"get_{kind.name}", subject, query, params)
        return [self._decode(r[0], subject, docs.place(kind.name, *r[1:])) for r in rows]

    async def _episodes(
        self, user_id: str, min_importance: float | None, max_results: int | None
    ) -> list[docs.Document]:
        query = f"SELECT doc, episode_id FROM {self._t['episodes']} WHERE user_id = ?"
        params: list[Any] = [user_id]
        if min_importance is not None:
            query += " AND importance >= ?"
            params.append(float(min_importance))
        query += " ORDER BY importance DESC, ts DESC, ord"
        if max_results is not None:
            query += " LIMIT ?"
            params.append(max(0, int(max_results)))
        subject = f"episodes of user {user_id!r}"
        rows = await self._rows("get_episodes", subject, query, params)
        return [self._decode(r[0], subject, docs.place("episode", user_id, r[1])) for r in rows]

    async def _nearest(
        self, user_id: str, query: list[float], kind: str | None, limit: int
    ) -> list[tuple[float, docs.Document]]:
        return await self._index.nearest(self, user_id, query, kind, limit)

    # -- sessions --------------------------------------------------------------------
    def _save_session(self, con: Connection, write: docs.SaveSession) -> bool:
        """Store the session (inside the caller's transaction); ``False``: ``if_absent`` and taken."""
        record, head = write.record, write.head
        sid = record.session_id
        what = f"session {sid!r}"
        if write.if_absent:
            # In the same transaction as the insert: a second connection inserting the id
            # meanwhile makes one of the two commits conflict, and its retry sees the row.
            taken = con.execute(f"SELECT 1 FROM {self._t['sessions']} WHERE session_id = ?", [sid])
            if taken.fetchall():
                return False
        at = docs.place("message", sid)
        rows = [(sid, i, self._codec.encode(m, what=what, at=at)) for i, m in enumerate(write.messages)]
        con.execute(f"DELETE FROM {self._t['messages']} WHERE session_id = ?", [sid])
        con.execute(
            f"INSERT OR REPLACE INTO {self._t['sessions']} VALUES (?, ?, ?, ?, ?, ?, ?, false, ?)",
            [
                sid,
                record.user_id,
                self._sealed(record.personality_name, sid, "personality_name"),
                self._sealed(str(record.provider_config.get("name", "")), sid, "provider"),
                len(rows),
                head["created_at"],
                head["last_active"],
                self._codec.encode(head, what=what, at=docs.place("session", sid)),
            ],
        )
        self._insert_rows(con, self._t["messages"], 3, rows)
        return True

    async def _load_session(self, session_id: str) -> docs.StoredSession | None:
        what = f"session {session_id!r}"
        t = self._t

        def load(con: Connection) -> tuple[list[Any], list[Any], list[Any]]:
            head = con.execute(
                f"SELECT doc, last_active, appended FROM {t['sessions']} WHERE session_id = ?", [session_id]
            ).fetchall()
            if not head:
                return head, [], []
            messages = con.execute(
                f"SELECT doc FROM {t['messages']} WHERE session_id = ? ORDER BY seq", [session_id]
            ).fetchall()
            memory = con.execute(
                f"SELECT key, doc FROM {t['memory']} WHERE session_id = ?", [session_id]
            ).fetchall()
            return head, messages, memory

        head_rows, message_rows, memory_rows = await self._run("load_session", what, load, transaction=True)
        if not head_rows:
            return None
        [(blob, last_active, appended)] = head_rows
        head = self._decode(blob, what, docs.place("session", session_id))
        if appended:  # appends since the last save moved last_active and updated_at
            docs.touched(head, last_active)
        memory = []
        for key, doc in memory_rows:
            item = self._decode(doc, f"memory of {what}", docs.place("memory", session_id, key))
            item.setdefault("key", key)  # "key" is absent from rows written before 0.1
            memory.append(item)
        at = docs.place("message", session_id)
        return docs.StoredSession(head, [self._decode(row[0], what, at) for row in message_rows], memory)

    async def _message_count(self, session_id: str) -> int | None:
        t = self._t["sessions"]

        def count(con: Connection) -> list[Any]:
            return con.execute(f"SELECT message_count FROM {t} WHERE session_id = ?", [session_id]).fetchall()

        rows = await self._run("load_session", f"session {session_id!r}", count)
        return int(rows[0][0]) if rows else None

    async def _append_messages(
        self, session_id: str, messages: list[docs.Document], last_active: str, at: int | None
    ) -> int | None:
        """Insert the messages after the stored ones and touch ``last_active`` (no rewrite).

        Appends waiting at the same time are committed together in one transaction (group
        commit); each session's messages keep the order of its calls.
        """
        what = f"session {session_id!r}"
        place = docs.place("message", session_id)
        blobs = [self._codec.encode(m, what=what, at=place) for m in messages]
        if self._con is None:
            await self.initialize()
        item = _Append(session_id, blobs, last_active, at, asyncio.get_running_loop().create_future())
        self._pending.append(item)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_appends())
        try:
            return await item.future
        except asyncio.CancelledError:
            # Not yet taken into a batch: drop it, a cancelled call must not be written later.
            # (Once its batch runs, the transaction commits or fails as a whole.)
            self._pending = [p for p in self._pending if p is not item]
            raise

    async def _flush_appends(self) -> None:
        while self._pending:
            # A cancelled caller's future is already cancelled (Task.cancel() cancels what it awaits).
            batch = [item for item in self._pending if not item.future.done()]
            self._pending = []
            if not batch:
                continue
            try:
                results: list[int | StorageError | None] = list(
                    await self._run(
                        "append_messages",
                        f"{len(batch)} queued append(s)",
                        functools.partial(self._append_batch, batch=batch),
                        transaction=True,
                    )
                )
            except StorageError as exc:
                results = [
                    StorageError(
                        f"duckdb storage: append_messages failed for session {i.session_id!r}: {exc}"
                    )
                    for i in batch
                ]
            except BaseException as exc:
                # Anything else (a bug, the flusher cancelled): no caller may wait forever.
                for item in batch + self._pending:
                    if item.future.done():
                        continue
                    if isinstance(exc, asyncio.CancelledError):
                        item.future.cancel()
                    else:
                        item.future.set_exception(exc)
                self._pending = []
                raise
            for item, result in zip(batch, results, strict=True):
                if item.future.done():  # the caller was cancelled
                    continue
                if isinstance(result, StorageError):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)

    def _append_one(self, con: Connection, item: _Append) -> int | None:
        """One append: one UPDATE (only at ``item.at`` when given), then the rows."""
        t = self._t["sessions"]
        size = len(item.blobs)
        updated = con.execute(
            f"UPDATE {t} SET message_count = message_count + ?, last_active = ?, appended = true "
            "WHERE session_id = ? AND (?::INTEGER IS NULL OR message_count = ?) RETURNING message_count",
            [size, item.stamp, item.session_id, item.at, item.at],
        ).fetchall()
        if not updated:  # not stored, or stored with another count than ``at``
            stored = con.execute(f"SELECT message_count FROM {t} WHERE session_id = ?", [item.session_id])
            return next((int(row[0]) for row in stored.fetchall()), None)
        first = int(updated[0][0]) - size
        rows = [(item.session_id, first + i, blob) for i, blob in enumerate(item.blobs)]
        self._insert_rows(con, self._t["messages"], 3, rows)
        return first

    def _append_batch(self, con: Connection, batch: list[_Append]) -> list[int | None]:
        """The queued appends in one transaction; per call, the count stored before it (or ``None``)."""
        t = self._t["sessions"]
        if len(batch) == 1:  # the common case, one caller
            return [self._append_one(con, batch[0])]
        sids = list(dict.fromkeys(item.session_id for item in batch))
        counts: dict[str, int] = {}
        for start in range(0, len(sids), _INSERT_CHUNK):
            chunk = sids[start : start + _INSERT_CHUNK]
            wanted = ", ".join("?" * len(chunk))
            rows = con.execute(
                f"SELECT session_id, message_count FROM {t} WHERE session_id IN ({wanted})", chunk
            ).fetchall()
            counts.update((str(sid), int(count)) for sid, count in rows)
        results: list[int | None] = []
        inserts: list[tuple[str, int, bytes]] = []
        stamps: dict[str, str] = {}
        for item in batch:
            stored = counts.get(item.session_id)
            results.append(stored)
            if stored is None or (item.at is not None and item.at != stored):
                continue
            inserts.extend((item.session_id, stored + i, blob) for i, blob in enumerate(item.blobs))
            counts[item.session_id] = stored + len(item.blobs)
            stamps[item.session_id] = item.stamp
        touches = [(sid, counts[sid], stamp) for sid, stamp in stamps.items()]
        for start in range(0, len(touches), _INSERT_CHUNK):
            part = touches[start : start + _INSERT_CHUNK]
            rows_sql = ", ".join(["(?, ?, ?)"] * len(part))
            con.execute(
                f"UPDATE {t} SET message_count = v.n, last_active = v.la, appended = true "
                f"FROM (VALUES {rows_sql}) AS v(sid, n, la) WHERE {t}.session_id = v.sid",
                [value for row in part for value in row],
            )
        self._insert_rows(con, self._t["messages"], 3, inserts)
        return results

    async def _session_heads(self, user_id: str | None) -> list[docs.SessionHead]:
        query = (
            "SELECT session_id, personality_name, provider, user_id, message_count, created_at, last_active "
            f"FROM {self._t['sessions']}"
        )
        params: list[Any] = []
        if user_id is not None:
            query += " WHERE user_id = ?"
            params.append(user_id)
        rows = await self._rows("list_sessions", "the sessions", query, params)

        def listing(row: tuple[Any, ...]) -> Callable[[], tuple[docs.Document, int]]:
            sid, personality, provider, user, count, created, last_active = row

            def read() -> tuple[docs.Document, int]:
                what = f"the listing of session {sid!r}"
                summary = {
                    "session_id": sid,
                    "personality_name": self._unsealed(personality, what, sid, "personality_name"),
                    "provider_config": {"name": self._unsealed(provider, what, sid, "provider")},
                }
                summary |= {"user_id": user, "created_at": created, "last_active": last_active}
                return summary, count

            return read

        return [docs.SessionHead(f"session {row[0]!r}", listing(row)) for row in rows]

    async def _delete_session(self, session_id: str) -> bool:
        t = self._t

        def delete(con: Connection) -> bool:
            for table in ("messages", "memory", "moods"):
                con.execute(f"DELETE FROM {t[table]} WHERE session_id = ?", [session_id])
            deleted = con.execute(
                f"DELETE FROM {t['sessions']} WHERE session_id = ?", [session_id]
            ).fetchall()
            return bool(deleted and deleted[0][0])

        return await self._run("delete_session", f"session {session_id!r}", delete, transaction=True)

    # -- users -----------------------------------------------------------------------
    async def _list_users(self) -> list[str]:
        query = " UNION ".join(f"SELECT user_id FROM {self._t[name]}" for name in _USER_TABLES)
        return [str(r[0]) for r in await self._rows("list_users", "the users", query, [])]

    async def _delete_user(self, user_id: str) -> int:
        def delete(con: Connection) -> int:
            count = 0
            for name in _USER_TABLES:
                rows = con.execute(f"DELETE FROM {self._t[name]} WHERE user_id = ?", [user_id]).fetchall()
                count += int(rows[0][0]) if rows else 0
            return count

        deleted = await self._run("delete_user_data", f"user {user_id!r}", delete, transaction=True)
        self._index.changed({user_id: None})
        return deleted

    # -- metadata --------------------------------------------------------------------
    async def _read_metadata(self) -> str | None:
        def read(con: Connection) -> str | None:
            try:
                rows = con.execute(f"SELECT doc FROM {self._meta} WHERE name = 'store'").fetchall()
            except duckdb.CatalogException:
                return None  # the table is created by the first write
            return str(rows[0][0]) if rows else None

        return await self._run("read_metadata", "the metadata record", read)

    async def _first_document(self) -> Sample | None:
        def first(con: Connection) -> Sample | None:
            for name in ("sessions", *(s for s in self._t if s != "sessions")):
                rows = con.execute(f"SELECT doc FROM {self._t[name]} LIMIT 1").fetchall()
                if rows:
                    return Sample(bytes(rows[0][0]), f"a document of {self._t[name]}")
            return None

        return await self._run("load", "a stored document", first)

    async def _swap_metadata(self, expected: str | None, record: str) -> bool:
        def swap(con: Connection) -> bool:
            rows = con.execute(f"SELECT doc FROM {self._meta} WHERE name = 'store'").fetchall()
            if (str(rows[0][0]) if rows else None) != expected:
                return False
            con.execute(f"INSERT OR REPLACE INTO {self._meta} VALUES ('store', ?)", [record])
            return True

        return await self._run("write_metadata", "the metadata record", swap, transaction=True)


def _valid_or_placeholder(table_name: str) -> str:
    """``table_name`` if valid, else a placeholder until ``initialize`` refuses it with a clear error."""
    try:
        return checked_identifier("duckdb", table_name)
    except StorageError:
        return "unchecked_table_name"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _path_of(connection_string: str | None) -> str:
    """The database path a connection string names (``duckdb://`` prefix optional)."""
    text = (connection_string or _DEFAULT_PATH).strip()
    if text.startswith("duckdb://"):
        text = text[len("duckdb://") :] or ":memory:"
    if text in (":memory:", ""):
        return ":memory:"
    return os.path.expanduser(text)
