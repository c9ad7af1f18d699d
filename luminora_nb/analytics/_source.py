"""Where analytics read from: a session log (object or file) or a folder of Parquet exports.

Every reader in :mod:`luminora_nb.analytics` takes a *source* and runs SQL against the
same five relations whatever the source is: ``sessions``, ``messages``, ``events``,
``blends`` and ``ratings``, with the columns of the session log's schema
(:mod:`luminora_nb.sessionlog._schema`).

* **A** :class:`~luminora_nb.sessionlog.SessionLog` is queried through
  :meth:`SessionLog.sql <luminora_nb.sessionlog.SessionLog.sql>` (buffered events are
  flushed first; the file's lock and retries apply).
* **A path to a DuckDB file** is opened as a ``SessionLog`` for the read and closed.
* **A directory** is a folder of Parquet exports (:meth:`SessionLog.export_parquet
  <luminora_nb.sessionlog.SessionLog.export_parquet>`, many machines and days in one
  folder): an in-memory DuckDB gets one view per table over
  ``read_parquet('folder/<table>/**/*.parquet', hive_partitioning=true, union_by_name=true)``,
  with the log's column types (a column missing from older exports reads as NULL; a
  table never exported reads as empty). The files are read in place, never copied.

Rows are ordered by time, then by the order they were logged: ``rowid`` in a log, the
file and row number in Parquet (:attr:`Source.seq`).

Example:
    >>> import os, tempfile
    >>> from luminora_nb.sessionlog import SessionLog
    >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
    >>> with open_source(log) as src:
    ...     int(src.query("SELECT count(*) AS n FROM messages")["n"][0])
    0
    >>> log.close()
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from ..sessionlog import SessionLog, SessionLogError
from ..sessionlog._export import EXPORT_TABLES
from ..sessionlog._readers import frame_of
from ..sessionlog._schema import MIGRATIONS

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = ["Source", "SourceLike", "open_source"]

#: What every reader accepts: a log, the path of a log file, or a folder of Parquet exports.
SourceLike: TypeAlias = "SessionLog | str | os.PathLike[str]"


class Source:
    """Runs read-only SQL against a log or a Parquet folder; use :func:`open_source`."""

    kind: str
    """``"log"`` or ``"parquet"``."""

    def __init__(self, kind: str, *, log: SessionLog | None = None, con: Any = None, where: str) -> None:
        self.kind = kind
        self._log = log
        self._con: duckdb.DuckDBPyConnection | None = con
        self.where = where

    def seq(self, desc: bool = False, *, view: bool = False) -> str:
        """The ORDER BY terms giving the order rows were logged in (after ``ts``).

        ``view``: for the ``ratings`` view (its ``seq`` column is the events row id in a log).
        """
        terms = (["seq"] if view else ["rowid"]) if self.kind == "log" else ["_file", "_row"]
        return ", ".join(f"{t} DESC" if desc else t for t in terms)

    def seq_columns(self) -> str:
        """Select-list items naming the logged order as ``_``-columns (for ``order_by``)."""
        return "rowid AS _seq" if self.kind == "log" else "_file, _row"

    def seq_keys(self) -> tuple[str, ...]:
        """The ``order_by`` keys of :meth:`seq_columns`."""
        return ("_seq",) if self.kind == "log" else ("_file", "_row")

    def query(
        self, sql: str, params: dict[str, Any] | None = None, *, order_by: tuple[str, ...] = ()
    ) -> pd.DataFrame:
        """``sql`` as a DataFrame, sorted by ``order_by`` in Arrow if given (see
        :func:`~luminora_nb.sessionlog._readers.frame_of`; ``_``-keys are dropped)."""
        if self._log is not None:
            return self._log._query(sql, params, order_by=order_by)
        assert self._con is not None
        return frame_of(self._con, sql, params, order_by=order_by)

    def __repr__(self) -> str:
        return f"<Source {self.kind} {self.where!r}>"


@contextlib.contextmanager
def open_source(source: SourceLike | Source) -> Iterator[Source]:
    """A :class:`Source` for ``source``, closed (if opened here) on exit.

    Raises:
        SessionLogError: ``source`` is not a log, a file or a directory; the path does not
            exist; the directory holds no Parquet export.
    """
    if isinstance(source, Source):
        yield source
        return
    if isinstance(source, SessionLog):
        yield Source("log", log=source, where=str(source.path))
        return
    if not isinstance(source, str | os.PathLike):
        raise SessionLogError(
            f"analytics read a SessionLog, the path of a log file or a folder of Parquet exports, "
            f"not {type(source).__name__}"
        )
    path = Path(os.fspath(source)).expanduser()
    if path.is_dir():
        con = _parquet_connection(path)
        try:
            yield Source("parquet", con=con, where=str(path))
        finally:
            con.close()
        return
    if not path.exists():
        raise SessionLogError(
            f"no session log or Parquet export folder at {path}; pass a log file (such as "
            "luminora.duckdb), a SessionLog, or the folder given to export_parquet"
        )
    log = SessionLog(path, flush_interval=3600.0)
    try:
        yield Source("log", log=log, where=str(path))
    finally:
        log.close()


def _parquet_connection(folder: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per exported table over ``folder``'s Parquet files."""
    import duckdb

    found = {t: any((folder / t).glob("**/*.parquet")) for t in EXPORT_TABLES}
    if not any(found.values()):
        raise SessionLogError(
            f"{folder} holds no Parquet export of a session log (no {'/, '.join(EXPORT_TABLES)}/ folders "
            "with .parquet files); export one with SessionLog.export_parquet(folder), or pass a log file"
        )
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("ATTACH ':memory:' AS proto")
        con.execute("USE proto")
        for step in MIGRATIONS:  # the log's tables, empty: their columns and types
            for statement in step.statements:
                con.execute(statement)
        con.execute("USE memory")
        for table in EXPORT_TABLES:
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'proto' "
                "AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            con.execute(_view(folder, table, columns, found[table], con))
        con.execute(
            "CREATE VIEW ratings AS SELECT ts, payload->>'run_id' AS run_id, payload->>'blend' AS blend, "
            "payload->>'prompt' AS prompt, CAST(payload->>'repeat' AS INTEGER) AS \"repeat\", "
            "CAST(payload->>'rating' AS INTEGER) AS rating, payload->>'note' AS note, session_id, host, pid, "
            "_file, _row FROM events WHERE type = 'rating'"
        )
        con.execute("DETACH proto")
    except BaseException:
        con.close()
        raise
    return con


def _view(
    folder: Path, table: str, columns: list[tuple[str, str]], has_files: bool, con: duckdb.DuckDBPyConnection
) -> str:
    if not has_files:
        nulls = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in columns)
        return (
            f"CREATE VIEW {table} AS SELECT {nulls}, NULL::VARCHAR AS _file, NULL::BIGINT AS _row WHERE false"
        )
    pattern = str(folder / table / "**" / "*.parquet").replace("'", "''")
    scan = (
        f"read_parquet('{pattern}', hive_partitioning=true, union_by_name=true, filename=true, "
        "file_row_number=true)"
    )
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    select = ", ".join(
        f'CAST("{name}" AS {kind}) AS "{name}"' if name in present else f'CAST(NULL AS {kind}) AS "{name}"'
        for name, kind in columns
    )
    return f"CREATE VIEW {table} AS SELECT {select}, filename AS _file, file_row_number AS _row FROM {scan}"
