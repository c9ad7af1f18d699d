"""The tables of the DuckDB backend: creating them, and bringing a file of an older version up to date.

:class:`DuckDBSchema` names the tables of one ``table_name`` (see :mod:`.duckdb`) and runs
the statements that are not the storage's primitives:

* :meth:`DuckDBSchema.create` — every table, if missing; the ``vec`` column added to
  embeddings written before it existed, and filled from their documents (not when
  encrypted: vectors stay inside the encrypted documents);
* :func:`creating_tables` — the per-file lock a storage holds while it creates them;
* :meth:`DuckDBSchema.hide_stored_names` — with encryption on, readable names left in name
  columns by versions before they were digests become digests, and vectors are cleared.

Every method runs on the caller's connection and raises ``duckdb.Error``; the storage turns
it into a :class:`~luminora_nb.errors.StorageError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading

import duckdb

from ..errors import StorageError
from ._documents import place
from ._names import checked_identifier, name_digest, quoted
from ._vectors import stored_vector, unpack
from .codec import DocumentCodec

__all__ = ["DuckDBSchema", "creating_tables"]

logger = logging.getLogger("luminora_nb.storage")

_DIGEST = re.compile(r"[0-9a-f]{64}")
# (table, all columns in order, the name columns among them) of the tables keyed by names
_NAME_COLUMNS = (
    ("memory", ("session_id", "key", "doc"), ("key",)),
    ("affinity", ("user_id", "personality_name", "doc"), ("personality_name",)),
    ("facts", ("user_id", "category", "key", "ord", "doc"), ("category", "key")),
    ("embeddings", ("user_id", "item_id", "kind", "ord", "doc"), ("item_id", "kind")),
)
_SUFFIXES = ("messages", "memory", "affinity", "facts", "episodes", "moods", "embeddings")


# One lock per database file in this process, held while a storage creates its tables: two
# storages opening a new file at once would otherwise both create them, and one would fail
# with a catalog write-write conflict. (DuckDB lets one process write a file at a time, so
# a lock in this process is enough.)
_CREATING: dict[str, threading.Lock] = {}
_CREATING_GUARD = threading.Lock()


def creating_tables(path: str) -> threading.Lock:
    """The lock to hold while creating the tables of the database file at ``path``."""
    key = path if path == ":memory:" else os.path.realpath(path)
    with _CREATING_GUARD:
        return _CREATING.setdefault(key, threading.Lock())


class DuckDBSchema:
    """The tables of one ``table_name`` and the statements that create and update them.

    Example:
        >>> from luminora_nb.types import StorageConfig
        >>> schema = DuckDBSchema("chat", DocumentCodec.from_config(StorageConfig()))
        >>> schema.tables["sessions"], schema.tables["facts"], schema.meta
        ('"chat"', '"chat_facts"', '"chat_meta"')
    """

    def __init__(self, table_name: str, codec: DocumentCodec) -> None:
        """Raises :class:`StorageError` when ``table_name`` is not a valid identifier."""
        table_name = checked_identifier("duckdb", table_name)
        #: Double-quoted names: "sessions" (the base name itself) and one per suffix
        self.tables = {"sessions": quoted(table_name), **{s: quoted(f"{table_name}_{s}") for s in _SUFFIXES}}
        self.meta = quoted(f"{table_name}_meta")
        self.sequence = f"{table_name}_order"  # checked above: letters, digits and underscores only
        self._codec = codec

    def create(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create whatever is missing (and give older embeddings their vectors)."""
        t = self.tables
        statements = [
            f"CREATE SEQUENCE IF NOT EXISTS {quoted(self.sequence)}",
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
            # since 0.2: the vector as float32, for list_cosine_similarity (NULL when encrypted)
            f"ALTER TABLE {t['embeddings']} ADD COLUMN IF NOT EXISTS vec FLOAT[]",
            f"CREATE TABLE IF NOT EXISTS {self.meta} (name VARCHAR PRIMARY KEY, doc VARCHAR NOT NULL)",
        ]
        # One transaction: a dozen statements commit (and write the log) once, not each.
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                con.execute(statement)
            if not self._codec.encrypted:
                self._fill_vectors(con)
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise

    def missing(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """The tables (other than the metadata table) that do not exist, sorted."""
        # duckdb_tables() rather than information_schema: binding that view costs
        # milliseconds on each new connection, and a storage opens one per initialize().
        rows = con.execute(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = current_schema()"
        ).fetchall()
        names = {row[0] for row in rows}
        return sorted(n.strip('"') for n in self.tables.values() if n.strip('"') not in names)

    def has_vectors(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the embeddings table has its ``vec`` column."""
        rows = con.execute(
            "SELECT 1 FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = current_schema() AND table_name = ? AND column_name = 'vec'",
            [self.tables["embeddings"].strip('"')],
        ).fetchall()
        return bool(rows)

    def _fill_vectors(self, con: duckdb.DuckDBPyConnection) -> None:
        """Give embeddings written before the ``vec`` column their vector."""
        table = self.tables["embeddings"]
        rows = con.execute(f"SELECT rowid, doc, user_id, item_id FROM {table} WHERE vec IS NULL").fetchall()
        for rowid, blob, user_id, item_id in rows:
            try:
                at = place("embedding", user_id, item_id)
                vector = list(
                    unpack(stored_vector(self._codec.decode(bytes(blob), what="an embedding", at=at)))
                )
            except StorageError as exc:
                logger.warning("duckdb storage: leaving an embedding without its vector: %s", exc)
                continue
            con.execute(f"UPDATE {table} SET vec = ? WHERE rowid = ?", [vector or [], rowid])

    def hide_stored_names(self, con: duckdb.DuckDBPyConnection) -> int:
        """Replace readable names left in name columns (written before they were digests) by digests.

        Runs at open with encryption on; one index-free scan of four small tables, in one
        transaction. A row whose digest twin already exists is the older one and is dropped.
        Vectors are cleared. Returns how many rows were rewritten.
        """
        moved = 0
        con.execute("BEGIN TRANSACTION")
        try:
            for table, columns, names in _NAME_COLUMNS:
                where = " OR ".join(f"NOT regexp_full_match({c}, '[0-9a-f]{{64}}')" for c in names)
                rows = con.execute(
                    f"SELECT rowid, {', '.join(columns)} FROM {self.tables[table]} WHERE {where}"
                ).fetchall()
                for rowid, *values in rows:
                    row = dict(zip(columns, values, strict=True))
                    if table == "memory":
                        try:
                            # written before names were digests: codec v1, not bound to its row
                            item = self._codec.decode(bytes(row["doc"]), what=f"memory {row['key']!r}")
                        except StorageError as exc:
                            logger.warning("duckdb storage: leaving a memory row as it is: %s", exc)
                            continue
                        item.setdefault("key", row["key"])
                    for name in names:
                        if not _DIGEST.fullmatch(row[name]):
                            row[name] = name_digest(row[name])
                    if table == "memory":
                        at = place("memory", row["session_id"], row["key"])
                        row["doc"] = self._codec.encode(item, what="memory value", at=at)
                    con.execute(f"DELETE FROM {self.tables[table]} WHERE rowid = ?", [rowid])
                    con.execute(
                        f"INSERT OR IGNORE INTO {self.tables[table]} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' for _ in columns)})",
                        list(row.values()),
                    )
                    moved += 1
            if self.has_vectors(con):
                con.execute(f"UPDATE {self.tables['embeddings']} SET vec = NULL WHERE vec IS NOT NULL")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return moved
