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
=================  =================================================================

Every document sits in a ``doc JSONB`` column when the codec is plain (so it can be
queried with SQL), else in ``blob BYTEA`` as the codec's compressed and/or encrypted
bytes; reads accept either, so a store keeps working when compression is switched on.
A plain document that JSONB cannot hold (text with a NUL character) goes to ``blob``
as JSON bytes. Rows of user state are keyed by a SHA-256 digest of their names
(``ident``), so with encryption on no name is readable. Queries are parameterised; the
only interpolated identifiers are the validated table names, always double-quoted.

An append is one transaction that bumps ``message_count`` (locking the session row, so
concurrent appends keep their order) and inserts only the new rows. When the server
goes away the failing call raises :class:`~luminora_nb.errors.StorageError`; the pool
reconnects on the next call, and a call that meets a connection broken while idle is
retried once on a fresh one.

Example:
    >>> from luminora_nb.types import StorageConfig
    >>> store = PostgresStorage(StorageConfig(storage_type="postgres", table_name="chat"))
    >>> store.table("messages")
    '"chat_messages"'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
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
    import asyncpg

__all__ = ["PostgresStorage"]

logger = logging.getLogger("luminora_nb.storage")

DEFAULT_DSN = "postgresql://postgres@localhost:5432/postgres"
_SUFFIXES = ("messages", "memory", "affinity", "facts", "episodes", "moods", "embeddings")
_MAX_BASE_LEN = 63 - len("_embeddings")
_SURROGATE = re.compile("[\\ud800-\\udfff]")
T = TypeVar("T")


class PostgresStorage(Storage):
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
        super().__init__(config or StorageConfig(storage_type="postgres"))
        self._dsn = self.config.connection_string or DEFAULT_DSN
        self._where = redacted_url(self._dsn, kind="PostgreSQL DSN")
        self._base = self.config.table_name
        self._pool: asyncpg.Pool | None = None
        self._codec: DocumentCodec | None = None
        self._pool_lock = asyncio.Lock()
        self._closed = False
        self._plain = True

    # -- names ---------------------------------------------------------------------
    def table(self, suffix: str | None = None) -> str:
        """The double-quoted name of the sessions table, or of a derived table."""
        name = self._base if suffix is None else f"{self._base}_{suffix}"
        return f'"{name}"'

    def table_names(self) -> list[str]:
        """Every table this storage uses (unquoted)."""
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
            f'CREATE INDEX IF NOT EXISTS "{self._base}_user_idx" ON {t()} (user_id, created_at)',
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
            f'CREATE INDEX IF NOT EXISTS "{self._base}_moods_idx" ON {t("moods")} (user_id)',
            f"""CREATE TABLE IF NOT EXISTS {t("embeddings")} (
                user_id TEXT NOT NULL, ident TEXT NOT NULL,
                ord BIGINT GENERATED ALWAYS AS IDENTITY, doc JSONB, blob BYTEA,
                PRIMARY KEY (user_id, ident))""",
        ]

    # -- life-cycle ----------------------------------------------------------------
    async def initialize(self) -> None:
        """Open the pool, and create the tables (``auto_create_tables``) or check they exist.

        Raises:
            StorageError: no encryption key while encryption is on, the driver is not
                installed, ``table_name`` too long, the server does not answer within
                ``connect_timeout``, or tables are missing and ``auto_create_tables`` is off.
        """
        if self._pool is not None:
            return
        codec = DocumentCodec.from_config(self.config)
        if len(self._base) > _MAX_BASE_LEN:
            raise StorageError(
                f"postgres storage: table_name {self._base!r} is too long ({len(self._base)} characters); "
                f"derived tables such as '{self._base}_embeddings' must fit PostgreSQL's 63-character "
                f"limit, so use at most {_MAX_BASE_LEN} characters"
            )
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise StorageError(
                "postgres storage needs the 'asyncpg' package; install it with: "
                "pip install 'luminora_nb[postgres]'"
            ) from None
        self._codec = codec
        self._plain = codec.is_plain
        self._closed = False
        pool = await self._open_pool()
        try:
            await self._prepare_schema(pool)
        except BaseException:
            await _terminate(pool)
            raise
        self._pool = pool

    async def _open_pool(self) -> asyncpg.Pool:
        import asyncpg

        timeout = self.config.connect_timeout
        extra = self.config.extra
        try:
            # min_size=0: connections open on demand, so a dead server never leaves a
            # background task retrying; a connection broken while idle is replaced on use.
            pool = asyncpg.create_pool(
                self._dsn,
                min_size=0,
                max_size=int(extra.get("pool_max_size", 10)),
                timeout=timeout,
                command_timeout=float(extra.get("command_timeout", 30.0)),
            )
        except (ValueError, TypeError, asyncpg.InterfaceError) as exc:
            raise StorageError(
                f"postgres storage: invalid connection_string {self._where!r} ({type(exc).__name__}); "
                "use postgresql://user[:password]@host:port/database"
            ) from None
        try:
            async with asyncio.timeout(timeout):
                await pool
                async with pool.acquire() as connection:
                    await connection.fetchval("SELECT 1")
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await _terminate(pool)
            if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError):
                raise StorageError(
                    f"postgres storage: the server at {self._where} refused the credentials "
                    f"({self._scrub(str(exc))}); check the user and password in connection_string"
                ) from None
            if isinstance(exc, asyncpg.InvalidCatalogNameError):
                raise StorageError(
                    f"postgres storage: {self._scrub(str(exc))} at {self._where}; create the database "
                    "or fix the database name in connection_string"
                ) from None
            reason = "no answer in time" if isinstance(exc, TimeoutError) else self._scrub(str(exc))
            raise StorageError(
                f"postgres storage: cannot reach the PostgreSQL server at {self._where} within "
                f"{timeout:g} s ({reason}); check that it is running and that connection_string is "
                "right, or raise StorageConfig.connect_timeout"
            ) from None
        return pool

    async def _prepare_schema(self, pool: asyncpg.Pool) -> None:
        async def create(connection: asyncpg.Connection) -> None:
            async with connection.transaction():
                # serialise concurrent creators of the same tables (two notebooks starting at once)
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._base)
                for statement in self._schema_sql():
                    await connection.execute(statement)

        async def missing(connection: asyncpg.Connection) -> list[str]:
            rows = await connection.fetch(
                "SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(quote_ident(name)) IS NULL",
                self.table_names(),
            )
            return [r["name"] for r in rows]

        async with pool.acquire() as connection:
            try:
                if self.config.auto_create_tables:
                    await create(connection)
                    return
                absent = await missing(connection)
            except Exception as exc:
                raise self._failure("set up", f"the tables of {self._base!r}", exc) from None
        if absent:
            raise StorageError(
                f"postgres storage: table(s) {', '.join(absent)} do not exist and auto_create_tables is "
                "off; create them (run once with StorageConfig(auto_create_tables=True)) or check "
                "table_name and the database in connection_string"
            )

    async def close(self) -> None:
        """Close the pool. Safe to call more than once."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.config.connect_timeout)
            except Exception:  # a pool whose server died cannot close gracefully
                await _terminate(pool)

    # -- helpers -------------------------------------------------------------------
    def _ready(self) -> DocumentCodec:
        if self._codec is None or self._pool is None:
            raise StorageError("postgres storage is not initialised; call 'await storage.initialize()' first")
        return self._codec

    def _scrub(self, text: str) -> str:
        try:
            password = urllib.parse.urlsplit(self._dsn).password
        except ValueError:
            password = None
        return text.replace(password, "***") if password else text

    def _failure(self, operation: str, subject: str, exc: BaseException) -> StorageError:
        import asyncpg

        reason = "timed out" if isinstance(exc, TimeoutError) else self._scrub(str(exc)) or "no detail"
        refused = isinstance(exc, asyncpg.PostgresError) and not isinstance(
            exc, asyncpg.PostgresConnectionError | asyncpg.AdminShutdownError
        )
        if refused:  # the server answered and refused the statement
            hint = (
                "the server refused it; check the privileges of the connection's user and that the tables "
                f"'{self._base}*' have the layout this version creates"
            )
        else:
            hint = f"check that the PostgreSQL server at {self._where} is running and reachable, then retry"
        return StorageError(
            f"postgres storage: could not {operation} {subject}: {reason} ({type(exc).__name__}); {hint}"
        )

    async def _run(
        self,
        operation: str,
        subject: str,
        work: Callable[[asyncpg.Connection], Awaitable[T]],
        *,
        write: bool = True,
    ) -> T:
        """Run ``work`` on a pooled connection inside a transaction, mapping failures.

        A connection that turns out to be dead when the transaction begins (the server
        restarted while it sat idle in the pool) is dropped and the call retried once on
        a fresh connection; nothing was sent on it, so the retry cannot apply work twice.
        """
        import asyncpg

        self._ready()
        # errors that mean "this connection is gone", as opposed to a failed statement
        lost = (
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.PostgresConnectionError,
            asyncpg.AdminShutdownError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
            ConnectionError,
        )
        for attempt in (1, 2):
            pool = self._pool
            if pool is None:
                raise StorageError(
                    "postgres storage is closed; open a new storage or call initialize() again"
                )
            try:
                async with asyncio.timeout(self.config.connect_timeout):
                    connection = await pool.acquire()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise self._failure(operation, subject, exc) from None
            began = broken = False
            try:
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
                if not began and attempt == 1:
                    logger.debug("postgres storage: dropping a dead pooled connection and retrying")
                    continue
                raise self._failure(operation, subject, exc) from None
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                raise self._failure(operation, subject, exc) from None
            finally:
                if broken:  # the pool replaces a terminated connection on next use
                    with contextlib.suppress(Exception):  # it may be released already
                        connection.terminate()
                await self._release(pool, connection)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _release(pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
        try:
            await pool.release(connection)
        except Exception:  # released already (closed connections detach), or broken
            with contextlib.suppress(Exception):
                connection.terminate()

    def _columns(self, document: dict[str, Any], *, what: str) -> tuple[str | None, bytes | None]:
        """``(doc, blob)`` column values for a document."""
        codec = self._ready()
        if self._plain:
            text = codec.dumps(document, what=what)
            if "\\u0000" not in text and not _SURROGATE.search(text):
                return text, None
            # JSONB cannot hold NUL characters nor unpaired surrogates: store the JSON as bytes
            return None, codec.encode(document, what=what)
        return None, codec.encode(document, what=what)

    def _decode(self, row: Any, *, what: str) -> dict[str, Any]:
        codec = self._ready()
        blob = row["blob"]
        if blob is not None:
            return codec.decode(blob, what=what)
        if row["doc"] is None:
            raise StorageError(f"{what} is corrupt and could not be read: it has no document; delete it")
        return codec.decode(row["doc"], what=what)

    # -- conversations -------------------------------------------------------------
    async def save_session(self, record: SessionRecord) -> None:
        subject = f"session {record.session_id!r}"
        doc, messages = session_documents(record)
        doc_col, blob_col = self._columns(doc, what=subject)
        rows = [self._columns(m, what=f"message of {subject}") for m in messages]
        t = self.table

        async def work(connection: asyncpg.Connection) -> None:
            await connection.execute(
                f"""INSERT INTO {t()} AS s (session_id, user_id, created_at, last_active, updated_at,
                        message_count, touch, doc, blob)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
                    ON CONFLICT (session_id) DO UPDATE SET user_id = EXCLUDED.user_id,
                        created_at = EXCLUDED.created_at, last_active = EXCLUDED.last_active,
                        updated_at = EXCLUDED.updated_at, message_count = EXCLUDED.message_count,
                        touch = EXCLUDED.touch, doc = EXCLUDED.doc, blob = EXCLUDED.blob""",
                record.session_id,
                record.user_id,
                record.created_at,
                record.last_active,
                record.conversation.updated_at,
                len(rows),
                None,
                doc_col,
                blob_col,
            )
            await connection.execute(f"DELETE FROM {t('messages')} WHERE session_id = $1", record.session_id)
            if rows:
                await self._insert_messages(connection, record.session_id, 0, rows)

        await self._run("save", subject, work)

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

    async def load_session(self, session_id: str) -> SessionRecord | None:
        require_strings(self.backend_name, "load_session", session_id=session_id)
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
                f"SELECT doc, blob FROM {t('memory')} WHERE session_id = $1", session_id
            )
            return row, messages, memory

        row, message_rows, memory_rows = await self._run("load", subject, work, write=False)
        if row is None:
            return None
        doc = self._session_doc(row, subject)
        messages = [self._decode(m, what=f"message {m['seq']} of {subject}") for m in message_rows]
        memory: dict[str, Any] = {}
        for m in memory_rows:
            item = self._decode(m, what=f"memory of {subject}")
            memory[item["key"]] = item["value"]
        return session_from_documents(doc, messages, memory=memory, what=subject)

    def _session_doc(self, row: Any, subject: str) -> dict[str, Any]:
        doc = self._decode(row, what=subject)
        if row["touch"] is not None:  # the exact last_active of the latest append (the document is older)
            doc["last_active"] = row["touch"]
            if isinstance(doc.get("conversation"), dict):
                doc["conversation"]["updated_at"] = row["touch"]
        return doc

    async def append_messages(
        self, session_id: str, messages: Sequence[Message], *, last_active: datetime
    ) -> None:
        require_strings(self.backend_name, "append_messages", session_id=session_id)
        subject = f"session {session_id!r}"
        rows = [self._columns(m, what=f"message of {subject}") for m in message_documents(messages)]
        t = self.table

        async def work(connection: asyncpg.Connection) -> int | None:
            # The UPDATE locks the session row: concurrent appends to one session queue here.
            count: int | None = await connection.fetchval(
                f"""UPDATE {t()} SET message_count = message_count + $2, last_active = $3, updated_at = $3,
                        touch = $4
                    WHERE session_id = $1 RETURNING message_count""",
                session_id,
                len(rows),
                last_active,
                last_active.isoformat(),
            )
            if count is not None and rows:
                await self._insert_messages(connection, session_id, count - len(rows), rows)
            return count

        if await self._run("append to", subject, work) is None:
            raise StorageError(
                f"postgres storage: {subject} is not stored (never saved or deleted); save it with "
                "save_session before appending"
            )

    async def list_sessions(self, *, user_id: str | None = None) -> list[SessionSummary]:
        require_strings(self.backend_name, "list_sessions", user_id=user_id, optional=("user_id",))
        t = self.table

        async def work(connection: asyncpg.Connection) -> list[Any]:
            columns = "session_id, message_count, touch, doc, blob"
            if user_id is None:
                return list(
                    await connection.fetch(f"SELECT {columns} FROM {t()} ORDER BY created_at, session_id")
                )
            return list(
                await connection.fetch(
                    f"SELECT {columns} FROM {t()} WHERE user_id = $1 ORDER BY created_at, session_id", user_id
                )
            )

        rows = await self._run("list", "sessions", work, write=False)
        summaries: list[SessionSummary] = []
        for row in rows:
            subject = f"session {row['session_id']!r}"
            try:
                doc = self._session_doc(row, subject)
                summary = session_from_documents(doc, [], what=subject).summary()
            except StorageError as exc:  # one unreadable session must not hide the others
                logger.warning("postgres storage: leaving %s out of the session list: %s", subject, exc)
                continue
            summaries.append(summary.model_copy(update={"message_count": int(row["message_count"])}))
        return sorted(summaries, key=lambda s: (s.created_at, s.session_id))

    async def delete_session(self, session_id: str) -> bool:
        require_strings(self.backend_name, "delete_session", session_id=session_id)
        t = self.table

        async def work(connection: asyncpg.Connection) -> bool:
            await connection.execute(f"DELETE FROM {t('memory')} WHERE session_id = $1", session_id)
            await connection.execute(f"DELETE FROM {t('moods')} WHERE session_id = $1", session_id)
            status: str = await connection.execute(f"DELETE FROM {t()} WHERE session_id = $1", session_id)
            return status != "DELETE 0"

        return await self._run("delete", f"session {session_id!r}", work)

    async def set_memory(self, session_id: str, key: str, value: Any) -> None:
        require_strings(self.backend_name, "set_memory", session_id=session_id, key=key)
        doc_col, blob_col = self._columns({"key": key, "value": value}, what=f"memory value for key {key!r}")

        async def work(connection: asyncpg.Connection) -> None:
            await connection.execute(
                f"""INSERT INTO {self.table("memory")} (session_id, ident, doc, blob)
                    VALUES ($1, $2, $3::jsonb, $4)
                    ON CONFLICT (session_id, ident) DO UPDATE SET doc = EXCLUDED.doc, blob = EXCLUDED.blob""",
                session_id,
                name_digest(key),
                doc_col,
                blob_col,
            )

        await self._run("save", f"memory {key!r} of session {session_id!r}", work)

    async def get_memory(self, session_id: str, key: str) -> Any:
        require_strings(self.backend_name, "get_memory", session_id=session_id, key=key)
        subject = f"memory {key!r} of session {session_id!r}"

        async def work(connection: asyncpg.Connection) -> Any:
            return await connection.fetchrow(
                f"SELECT doc, blob FROM {self.table('memory')} WHERE session_id = $1 AND ident = $2",
                session_id,
                name_digest(key),
            )

        row = await self._run("load", subject, work, write=False)
        return None if row is None else self._decode(row, what=subject).get("value")

    # -- v1.1 user state -----------------------------------------------------------
    async def _put(
        self, suffix: str, user_id: str, ident: str, document: dict[str, Any], subject: str
    ) -> None:
        doc_col, blob_col = self._columns(document, what=subject)

        async def work(connection: asyncpg.Connection) -> None:
            await connection.execute(
                f"""INSERT INTO {self.table(suffix)} (user_id, ident, doc, blob)
                    VALUES ($1, $2, $3::jsonb, $4)
                    ON CONFLICT (user_id, ident) DO UPDATE SET doc = EXCLUDED.doc, blob = EXCLUDED.blob""",
                user_id,
                ident,
                doc_col,
                blob_col,
            )

        await self._run("save", subject, work)

    async def _all(
        self, suffix: str, user_id: str, subject: str, *, ordered: bool = True
    ) -> list[dict[str, Any]]:
        order = " ORDER BY ord" if ordered else ""

        async def work(connection: asyncpg.Connection) -> list[Any]:
            return list(
                await connection.fetch(
                    f"SELECT doc, blob FROM {self.table(suffix)} WHERE user_id = $1{order}", user_id
                )
            )

        rows = await self._run("load", subject, work, write=False)
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

        async def work(connection: asyncpg.Connection) -> Any:
            return await connection.fetchrow(
                f"SELECT doc, blob FROM {self.table('affinity')} WHERE user_id = $1 AND ident = $2",
                user_id,
                name_digest(personality_name),
            )

        row = await self._run("load", subject, work, write=False)
        return None if row is None else self._decode(row, what=subject)

    async def save_fact(self, user_id: str, category: str, key: str, value: Any, **kwargs: Any) -> bool:
        require_strings(self.backend_name, "save_fact", user_id=user_id, category=category, key=key)
        subject = f"fact {category}/{key} of user {user_id!r}"
        ident = name_digest(category, key)
        table = self.table("facts")

        async def work(connection: asyncpg.Connection) -> None:
            row = await connection.fetchrow(
                f"SELECT doc, blob FROM {table} WHERE user_id = $1 AND ident = $2 FOR UPDATE", user_id, ident
            )
            previous = self._decode(row, what=subject) if row is not None else None
            doc_col, blob_col = self._columns(
                fact_document(user_id, category, key, value, kwargs, previous), what=subject
            )
            await connection.execute(
                f"""INSERT INTO {table} (user_id, ident, doc, blob) VALUES ($1, $2, $3::jsonb, $4)
                    ON CONFLICT (user_id, ident) DO UPDATE SET doc = EXCLUDED.doc, blob = EXCLUDED.blob""",
                user_id,
                ident,
                doc_col,
                blob_col,
            )

        await self._run("save", subject, work)
        return True

    async def get_facts(self, user_id: str, category: str | None = None) -> list[dict[str, Any]]:
        require_strings(
            self.backend_name, "get_facts", user_id=user_id, category=category, optional=("category",)
        )
        facts = await self._all("facts", user_id, f"facts of user {user_id!r}")
        return [f for f in facts if category is None or f.get("category") == category]

    async def delete_fact(self, user_id: str, category: str, key: str) -> bool:
        require_strings(self.backend_name, "delete_fact", user_id=user_id, category=category, key=key)

        async def work(connection: asyncpg.Connection) -> bool:
            status: str = await connection.execute(
                f"DELETE FROM {self.table('facts')} WHERE user_id = $1 AND ident = $2",
                user_id,
                name_digest(category, key),
            )
            return status != "DELETE 0"

        return await self._run("delete", f"fact {category}/{key} of user {user_id!r}", work)

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
        doc_col, blob_col = self._columns(doc, what="episode")

        async def work(connection: asyncpg.Connection) -> None:
            await connection.execute(
                f"INSERT INTO {self.table('episodes')} (user_id, doc, blob) VALUES ($1, $2::jsonb, $3)",
                user_id,
                doc_col,
                blob_col,
            )

        await self._run("save", f"episode of user {user_id!r}", work)
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
        doc_col, blob_col = self._columns(doc, what="mood")

        async def work(connection: asyncpg.Connection) -> None:
            await connection.execute(
                f"""INSERT INTO {self.table("moods")} (session_id, user_id, doc, blob)
                    VALUES ($1, $2, $3::jsonb, $4)
                    ON CONFLICT (session_id) DO UPDATE SET user_id = EXCLUDED.user_id, doc = EXCLUDED.doc,
                        blob = EXCLUDED.blob""",
                session_id,
                user_id,
                doc_col,
                blob_col,
            )

        await self._run("save", f"mood of session {session_id!r}", work)
        return True

    async def get_mood(self, session_id: str) -> dict[str, Any] | None:
        require_strings(self.backend_name, "get_mood", session_id=session_id)
        subject = f"mood of session {session_id!r}"

        async def work(connection: asyncpg.Connection) -> Any:
            return await connection.fetchrow(
                f"SELECT doc, blob FROM {self.table('moods')} WHERE session_id = $1", session_id
            )

        row = await self._run("load", subject, work, write=False)
        return None if row is None else self._decode(row, what=subject)

    async def save_embedding(
        self, user_id: str, item_id: str, kind: str, text: str, vector: Sequence[float], **kwargs: Any
    ) -> bool:
        require_strings(self.backend_name, "save_embedding", user_id=user_id, item_id=item_id, kind=kind)
        doc = embedding_document(item_id, kind, text, vector, kwargs)
        await self._put(
            "embeddings", user_id, name_digest(item_id), doc, f"embedding {item_id!r} of user {user_id!r}"
        )
        return True

    async def get_embeddings(self, user_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        require_strings(self.backend_name, "get_embeddings", user_id=user_id, kind=kind, optional=("kind",))
        rows = await self._all("embeddings", user_id, f"embeddings of user {user_id!r}")
        return [r for r in rows if kind is None or r.get("kind") == kind]

    async def list_users(self) -> list[str]:
        t = self.table

        async def work(connection: asyncpg.Connection) -> list[str]:
            rows = await connection.fetch(
                " UNION ".join(
                    f"SELECT DISTINCT user_id FROM {t(s)}"
                    for s in ("affinity", "facts", "episodes", "moods", "embeddings")
                )
            )
            return [r["user_id"] for r in rows]

        return sorted(await self._run("list", "users", work, write=False))

    async def delete_user_data(self, user_id: str) -> int:
        require_strings(self.backend_name, "delete_user_data", user_id=user_id)
        t = self.table

        async def work(connection: asyncpg.Connection) -> int:
            total = 0
            for suffix in ("affinity", "facts", "episodes", "moods", "embeddings"):
                status: str = await connection.execute(f"DELETE FROM {t(suffix)} WHERE user_id = $1", user_id)
                total += int(status.rsplit(" ", 1)[-1])
            return total

        return await self._run("delete", f"data of user {user_id!r}", work)


async def _terminate(pool: asyncpg.Pool) -> None:
    try:
        pool.terminate()
    except Exception as exc:  # best effort: the pool is being discarded
        logger.debug("postgres storage: ignoring error while terminating the pool: %s", type(exc).__name__)
