"""Export a session log to a folder of Parquet files, for analysis across days and machines.

A thin entry point over :meth:`SessionLog.export_parquet
<luminora_nb.sessionlog.SessionLog.export_parquet>` that also takes the path of a log
file. The layout (``<table>/day=YYYY-MM-DD/host=NAME/log-<id>_0.parquet``), why many
machines can share one folder, and how DuckDB, pandas, Dask and Spark read it, are in
:mod:`luminora_nb.sessionlog._export`. Every reader of :mod:`luminora_nb.analytics`
takes the export folder wherever it takes a log.

Example:
    >>> import os, tempfile
    >>> from luminora_nb.analytics import ratings
    >>> from luminora_nb.sessionlog import SessionLog
    >>> folder = tempfile.mkdtemp()
    >>> with SessionLog(os.path.join(folder, "log.duckdb")) as log:
    ...     log.record_rating(blend="av", prompt="Hi!", rating=1)
    >>> export_parquet(os.path.join(folder, "log.duckdb"), os.path.join(folder, "shared")).rows["events"]
    1
    >>> ratings(os.path.join(folder, "shared"))["blend"].tolist()
    ['av']
"""

from __future__ import annotations

import os
from pathlib import Path

from ..sessionlog import ParquetExport, SessionLog, SessionLogError

__all__ = ["export_parquet"]


def export_parquet(log: SessionLog | str | os.PathLike[str], folder: str | os.PathLike[str]) -> ParquetExport:
    """Write ``log`` (a :class:`SessionLog` or the path of its file) to ``folder`` as Parquet.

    Raises:
        SessionLogError: the log file does not exist, ``folder`` is a file or not
            writable, or the log was written by a newer luminora_nb.
    """
    if isinstance(log, SessionLog):
        return log.export_parquet(folder)
    if not isinstance(log, str | os.PathLike):
        raise SessionLogError(
            f"export_parquet takes a SessionLog or a log file path, not {type(log).__name__}"
        )
    path = Path(os.fspath(log)).expanduser()
    if not path.is_file():
        raise SessionLogError(f"no session log file at {path}; pass the path of a luminora.duckdb log")
    with SessionLog(path, flush_interval=3600.0) as opened:
        return opened.export_parquet(folder)
