"""The session log as Parquet files partitioned by day and host, for many machines at once.

:meth:`SessionLog.export_parquet(folder) <luminora_nb.sessionlog.SessionLog.export_parquet>`
writes each table of the log into ``folder`` as hive-partitioned Parquet::

    folder/
      sessions/day=2026-11-30/host=lab-1/log-3f2a9c0d1e4b5a6f_0.parquet
      messages/day=2026-11-30/host=lab-1/log-3f2a9c0d1e4b5a6f_0.parquet
      events/...   blends/...

* **Partitions.** ``day`` is the UTC date of the row's time (``ts``; ``created_at`` for
  sessions) and ``host`` the writer's host name (``unknown`` when none was logged).
  Partition columns are not stored inside the files: readers get them back from the
  folder names (``hive_partitioning``).
* **Many machines, one folder.** A file's name carries the export's *log id*: a hash of
  the log's host name and the file's real path. Exports of other logs, on this or any
  other machine, never touch it; exporting the same log again rewrites its own files
  with the whole log (logs only grow), so re-exporting is idempotent and never
  duplicates rows. ``folder`` may be a shared directory or a mounted bucket.
* **DuckDB writes the files** (one ``COPY`` per partition, or one ``COPY ...
  PARTITION_BY`` per table for logs spanning many days; from a read-only connection in
  UTC taken under the log's lock, like a read), in the order rows were logged, so
  ``(ts, file row number)`` orders a partition as the log does.

Reading the files back, with no code of ours (``folder`` is the export folder):

* DuckDB: ``SELECT * FROM read_parquet('folder/messages/**/*.parquet', hive_partitioning=true)``.
* pandas / pyarrow: ``pandas.read_parquet('folder/messages')``.
* Dask: ``dask.dataframe.read_parquet('folder/messages')`` (tested on a
  ``distributed.LocalCluster`` in ``tests/test_analytics_dask.py``).
* Spark: ``spark.read.parquet('folder/messages')`` discovers ``day`` and ``host`` as
  partition columns; add ``.option("basePath", "folder/messages")`` when reading only
  some partitions (``folder/messages/day=2026-11-30``). JSON columns (``payload``,
  ``blend_weights``, ``weights``) are strings there: ``from_json`` or ``get_json_object``.

:mod:`luminora_nb.analytics` reads a folder of exports exactly as it reads a log file.

Example:
    >>> import os, tempfile
    >>> from luminora_nb.sessionlog import SessionLog
    >>> folder = tempfile.mkdtemp()
    >>> log = SessionLog(os.path.join(folder, "log.duckdb"), host="lab-1")
    >>> log.record_rating(blend="av", prompt="Hi!", rating=1)
    >>> export = log.export_parquet(os.path.join(folder, "exports"))
    >>> export.rows["events"], [p.parent.name for p in export.files]
    (1, ['host=lab-1'])
    >>> log.close()
"""

from __future__ import annotations

import datetime
import hashlib
import html
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ._connection import LockTimeout, connect, path_lock
from ._errors import SessionLogError
from ._schema import SCHEMA_VERSION, schema_version, too_new

if TYPE_CHECKING:
    import duckdb

    from ._readers import LogReaders

__all__ = ["EXPORT_TABLES", "ParquetExport", "export_parquet", "log_id"]

#: The exported tables and the column giving each row's day (``ratings`` is a view of ``events``).
EXPORT_TABLES: dict[str, str] = {"sessions": "created_at", "messages": "ts", "events": "ts", "blends": "ts"}


@dataclass
class ParquetExport:
    """What :func:`export_parquet` wrote: the folder, the files, the rows per table."""

    folder: Path
    log_path: Path
    log_id: str
    host: str
    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={count}" for name, count in self.rows.items())
        return f"<ParquetExport {str(self.folder)!r} {counts} files={len(self.files)}>"

    def _repr_html_(self) -> str:
        rows = [("folder", str(self.folder)), ("from log", str(self.log_path)), ("host", self.host)]
        rows.append(("log id", self.log_id))
        rows += [(f"{name} rows", f"{count:,}") for name, count in self.rows.items()]
        rows += [("files", str(len(self.files))), ("seconds", f"{self.seconds:.3f}")]
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
            f"{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<b>Parquet export</b><table>{cells}</table>"


def log_id(host: str, path: Path) -> str:
    """The id in an export's file names: the same log always gets the same one.

    Example:
        >>> log_id("lab-1", Path("/data/luminora.duckdb")) == log_id("lab-1", Path("/data/luminora.duckdb"))
        True
        >>> log_id("lab-1", Path("/a.duckdb")) != log_id("lab-2", Path("/a.duckdb"))
        True
    """
    key = f"{host}\0{os.path.realpath(path)}".encode("utf-8", "replace")
    return hashlib.sha256(key).hexdigest()[:16]


def export_parquet(log: LogReaders, folder: str | os.PathLike[str]) -> ParquetExport:
    """Write ``log``'s tables to ``folder`` as Parquet partitioned by day and host.

    Args:
        log: The session log (buffered events are flushed first).
        folder: The export folder, created if missing; may hold other logs' exports.

    Returns:
        A :class:`ParquetExport` naming the files written and the rows per table.

    Raises:
        SessionLogError: ``folder`` is a file or cannot be created, the log file was
            written by a newer luminora_nb, or DuckDB cannot write the files.
    """
    target = Path(os.fspath(folder)).expanduser()
    if target.exists() and not target.is_dir():
        raise SessionLogError(
            f"export folder {target} is a file; pass a directory (it is created if missing)"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SessionLogError(
            f"cannot create export folder {target}: {exc}; pass a writable directory"
        ) from None
    started = time.perf_counter()
    ident = log_id(log.host, log.path)
    result = ParquetExport(folder=target, log_path=log.path, log_id=ident, host=log.host)
    log.flush()
    _ensure_current_schema(log)
    if log.path.exists():
        with path_lock(log._key):
            try:
                con = connect(log.path, read_only=True, timeout=log.lock_timeout, on_retry=log._retried)
            except LockTimeout:
                raise
            except Exception as exc:
                raise SessionLogError(f"cannot read session log {log.path}: {exc}") from None
            try:
                if schema_version(con) == SCHEMA_VERSION:
                    for table, day_column in EXPORT_TABLES.items():
                        result.rows[table] = _copy(con, table, day_column, target, ident)
            finally:
                con.close()
    for table in EXPORT_TABLES:
        result.rows.setdefault(table, 0)
        result.files += sorted((target / table).glob(f"day=*/host=*/log-{ident}_*.parquet"))
    result.seconds = time.perf_counter() - started
    return result


def _ensure_current_schema(log: LogReaders) -> None:
    """Migrate an older file first (a write, as readers do); refuse a newer one."""
    if not log.path.exists():
        return
    with path_lock(log._key):
        con = connect(log.path, read_only=True, timeout=log.lock_timeout, on_retry=log._retried)
        try:
            version = schema_version(con)
        finally:
            con.close()
    if version > SCHEMA_VERSION:
        raise too_new(log.path, version)
    if 0 < version < SCHEMA_VERSION:
        log._write({})


def _copy(con: duckdb.DuckDBPyConnection, table: str, day_column: str, target: Path, ident: str) -> int:
    """One table to ``target/table/day=*/host=*/log-<ident>_0.parquet``; the rows written."""
    count = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    if not count:
        return 0
    parts = con.execute(
        f"SELECT DISTINCT CAST({day_column} AS DATE), coalesce(host, 'unknown') FROM {table}"
    ).fetchall()
    try:
        if len(parts) <= _SEPARATE_COPIES:
            for day, host in parts:
                _copy_part(con, table, day_column, target, ident, day, host)
        else:
            _copy_partitioned(con, table, day_column, target, ident)
    except Exception as exc:
        raise SessionLogError(
            f"cannot write the {table} table as Parquet under {target / table}: {exc}; check that the "
            "folder is writable and has free space"
        ) from None
    return int(count)


# Up to this many (day, host) partitions per table, each is written by its own COPY
# with a range filter on the time: logs are appended in time order, so DuckDB's zone
# maps skip the other days' row groups and the export writes a million messages in
# less time than one unpartitioned COPY; DuckDB's PARTITION_BY takes about twice that.
# Beyond (a log spanning months), one PARTITION_BY COPY scans the table once.
_SEPARATE_COPIES = 64


def _copy_part(
    con: duckdb.DuckDBPyConnection,
    table: str,
    day_column: str,
    target: Path,
    ident: str,
    day: datetime.date | None,
    host: str,
) -> None:
    # Folder names as DuckDB's PARTITION_BY writes them: values URI-escaped, NULL as NULL.
    folder = target / table / f"day={day if day is not None else 'NULL'}" / f"host={quote(host, safe='')}"
    folder.mkdir(parents=True, exist_ok=True)
    out = str(folder / f"log-{ident}_0.parquet").replace("'", "''")
    params: dict[str, object] = {"host": host}
    if day is None:
        when = f"{day_column} IS NULL"
    else:
        when = f"{day_column} >= $day AND {day_column} < $day + INTERVAL 1 DAY"
        params["day"] = day
    # The host partition replaces the host column (a NULL host is 'unknown'). No ORDER
    # BY: a plain scan keeps the logged order (DuckDB's preserve_insertion_order).
    con.execute(
        f"COPY (SELECT * EXCLUDE (host) FROM {table} WHERE {when} AND coalesce(host, 'unknown') = $host) "
        f"TO '{out}' (FORMAT parquet)",
        params,
    )


def _copy_partitioned(
    con: duckdb.DuckDBPyConnection, table: str, day_column: str, target: Path, ident: str
) -> None:
    out = str(target / table).replace("'", "''")
    con.execute(
        f"COPY (SELECT * EXCLUDE (host), CAST({day_column} AS DATE) AS day, "
        f"coalesce(host, 'unknown') AS host FROM {table}) TO '{out}' "
        "(FORMAT parquet, PARTITION_BY (day, host), "
        f"FILENAME_PATTERN 'log-{ident}_{{i}}', OVERWRITE_OR_IGNORE)"
    )
