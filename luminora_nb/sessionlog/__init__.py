"""The DuckDB log of every session, turn and event, for analytics in pandas.

:class:`SessionLog` subscribes to one or more clients' :class:`~luminora_nb.events.EventBus`
and appends what they publish to a DuckDB file (``luminora.duckdb`` by default): tables
``sessions``, ``messages`` (two rows per turn), ``events`` (one row per event, its
payload as JSON), ``blends`` and the ``ratings`` view, plus ``meta`` with the schema
version.

The package, one concern per module:

* :mod:`~luminora_nb.sessionlog._schema`: the tables and the :data:`MIGRATIONS` creating
  them; a file's version, upgrading it, refusing a newer one.
* :mod:`~luminora_nb.sessionlog._scrub`: secrets out of payloads and error texts
  (:func:`scrub_text`).
* :mod:`~luminora_nb.sessionlog._rows`: the pure part of a flush: buffered events to
  typed columns to Arrow tables, and the ``INSERT ... SELECT`` statements that make the
  rows (a turn's payload is built by DuckDB, not by Python).
* :mod:`~luminora_nb.sessionlog._connection`: one lock per file per process, retries
  with backoff while another process holds the file.
* :mod:`~luminora_nb.sessionlog._writer`: the buffer, the background flusher, the one
  write transaction per flush, the warnings when writing fails.
* :mod:`~luminora_nb.sessionlog._readers`: the tables as DataFrames.
* :mod:`~luminora_nb.sessionlog._export`: the log as Parquet partitioned by day and
  host (:meth:`SessionLog.export_parquet`), for analysis across machines.
* :mod:`~luminora_nb.sessionlog._log`: :class:`SessionLog` itself: argument checks,
  attaching to clients, ratings.

In short: recording is cheap and never raises (a lock and a list append on the client's
event loop); writes are batched into one short transaction per flush, from a daemon
thread; no connection stays open between flushes, so two kernels can log to one file;
a failed write warns once and keeps its events for the next flush; credentials never
reach the file. Each module's docstring explains its part.

Example:
    >>> import asyncio, os, tempfile
    >>> from luminora_nb import LuminoraCoreClient
    >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "luminora.duckdb"))
    >>> async def chat():
    ...     async with LuminoraCoreClient(session_log=log) as client:
    ...         sid = await client.create_session("aurora")
    ...         await client.send_message(sid, "Hello!")
    >>> asyncio.run(chat())
    >>> log.messages()["role"].tolist()
    ['user', 'assistant']
    >>> log.close()
"""

from __future__ import annotations

from ._errors import SessionLogError, SessionLogWarning
from ._export import ParquetExport
from ._log import DEFAULT_PATH, RatingRecorded, SessionLog
from ._schema import MIGRATIONS, SCHEMA_VERSION, Migration
from ._scrub import scrub_text

__all__ = [
    "DEFAULT_PATH",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "ParquetExport",
    "RatingRecorded",
    "SessionLog",
    "SessionLogError",
    "SessionLogWarning",
    "scrub_text",
]
