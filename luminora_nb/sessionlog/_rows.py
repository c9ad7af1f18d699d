"""The pure part of a flush: buffered events -> columns -> Arrow tables, and the INSERTs.

Nothing here does I/O; :mod:`luminora_nb.sessionlog._writer` opens the file and runs
:func:`statements` over the tables built from :func:`build`'s columns.

* **Turns as tuples.** The two events of every turn (``TurnStarted``,
  ``TurnCompleted``) reach the buffer as ``(tag, values)`` tuples read with
  :data:`TURN_FIELDS` / :data:`STARTED_FIELDS` (see ``SessionLog.record``); every other
  event as the object itself. :func:`build` also accepts the turn events as objects.
* **DuckDB builds the turn rows.** A turn becomes one row of the ``turns`` frame;
  the ``INSERT ... SELECT`` statements make its two ``messages`` rows and its ``events``
  row from it, its JSON payload included (the same keys and values as
  :meth:`TurnCompleted.to_record() <luminora_nb.events.TurnCompleted.to_record>`), so
  no Python JSON dump runs per turn. Other events are serialised here, scrubbed
  (:mod:`luminora_nb.sessionlog._scrub`). ``events`` rows keep the order the events
  were published in.
* **Typed columns.** A frame is ``{column: (kind, values)}`` with kind ``str``, ``int``,
  ``float``, ``bool``, ``ts`` or ``strlist``: built as Arrow arrays in one call per
  column; a column Arrow refuses (a lone surrogate, a wrong type) is cleaned value by
  value. Without pyarrow, pandas frames are built instead.

Example:
    >>> from luminora_nb.events import SessionCreated
    >>> batch = build([SessionCreated(session_id="s1", personality_name="aurora", provider="offline")])
    >>> sorted(batch.frames), batch.events, batch.skipped
    (['events', 'sessions'], 1, [])
    >>> [sql.split(" BY NAME")[0] for sql in statements(set(batch.frames))]
    ['INSERT INTO sessions', 'INSERT INTO events']
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from ..events import BlendCreated, Event, SessionCreated, TurnCompleted, TurnStarted
from ._scrub import clean_url, event_json, json_or_none

__all__ = [
    "STARTED_FIELDS",
    "TURN_COMPLETED",
    "TURN_FIELDS",
    "TURN_STARTED",
    "Batch",
    "Columns",
    "arrow_table",
    "build",
    "default_engine",
    "pandas_frame",
    "statements",
]

#: A frame: column name -> (kind, values); kinds map to Arrow types (built lazily) and pandas dtypes.
Columns = dict[str, tuple[str, Sequence[Any]]]


def _clean_str(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    # lone surrogates cannot be UTF-8: replaced by '?'
    return value.encode("utf-8", "replace").decode("utf-8")


def _coerce(kind: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        if kind == "str":
            return _clean_str(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            number = float(value)
            return number if math.isfinite(number) else None
        if kind == "bool":
            return bool(value)
        if kind == "ts":
            return value if isinstance(value, datetime) else None
        if kind == "strlist":
            return [_clean_str(v) for v in value]
    except (TypeError, ValueError, OverflowError):
        return None
    return value


def arrow_table(columns: Columns) -> Any:
    """``columns`` as a ``pyarrow.Table`` (one typed array per column)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "ts": pa.timestamp("us", tz="UTC"),
        "strlist": pa.list_(pa.string()),
    }
    arrays = {}
    for name, (kind, values) in columns.items():
        try:
            arrays[name] = pa.array(values, types[kind])
        except Exception:  # a lone surrogate, a wrong type: clean value by value
            arrays[name] = pa.array([_coerce(kind, v) for v in values], types[kind])
    return pa.table(arrays)


def pandas_frame(columns: Columns) -> Any:
    """``columns`` as a pandas DataFrame with nullable dtypes: when pyarrow is missing."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name, (kind, values) in columns.items():
        cleaned = [_coerce(kind, v) for v in values]
        if kind == "ts":
            data[name] = pd.to_datetime(pd.Series(cleaned, dtype=object), utc=True)
        elif kind == "int":
            data[name] = pd.array(cleaned, dtype="Int64")
        elif kind == "float":
            data[name] = pd.array(cleaned, dtype="Float64")
        elif kind == "bool":
            data[name] = pd.array(cleaned, dtype="boolean")
        else:
            data[name] = pd.Series(cleaned, dtype=object)
    return pd.DataFrame(data)


def default_engine() -> str:
    """``"arrow"`` when pyarrow is installed, else ``"pandas"``: what frames are built as."""
    return "arrow" if importlib.util.find_spec("pyarrow") is not None else "pandas"


TURN_FIELDS = attrgetter(
    "timestamp",
    "user_timestamp",
    "session_id",
    "turn_index",
    "user_message",
    "reply",
    "usage",
    "latency_ms",
    "finish_reason",
    "streamed",
    "personality_name",
    "provider",
    "model",
    "user_id",
    "affinity_points",
    "relationship_level",
    "mood",
)
STARTED_FIELDS = attrgetter("timestamp", "session_id", "personality_name", "user_message", "streamed")
TURN_COMPLETED, TURN_STARTED = "turn_completed", "turn_started"  # tags of buffered turn tuples


def _iso(column: str) -> str:
    return f"strftime({column}, '%Y-%m-%dT%H:%M:%S.%fZ')"


# The payload of a TurnCompleted, built by DuckDB from the turn's columns: the same keys
# and values as TurnCompleted.to_record(), without a Python JSON dump per turn.
_TURN_PAYLOAD = (
    "json_object('type', 'turn_completed', 'session_id', session_id, 'timestamp', "
    + _iso("ts")
    + ", 'personality_name', personality, 'provider', provider, 'model', model, 'user_id', user_id, "
    "'user_message', user_message, 'user_timestamp', "
    + _iso("user_ts")
    + ", 'reply', reply, 'finish_reason', finish_reason, 'usage', coalesce(CAST(usage_json AS JSON), "
    "json_object('prompt_tokens', prompt_tokens, 'completion_tokens', completion_tokens, "
    "'total_tokens', total_tokens)), 'latency_ms', CASE WHEN isfinite(latency_ms) THEN latency_ms END, "
    "'streamed', streamed, "
    "'turn_index', turn_index, 'affinity_points', affinity_points, "
    "'relationship_level', relationship_level, 'mood', mood)"
)
# ... and of a TurnStarted (same keys and order as TurnStarted.to_record()).
_STARTED_PAYLOAD = (
    "json_object('type', 'turn_started', 'session_id', session_id, 'timestamp', "
    + _iso("ts")
    + ", 'personality_name', personality, 'user_message', user_message, 'streamed', streamed)"
)
_COMMON = "streamed, personality, provider, model, user_id, $host AS host, $pid AS pid"


def statements(frames: set[str]) -> list[str]:
    """The INSERTs of one flush; frame ``x`` is registered as ``_luminora_x``."""
    out = []
    if "turns" in frames:
        out.append(
            "INSERT INTO messages BY NAME "
            "SELECT session_id, turn_index, 'user' AS role, user_message AS content, "
            f"coalesce(user_ts, ts) AS ts, {_COMMON} FROM _luminora_turns "
            "UNION ALL BY NAME "
            "SELECT session_id, turn_index, 'assistant' AS role, reply AS content, ts, prompt_tokens, "
            f"completion_tokens, total_tokens, latency_ms, finish_reason, {_COMMON} FROM _luminora_turns"
        )
    if "sessions" in frames:
        out.append(
            "INSERT INTO sessions BY NAME SELECT *, $host AS host, $pid AS pid FROM _luminora_sessions"
        )
    if "blends" in frames:
        out.append("INSERT INTO blends BY NAME SELECT *, $host AS host FROM _luminora_blends")
    parts = []
    if "events" in frames:
        parts.append(
            "SELECT pos, ts, type, session_id, CAST(payload AS JSON) AS payload FROM _luminora_events"
        )
    if "turns" in frames:
        parts.append(
            f"SELECT pos, ts, 'turn_completed' AS type, session_id, {_TURN_PAYLOAD} AS payload "
            "FROM _luminora_turns"
        )
    if "started" in frames:
        parts.append(
            f"SELECT pos, ts, 'turn_started' AS type, session_id, {_STARTED_PAYLOAD} AS payload "
            "FROM _luminora_started"
        )
    if parts:
        # in the order the events were published
        out.append(
            "INSERT INTO events BY NAME SELECT ts, type, session_id, payload, $host AS host, $pid AS pid "
            f"FROM ({' UNION ALL '.join(parts)}) ORDER BY pos"
        )
    return out


@dataclass
class Batch:
    """The columns of one flush, per table, and what :func:`build` made of the events."""

    frames: dict[str, Columns]
    events: int  # events that will be written
    skipped: list[tuple[str, str]]  # (event type, error) of events that could not be serialised


# The kinds of the staged columns that are not plain text, by name (one name, one kind in every frame).
_KINDS = {"pos": "int", "ts": "ts", "streamed": "bool"}
# The columns of the frames of the events whose every value is copied as it is, in order:
# a turn's start (the publication position, then STARTED_FIELDS) and any other event.
_STARTED_COLUMNS = ("pos", "ts", "session_id", "personality", "user_message", "streamed")
_EVENT_COLUMNS = ("pos", "ts", "type", "session_id", "payload")


def _typed(names: Sequence[str], columns: Sequence[Sequence[Any]]) -> Columns:
    """A frame of ``columns`` named ``names``, each of its kind (:data:`_KINDS`, else text)."""
    return {name: (_KINDS.get(name, "str"), values) for name, values in zip(names, columns, strict=True)}


def _usage(usages: Sequence[Any], key: str) -> list[Any]:
    return [u.get(key) if isinstance(u, dict) else None for u in usages]


def _usage_json(usage: Any) -> str | None:
    """``None`` for the usual three token counts (DuckDB builds them), else the dict as JSON."""
    if (
        type(usage) is dict
        and len(usage) == 3
        and type(usage.get("prompt_tokens")) is int
        and type(usage.get("completion_tokens")) is int
        and type(usage.get("total_tokens")) is int
    ):
        return None
    return json_or_none(usage if isinstance(usage, dict) else {})


def build(events: Sequence[Any]) -> Batch:
    """Columns of every table for ``events``; serialisation happens here, never in ``record``."""
    turns: list[tuple[Any, ...]] = []
    turn_pos: list[int] = []
    starts: list[tuple[Any, ...]] = []
    start_pos: list[int] = []
    ev_pos: list[int] = []
    ev_ts: list[Any] = []
    ev_type: list[str] = []
    ev_sid: list[Any] = []
    ev_payload: list[str] = []
    sessions: list[SessionCreated] = []
    blends: list[BlendCreated] = []
    skipped: list[tuple[str, str]] = []
    for pos, event in enumerate(events):
        cls = type(event)
        if cls is tuple:  # a turn's event, recorded as its values (see SessionLog.record)
            kind, values = event
            if kind is TURN_COMPLETED:  # the bulk: its rows and payload are built by DuckDB
                turns.append(values)
                turn_pos.append(pos)
            else:  # one per turn too: its payload is built by DuckDB as well
                starts.append(values)
                start_pos.append(pos)
            continue
        if cls is TurnCompleted:  # recorded before this version of record(), or by hand
            turns.append(TURN_FIELDS(event))
            turn_pos.append(pos)
            continue
        if cls is TurnStarted:
            starts.append(STARTED_FIELDS(event))
            start_pos.append(pos)
            continue
        if not isinstance(event, Event):
            continue
        try:
            payload = event_json(event)
            if cls is SessionCreated:
                sessions.append(event)  # type: ignore[arg-type]
            elif cls is BlendCreated:
                blends.append(event)  # type: ignore[arg-type]
        except Exception as exc:
            skipped.append((getattr(event, "type", cls.__name__), f"{type(exc).__name__}: {exc}"))
            continue
        ev_pos.append(pos)
        ev_ts.append(event.timestamp)
        ev_type.append(event.type)
        ev_sid.append(event.session_id)
        ev_payload.append(payload)

    frames: dict[str, Columns] = {}
    if turns:
        columns = tuple(zip(*turns, strict=True))
        ts, user_ts, sid, index, user_msg, reply, usage, latency, finish, streamed = columns[:10]
        persona, prov, model, uid, points, level, mood = columns[10:]
        clean = {p: clean_url(p) if isinstance(p, str) else p for p in set(prov)}
        frames["turns"] = {
            "pos": ("int", turn_pos),
            "ts": ("ts", ts),
            "user_ts": ("ts", user_ts),
            "session_id": ("str", sid),
            "turn_index": ("int", index),
            "user_message": ("str", user_msg),
            "reply": ("str", reply),
            "prompt_tokens": ("int", _usage(usage, "prompt_tokens")),
            "completion_tokens": ("int", _usage(usage, "completion_tokens")),
            "total_tokens": ("int", _usage(usage, "total_tokens")),
            "usage_json": ("str", [_usage_json(u) for u in usage]),
            "latency_ms": ("float", latency),
            "finish_reason": ("str", finish),
            "streamed": ("bool", streamed),
            "personality": ("str", persona),
            "provider": ("str", [clean[p] for p in prov]),
            "model": ("str", model),
            "user_id": ("str", uid),
            "affinity_points": ("int", points),
            "relationship_level": ("str", level),
            "mood": ("str", mood),
        }
    if starts:
        frames["started"] = _typed(_STARTED_COLUMNS, [start_pos, *zip(*starts, strict=True)])
    if sessions:
        infos = [s.blend if isinstance(s.blend, dict) else None for s in sessions]
        frames["sessions"] = {
            "session_id": ("str", [s.session_id for s in sessions]),
            "personality": ("str", [s.personality_name for s in sessions]),
            "blend_sources": ("strlist", [_str_list(b.get("sources")) if b else None for b in infos]),
            "blend_weights": ("str", [json_or_none(b.get("weights")) if b else None for b in infos]),
            "blend_type": ("str", [_str_or_none(b.get("blend_type")) if b else None for b in infos]),
            "provider": ("str", [clean_url(s.provider) for s in sessions]),
            "model": ("str", [s.model for s in sessions]),
            "user_id": ("str", [s.user_id for s in sessions]),
            "created_at": ("ts", [s.timestamp for s in sessions]),
            "resumed": ("bool", [s.resumed for s in sessions]),
        }
    if blends:
        frames["blends"] = {
            "name": ("str", [b.personality_name for b in blends]),
            "sources": ("strlist", [list(b.sources) for b in blends]),
            "weights": ("str", [json_or_none(b.weights) for b in blends]),
            "blend_type": ("str", [b.blend_type for b in blends]),
            "ts": ("ts", [b.timestamp for b in blends]),
        }
    if ev_type:
        frames["events"] = _typed(_EVENT_COLUMNS, [ev_pos, ev_ts, ev_type, ev_sid, ev_payload])
    return Batch(frames, len(turns) + len(ev_type), skipped)


def _str_list(value: Any) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list | tuple) else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
