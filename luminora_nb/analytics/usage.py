"""Usage by provider, model and blend: turns, tokens in and out, latency percentiles.

One row per group of the assistant messages (each turn's reply carries its tokens and
latency; see :mod:`luminora_nb.sessionlog._schema`). ``blend`` is the personality that
answered: a shipped persona's name or a blend's registered name (``aurora70_vex30``);
:func:`luminora_nb.analytics.sessions` says which sessions were blends of what.

The computation is :func:`usage_table`, plain pandas over a messages frame, so the same
numbers come from a log, a folder of Parquet exports (:func:`usage`) or any engine that
reads those files: ``tests/test_analytics_dask.py`` computes this table with Dask on a
``distributed.LocalCluster`` and checks it equals this one. The same in DuckDB SQL over
the exports::

    SELECT provider, model, personality AS blend, count(DISTINCT session_id) AS sessions,
           count(*) AS turns, sum(prompt_tokens) AS tokens_in, sum(completion_tokens) AS tokens_out,
           quantile_cont(latency_ms, 0.5) AS latency_p50_ms, quantile_cont(latency_ms, 0.95) AS latency_p95_ms
    FROM read_parquet('folder/messages/**/*.parquet', hive_partitioning=true)
    WHERE role = 'assistant' GROUP BY ALL ORDER BY ALL

Percentiles interpolate linearly between the two nearest latencies (numpy's and
pandas' default, DuckDB's ``quantile_cont``).

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"session_id": "s1", "role": ["user", "assistant", "assistant"],
    ...     "provider": "offline", "model": "sim", "personality": "aurora", "prompt_tokens": [None, 10, 20],
    ...     "completion_tokens": [None, 5, 7], "latency_ms": [None, 1.0, 3.0]})
    >>> table = usage_table(frame)
    >>> table[["turns", "tokens_in", "tokens_out"]].values.tolist(), table["latency_p50_ms"].tolist()
    ([[2, 30, 12]], [2.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._source import Source, SourceLike
from .frames import messages

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["USAGE_COLUMNS", "USAGE_KEYS", "usage", "usage_table"]

#: What a group can be keyed by, and the messages column each key reads.
USAGE_KEYS = {
    "provider": "provider",
    "model": "model",
    "blend": "personality",
    "host": "host",
    "user_id": "user_id",
}

#: The measure columns of :func:`usage_table`, after the group keys.
USAGE_COLUMNS = (
    "sessions",
    "turns",
    "tokens_in",
    "tokens_out",
    "total_tokens",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
)


def usage_table(frame: pd.DataFrame, by: Sequence[str] = ("provider", "model", "blend")) -> pd.DataFrame:
    """Usage per group of ``by`` from a messages frame (:func:`~luminora_nb.analytics.messages`).

    Args:
        frame: Messages, with at least ``session_id, role, prompt_tokens,
            completion_tokens, latency_ms`` and the columns of ``by``.
        by: Group keys among :data:`USAGE_KEYS` (``blend`` reads ``personality``).

    Returns:
        The keys, then :data:`USAGE_COLUMNS`: distinct sessions, turns (assistant
        messages), summed prompt/completion tokens, mean, p50 and p95 latency in ms;
        sorted by the keys. A missing key value (no model logged) is the group ``""``.

    Raises:
        ValueError: a key of ``by`` is not one of :data:`USAGE_KEYS`.
    """
    import pandas as pd

    keys = list(by)
    unknown = [k for k in keys if k not in USAGE_KEYS]
    if unknown or not keys:
        raise ValueError(f"usage groups by some of {sorted(USAGE_KEYS)}, got {keys!r}")
    replies = frame[frame["role"] == "assistant"]
    data = pd.DataFrame(
        {key: replies[USAGE_KEYS[key]].astype("string").fillna("").to_numpy() for key in keys}
        | {
            "session_id": replies["session_id"].to_numpy(),
            "tokens_in": pd.to_numeric(replies["prompt_tokens"]).astype("float64").to_numpy(),
            "tokens_out": pd.to_numeric(replies["completion_tokens"]).astype("float64").to_numpy(),
            "latency_ms": pd.to_numeric(replies["latency_ms"]).astype("float64").to_numpy(),
        }
    )
    grouped = data.groupby(keys, sort=True, dropna=False)
    table = grouped.agg(
        sessions=("session_id", "nunique"),
        turns=("session_id", "size"),
        tokens_in=("tokens_in", "sum"),
        tokens_out=("tokens_out", "sum"),
        latency_mean_ms=("latency_ms", "mean"),
    )
    latency = grouped["latency_ms"]
    table["latency_p50_ms"] = latency.quantile(0.5)
    table["latency_p95_ms"] = latency.quantile(0.95)
    table = table.reset_index()
    for column in ("sessions", "turns", "tokens_in", "tokens_out"):
        table[column] = table[column].astype("int64")
    table["total_tokens"] = table["tokens_in"] + table["tokens_out"]
    return table[[*keys, *USAGE_COLUMNS]]


def usage(source: SourceLike | Source, by: Sequence[str] = ("provider", "model", "blend")) -> pd.DataFrame:
    """Usage per provider / model / blend (or other :data:`USAGE_KEYS`) of a log or Parquet folder.

    Example:
        >>> import asyncio, os, tempfile
        >>> from luminora_nb import LuminoraCoreClient
        >>> from luminora_nb.sessionlog import SessionLog
        >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
        >>> async def chat():
        ...     async with LuminoraCoreClient(session_log=log) as client:
        ...         sid = await client.create_session("aurora")
        ...         await client.send_message(sid, "Hello!")
        ...         await client.send_message(sid, "How are you?")
        >>> asyncio.run(chat())
        >>> usage(log)[["provider", "blend", "sessions", "turns"]].values.tolist()
        [['offline', 'aurora', 1, 2]]
        >>> log.close()
    """
    return usage_table(messages(source), by)
