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
* Results travel through Arrow when pyarrow is installed (:func:`frame_of`): a
  million messages reach pandas about four times faster than through DuckDB's ``df()``,
  with the same dtypes (integer and boolean columns holding NULLs become pandas'
  nullable ``Int64`` / ``boolean``, others numpy's).

Example:
    >>> import os, tempfile
    >>> from luminora_nb.sessionlog import SessionLog
    >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
    >>> list(log.blends().columns)
    ['name', 'sources', 'weights', 'blend_type', 'ts', 'host']
    >>> log.close()
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._connection import LockTimeout, connect, path_lock
from ._errors import SessionLogError
from ._schema import SCHEMA_VERSION, migrate, schema_version, too_new
from ._writer import LogWriter

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = ["MESSAGE_ORDER", "LogReaders", "frame_of"]

#: How messages are ordered: by time, a turn's user row first, then as logged. The
#: query selects the helper columns ``_role_rank`` and ``_seq`` (the row id).
MESSAGE_ORDER = ("ts", "turn_index", "_role_rank", "_seq")


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
            "host, pid, CASE role WHEN 'user' THEN 0 ELSE 1 END AS _role_rank, rowid AS _seq "
            f"FROM messages {where}",
            params,
            order_by=MESSAGE_ORDER,
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
        order_by: Sequence[str] = (),
    ) -> pd.DataFrame:
        self.flush()
        frame = self._read(query, params, check_schema, order_by)
        if frame is None:
            frame = _empty(query, params, order_by)
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
        self,
        query: str,
        params: Sequence[Any] | dict[str, Any] | None,
        check_schema: bool,
        order_by: Sequence[str] = (),
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
                        return frame_of(con, query, params, order_by=order_by)
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


def frame_of(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    *,
    order_by: Sequence[str] = (),
) -> pd.DataFrame:
    """``query``'s result as a DataFrame, through Arrow when pyarrow is installed.

    The dtypes are those of DuckDB's own ``df()``: an integer or boolean column with a
    NULL becomes nullable (``Int64``, ``Int32``, ``boolean``), without one stays numpy.

    ``order_by``: columns to sort the result by (ascending, NULLs last), here rather
    than by an ``ORDER BY`` in ``query``: DuckDB's sort carries every column through it,
    while Arrow sorts the keys alone and moves the rows once (a million messages in
    about half the time); rows already in order are not moved. Key columns whose name
    starts with ``_`` are dropped from the result.

    Example:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> frame = frame_of(con, "SELECT * FROM (VALUES (1::BIGINT, NULL::BIGINT), (2, 5)) t(a, b)")
        >>> [str(t) for t in frame.dtypes], frame["b"].tolist()
        (['int64', 'Int64'], [<NA>, 5])
        >>> con.close()
    """
    nullable_types = _nullable_types()
    if nullable_types is None:  # no pyarrow: DuckDB's own conversion
        frame = con.execute(query, params).df()
        if order_by:
            frame = frame.sort_values(list(order_by), kind="stable", na_position="last", ignore_index=True)
        return frame.drop(columns=[k for k in order_by if k.startswith("_")])
    import pandas as pd
    import pyarrow as pa  # type: ignore[import-untyped]

    relation = con.sql(query, params=params) if params else con.sql(query)
    if relation is None:  # a statement without a result (SET, PRAGMA ...): an empty frame
        return pd.DataFrame()
    table = _sorted(relation.to_arrow_table(), order_by)
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if column.null_count == len(column) and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            # DuckDB's df() gives text columns without a value (or rows) as objects: so do we
            columns[name] = pd.Series([None] * len(column), dtype=object)
            continue
        nullable = column.null_count and (pa.types.is_integer(kind) or pa.types.is_boolean(kind))
        columns[name] = column.to_pandas(types_mapper=nullable_types.get if nullable else None)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def _sorted(table: Any, order_by: Sequence[str]) -> Any:
    """``table`` sorted by ``order_by`` (ascending, NULLs last), helper key columns dropped."""
    if not order_by or table.num_rows < 2:
        return table.drop_columns([k for k in order_by if k.startswith("_")])
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    try:  # pyarrow >= 20: NULL placement per key
        indices = pc.sort_indices(table, sort_keys=[(k, "ascending", "at_end") for k in order_by])
    except (TypeError, ValueError, pa.ArrowInvalid):  # older pyarrow: one placement for all keys
        indices = pc.sort_indices(
            table, sort_keys=[(k, "ascending") for k in order_by], null_placement="at_end"
        )
    import numpy as np

    if not np.array_equal(indices.to_numpy(), np.arange(table.num_rows)):  # else already in order
        table = table.take(indices)
    return table.drop_columns([k for k in order_by if k.startswith("_")])


@functools.cache
def _nullable_types() -> dict[Any, Any] | None:
    """Arrow type -> pandas nullable dtype; ``None`` without pyarrow (imported on first read)."""
    if importlib.util.find_spec("pyarrow") is None:  # pragma: no cover - it comes with the duckdb extra
        return None
    import pandas as pd
    import pyarrow as pa

    return {
        pa.int64(): pd.Int64Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int8(): pd.Int8Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }


def _where(**filters: str | None) -> tuple[str, dict[str, Any]]:
    clauses = [f"{name} = ${name}" for name, value in filters.items() if value is not None]
    params = {name: value for name, value in filters.items() if value is not None}
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _empty(
    query: str, params: Sequence[Any] | dict[str, Any] | None, order_by: Sequence[str] = ()
) -> pd.DataFrame:
    """The query run against an empty in-memory log: right columns and dtypes, no rows."""
    with _empty_log() as con:
        return frame_of(con, query, params, order_by=order_by)


_EMPTY_LOG: list[duckdb.DuckDBPyConnection] = []  # one per process, made at first use
_EMPTY_LOG_GUARD = threading.Lock()


@contextlib.contextmanager
def _empty_log() -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on this process's empty in-memory log (a new DuckDB costs ~20 ms; a cursor, nothing)."""
    import duckdb

    with _EMPTY_LOG_GUARD:
        if not _EMPTY_LOG:
            con = duckdb.connect(":memory:")
            con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: the cursors are connections of their own
            con.execute("BEGIN TRANSACTION")
            migrate(con, Path(":memory:"))
            con.execute("COMMIT")
            _EMPTY_LOG.append(con)
        cursor = _EMPTY_LOG[0].cursor()
    try:
        yield cursor
    finally:
        cursor.close()
