"""Analysis of what the client did: DataFrames and plots from a session log or Parquet exports.

Everything here reads; nothing changes a log. Each reader takes a *source*: a
:class:`~luminora_nb.sessionlog.SessionLog`, the path of its DuckDB file, or a folder
of Parquet exports (:func:`export_parquet`, partitioned by day and host so a team's
machines share one folder); the result is a plain pandas DataFrame with the same
columns whichever it is (:mod:`luminora_nb.analytics._source`).

One module per concern:

* :mod:`~luminora_nb.analytics.frames`: ``sessions``, ``messages``, ``events``,
  ``blends``, ``ratings`` (the compare grid's), ``payloads`` (events spread into columns).
* :mod:`~luminora_nb.analytics.memory`: v1.1 ``facts``, ``episodes``, ``affinity``,
  ``moods``, ``sentiment`` from the events table (read by event type).
* :mod:`~luminora_nb.analytics.usage`: tokens, turns and latency p50/p95 per provider,
  model and blend (``usage``; ``usage_table`` over any messages frame).
* :mod:`~luminora_nb.analytics.session`: the metrics of one session from its stored
  messages and events (``session_analytics``), what ``get_session_analytics`` returns.
* :mod:`~luminora_nb.analytics.snapshots`: snapshot files (one, many, or a folder of
  many users' and machines') as frames — ``snapshot_summary``, ``snapshot_facts``,
  ``snapshot_episodes``, ``snapshot_affinity``, ``snapshot_messages`` — and
  ``diff_snapshots(old, new)``: what was learned, forgotten or changed in between.
* :mod:`~luminora_nb.analytics.plots`: ``plot_*`` functions returning matplotlib Figures
  (of the log's frames and of the snapshot frames alike).
* :mod:`~luminora_nb.analytics.export`: ``export_parquet(log, folder)``.

pandas is imported by the readers, matplotlib only by the plots; ``import
luminora_nb`` imports neither.

**Beyond one machine.** Each machine exports its log into one shared folder
(``export_parquet(log, "/shared/luminora")``: ``<table>/day=.../host=.../log-<id>_0.parquet``,
re-exports replace only that log's files); a bucket is used through a mount or a sync
of that folder. The folder is plain hive-partitioned Parquet, read in place by any
engine, with no code of ours:

* here: every reader above, given the folder;
* DuckDB: ``SELECT ... FROM read_parquet('/shared/luminora/messages/**/*.parquet',
  hive_partitioning=true)`` (:mod:`~luminora_nb.analytics.usage` shows the usage table in SQL);
* Dask: ``dask.dataframe.read_parquet('/shared/luminora/messages')`` on a
  ``distributed`` cluster, tested to give :func:`usage`'s table
  (``tests/test_analytics_dask.py``);
* Spark: ``spark.read.parquet('/shared/luminora/messages')`` (``day`` and ``host``
  become partition columns; ``payload`` is JSON text for ``from_json``).

Example:
    >>> import asyncio, os, tempfile
    >>> from luminora_nb import LuminoraCoreClient
    >>> from luminora_nb.sessionlog import SessionLog
    >>> folder = tempfile.mkdtemp()
    >>> log = SessionLog(os.path.join(folder, "luminora.duckdb"))
    >>> async def chat():
    ...     async with LuminoraCoreClient(session_log=log) as client:
    ...         sid = await client.create_session("aurora")
    ...         await client.send_message(sid, "Hello!")
    >>> asyncio.run(chat())
    >>> shared = export_parquet(log, os.path.join(folder, "exports")).folder
    >>> usage(log).equals(usage(shared))
    True
    >>> log.close()
"""

from __future__ import annotations

from . import plots
from ._source import Source, SourceLike, open_source
from .export import export_parquet
from .frames import MESSAGE_COLUMNS, blends, events, messages, payloads, ratings, sessions
from .memory import SENTIMENT_SCORES, affinity, episodes, facts, moods, sentiment, sentiment_score
from .plots import *  # noqa: F403 (the plot functions: plots.__all__ lists them)
from .session import SessionAnalytics, percentile, session_analytics, session_analytics_from_log
from .snapshots import (
    DIFF_COLUMNS,
    LoadedSnapshot,
    SnapshotsLike,
    diff_snapshots,
    latest_snapshots,
    load_snapshots,
    snapshot_affinity,
    snapshot_episodes,
    snapshot_facts,
    snapshot_messages,
    snapshot_summary,
)
from .usage import USAGE_COLUMNS, USAGE_KEYS, usage, usage_table

__all__ = [
    "DIFF_COLUMNS",
    "MESSAGE_COLUMNS",
    "SENTIMENT_SCORES",
    "USAGE_COLUMNS",
    "USAGE_KEYS",
    "LoadedSnapshot",
    "SessionAnalytics",
    "SnapshotsLike",
    "Source",
    "SourceLike",
    "affinity",
    "blends",
    "diff_snapshots",
    "episodes",
    "events",
    "export_parquet",
    "facts",
    "latest_snapshots",
    "load_snapshots",
    "messages",
    "moods",
    "open_source",
    "payloads",
    "percentile",
    "ratings",
    "sentiment",
    "sentiment_score",
    "session_analytics",
    "session_analytics_from_log",
    "sessions",
    "snapshot_affinity",
    "snapshot_episodes",
    "snapshot_facts",
    "snapshot_messages",
    "snapshot_summary",
    "usage",
    "usage_table",
]
__all__ += plots.__all__  # the plot functions, listed once, in their module
