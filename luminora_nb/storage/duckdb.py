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
    T_embeddings    (user_id, item_id, kind) -> embedding document

With encryption on, the name columns (memory ``key``, fact ``category`` and ``key``,
embedding ``item_id`` and ``kind``, affinity ``personality_name``) hold SHA-256 digests of
the names; the readable names live only inside the encrypted documents. Opening an encrypted
file written before this rewrites its readable name columns as digests (their old bytes may
linger in freed blocks until DuckDB reuses them).

Documents are BLOBs written by the storage's :class:`~.codec.DocumentCodec` (JSON text
when plain, compressed and/or encrypted otherwise); the other columns hold ids, counts
and ISO timestamps for listing and ordering. One connection per storage instance,
guarded by a lock; each call runs in a worker thread and in one transaction.

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
import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from ..errors import StorageError
from ..types.session import Message, SessionRecord, SessionSummary, StorageConfig
from ._documents import (
    affinity_document,
    embedding_document,
    episode_document,
    fact_document,
    message_documents,
    mood_document,
    session_documents,
    session_from_documents,
)
from ._names import name_digest
from .base import Storage, require_strings
from .codec import DocumentCodec

__all__ = ["DuckDBStorage"]

logger = logging.getLogger("luminora_nb.storage")

_T = TypeVar("_T")
# Not "luminora.duckdb": that is the session log's default file, which other kernels write to.
_DEFAULT_PATH = "luminora_store.duckdb"
_INSERT_CHUNK = 500


@dataclass
class _Append:
    """One queued ``append_messages`` call."""

    session_id: str
    blobs: list[bytes]
    stamp: str
    future: asyncio.Future[None]


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
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._pending: list[_Append] = []
        self._flusher: asyncio.Task[None] | None = None
        t = self.config.table_name
        self._t = {
            "sessions": f'"{t}"',
            "messages": f'"{t}_messages"',
            "memory": f'"{t}_memory"',
            "affinity": f'"{t}_affinity"',
            "facts": f'"{t}_facts"',
            "episodes": f'"{t}_episodes"',
            "moods": f'"{t}_moods"',
            "embeddings": f'"{t}_embeddings"',
        }
        self._seq = f"{t}_order"  # a valid identifier: StorageConfig checks table_name

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

    def _open(self) -> None:
        with self._lock:
            if self._con is not None:
                return
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
                if self.config.auto_create_tables:
                    self._create_tables(con)
                else:
                    self._check_tables(con)
                if self._hide_names:
                    self._hide_stored_names(con)
            except BaseException:
                con.close()
                raise
            self._con = con

    def _create_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        t = self._t
        statements = [
            f'CREATE SEQUENCE IF NOT EXISTS "{self._seq}"',
            f"""CREATE TABLE IF NOT EXISTS {t["sessions"]} (
                session_id VARCHAR PRIMARY KEY, user_id VARCHAR, personality_name VARCHAR NOT NULL,
                provider VARCHAR NOT NULL, message_count INTEGER NOT NULL, created_at VARCHAR NOT NULL,
                last_active VARCHAR NOT NULL, appended BOOLEAN NOT NULL, doc BLOB NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS {t["messages"]} (
                session_id VARCHAR NOT NULL, seq INTEGER NOT NULL, doc BLOB NOT NULL,
                PRIMARY KEY (session_id, seq))""",
            f"""CREATE TABLE IF NOT EXISTS {t["memory"]} (
                session_id VARCHAR NOT NULL, key VARCHAR NOT NULL, doc BLOB NOT NULL,
                PRIMARY KEY (session_id, key))""",
            f"""CREATE TABLE IF NOT EXISTS {t["affinity"]} (
                user_id VARCHAR NOT NULL, personality_name VARCHAR NOT NULL, doc BLOB NOT NULL,
                PRIMARY KEY (user_id, personality_name))""",
            f"""CREATE TABLE IF NOT EXISTS {t["facts"]} (
                user_id VARCHAR NOT NULL, category VARCHAR NOT NULL, key VARCHAR NOT NULL,
                ord BIGINT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (user_id, category, key))""",
            f"""CREATE TABLE IF NOT EXISTS {t["episodes"]} (
                user_id VARCHAR NOT NULL, episode_id VARCHAR NOT NULL, importance DOUBLE NOT NULL,
                ts VARCHAR NOT NULL, ord BIGINT NOT NULL, doc BLOB NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS {t["moods"]} (
                session_id VARCHAR PRIMARY KEY, user_id VARCHAR NOT NULL, doc BLOB NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS {t["embeddings"]} (
                user_id VARCHAR NOT NULL, item_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
                ord BIGINT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (user_id, item_id))""",
        ]
        try:
            for statement in statements:
                con.execute(statement)
        except duckdb.Error as exc:
            raise StorageError(
                f"duckdb storage: cannot create the tables of {self.config.table_name!r} in {self.path!r} "
                f"({_first_line(exc)}); check the database is writable and not opened read-only"
            ) from None

    def _hide_stored_names(self, con: duckdb.DuckDBPyConnection) -> None:
        """Replace readable names left in name columns (written before they were digests) by digests.

        Runs at open with encryption on; one indexed-free scan of four small tables. A row whose
        digest twin already exists is the older one and is dropped.
        """
        moved = 0
        try:
            con.execute("BEGIN TRANSACTION")
            for table, columns, names in _NAME_COLUMNS:
                where = " OR ".join(f"NOT regexp_full_match({c}, '[0-9a-f]{{64}}')" for c in names)
                rows = con.execute(
                    f"SELECT rowid, {', '.join(columns)} FROM {self._t[table]} WHERE {where}"
                ).fetchall()
                for rowid, *values in rows:
                    row = dict(zip(columns, values, strict=True))
                    if table == "memory":
                        try:
                            item = self._decode(row["doc"], f"memory {row['key']!r}")
                        except StorageError as exc:
                            logger.warning("duckdb storage: leaving a memory row as it is: %s", exc)
                            continue
                        item.setdefault("key", row["key"])
                        row["doc"] = self._codec.encode(item, what="memory value")
                    for name in names:
                        if not _DIGEST.fullmatch(row[name]):
                            row[name] = name_digest(row[name])
                    con.execute(f"DELETE FROM {self._t[table]} WHERE rowid = ?", [rowid])
                    con.execute(
                        f"INSERT OR IGNORE INTO {self._t[table]} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' for _ in columns)})",
                        list(row.values()),
                    )
                    moved += 1
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StorageError(
                f"duckdb storage: cannot replace readable names by digests in {self.path!r} "
                f"({_first_line(exc)}); check the database is writable"
            ) from None
        if moved:
            logger.info("duckdb storage: replaced %d readable names by digests in %s", moved, self.path)

    def _check_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        names = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        missing = sorted(n.strip('"') for n in self._t.values() if n.strip('"') not in names)
        if missing:
            raise StorageError(
                f"duckdb storage: tables {', '.join(missing)} do not exist in {self.path!r} and "
                "auto_create_tables is off; set StorageConfig(auto_create_tables=True) or create them"
            )

    async def close(self) -> None:
        """Finish queued appends, checkpoint and close the connection. Safe to call more than once."""
        flusher = self._flusher
        if flusher is not None and not flusher.done():
            await asyncio.shield(flusher)
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            con, self._con = self._con, None
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

    # -- helpers ---------------------------------------------------------------------
    async def _run(
        self,
        operation: str,
        subject: str,
        fn: Callable[[duckdb.DuckDBPyConnection], _T],
        *,
        transaction: bool = False,
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
                con.execute("BEGIN TRANSACTION")
                try:
                    result = fn(con)
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
                return result

        try:
            return await asyncio.to_thread(call)
        except StorageError:
            raise
        except duckdb.Error as exc:
            raise StorageError(
                f"duckdb storage: {operation} failed for {subject} in {self.path!r} ({_first_line(exc)})"
            ) from None

    def _decode(self, data: Any, what: str) -> dict[str, Any]:
        return self._codec.decode(bytes(data), what=what)

    def _insert_rows(
        self, con: duckdb.DuckDBPyConnection, table: str, columns: int, rows: Sequence[Sequence[Any]]
    ) -> None:
        placeholder = "(" + ", ".join("?" * columns) + ")"
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            params = [value for row in chunk for value in row]
            con.execute(f"INSERT INTO {table} VALUES {', '.join([placeholder] * len(chunk))}", params)

    # -- conversations ---------------------------------------------------------------
    async def save_session(self, record: SessionRecord) -> None:
        """Insert or replace the whole session, messages included, in one transaction."""
        sid = record.session_id
        what = f"session {sid!r}"
        doc, messages = session_documents(record)
        doc_blob = self._codec.encode(doc, what=what)
        rows = [(sid, i, self._codec.encode(m, what=what)) for i, m in enumerate(messages)]
        t = self._t

        def save(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(f"DELETE FROM {t['messages']} WHERE session_id = ?", [sid])
            con.execute(
                f"INSERT OR REPLACE INTO {t['sessions']} VALUES (?, ?, ?, ?, ?, ?, ?, false, ?)",
                [
                    sid,
                    record.user_id,
                    record.personality_name,
                    str(record.provider_config.get("name", "")),
                    len(rows),
                    doc["created_at"],
                    doc["last_active"],
                    doc_blob,
                ],
            )
            self._insert_rows(con, t["messages"], 3, rows)

        await self._run("save_session", what, save, transaction=True)

    async def load_session(self, session_id: str) -> SessionRecord | None:
        """The stored session with its messages and memory, or ``None``.

        Raises:
            StorageError: a document of this session is corrupt or cannot be decrypted.
        """
        require_strings(self.backend_name, "load_session", session_id=session_id)
        what = f"session {session_id!r}"
        t = self._t

        def load(
            con: duckdb.DuckDBPyConnection,
        ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
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

        head, message_rows, memory_rows = await self._run("load_session", what, load, transaction=True)
        if not head:
            return None
        doc = self._decode(head[0][0], what)
        if head[0][2]:  # appends since the last save moved last_active and updated_at
            doc["last_active"] = head[0][1]
            doc.setdefault("conversation", {})["updated_at"] = head[0][1]
        messages = [self._decode(row[0], what) for row in message_rows]
        memory = {}
        for key, blob in memory_rows:
            item = self._decode(blob, f"memory of {what}")
            memory[item.get("key", key)] = item["value"]  # "key" is absent from rows written before 0.1
        return session_from_documents(doc, messages, memory=memory, what=what)

    async def append_messages(
        self, session_id: str, messages: Sequence[Message], *, last_active: datetime
    ) -> None:
        """Insert the messages after the stored ones and touch ``last_active`` (no rewrite).

        Appends waiting at the same time are committed together in one transaction (group
        commit); each session's messages keep the order of its calls.

        Raises:
            StorageError: the session is not stored.
        """
        require_strings(self.backend_name, "append_messages", session_id=session_id)
        what = f"session {session_id!r}"
        blobs = [self._codec.encode(m, what=what) for m in message_documents(messages)]
        if self._con is None:
            await self.initialize()
        item = _Append(session_id, blobs, last_active.isoformat(), asyncio.get_running_loop().create_future())
        self._pending.append(item)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_appends())
        try:
            await item.future
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
                results = await self._run(
                    "append_messages",
                    f"{len(batch)} queued append(s)",
                    functools.partial(self._append_batch, batch=batch),
                    transaction=True,
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
            for item, error in zip(batch, results, strict=True):
                if item.future.done():  # the caller was cancelled
                    continue
                if error is None:
                    item.future.set_result(None)
                else:
                    item.future.set_exception(error)

    def _append_batch(
        self, con: duckdb.DuckDBPyConnection, batch: list[_Append]
    ) -> list[StorageError | None]:
        totals: dict[str, int] = {}
        stamps: dict[str, str] = {}
        for item in batch:
            totals[item.session_id] = totals.get(item.session_id, 0) + len(item.blobs)
            stamps[item.session_id] = item.stamp
        values = [(sid, total, stamps[sid]) for sid, total in totals.items()]
        t = self._t["sessions"]
        counts: dict[str, int] = {}
        if len(values) == 1:  # the common case: one caller, one session
            sid, total, stamp = values[0]
            rows = con.execute(
                f"UPDATE {t} SET message_count = message_count + ?, last_active = ?, appended = true "
                "WHERE session_id = ? RETURNING session_id, message_count",
                [total, stamp, sid],
            ).fetchall()
            counts.update((str(r[0]), int(r[1])) for r in rows)
        for start in range(0, len(values) if len(values) > 1 else 0, _INSERT_CHUNK):
            chunk = values[start : start + _INSERT_CHUNK]
            rows = con.execute(
                f"UPDATE {t} SET message_count = {t}.message_count + v.k, last_active = v.la, "
                "appended = true "
                f"FROM (VALUES {', '.join(['(?, ?, ?)'] * len(chunk))}) AS v(sid, k, la) "
                f"WHERE {t}.session_id = v.sid RETURNING {t}.session_id, {t}.message_count",
                [value for row in chunk for value in row],
            ).fetchall()
            counts.update((str(sid), int(count)) for sid, count in rows)
        next_seq = {sid: counts[sid] - totals[sid] for sid in counts}
        inserts: list[tuple[str, int, bytes]] = []
        results: list[StorageError | None] = []
        for item in batch:
            sid = item.session_id
            if sid not in next_seq:
                results.append(
                    StorageError(f"duckdb storage: session {sid!r} is not stored; save it before appending")
                )
                continue
            for blob in item.blobs:
                inserts.append((sid, next_seq[sid], blob))
                next_seq[sid] += 1
            results.append(None)
        self._insert_rows(con, self._t["messages"], 3, inserts)
        return results

    async def list_sessions(self, *, user_id: str | None = None) -> list[SessionSummary]:
        """Summaries of stored sessions (of one user if given), oldest first."""
        require_strings(self.backend_name, "list_sessions", user_id=user_id, optional=("user_id",))
        query = (
            "SELECT session_id, personality_name, provider, user_id, message_count, created_at, last_active "
            f"FROM {self._t['sessions']}"
        )
        params: list[Any] = []
        if user_id is not None:
            query += " WHERE user_id = ?"
            params.append(user_id)
        rows = await self._run(
            "list_sessions", "the sessions", lambda con: con.execute(query, params).fetchall()
        )
        summaries = [
            SessionSummary(
                session_id=r[0],
                personality_name=r[1],
                provider=r[2],
                user_id=r[3],
                message_count=r[4],
                created_at=r[5],
                last_active=r[6],
            )
            for r in rows
        ]
        return sorted(summaries, key=lambda s: (s.created_at, s.session_id))

    async def delete_session(self, session_id: str) -> bool:
        """Delete a session, its messages, memory and mood; ``True`` if it existed."""
        require_strings(self.backend_name, "delete_session", session_id=session_id)
        t = self._t

        def delete(con: duckdb.DuckDBPyConnection) -> bool:
            for table in ("messages", "memory", "moods"):
                con.execute(f"DELETE FROM {t[table]} WHERE session_id = ?", [session_id])
            deleted = con.execute(
                f"DELETE FROM {t['sessions']} WHERE session_id = ?", [session_id]
            ).fetchall()
            return bool(deleted and deleted[0][0])

        return await self._run("delete_session", f"session {session_id!r}", delete, transaction=True)

    def _name(self, value: str) -> str:
        """A name as stored in a key column: itself, or its digest when documents are encrypted."""
        return name_digest(value) if self._hide_names else value

    async def set_memory(self, session_id: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` for the session."""
        require_strings(self.backend_name, "set_memory", session_id=session_id, key=key)
        blob = self._codec.encode({"key": key, "value": value}, what=f"memory value for key {key!r}")
        name = self._name(key)
        await self._run(
            "set_memory",
            f"session {session_id!r}",
            lambda con: con.execute(
                f"INSERT OR REPLACE INTO {self._t['memory']} VALUES (?, ?, ?)", [session_id, name, blob]
            ).fetchall(),
        )

    async def get_memory(self, session_id: str, key: str) -> Any:
        """The value stored under ``key``, or ``None``."""
        require_strings(self.backend_name, "get_memory", session_id=session_id, key=key)
        name = self._name(key)
        rows = await self._run(
            "get_memory",
            f"session {session_id!r}",
            lambda con: con.execute(
                f"SELECT doc FROM {self._t['memory']} WHERE session_id = ? AND key = ?", [session_id, name]
            ).fetchall(),
        )
        if not rows:
            return None
        return self._decode(rows[0][0], f"memory of session {session_id!r}").get("value")

    # -- v1.1 user state -------------------------------------------------------------
    async def save_affinity(
        self, user_id: str, personality_name: str, affinity_points: int, current_level: str, **kwargs: Any
    ) -> bool:
        """Save or replace the affinity of ``user_id`` with ``personality_name``."""
        require_strings(
            self.backend_name, "save_affinity", user_id=user_id, personality_name=personality_name
        )
        record = affinity_document(user_id, personality_name, affinity_points, current_level, kwargs)
        blob = self._codec.encode(record, what="affinity")
        name = self._name(personality_name)
        await self._run(
            "save_affinity",
            f"user {user_id!r}",
            lambda con: con.execute(
                f"INSERT OR REPLACE INTO {self._t['affinity']} VALUES (?, ?, ?)",
                [user_id, name, blob],
            ).fetchall(),
        )
        return True

    async def get_affinity(self, user_id: str, personality_name: str) -> dict[str, Any] | None:
        """The affinity record, or ``None``."""
        require_strings(self.backend_name, "get_affinity", user_id=user_id, personality_name=personality_name)
        name = self._name(personality_name)
        rows = await self._run(
            "get_affinity",
            f"user {user_id!r}",
            lambda con: con.execute(
                f"SELECT doc FROM {self._t['affinity']} WHERE user_id = ? AND personality_name = ?",
                [user_id, name],
            ).fetchall(),
        )
        return self._decode(rows[0][0], f"affinity of user {user_id!r}") if rows else None

    async def save_fact(self, user_id: str, category: str, key: str, value: Any, **kwargs: Any) -> bool:
        """Save a fact; one with the same ``category`` and ``key`` is replaced in place."""
        require_strings(self.backend_name, "save_fact", user_id=user_id, category=category, key=key)
        what = f"fact {category}/{key} of user {user_id!r}"
        self._codec.dumps({"value": value, **kwargs}, what="fact")
        t = self._t
        cat, name = self._name(category), self._name(key)

        def save(con: duckdb.DuckDBPyConnection) -> None:
            rows = con.execute(
                f"SELECT doc FROM {t['facts']} WHERE user_id = ? AND category = ? AND key = ?",
                [user_id, cat, name],
            ).fetchall()
            previous = self._decode(rows[0][0], what) if rows else None
            blob = self._codec.encode(
                fact_document(user_id, category, key, value, kwargs, previous), what=what
            )
            if rows:
                con.execute(
                    f"UPDATE {t['facts']} SET doc = ? WHERE user_id = ? AND category = ? AND key = ?",
                    [blob, user_id, cat, name],
                )
            else:
                con.execute(
                    f"INSERT INTO {t['facts']} VALUES (?, ?, ?, nextval('{self._seq}'), ?)",
                    [user_id, cat, name, blob],
                )

        await self._run("save_fact", what, save, transaction=True)
        return True

    async def get_facts(self, user_id: str, category: str | None = None) -> list[dict[str, Any]]:
        """The user's facts (of one category if given), in the order first learned."""
        require_strings(
            self.backend_name, "get_facts", user_id=user_id, category=category, optional=("category",)
        )
        query = f"SELECT doc FROM {self._t['facts']} WHERE user_id = ?"
        params: list[Any] = [user_id]
        if category is not None:
            query += " AND category = ?"
            params.append(self._name(category))
        query += " ORDER BY ord"
        rows = await self._run(
            "get_facts", f"user {user_id!r}", lambda con: con.execute(query, params).fetchall()
        )
        return [self._decode(r[0], f"a fact of user {user_id!r}") for r in rows]

    async def delete_fact(self, user_id: str, category: str, key: str) -> bool:
        """Delete one fact; ``True`` if it existed."""
        require_strings(self.backend_name, "delete_fact", user_id=user_id, category=category, key=key)
        cat, name = self._name(category), self._name(key)
        rows = await self._run(
            "delete_fact",
            f"user {user_id!r}",
            lambda con: con.execute(
                f"DELETE FROM {self._t['facts']} WHERE user_id = ? AND category = ? AND key = ?",
                [user_id, cat, name],
            ).fetchall(),
        )
        return bool(rows and rows[0][0])

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
        """Append an episode."""
        require_strings(self.backend_name, "save_episode", user_id=user_id)
        record = episode_document(user_id, episode_type, title, summary, importance, sentiment, kwargs)
        blob = self._codec.encode(record, what="episode")
        await self._run(
            "save_episode",
            f"user {user_id!r}",
            lambda con: con.execute(
                f"INSERT INTO {self._t['episodes']} VALUES (?, ?, ?, ?, nextval('{self._seq}'), ?)",
                [user_id, record["episode_id"], record["importance"], record["timestamp"], blob],
            ).fetchall(),
        )
        return True

    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[dict[str, Any]]:
        """Episodes with ``importance >= min_importance``, most important first, then newest."""
        require_strings(self.backend_name, "get_episodes", user_id=user_id)
        query = f"SELECT doc FROM {self._t['episodes']} WHERE user_id = ?"
        params: list[Any] = [user_id]
        if min_importance is not None:
            query += " AND importance >= ?"
            params.append(float(min_importance))
        query += " ORDER BY importance DESC, ts DESC, ord"
        if max_results is not None:
            query += " LIMIT ?"
            params.append(max(0, int(max_results)))
        rows = await self._run(
            "get_episodes", f"user {user_id!r}", lambda con: con.execute(query, params).fetchall()
        )
        return [self._decode(r[0], f"an episode of user {user_id!r}") for r in rows]

    async def save_mood(
        self, session_id: str, user_id: str, current_mood: str, mood_intensity: float = 1.0, **kwargs: Any
    ) -> bool:
        """Save the current mood of a session."""
        require_strings(self.backend_name, "save_mood", session_id=session_id, user_id=user_id)
        what = f"mood of session {session_id!r}"
        blob = self._codec.encode(
            mood_document(session_id, user_id, current_mood, mood_intensity, kwargs), what=what
        )
        await self._run(
            "save_mood",
            what,
            lambda con: con.execute(
                f"INSERT OR REPLACE INTO {self._t['moods']} VALUES (?, ?, ?)", [session_id, user_id, blob]
            ).fetchall(),
        )
        return True

    async def get_mood(self, session_id: str) -> dict[str, Any] | None:
        """The session's mood record, or ``None``."""
        require_strings(self.backend_name, "get_mood", session_id=session_id)
        what = f"mood of session {session_id!r}"
        rows = await self._run(
            "get_mood",
            what,
            lambda con: con.execute(
                f"SELECT doc FROM {self._t['moods']} WHERE session_id = ?", [session_id]
            ).fetchall(),
        )
        return self._decode(rows[0][0], what) if rows else None

    async def save_embedding(
        self, user_id: str, item_id: str, kind: str, text: str, vector: Sequence[float], **kwargs: Any
    ) -> bool:
        """Save (or replace, keeping its place) the embedding of a memory item."""
        require_strings(self.backend_name, "save_embedding", user_id=user_id, item_id=item_id, kind=kind)
        what = f"embedding {item_id!r} of user {user_id!r}"
        blob = self._codec.encode(embedding_document(item_id, kind, text, vector, kwargs), what=what)
        t = self._t
        item, kind_col = self._name(item_id), self._name(kind)

        def save(con: duckdb.DuckDBPyConnection) -> None:
            updated = con.execute(
                f"UPDATE {t['embeddings']} SET kind = ?, doc = ? WHERE user_id = ? AND item_id = ?",
                [kind_col, blob, user_id, item],
            ).fetchall()
            if not (updated and updated[0][0]):
                con.execute(
                    f"INSERT INTO {t['embeddings']} VALUES (?, ?, ?, nextval('{self._seq}'), ?)",
                    [user_id, item, kind_col, blob],
                )

        await self._run("save_embedding", what, save, transaction=True)
        return True

    async def get_embeddings(self, user_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Embeddings of a user's memory items: dicts with item_id, kind, text, vector."""
        require_strings(self.backend_name, "get_embeddings", user_id=user_id, kind=kind, optional=("kind",))
        query = f"SELECT doc FROM {self._t['embeddings']} WHERE user_id = ?"
        params: list[Any] = [user_id]
        if kind is not None:
            query += " AND kind = ?"
            params.append(self._name(kind))
        query += " ORDER BY ord"
        rows = await self._run(
            "get_embeddings", f"user {user_id!r}", lambda con: con.execute(query, params).fetchall()
        )
        return [self._decode(r[0], f"an embedding of user {user_id!r}") for r in rows]

    async def list_users(self) -> list[str]:
        """Users with any stored state, sorted."""
        t = self._t
        query = " UNION ".join(
            f"SELECT user_id FROM {t[name]}"
            for name in ("affinity", "facts", "episodes", "moods", "embeddings")
        )
        rows = await self._run("list_users", "the users", lambda con: con.execute(query).fetchall())
        return sorted(str(r[0]) for r in rows)

    async def delete_user_data(self, user_id: str) -> int:
        """Delete every affinity, fact, episode, mood and embedding of a user; returns the count."""
        require_strings(self.backend_name, "delete_user_data", user_id=user_id)
        t = self._t

        def delete(con: duckdb.DuckDBPyConnection) -> int:
            count = 0
            for name in ("affinity", "facts", "episodes", "moods", "embeddings"):
                rows = con.execute(f"DELETE FROM {t[name]} WHERE user_id = ?", [user_id]).fetchall()
                count += int(rows[0][0]) if rows else 0
            return count

        return await self._run("delete_user_data", f"user {user_id!r}", delete, transaction=True)


_DIGEST = re.compile(r"[0-9a-f]{64}")
# (table, all columns in order, the name columns among them) of the tables keyed by names
_NAME_COLUMNS = (
    ("memory", ("session_id", "key", "doc"), ("key",)),
    ("affinity", ("user_id", "personality_name", "doc"), ("personality_name",)),
    ("facts", ("user_id", "category", "key", "ord", "doc"), ("category", "key")),
    ("embeddings", ("user_id", "item_id", "kind", "ord", "doc"), ("item_id", "kind")),
)


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
