"""PostgreSQL storage (asyncpg pool): JSONB documents in tables named after ``table_name``.

Tables (``t`` is ``StorageConfig.table_name``; created when ``auto_create_tables``):

=================  =================================================================
``t``              one row per session: ids, timestamps, ``message_count``, document
``t_messages``     one row per message, keyed by ``(session_id, seq)``
``t_memory``       the per-session key/value memory
``t_affinity``     affinity per (user, personality)
``t_facts``        facts per (user, category, key), in first-learned order
``t_episodes``     episodes per user, in saved order
``t_moods``        the mood of each session
``t_embeddings``   memory embeddings per (user, item)
``t_meta``         the store's metadata record (created by its first write)
=================  =================================================================

Every document sits in a ``doc JSONB`` column when the codec is plain (so it can be
queried with SQL), else in ``blob BYTEA`` as the codec's compressed and/or encrypted
bytes; reads accept either, so a store keeps working when compression is switched on.
A plain document that JSONB cannot hold (text with a NUL character) goes to ``blob``
as JSON bytes. Rows of user state are keyed by a digest of their names (with encryption
on a keyed HMAC-SHA-256, see :mod:`.codec`; else SHA-256)
(``ident``), so with encryption on no name is readable. Queries are parameterised; the
only interpolated identifiers are the table names, checked at ``initialize`` (even when the
config skipped validation) and always double-quoted.

Every call is one transaction. An append bumps ``message_count`` (locking the session
row, so concurrent appends keep their order) and inserts only the new rows. When the
server goes away the failing call raises :class:`~luminora_nb.errors.StorageError`; the
pool reconnects on the next call, and a call that meets a connection broken while idle
is retried once on a fresh one.

Example:
    >>> from luminora_nb.types import StorageConfig
    >>> store = PostgresStorage(StorageConfig(storage_type="postgres", table_name="chat"))
    >>> store.table("messages")
    '"chat_messages"'
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import StorageError
from ..types.session import StorageConfig
from . import _documents as docs
from ._keys import Sample
from ._names import checked_identifier, quoted
from ._server import ServerBackend, Unsent, verb
from ._vectors import VECTOR_FIELD, stored_vector
from .base import Storage
from .codec import DocumentCodec

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresStorage"]

logger = logging.getLogger("luminora_nb.storage")

_SUFFIXES = ("messages", "memory", "affinity", "facts", "episodes", "moods", "embeddings")
_MAX_BASE_LEN = 63 - len("_embeddings")
#: Per kind: table suffix, owner column, whether rows are keyed by a digest of the names
_TABLES = {
    "memory": ("memory", "session_id", True),
    "affinity": ("affinity", "user_id", True),
    "fact": ("facts", "user_id", True),
    "episode": ("episodes", "user_id", False),
    "mood": ("moods", "session_id", False),
    "embedding": ("embeddings", "user_id", True),
}
_ORDERED = {"facts", "episodes", "embeddings"}  # rows with an identity ``ord``: the order first put
_USER_TABLES = ("affinity", "facts", "episodes", "moods", "embeddings")
T = TypeVar("T")


class PostgresStorage(ServerBackend, Storage):
    """Conversations and user state in PostgreSQL.

    Config: ``connection_string`` (a libpq URL, default
    ``postgresql://postgres@localhost:5432/postgres``), ``table_name`` (base name of
    the tables, at most 52 characters), ``auto_create_tables``, ``connect_timeout``,
    and in ``extra``: ``pool_max_size`` (default 10), ``command_timeout`` (seconds,
    default 30).

    Example:
        >>> from luminora_nb.types import StorageConfig
        >>> PostgresStorage(StorageConfig(storage_type="postgres")).table()
        '"luminora_sessions"'
    """

    backend_name = "postgres"

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config)
        self._base = self.config.table_name
        self._pool: asyncpg.Pool | None = None
        self._vec = False  # whether the embeddings table has its binary ``vec`` column

    # -- names ---------------------------------------------------------------------
    def table(self, suffix: str | None = None) -> str:
        """The double-quoted name of the sessions table, or of a derived table."""
        return quoted(self._base if suffix is None else f"{self._base}_{suffix}")

    def table_names(self) -> list[str]:
        """Every table this storage uses (unquoted; the metadata table is created on demand)."""
        return [self._base, *(f"{self._base}_{s}" for s in _SUFFIXES)]

    def _schema_sql(self) -> list[str]:
        t = self.table
        return [
            f"""CREATE TABLE IF NOT EXISTS {t()} (
                session_id TEXT PRIMARY KEY,
                user_id TEXT,
                created_at TIMESTAMPTZ NOT NULL,
                last_active TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                message_count BIGINT NOT NULL DEFAULT 0,
                touch TEXT,
                doc JSONB,
                blob BYTEA)""",
            f"CREATE INDEX IF NOT EXISTS {quoted(self._base + '_user_idx')} ON {t()} (user_id, created_at)",
            f"""CREATE TABLE IF NOT EXISTS {t("messages")} (
                session_id TEXT NOT NULL REFERENCES {t()} (session_id) ON DELETE CASCADE,
                seq BIGINT NOT NULL,
                doc JSONB,
                blob BYTEA,
                PRIMARY KEY (session_id, seq))""",
            f"""CREATE TABLE IF NOT EXISTS {t("memory")} (
                session_id TEXT NOT NULL, ident TEXT NOT NULL, doc JSONB, blob BYTEA,
                PRIMARY KEY (session_id, ident))""",
            f"""CREATE TABLE IF NOT EXISTS {t("affinity")} (
                user_id TEXT NOT NULL, ident TEXT NOT NULL, doc JSONB, blob BYTEA,
                PRIMARY KEY (user_id, ident))""",
            f"""CREATE TABLE IF NOT EXISTS {t("facts")} (
                user_id TEXT NOT NULL, ident TEXT NOT NULL,
                ord BIGINT GENERATED ALWAYS AS IDENTITY, doc JSONB, blob BYTEA,
                PRIMARY KEY (user_id, ident))""",
            f"""CREATE TABLE IF NOT EXISTS {t("episodes")} (
                user_id TEXT NOT NULL, ord BIGINT GENERATED ALWAYS AS IDENTITY, doc JSONB, blob BYTEA,
                PRIMARY KEY (user_id, ord))""",
            f"""CREATE TABLE IF NOT EXISTS {t("moods")} (
                session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, doc JSONB, blob BYTEA)""",
            f"CREATE INDEX IF NOT EXISTS {quoted(self._base + '_moods_idx')} ON {t('moods')} (user_id)",
            f"""CREATE TABLE IF NOT EXISTS {t("embeddings")} (
                user_id TEXT NOT NULL, ident TEXT NOT NULL,
                ord BIGINT GENERATED ALWAYS AS IDENTITY, doc JSONB, blob BYTEA,
                PRIMARY KEY (user_id, ident))""",
            # since codec v2: an embedding's float32 vector, binary (NULL when encrypted)
            f"ALTER TABLE {t('embeddings')} ADD COLUMN IF NOT EXISTS vec BYTEA",
        ]

    # -- life-cycle ----------------------------------------------------------------
    async def _connect(self, codec: DocumentCodec) -> None:
        # Checked here, where it is used: a config changed without validation must never put
        # its table_name into SQL (the names are double-quoted as well).
        self._base = checked_identifier(self.backend_name, self.config.table_name)
        if len(self._base) > _MAX_BASE_LEN:
            raise StorageError(
                f"postgres storage: table_name {self._base!r} is too long ({len(self._base)} characters); "
                f"derived tables such as '{self._base}_embeddings' must fit PostgreSQL's 63-character "
                f"limit, so use at most {_MAX_BASE_LEN} characters"
            )
        import asyncpg

        self._driver_errors = (asyncpg.PostgresError, asyncpg.InterfaceError)
        timeout = self.config.connect_timeout
        extra = self.config.extra
        try:
            # min_size=0: connections open on demand, so a dead server never leaves a
            # background task retrying; a connection broken while idle is replaced on use.
            pool = asyncpg.create_pool(
                self._url,
                min_size=0,
                max_size=int(extra.get("pool_max_size", 10)),
                timeout=timeout,
                command_timeout=float(extra.get("command_timeout", 30.0)),
            )
        except (ValueError, TypeError, asyncpg.InterfaceError) as exc:
            raise self._invalid_url(exc) from None
        try:
            async with asyncio.timeout(timeout):
                await pool
                async with pool.acquire() as connection:
                    await connection.fetchval("SELECT 1")
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await _terminate(pool)
            raise self._cannot_connect(exc) from None
        try:
            await self._prepare_schema(pool)
        except BaseException:
            await _terminate(pool)
            raise
        self._pool = pool

    def _connect_refusal(self, exc: BaseException) -> str | None:
        import asyncpg

        if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError):
            return self._credentials_refused(exc)
        if isinstance(exc, asyncpg.InvalidCatalogNameError):
            return (
                f"{self._scrub(str(exc))} at {self._where}; create the database or fix the database name "
                "in connection_string"
            )
        return None

    def _refused(self, exc: BaseException) -> bool:
        import asyncpg

        return isinstance(exc, asyncpg.PostgresError) and not isinstance(
            exc, asyncpg.PostgresConnectionError | asyncpg.AdminShutdownError
        )

    @property
    def _refusal_advice(self) -> str:
        return (
            "check the privileges of the connection's user and that the tables "
            f"'{self._base}*' have the layout this version creates"
        )

    async def _prepare_schema(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as connection:
            try:
                rows = []
                if self.config.auto_create_tables:
                    async with connection.transaction():
                        await self._create(connection, self._schema_sql())
                else:
                    missing = "to_regclass(quote_ident(name)) IS NULL"
                    rows = await connection.fetch(
                        f"SELECT name FROM unnest($1::text[]) AS name WHERE {missing}", self.table_names()
                    )
                self._vec = bool(
                    await connection.fetchval(
                        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                        "AND table_name = $1 AND column_name = 'vec'",
                        f"{self._base}_embeddings",
                    )
                )
            except Exception as exc:
                raise self._failure("set up", f"the tables of {self._base!r}", exc) from None
        if rows:
            names = ", ".join(r["name"] for r in rows)
            raise StorageError(
                f"postgres storage: table(s) {names} do not exist and auto_create_tables is off; create them "
                "(run once with StorageConfig(auto_create_tables=True)) or check table_name and the database "
                "in connection_string"
            )

    async def _create(self, connection: asyncpg.Connection, statements: Sequence[str]) -> None:
        # serialise concurrent creators of the same tables (two notebooks starting at once)
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._base)
        for statement in statements:
            await connection.execute(statement)

    async def close(self) -> None:
        """Close the pool. Safe to call more than once."""
        pool, self._pool, self._codec = self._pool, None, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.config.connect_timeout)
            except Exception:  # a pool whose server died cannot close gracefully
                await _terminate(pool)

    # -- running statements ----------------------------------------------------------
    async def _run(
        self,
        operation: str,
        subject: str,
        work: Callable[[asyncpg.Connection], Awaitable[T]],
        *,
        write: bool = True,
        single_read: bool = False,
    ) -> T:
        """Run ``work`` on a pooled connection inside a transaction, mapping failures.

        A connection that turns out to be dead when the transaction begins (the server
        restarted while it sat idle in the pool) is dropped and the call retried once on
        a fresh connection; nothing was sent on it, so the retry cannot apply work twice.
        ``single_read``: ``work`` is one read-only statement, atomic by itself: it runs
        without a transaction (one round trip instead of three), and is retried once on a
        fresh connection whenever its connection was lost (reading again is harmless).
        """
        self._ready()
        return await self._reconnecting(
            operation,
            subject,
            functools.partial(
                self._transaction, operation, subject, work, write and not single_read, single_read
            ),
        )

    async def _transaction(
        self,
        operation: str,
        subject: str,
        work: Callable[[asyncpg.Connection], Awaitable[T]],
        write: bool,
        single_read: bool = False,
    ) -> T:
        import asyncpg

        # errors that mean "this connection is gone", as opposed to a failed statement
        lost = (
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.PostgresConnectionError,
            asyncpg.AdminShutdownError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            ConnectionError,
        )
        pool = self._pool
        if pool is None:
            raise StorageError("postgres storage is not initialised; call 'await storage.initialize()' first")
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                connection = await pool.acquire()
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self._failure(operation, subject, exc) from None
        began = broken = False
        try:
            if single_read:
                return await work(connection)  # a lost connection is Unsent: read again once
            transaction = connection.transaction(
                isolation=None if write else "repeatable_read", readonly=not write
            )
            await transaction.start()
            began = True
            try:
                result = await work(connection)
            except BaseException:
                if not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await transaction.rollback()
                raise
            await transaction.commit()
            return result
        except StorageError:
            raise
        except lost as exc:
            broken = True
            raise (Unsent(exc) if not began else self._failure(operation, subject, exc)) from None
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise self._failure(operation, subject, exc) from None
        finally:
            if broken:  # the pool replaces a terminated connection on next use
                with contextlib.suppress(Exception):  # it may be released already
                    connection.terminate()
            await _release(pool, connection)

    def _columns(self, document: Mapping[str, Any], *, what: str, at: str) -> tuple[str | None, bytes | None]:
        """``(doc, blob)`` column values: JSON text for JSONB, else the codec's bytes (bound to ``at``)."""
        codec = self._ready()
        text = codec.json_text(document, what=what, allow_nul=False)
        return (text, None) if text is not None else (None, codec.encode(document, what=what, at=at))

    def _decode(self, row: Any, *, what: str, at: str) -> dict[str, Any]:
        codec = self._ready()
        if row["blob"] is not None:
            return self._with_vec(row, codec.decode(row["blob"], what=what, at=at))
        if row["doc"] is None:
            raise StorageError(f"{what} is corrupt and could not be read: it has no document; delete it")
        document = codec.decode(row["doc"], what=what, at=at)
        return self._with_vec(row, document)

    @staticmethod
    def _with_vec(row: Any, document: dict[str, Any]) -> dict[str, Any]:
        """An embedding document with the vector of its binary column put back (if it has one)."""
        vec = row.get("vec")  # an asyncpg Record: None when not selected
        if vec is not None:
            document[VECTOR_FIELD] = bytes(vec)
        return document

    @staticmethod
    def _at(kind: docs.Kind, params: Sequence[str]) -> str:
        """Where a document is stored, for the codec: kind, owner and stored digest (the row's key)."""
        return docs.place(kind.name, *params)

    # -- documents -------------------------------------------------------------------
    def _row(self, key: docs.Key) -> tuple[str, str, list[str]]:
        """The table of ``key``'s kind, the condition selecting its row, and the parameters."""
        suffix, owner, keyed = _TABLES[key.kind.name]
        if keyed:
            return (
                self.table(suffix),
                f"{owner} = $1 AND ident = $2",
                [key.owner, self._ident(key, self._ready())],
            )
        return self.table(suffix), f"{owner} = $1", [key.owner]

    async def _apply(self, connection: asyncpg.Connection, write: docs.Write) -> bool:
        """One write, on the connection (inside the caller's transaction)."""
        if isinstance(write, docs.SaveSession):
            return await self._save_session(connection, write)
        key = write.key
        table, where, params = self._row(key)
        if isinstance(write, docs.Delete):
            status: str = await connection.execute(f"DELETE FROM {table} WHERE {where}", *params)
            return status != "DELETE 0"
        document = write.document
        if key.kind.keep:
            previous = await connection.fetchrow(
                f"SELECT doc, blob FROM {table} WHERE {where} FOR UPDATE", *params
            )
            document = docs.kept(
                document,
                None
                if previous is None
                else self._decode(previous, what=key.subject, at=self._at(key.kind, params)),
                key.kind.keep,
            )
        _, owner, keyed = _TABLES[key.kind.name]
        columns = {owner: key.owner}
        if keyed:
            columns["ident"] = params[1]
        if key.kind is docs.MOOD:
            columns["user_id"] = document["user_id"]
        vec: list[bytes | None] = []
        if key.kind is docs.EMBEDDING and self._vec:  # unencrypted: the vector in its binary column
            vec = [None if self._ready().encrypted else stored_vector(document)]
            if vec[0] is not None:
                document = {k: v for k, v in document.items() if k != VECTOR_FIELD}
        doc, blob = self._columns(document, what=key.subject, at=self._at(key.kind, params))
        names = [*columns, "doc", "blob", *(["vec"] if vec else [])]
        values = ", ".join(
            f"${i}" + ("::jsonb" if name == "doc" else "") for i, name in enumerate(names, start=1)
        )
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values})"
        if not key.kind.appended:
            conflict = f"{owner}, ident" if keyed else owner
            updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names[1 + keyed :])
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        await connection.execute(sql, *columns.values(), doc, blob, *vec)
        return True

    async def _write(self, writes: Sequence[docs.Write]) -> list[bool]:
        operation, subject = docs.described(writes)

        async def work(connection: asyncpg.Connection) -> list[bool]:
            return [await self._apply(connection, write) for write in writes]

        return await self._run(verb(operation), subject, work)

    async def _get(self, key: docs.Key) -> docs.Document | None:
        table, where, params = self._row(key)

        async def work(connection: asyncpg.Connection) -> Any:
            vec = ", vec" if key.kind is docs.EMBEDDING and self._vec else ""
            return await connection.fetchrow(f"SELECT doc, blob{vec} FROM {table} WHERE {where}", *params)

        row = await self._run("load", key.subject, work, write=False)
        return None if row is None else self._decode(row, what=key.subject, at=self._at(key.kind, params))

    async def _list(
        self, kind: docs.Kind, owner: str, where: Mapping[str, str] | None
    ) -> list[docs.Document]:
        suffix, column, keyed = _TABLES[kind.name]
        order = " ORDER BY ord" if suffix in _ORDERED else ""
        subject = kind.of(owner)
        ident = ", ident" if keyed else ""

        async def work(connection: asyncpg.Connection) -> list[Any]:
            vec = ", vec" if kind is docs.EMBEDDING and self._vec else ""
            sql = f"SELECT doc, blob{ident}{vec} FROM {self.table(suffix)} WHERE {column} = $1{order}"
            return list(await connection.fetch(sql, owner))

        rows = await self._run("load", subject, work, write=False)
        return [
            self._decode(r, what=subject, at=self._at(kind, [owner, r["ident"]] if keyed else [owner]))
            for r in rows
        ]

    # -- sessions --------------------------------------------------------------------
    async def _save_session(self, connection: asyncpg.Connection, write: docs.SaveSession) -> bool:
        """Store the session; ``False`` when ``if_absent`` and the id is taken (nothing changes)."""
        record = write.record
        subject = f"session {record.session_id!r}"
        doc, blob = self._columns(write.head, what=subject, at=docs.place("session", record.session_id))
        at = docs.place("message", record.session_id)
        rows = [self._columns(m, what=f"message of {subject}", at=at) for m in write.messages]
        t = self.table
        if write.if_absent:  # insert-if-absent in one statement: the unique key decides
            conflict = "ON CONFLICT (session_id) DO NOTHING"
        else:
            conflict = """ON CONFLICT (session_id) DO UPDATE SET user_id = EXCLUDED.user_id,
                    created_at = EXCLUDED.created_at, last_active = EXCLUDED.last_active,
                    updated_at = EXCLUDED.updated_at, message_count = EXCLUDED.message_count,
                    touch = EXCLUDED.touch, doc = EXCLUDED.doc, blob = EXCLUDED.blob"""
        stored = await connection.fetchval(
            f"""INSERT INTO {t()} AS s (session_id, user_id, created_at, last_active, updated_at,
                    message_count, touch, doc, blob)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
                {conflict} RETURNING true""",
            record.session_id,
            record.user_id,
            record.created_at,
            record.last_active,
            record.conversation.updated_at,
            len(rows),
            None,
            doc,
            blob,
        )
        if not stored:
            return False
        await connection.execute(f"DELETE FROM {t('messages')} WHERE session_id = $1", record.session_id)
        if rows:
            await self._insert_messages(connection, record.session_id, 0, rows)
        return True

    async def _insert_messages(
        self,
        connection: asyncpg.Connection,
        session_id: str,
        first: int,
        rows: list[tuple[str | None, bytes | None]],
    ) -> None:
        await connection.execute(
            f"""INSERT INTO {self.table("messages")} (session_id, seq, doc, blob)
                SELECT $1, first + n - 1, d, b
                FROM (SELECT $2::bigint AS first) AS f,
                     unnest($3::jsonb[], $4::bytea[]) WITH ORDINALITY AS m(d, b, n)""",
            session_id,
            first,
            [r[0] for r in rows],
            [r[1] for r in rows],
        )

    def _session_head(self, row: Any, subject: str, session_id: str) -> docs.Document:
        head = self._decode(row, what=subject, at=docs.place("session", session_id))
        # the exact last_active of the latest append (the document is older)
        return head if row["touch"] is None else docs.touched(head, row["touch"])

    async def _load_session(self, session_id: str) -> docs.StoredSession | None:
        subject = f"session {session_id!r}"
        t = self.table

        async def work(connection: asyncpg.Connection) -> tuple[Any, list[Any], list[Any]]:
            row = await connection.fetchrow(
                f"SELECT touch, doc, blob FROM {t()} WHERE session_id = $1", session_id
            )
            if row is None:
                return None, [], []
            messages = await connection.fetch(
                f"SELECT seq, doc, blob FROM {t('messages')} WHERE session_id = $1 ORDER BY seq", session_id
            )
            memory = await connection.fetch(
                f"SELECT doc, blob, ident FROM {t('memory')} WHERE session_id = $1", session_id
            )
            return row, messages, memory

        row, message_rows, memory_rows = await self._run("load", subject, work, write=False)
        if row is None:
            return None
        at = docs.place("message", session_id)
        messages = [self._decode(m, what=f"message {m['seq']} of {subject}", at=at) for m in message_rows]
        memory = [
            self._decode(m, what=f"memory of {subject}", at=self._at(docs.MEMORY, [session_id, m["ident"]]))
            for m in memory_rows
        ]
        return docs.StoredSession(self._session_head(row, subject, session_id), messages, memory)

    async def _append_messages(
        self, session_id: str, messages: list[docs.Document], last_active: str, at: int | None
    ) -> int | None:
        subject = f"session {session_id!r}"
        place = docs.place("message", session_id)
        rows = [self._columns(m, what=f"message of {subject}", at=place) for m in messages]
        stamp = datetime.fromisoformat(last_active)
        t = self.table

        async def work(connection: asyncpg.Connection) -> int | None:
            # The UPDATE locks the session row: concurrent appends to one session queue here.
            count: int | None = await connection.fetchval(
                f"""UPDATE {t()} SET message_count = message_count + $2, last_active = $3, updated_at = $3,
                        touch = $4
                    WHERE session_id = $1 AND ($5::bigint IS NULL OR message_count = $5)
                    RETURNING message_count""",
                session_id,
                len(rows),
                stamp,
                last_active,
                at,
            )
            if count is None:  # not stored, or stored with another count than ``at``
                stored: int | None = await connection.fetchval(
                    f"SELECT message_count FROM {t()} WHERE session_id = $1", session_id
                )
                return stored
            if rows:
                await self._insert_messages(connection, session_id, count - len(rows), rows)
            return count - len(rows)

        return await self._run("append to", subject, work)

    async def _message_count(self, session_id: str) -> int | None:
        t = self.table

        async def work(connection: asyncpg.Connection) -> int | None:
            count: int | None = await connection.fetchval(
                f"SELECT message_count FROM {t()} WHERE session_id = $1", session_id
            )
            return count

        return await self._run("load", f"session {session_id!r}", work, single_read=True)

    def _listing(self, row: Any) -> tuple[docs.Document, int]:
        sid = row["session_id"]
        return self._session_head(row, f"session {sid!r}", sid), int(row["message_count"])

    async def _session_heads(self, user_id: str | None) -> list[docs.SessionHead]:
        t = self.table

        async def work(connection: asyncpg.Connection) -> list[Any]:
            columns = "session_id, message_count, touch, doc, blob"
            if user_id is None:
                return list(await connection.fetch(f"SELECT {columns} FROM {t()}"))
            return list(await connection.fetch(f"SELECT {columns} FROM {t()} WHERE user_id = $1", user_id))

        rows = await self._run("list", "sessions", work, write=False)
        return [
            docs.SessionHead(f"session {row['session_id']!r}", functools.partial(self._listing, row))
            for row in rows
        ]

    async def _delete_session(self, session_id: str) -> bool:
        t = self.table

        async def work(connection: asyncpg.Connection) -> bool:
            await connection.execute(f"DELETE FROM {t('memory')} WHERE session_id = $1", session_id)
            await connection.execute(f"DELETE FROM {t('moods')} WHERE session_id = $1", session_id)
            status: str = await connection.execute(f"DELETE FROM {t()} WHERE session_id = $1", session_id)
            return status != "DELETE 0"

        return await self._run("delete", f"session {session_id!r}", work)

    # -- users -----------------------------------------------------------------------
    async def _list_users(self) -> list[str]:
        async def work(connection: asyncpg.Connection) -> list[str]:
            sql = " UNION ".join(f"SELECT DISTINCT user_id FROM {self.table(s)}" for s in _USER_TABLES)
            return [r["user_id"] for r in await connection.fetch(sql)]

        return await self._run("list", "users", work, write=False)

    async def _delete_user(self, user_id: str) -> int:
        async def work(connection: asyncpg.Connection) -> int:
            total = 0
            for suffix in _USER_TABLES:
                status: str = await connection.execute(
                    f"DELETE FROM {self.table(suffix)} WHERE user_id = $1", user_id
                )
                total += int(status.rsplit(" ", 1)[-1])
            return total

        return await self._run("delete", f"data of user {user_id!r}", work)

    # -- metadata --------------------------------------------------------------------
    async def _read_metadata(self) -> str | None:
        async def work(connection: asyncpg.Connection) -> str | None:
            if await connection.fetchval("SELECT to_regclass($1)", self.table("meta")) is None:
                return None  # created by the first write
            text: str | None = await connection.fetchval(
                f"SELECT doc FROM {self.table('meta')} WHERE name = 'store'"
            )
            return text

        return await self._run("load", "the metadata record", work, write=False)

    async def _first_document(self) -> Sample | None:
        async def work(connection: asyncpg.Connection) -> Sample | None:
            row = await connection.fetchrow(f"SELECT session_id, doc, blob FROM {self.table()} LIMIT 1")
            if row is not None:
                stored = row["blob"] if row["blob"] is not None else row["doc"]
                return Sample(stored, f"session {row['session_id']!r}")
            for suffix, _, _ in _TABLES.values():
                row = await connection.fetchrow(f"SELECT doc, blob FROM {self.table(suffix)} LIMIT 1")
                if row is not None:
                    stored = row["blob"] if row["blob"] is not None else row["doc"]
                    return Sample(stored, f"a document of {self.table(suffix)}")
            return None

        return await self._run("load", "a stored document", work, write=False)

    async def _swap_metadata(self, expected: str | None, record: str) -> bool:
        meta = self.table("meta")

        async def work(connection: asyncpg.Connection) -> bool:
            # one metadata writer at a time (the first record has no row to lock yet)
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{self._base}:meta")
            if self.config.auto_create_tables:
                columns = "name TEXT PRIMARY KEY, doc TEXT NOT NULL"
                await connection.execute(f"CREATE TABLE IF NOT EXISTS {meta} ({columns})")
            stored = await connection.fetchval(f"SELECT doc FROM {meta} WHERE name = 'store'")
            if stored != expected:
                return False
            upsert = "ON CONFLICT (name) DO UPDATE SET doc = EXCLUDED.doc"
            await connection.execute(f"INSERT INTO {meta} VALUES ('store', $1) {upsert}", record)
            return True

        return await self._run("save", "the metadata record", work)


async def _release(pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
    try:
        await pool.release(connection)
    except Exception:  # released already (closed connections detach), or broken
        with contextlib.suppress(Exception):
            connection.terminate()


async def _terminate(pool: asyncpg.Pool) -> None:
    try:
        pool.terminate()
    except Exception as exc:  # best effort: the pool is being discarded
        logger.debug("postgres storage: ignoring error while terminating the pool: %s", type(exc).__name__)
