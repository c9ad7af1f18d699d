"""The session log's tables and the migrations that create them, step by step.

Tables (after the last migration)::

    meta      (key, value)                 schema_version, created_by
    sessions  one row per SessionCreated   session_id, personality, blend_sources (VARCHAR[]),
                                           blend_weights (JSON), blend_type, provider, model,
                                           user_id, created_at, resumed, host, pid
    messages  two rows per TurnCompleted   session_id, turn_index, role ('user' | 'assistant'),
                                           content, ts, prompt/completion/total_tokens,
                                           latency_ms, finish_reason, streamed, personality,
                                           provider, model, user_id, host, pid
    events    one row per event            ts, type, session_id, payload (JSON), host, pid
    blends    one row per BlendCreated     name, sources (VARCHAR[]), weights (JSON),
                                           blend_type, ts, host
    ratings   a view of the rating events  ts, run_id, blend, prompt, repeat, rating, note, ...

Timestamps are ``TIMESTAMPTZ`` in UTC; the user row of a turn carries the user message's
time, the assistant row the reply's; tokens, latency and finish reason sit on the
assistant row. ``payload`` is :meth:`Event.to_record() <luminora_nb.events.Event.to_record>`.

**Schema versions.** ``meta.schema_version`` says which of :data:`MIGRATIONS` a file has;
the missing steps run in the first write transaction that finds them missing (a file
without ``meta`` is version 0). A file of a newer version is never written to: writes
warn and keep their events, readers raise :class:`SessionLogError`.

Example:
    >>> [step.version for step in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import SessionLogError

if TYPE_CHECKING:
    import duckdb

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate", "schema_version", "too_new"]


@dataclass(frozen=True)
class Migration:
    """One step of the schema: the statements taking a file from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "meta, sessions, messages and events",
        (
            "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
            "CREATE TABLE sessions (session_id VARCHAR, personality VARCHAR, blend_sources VARCHAR[], "
            "blend_weights JSON, blend_type VARCHAR, provider VARCHAR, model VARCHAR, user_id VARCHAR, "
            "created_at TIMESTAMPTZ, resumed BOOLEAN)",
            "CREATE TABLE messages (session_id VARCHAR, turn_index BIGINT, role VARCHAR, content VARCHAR, "
            "ts TIMESTAMPTZ, prompt_tokens BIGINT, completion_tokens BIGINT, total_tokens BIGINT, "
            "latency_ms DOUBLE, finish_reason VARCHAR, streamed BOOLEAN, personality VARCHAR, "
            "provider VARCHAR, model VARCHAR, user_id VARCHAR)",
            "CREATE TABLE events (ts TIMESTAMPTZ, type VARCHAR, session_id VARCHAR, payload JSON)",
        ),
    ),
    Migration(
        2,
        "host and pid of the writer; the blends table",
        (
            "ALTER TABLE sessions ADD COLUMN host VARCHAR",
            "ALTER TABLE sessions ADD COLUMN pid INTEGER",
            "ALTER TABLE messages ADD COLUMN host VARCHAR",
            "ALTER TABLE messages ADD COLUMN pid INTEGER",
            "ALTER TABLE events ADD COLUMN host VARCHAR",
            "ALTER TABLE events ADD COLUMN pid INTEGER",
            "CREATE TABLE blends (name VARCHAR, sources VARCHAR[], weights JSON, blend_type VARCHAR, "
            "ts TIMESTAMPTZ, host VARCHAR)",
        ),
    ),
    Migration(
        3,
        "the ratings view",
        (
            "CREATE VIEW ratings AS SELECT ts, payload->>'run_id' AS run_id, payload->>'blend' AS blend, "
            "payload->>'prompt' AS prompt, CAST(payload->>'repeat' AS INTEGER) AS \"repeat\", "
            "CAST(payload->>'rating' AS INTEGER) AS rating, payload->>'note' AS note, session_id, host, pid, "
            "rowid AS seq FROM events WHERE type = 'rating'",
        ),
    ),
)

#: The schema version this module writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The file's schema version: 0 when it has no ``meta`` table (empty or foreign file)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'meta'"
    ).fetchall()
    if not found[0][0]:
        return 0
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    if not rows:
        return 0
    try:
        return int(rows[0][0])
    except (TypeError, ValueError):
        raise SessionLogError(
            f"the file's meta table holds schema_version {rows[0][0]!r}, not a number: it was not "
            "written by luminora_nb; log to another file"
        ) from None


def too_new(path: Path, version: int) -> SessionLogError:
    """The error for a file written by a newer luminora_nb (schema ``version``)."""
    return SessionLogError(
        f"session log {path} has schema version {version}, newer than the {SCHEMA_VERSION} this "
        "luminora_nb knows: it was written by a newer luminora_nb. Upgrade luminora_nb, or log to "
        "another file; nothing was written to it"
    )


def migrate(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Bring the file to :data:`SCHEMA_VERSION` inside the caller's transaction; the old version."""
    import duckdb

    version = schema_version(con)
    if version > SCHEMA_VERSION:
        raise too_new(path, version)
    if version == SCHEMA_VERSION:
        return version
    for step in MIGRATIONS:
        if step.version <= version:
            continue
        for statement in step.statements:
            try:
                con.execute(statement)
            except duckdb.CatalogException as exc:
                raise SessionLogError(
                    f"cannot create the session log schema (version {step.version}: {step.description}) "
                    f"in {path}: {exc}. The file holds tables not written by luminora_nb; log to "
                    "another file"
                ) from None
    con.execute(
        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('created_by', 'luminora_nb')",
        [str(SCHEMA_VERSION)],
    )
    return version
