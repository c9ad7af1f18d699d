"""The session log's tables as pandas DataFrames, from a log or a folder of Parquet exports.

These are the base frames every other analysis builds on; each function takes a
:data:`~luminora_nb.analytics._source.SourceLike` (a :class:`~luminora_nb.sessionlog.SessionLog`,
the path of a log file, or a folder of :meth:`~luminora_nb.sessionlog.SessionLog.export_parquet`
exports) and returns a plain DataFrame with the same columns and order whichever the
source is, so one notebook works on one machine's log and on a team's shared folder.

* :func:`sessions`, :func:`messages`, :func:`events`, :func:`blends`: the tables.
* :func:`ratings`: the compare grid's thumbs up/down, the latest per
  (run, blend, prompt, repeat), as :meth:`SessionLog.ratings` gives them.
* :func:`payloads`: the events of some types with their JSON payload spread into
  columns; the v1.1 frames in :mod:`luminora_nb.analytics.memory` are built on it.

Example:
    >>> import os, tempfile
    >>> from luminora_nb.sessionlog import SessionLog
    >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
    >>> log.record_rating(blend="av", prompt="Hi!", rating=1)
    >>> ratings(log)[["blend", "rating"]].values.tolist()
    [['av', 1]]
    >>> log.close()
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._source import Source, SourceLike, open_source

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MESSAGE_COLUMNS", "blends", "events", "messages", "payloads", "ratings", "sessions"]

#: The columns of :func:`messages`, in order.
MESSAGE_COLUMNS = (
    "session_id",
    "turn_index",
    "role",
    "content",
    "ts",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "latency_ms",
    "finish_reason",
    "streamed",
    "personality",
    "provider",
    "model",
    "user_id",
    "host",
    "pid",
)


def _where(**filters: str | None) -> tuple[str, dict[str, Any]]:
    clauses = [f"{name} = ${name}" for name, value in filters.items() if value is not None]
    params = {name: value for name, value in filters.items() if value is not None}
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _lists(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """DuckDB gives numpy arrays and NA for list columns: lists and None read better."""
    import pandas as pd

    values = [
        v.tolist() if hasattr(v, "tolist") else v if isinstance(v, list) else None for v in frame[column]
    ]
    frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return frame


def sessions(source: SourceLike | Source, user_id: str | None = None) -> pd.DataFrame:
    """Sessions (of one user if given), oldest first.

    Columns: ``session_id, personality, blend_sources, blend_weights, blend_type,
    provider, model, user_id, created_at, resumed, host, pid``.
    """
    where, params = _where(user_id=user_id)
    with open_source(source) as src:
        frame = src.query(
            "SELECT session_id, personality, blend_sources, blend_weights, blend_type, provider, model, "
            f"user_id, created_at, resumed, host, pid FROM sessions {where} ORDER BY created_at, {src.seq()}",
            params,
        )
    return _lists(frame, "blend_sources")


def messages(
    source: SourceLike | Source, session_id: str | None = None, *, personality: str | None = None
) -> pd.DataFrame:
    """Messages (of one session / personality if given) by time, a turn's user row first.

    Tokens, latency and finish reason are on the assistant rows (NA on user rows).
    Columns: :data:`MESSAGE_COLUMNS`.

    Example:
        >>> import os, tempfile
        >>> from luminora_nb.sessionlog import SessionLog
        >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
        >>> list(messages(log).columns) == list(MESSAGE_COLUMNS)
        True
        >>> log.close()
    """
    where, params = _where(session_id=session_id, personality=personality)
    with open_source(source) as src:
        # sorted in Arrow, not by DuckDB's ORDER BY: half the time over a million rows
        return src.query(
            f"SELECT {', '.join(MESSAGE_COLUMNS)}, CASE role WHEN 'user' THEN 0 ELSE 1 END AS _role_rank, "
            f"{src.seq_columns()} FROM messages {where}",
            params,
            order_by=("ts", "turn_index", "_role_rank", *src.seq_keys()),
        )


def events(
    source: SourceLike | Source, type: str | None = None, session_id: str | None = None
) -> pd.DataFrame:
    """Events (of one type / session if given) in the order they were published.

    Columns: ``ts, type, session_id, payload`` (JSON text), ``host, pid``.
    """
    where, params = _where(type=type, session_id=session_id)
    with open_source(source) as src:
        return src.query(
            f"SELECT ts, type, session_id, payload, host, pid FROM events {where} ORDER BY ts, {src.seq()}",
            params,
        )


def blends(source: SourceLike | Source) -> pd.DataFrame:
    """Blends created by the logged clients, oldest first.

    Columns: ``name, sources, weights`` (JSON text), ``blend_type, ts, host``.
    """
    with open_source(source) as src:
        frame = src.query(
            f"SELECT name, sources, weights, blend_type, ts, host FROM blends ORDER BY ts, {src.seq()}"
        )
    return _lists(frame, "sources")


def ratings(source: SourceLike | Source, run_id: str | None = None) -> pd.DataFrame:
    """The latest rating per (run_id, blend, prompt, repeat) from the compare grid.

    Columns: ``ts, run_id, blend, prompt, repeat, rating`` (-1, 0 or 1), ``note, session_id, host``.
    """
    where, params = _where(run_id=run_id)
    with open_source(source) as src:
        return src.query(
            'SELECT ts, run_id, blend, prompt, "repeat", rating, note, session_id, host FROM ratings '
            f'{where} QUALIFY row_number() OVER (PARTITION BY run_id, blend, prompt, "repeat" '
            f"ORDER BY ts DESC, {src.seq(desc=True, view=True)}) = 1 ORDER BY ts, {src.seq(view=True)}",
            params,
        )


def payloads(
    source: SourceLike | Source,
    types: str | Iterable[str],
    columns: Mapping[str, str],
    *,
    session_id: str | None = None,
) -> pd.DataFrame:
    """Events of ``types`` with the payload keys ``columns`` as typed columns.

    Events are read by their ``type`` column, so event types this version does not
    define (or that newer versions add) are read the same way. A key missing from a
    payload gives a missing value; the frame has the columns even with no rows.

    Args:
        source: A log, a log file or a Parquet export folder.
        types: Event type names (``"fact_learned"``, ...).
        columns: Payload key -> pandas dtype (``"string"``, ``"float64"``, ``"Int64"``,
            ``"object"``, ``"datetime64[ns, UTC]"``) of the wanted columns.
        session_id: Only this session's events.

    Returns:
        Columns ``ts, type, session_id, host`` then ``columns`` in the given order.

    Example:
        >>> import os, tempfile
        >>> from luminora_nb.sessionlog import SessionLog
        >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
        >>> log.record_rating(blend="av", prompt="Hi!", rating=-1)
        >>> frame = payloads(log, "rating", {"blend": "string", "rating": "Int64"})
        >>> frame[["blend", "rating"]].values.tolist()
        [['av', -1]]
        >>> log.close()
    """
    import pandas as pd

    wanted = [types] if isinstance(types, str) else list(types)
    where = "WHERE list_contains($types, type)" + (" AND session_id = $sid" if session_id is not None else "")
    params: dict[str, Any] = {"types": wanted}
    if session_id is not None:
        params["sid"] = session_id
    with open_source(source) as src:
        frame = src.query(
            f"SELECT ts, type, session_id, host, payload FROM events {where} ORDER BY ts, {src.seq()}", params
        )
    records = [json.loads(p) if isinstance(p, str) else {} for p in frame.pop("payload")]
    for name, dtype in columns.items():
        values = [r.get(name) if isinstance(r, dict) else None for r in records]
        if dtype.startswith("datetime"):
            frame[name] = pd.to_datetime(pd.Series(values, index=frame.index, dtype=object), utc=True)
        else:
            frame[name] = pd.Series(values, index=frame.index, dtype=object).astype(dtype)
    return frame
