"""The reading half of a session log: its tables as pandas DataFrames.

Readers flush what is buffered first, then open the file **read-only** (so a read-only
file stays readable), under the same process-wide lock per file and retries as writes
(:mod:`luminora_nb.sessionlog._connection`), read into pandas and close.

* A file that does not exist yet, or has no log in it, reads as empty frames with the
  right columns and dtypes: the query runs against an empty in-memory log.
* A file of an older schema is migrated first (one write transaction), then read; a
  file of a newer schema raises :class:`~luminora_nb.sessionlog.SessionLogError`
  (except for :meth:`LogReaders.sql`, which reads whatever is there).
* List columns (``blend_sources``, ``sources``) come back as Python lists or ``None``,
  not numpy arrays.

Example:
    >>> import os, tempfile
    >>> from luminora_nb.sessionlog import SessionLog
    >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
    >>> list(log.blends().columns)
    ['name', 'sources', 'weights', 'blend_type', 'ts', 'host']
    >>> log.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._connection import LockTimeout, connect, path_lock
from ._errors import SessionLogError
from ._schema import SCHEMA_VERSION, migrate, schema_version, too_new
from ._writer import LogWriter

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LogReaders"]


class LogReaders(LogWriter):
    """The readers of a session log; a read flushes first (and migrates an old file by a write)."""

    def sessions(self, user_id: str | None = None) -> pd.DataFrame:
        """Sessions (of one user if given), oldest first."""
        where, params = _where(user_id=user_id)
        return self._query(
            "SELECT session_id, personality, blend_sources, blend_weights, blend_type, provider, model, "
            f"user_id, created_at, resumed, host, pid FROM sessions {where} ORDER BY created_at, rowid",
            params,
            lists=("blend_sources",),
        )

    def messages(self, session_id: str | None = None, *, personality: str | None = None) -> pd.DataFrame:
        """Messages (of one session / personality if given), by time; a turn's user row first."""
        where, params = _where(session_id=session_id, personality=personality)
        return self._query(
            "SELECT session_id, turn_index, role, content, ts, prompt_tokens, completion_tokens, "
            "total_tokens, latency_ms, finish_reason, streamed, personality, provider, model, user_id, "
            f"host, pid FROM messages {where} "
            "ORDER BY ts, turn_index, CASE role WHEN 'user' THEN 0 ELSE 1 END, rowid",
            params,
        )

    def events(self, type: str | None = None, session_id: str | None = None) -> pd.DataFrame:
        """Events (of one type / session if given) in the order they were published."""
        where, params = _where(type=type, session_id=session_id)
        return self._query(
            f"SELECT ts, type, session_id, payload, host, pid FROM events {where} ORDER BY ts, rowid",
            params,
        )

    def blends(self) -> pd.DataFrame:
        """Blends created by the attached clients, oldest first."""
        return self._query(
            "SELECT name, sources, weights, blend_type, ts, host FROM blends ORDER BY ts, rowid",
            {},
            lists=("sources",),
        )

    def ratings(self, run_id: str | None = None) -> pd.DataFrame:
        """The latest rating per (run_id, blend, prompt, repeat), of one run if given."""
        where, params = _where(run_id=run_id)
        return self._query(
            'SELECT ts, run_id, blend, prompt, "repeat", rating, note, session_id, host FROM ratings '
            f'{where} QUALIFY row_number() OVER (PARTITION BY run_id, blend, prompt, "repeat" '
            "ORDER BY ts DESC, seq DESC) = 1 ORDER BY ts, seq",
            params,
        )

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run an ad-hoc read-only query against the log; a DataFrame.

        Example:
            >>> import os, tempfile
            >>> from luminora_nb.sessionlog import SessionLog
            >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
            >>> int(log.sql("SELECT count(*) AS n FROM messages")["n"][0])
            0
        """
        return self._query(query, params, check_schema=False)

    def _query(
        self,
        query: str,
        params: Sequence[Any] | dict[str, Any] | None,
        *,
        lists: tuple[str, ...] = (),
        check_schema: bool = True,
    ) -> pd.DataFrame:
        self.flush()
        frame = self._read(query, params, check_schema)
        if frame is None:
            frame = _empty(query, params)
        if lists:
            import pandas as pd

            for column in lists:  # DuckDB gives numpy arrays and NA: lists and None read better
                values = [
                    v.tolist() if hasattr(v, "tolist") else v if isinstance(v, list) else None
                    for v in frame[column]
                ]
                frame[column] = pd.Series(values, index=frame.index, dtype=object)
        return frame

    def _read(
        self, query: str, params: Sequence[Any] | dict[str, Any] | None, check_schema: bool
    ) -> pd.DataFrame | None:
        """The query's result from the file, or ``None`` when the file has no log yet."""
        import duckdb

        for attempt in range(2):
            if not self.path.exists():
                return None
            with path_lock(self._key):
                try:
                    con = connect(
                        self.path, read_only=True, timeout=self.lock_timeout, on_retry=self._retried
                    )
                except LockTimeout:
                    raise
                except duckdb.Error as exc:
                    raise SessionLogError(f"cannot read session log {self.path}: {exc}") from None
                try:
                    version = schema_version(con)
                    if version == 0:
                        return None
                    if version > SCHEMA_VERSION and check_schema:
                        raise too_new(self.path, version)
                    if version >= SCHEMA_VERSION or attempt == 1:
                        return con.execute(query, params).df()
                finally:
                    con.close()
            # an older layout: migrate (a write transaction), then read again
            try:
                self._write({})
            except Exception as exc:
                raise SessionLogError(
                    f"session log {self.path} has schema version {version} (this luminora_nb writes "
                    f"{SCHEMA_VERSION}) and could not be migrated: {exc}. Make it writable once"
                ) from None
        return None  # pragma: no cover - the loop returns


def _where(**filters: str | None) -> tuple[str, dict[str, Any]]:
    clauses = [f"{name} = ${name}" for name, value in filters.items() if value is not None]
    params = {name: value for name, value in filters.items() if value is not None}
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _empty(query: str, params: Sequence[Any] | dict[str, Any] | None) -> pd.DataFrame:
    """The query run against an empty in-memory log: right columns and dtypes, no rows."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("BEGIN TRANSACTION")
        migrate(con, Path(":memory:"))
        con.execute("COMMIT")
        return con.execute(query, params).df()
    finally:
        con.close()
