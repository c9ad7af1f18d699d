"""The DuckDB log of every session, turn and event, for analytics in pandas.

:class:`SessionLog` subscribes to one or more clients' :class:`~luminora_nb.events.EventBus`
and appends what they publish to a DuckDB file (``luminora.duckdb`` by default)::

    meta      (key, value)                 schema_version, created_by
    sessions  one row per SessionCreated   session_id, personality, blend_sources (VARCHAR[]),
                                           blend_weights (JSON), blend_type, provider, model,
                                           user_id, created_at, resumed, host, pid
    messages  two rows per TurnCompleted   session_id, turn_index, role ('user' | 'assistant'),
                                           content, ts, prompt/completion/total_tokens,
                                           latency_ms, finish_reason, streamed, personality,
                                           provider, model, user_id, host, pid
    events    one row per event            ts, type, session_id, payload (JSON), host, pid
    blends    one row per BlendCreated     name, sources (VARCHAR[]), weights (JSON),
                                           blend_type, ts, host
    ratings   a view of the rating events  ts, run_id, blend, prompt, repeat, rating, note, ...

Timestamps are ``TIMESTAMPTZ`` in UTC; the user row of a turn carries the user message's
time, the assistant row the reply's; tokens, latency and finish reason sit on the
assistant row. ``payload`` is :meth:`Event.to_record() <luminora_nb.events.Event.to_record>`.

**Cheap on the event loop.** :meth:`SessionLog.record` runs on the client's event loop for
every event: it appends the event object to a buffer under a lock (well under a
microsecond) and starts the background flusher the first time. Nothing is serialised there.

**Batched, short writes.** :meth:`SessionLog.flush` turns the buffer into Arrow tables
(pandas DataFrames when pyarrow is missing), then opens the file, checks and migrates
the schema, inserts every table with one ``INSERT ... SELECT`` each, commits and closes,
all in one transaction: about 25 ms, whatever the number of rows. A daemon thread
flushes every ``flush_interval`` seconds while something is buffered; :meth:`close`
stops it and flushes a last time, and an :mod:`atexit` hook closes every open log.
No connection stays open between flushes, so another process can write meanwhile.

**Two kernels, one file.** DuckDB lets one process at a time hold a database file
(readers included). A connection refused with "Could not set lock" is retried with
jittered exponential backoff (5 ms doubling up to 200 ms) for up to ``lock_timeout``
seconds (30 by default). In one process, every connection this module opens to a file
is serialised by a process-wide lock per path, because DuckDB refuses a read-only and
a read-write connection to the same file in one process at once. Readers open the
file read-only (so a read-only file stays readable), read into pandas and close.

**Logging never breaks a turn.** A write that fails (read-only file or directory, lock
held past ``lock_timeout``, full disk, a file written by a newer schema) issues one
:class:`SessionLogWarning` per log and kind of failure, keeps the events buffered and is
retried at the next flush. At most ``max_buffered`` events are kept; beyond that the
oldest are dropped, with one warning. ``record()`` never raises.

**Secrets.** Events carry no API keys, but payloads are scrubbed anyway: credential-named
keys are removed (:func:`~luminora_nb.types._base.scrub_secrets`), URL-like provider
fields lose their credentials (:func:`~luminora_nb.types._base.redact_url`), and error
texts (``TurnFailed.message``) are masked where they look like keys (``sk-...``,
``Bearer ...``, ``api_key=...``, credentials in URLs). Chat content is stored as sent.

**Schema versions.** ``meta.schema_version`` says which of :data:`MIGRATIONS` a file has;
the missing steps run in the first write transaction that finds them missing (a file
without ``meta`` is version 0). A file of a newer version is never written to: writes
warn and keep their events, readers raise :class:`SessionLogError`.

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

import atexit
import contextlib
import gc
import html
import importlib.util
import json
import logging
import math
import os
import random
import re
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .errors import LuminoraError
from .events import BlendCreated, Event, EventBus, SessionCreated, Subscription, TurnCompleted, TurnStarted
from .types._base import is_secret_key, redact_url, scrub_secrets

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = [
    "DEFAULT_PATH",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "RatingRecorded",
    "SessionLog",
    "SessionLogError",
    "SessionLogWarning",
    "scrub_text",
]

logger = logging.getLogger("luminora_nb.sessionlog")

DEFAULT_PATH = "luminora.duckdb"


class SessionLogError(LuminoraError):
    """The session log cannot be used as asked (bad path, newer schema, unreadable file)."""


class SessionLogWarning(UserWarning):
    """Writing the session log failed; the events are kept and retried at the next flush."""


class RatingRecorded(Event):
    """A human rating of one reply (see :meth:`SessionLog.record_rating`)."""

    type: ClassVar[str] = "rating"
    blend: str
    prompt: str
    rating: int
    note: str | None = None
    run_id: str | None = None
    repeat: int = 0


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Migration:
    """One step of the schema: the statements taking a file from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "meta, sessions, messages and events",
        (
            "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
            "CREATE TABLE sessions (session_id VARCHAR, personality VARCHAR, blend_sources VARCHAR[], "
            "blend_weights JSON, blend_type VARCHAR, provider VARCHAR, model VARCHAR, user_id VARCHAR, "
            "created_at TIMESTAMPTZ, resumed BOOLEAN)",
            "CREATE TABLE messages (session_id VARCHAR, turn_index BIGINT, role VARCHAR, content VARCHAR, "
            "ts TIMESTAMPTZ, prompt_tokens BIGINT, completion_tokens BIGINT, total_tokens BIGINT, "
            "latency_ms DOUBLE, finish_reason VARCHAR, streamed BOOLEAN, personality VARCHAR, "
            "provider VARCHAR, model VARCHAR, user_id VARCHAR)",
            "CREATE TABLE events (ts TIMESTAMPTZ, type VARCHAR, session_id VARCHAR, payload JSON)",
        ),
    ),
    Migration(
        2,
        "host and pid of the writer; the blends table",
        (
            "ALTER TABLE sessions ADD COLUMN host VARCHAR",
            "ALTER TABLE sessions ADD COLUMN pid INTEGER",
            "ALTER TABLE messages ADD COLUMN host VARCHAR",
            "ALTER TABLE messages ADD COLUMN pid INTEGER",
            "ALTER TABLE events ADD COLUMN host VARCHAR",
            "ALTER TABLE events ADD COLUMN pid INTEGER",
            "CREATE TABLE blends (name VARCHAR, sources VARCHAR[], weights JSON, blend_type VARCHAR, "
            "ts TIMESTAMPTZ, host VARCHAR)",
        ),
    ),
    Migration(
        3,
        "the ratings view",
        (
            "CREATE VIEW ratings AS SELECT ts, payload->>'run_id' AS run_id, payload->>'blend' AS blend, "
            "payload->>'prompt' AS prompt, CAST(payload->>'repeat' AS INTEGER) AS \"repeat\", "
            "CAST(payload->>'rating' AS INTEGER) AS rating, payload->>'note' AS note, session_id, host, pid, "
            "rowid AS seq FROM events WHERE type = 'rating'",
        ),
    ),
)

#: The schema version this module writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The file's schema version: 0 when it has no ``meta`` table (empty or foreign file)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'meta'"
    ).fetchall()
    if not found[0][0]:
        return 0
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    if not rows:
        return 0
    try:
        return int(rows[0][0])
    except (TypeError, ValueError):
        raise SessionLogError(
            f"the file's meta table holds schema_version {rows[0][0]!r}, not a number: it was not "
            "written by luminora_nb; log to another file"
        ) from None


def _too_new(path: Path, version: int) -> SessionLogError:
    return SessionLogError(
        f"session log {path} has schema version {version}, newer than the {SCHEMA_VERSION} this "
        "luminora_nb knows: it was written by a newer luminora_nb. Upgrade luminora_nb, or log to "
        "another file; nothing was written to it"
    )


def _migrate(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Bring the file to :data:`SCHEMA_VERSION` inside the caller's transaction; the old version."""
    import duckdb

    version = _schema_version(con)
    if version > SCHEMA_VERSION:
        raise _too_new(path, version)
    if version == SCHEMA_VERSION:
        return version
    for step in MIGRATIONS:
        if step.version <= version:
            continue
        for statement in step.statements:
            try:
                con.execute(statement)
            except duckdb.CatalogException as exc:
                raise SessionLogError(
                    f"cannot create the session log schema (version {step.version}: {step.description}) "
                    f"in {path}: {exc}. The file holds tables not written by luminora_nb; log to "
                    "another file"
                ) from None
    con.execute(
        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?), ('created_by', 'luminora_nb')",
        [str(SCHEMA_VERSION)],
    )
    return version


# --------------------------------------------------------------------------- scrubbing

_TEXT_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"), "***"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), "***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+(?!\*\*\*)[A-Za-z0-9._~+/=\-]{8,}"), r"\1 ***"),
)
_KEY_VALUE = re.compile(r"([A-Za-z][\w\-.]*)(\s*[=:]\s*)(['\"]?)([^\s'\",;&)]+)")
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+", re.I)
_URL_FIELDS = ("provider", "base_url", "url", "endpoint")
_TEXT_FIELDS = ("message", "error", "detail", "reason")


def scrub_text(text: str) -> str:
    """``text`` with what looks like a credential masked: for error messages.

    Example:
        >>> scrub_text("bad key sk-abc123456 for https://u:pw@x.example/v1?key=1 (api_key=xyz)")
        'bad key *** for https://x.example/v1 (api_key=***)'
    """
    for pattern, replacement in _TEXT_SECRETS:
        text = pattern.sub(replacement, text)
    text = _URL.sub(lambda m: redact_url(m.group()), text)

    def mask(m: re.Match[str]) -> str:
        if not is_secret_key(m.group(1)) or m.group(4) == "***":
            return m.group()
        return f"{m.group(1)}{m.group(2)}{m.group(3)}***{m.group(3)}"

    return _KEY_VALUE.sub(mask, text)


def _clean_url(value: str) -> str:
    return redact_url(value) if ("://" in value or "@" in value) else value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _payload(event: Event) -> str:
    """The event's record as scrubbed JSON text."""
    record = scrub_secrets(event.to_record())
    for key in _URL_FIELDS:
        if isinstance(record.get(key), str):
            record[key] = _clean_url(record[key])
    for key in _TEXT_FIELDS:
        if isinstance(record.get(key), str):
            record[key] = scrub_text(record[key])
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError:  # NaN or infinity somewhere: JSON has no such numbers
        return json.dumps(_finite(record), ensure_ascii=False, allow_nan=False, default=str)


# --------------------------------------------------------------------------- frames

# column kinds -> Arrow types (built lazily) and pandas conversions
_Columns = dict[str, tuple[str, Sequence[Any]]]


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


def _arrow_table(columns: _Columns) -> Any:
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


def _pandas_frame(columns: _Columns) -> Any:
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


def _default_engine() -> str:
    return "arrow" if importlib.util.find_spec("pyarrow") is not None else "pandas"


_TURN_FIELDS = attrgetter(
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
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
_STARTED_FIELDS = attrgetter("timestamp", "session_id", "personality_name", "user_message", "streamed")
_TURN_COMPLETED, _TURN_STARTED = "turn_completed", "turn_started"  # tags of buffered turn tuples


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


def _statements(frames: set[str]) -> list[str]:
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


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Turning 100,000 events into columns allocates millions of objects: without this
    the cyclic GC walks every buffered event again and again (half the time of a flush)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class _Batch:
    frames: dict[str, _Columns]
    events: int  # events that will be written
    skipped: list[tuple[str, str]]  # (event type, error) of events that could not be serialised


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
    return _json_or_none(usage if isinstance(usage, dict) else {})


def _build(events: Sequence[Any]) -> _Batch:
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
            if kind is _TURN_COMPLETED:  # the bulk: its rows and payload are built by DuckDB
                turns.append(values)
                turn_pos.append(pos)
            else:  # one per turn too: its payload is built by DuckDB as well
                starts.append(values)
                start_pos.append(pos)
            continue
        if cls is TurnCompleted:  # recorded before this version of record(), or by hand
            turns.append(_TURN_FIELDS(event))
            turn_pos.append(pos)
            continue
        if cls is TurnStarted:
            starts.append(_STARTED_FIELDS(event))
            start_pos.append(pos)
            continue
        if not isinstance(event, Event):
            continue
        try:
            payload = _payload(event)
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

    frames: dict[str, _Columns] = {}
    if turns:
        columns = tuple(zip(*turns, strict=True))
        ts, user_ts, sid, index, user_msg, reply, usage, latency, finish, streamed = columns[:10]
        persona, prov, model, uid, points, level, mood = columns[10:]
        clean = {p: _clean_url(p) if isinstance(p, str) else p for p in set(prov)}
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
        ts, sid, persona, user_msg, streamed = zip(*starts, strict=True)
        frames["started"] = {
            "pos": ("int", start_pos),
            "ts": ("ts", ts),
            "session_id": ("str", sid),
            "personality": ("str", persona),
            "user_message": ("str", user_msg),
            "streamed": ("bool", streamed),
        }
    if sessions:
        infos = [s.blend if isinstance(s.blend, dict) else None for s in sessions]
        frames["sessions"] = {
            "session_id": ("str", [s.session_id for s in sessions]),
            "personality": ("str", [s.personality_name for s in sessions]),
            "blend_sources": ("strlist", [_str_list(b.get("sources")) if b else None for b in infos]),
            "blend_weights": ("str", [_json_or_none(b.get("weights")) if b else None for b in infos]),
            "blend_type": ("str", [_str_or_none(b.get("blend_type")) if b else None for b in infos]),
            "provider": ("str", [_clean_url(s.provider) for s in sessions]),
            "model": ("str", [s.model for s in sessions]),
            "user_id": ("str", [s.user_id for s in sessions]),
            "created_at": ("ts", [s.timestamp for s in sessions]),
            "resumed": ("bool", [s.resumed for s in sessions]),
        }
    if blends:
        frames["blends"] = {
            "name": ("str", [b.personality_name for b in blends]),
            "sources": ("strlist", [list(b.sources) for b in blends]),
            "weights": ("str", [_json_or_none(b.weights) for b in blends]),
            "blend_type": ("str", [b.blend_type for b in blends]),
            "ts": ("ts", [b.timestamp for b in blends]),
        }
    if ev_type:
        frames["events"] = {
            "pos": ("int", ev_pos),
            "ts": ("ts", ev_ts),
            "type": ("str", ev_type),
            "session_id": ("str", ev_sid),
            "payload": ("str", ev_payload),
        }
    return _Batch(frames, len(turns) + len(ev_type), skipped)


def _str_list(value: Any) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list | tuple) else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _json_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(_finite(scrub_secrets(value)), ensure_ascii=False, allow_nan=False, default=str)


# --------------------------------------------------------------------------- connections

_PATH_LOCKS: dict[str, threading.RLock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _path_lock(key: str) -> threading.RLock:
    """One lock per file per process: DuckDB refuses mixed read-only/read-write connections."""
    with _PATH_LOCKS_GUARD:
        lock = _PATH_LOCKS.get(key)
        if lock is None:
            lock = _PATH_LOCKS[key] = threading.RLock()
        return lock


class _LockTimeout(SessionLogError):
    """Another process held the file for longer than the retry budget."""


def _is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


_BACKOFF_START = 0.005
_BACKOFF_CAP = 0.2


def _connect(
    path: Path, *, read_only: bool, timeout: float, on_retry: Callable[[], None] | None = None
) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying with jittered exponential backoff while another process holds it."""
    import duckdb

    deadline = time.monotonic() + timeout
    delay = _BACKOFF_START
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise
            pause = random.uniform(delay / 2, delay)
            if time.monotonic() + pause > deadline:
                raise _LockTimeout(
                    f"session log {path} was held by another process for more than {timeout:g} s "
                    f"({exc}); close other connections to it"
                ) from None
            if on_retry is not None:
                on_retry()
            time.sleep(pause)
            delay = min(delay * 2, _BACKOFF_CAP)
            continue
        except duckdb.ConnectionException as exc:
            # Something else in this process (a DuckDB storage on the same file) holds a
            # read-write connection: a read-only one is refused, a read-write one shares it.
            if read_only and "different configuration" in str(exc):
                read_only = False
                continue
            raise
        try:
            con.execute("SET TimeZone = 'UTC'")
        except Exception:
            con.close()
            raise
        return con


def _failure_kind(exc: BaseException) -> str:
    if isinstance(exc, _LockTimeout):
        return "locked"
    text = str(exc).lower()
    if isinstance(exc, SessionLogError) and "newer" in text:
        return "newer-schema"
    if isinstance(exc, SessionLogError):
        return "schema"
    if any(s in text for s in ("permission denied", "operation not permitted", "read-only file system")):
        return "read-only"
    if "no space left" in text or "disk full" in text:
        return "disk-full"
    if "not a valid duckdb database" in text:
        return "not-a-database"
    return "write"


# --------------------------------------------------------------------------- the log


class _HasEvents(Protocol):
    events: EventBus


_open_logs: weakref.WeakSet[SessionLog] = weakref.WeakSet()


def _close_all() -> None:
    """atexit: flush every open log (a failure is logged; the interpreter is going away)."""
    for log in list(_open_logs):
        try:
            log.close()
        except Exception:
            logger.exception("closing session log %s at exit failed", log.path)


atexit.register(_close_all)


def _flusher(ref: weakref.ref[SessionLog], stop: threading.Event, interval: float) -> None:
    """Body of the background flush thread; holds the log weakly so it can be collected."""
    while not stop.wait(interval):
        log = ref()
        if log is None:
            return
        try:
            if log._buffer:
                log.flush()
        except Exception:  # never let the thread die: the next round retries
            logger.exception("background flush of session log %s failed", log.path)
        del log


class SessionLog:
    """A DuckDB file receiving every session, turn and event of the clients attached to it.

    Args:
        path: The database file (created at the first flush). Its directory must exist.
        flush_interval: Seconds between background flushes while events are buffered.
        host: Name stored in the ``host`` columns (default: this machine's host name).
        lock_timeout: Seconds a flush or read waits for a file held by another process
            before giving up (the events stay buffered for the next flush).
        max_buffered: Events kept in memory while writes fail; beyond, the oldest go.

    Raises:
        SessionLogError: the directory does not exist or is not writable (and the file
            does not exist yet), the path is a directory, or an option is out of range.

    Example:
        >>> import os, tempfile
        >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
        >>> log.record_rating(blend="av", prompt="Hi!", rating=1)
        >>> log.ratings()[["blend", "prompt", "rating"]].values.tolist()
        [['av', 'Hi!', 1]]
        >>> log.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        flush_interval: float = 1.0,
        host: str | None = None,
        lock_timeout: float = 30.0,
        max_buffered: int = 1_000_000,
    ) -> None:
        raw = os.fspath(path)
        if not isinstance(raw, str) or not raw.strip() or raw.strip() == ":memory:":
            raise SessionLogError(
                f"session log path must be a file path such as 'luminora.duckdb', got {raw!r}; "
                "pass log=None for no log"
            )
        self.path = Path(raw).expanduser()
        _check_number("flush_interval", flush_interval, minimum=0.001)
        _check_number("lock_timeout", lock_timeout, minimum=0.0)
        if isinstance(max_buffered, bool) or not isinstance(max_buffered, int) or max_buffered < 1:
            raise SessionLogError(f"max_buffered must be a positive integer, got {max_buffered!r}")
        parent = self.path.parent
        if not parent.is_dir():
            raise SessionLogError(
                f"session log directory {parent.resolve()} does not exist; create it or pass log=None"
            )
        if self.path.is_dir():
            raise SessionLogError(
                f"session log path {self.path} is a directory; pass a file path such as "
                f"{self.path / DEFAULT_PATH}, or log=None"
            )
        if not self.path.exists() and not os.access(parent, os.W_OK | os.X_OK):
            raise SessionLogError(
                f"session log directory {parent.resolve()} is not writable; pass a path in a "
                "writable directory, or log=None"
            )
        self.flush_interval = float(flush_interval)
        self.lock_timeout = float(lock_timeout)
        self.max_buffered = max_buffered
        self.host = host if host is not None else socket.gethostname()
        self._key = os.path.join(os.path.realpath(parent), self.path.name)
        self._lock = threading.Lock()  # guards _buffer and the flusher's start
        self._flush_lock = threading.Lock()  # one flush of this log at a time
        self._buffer: list[Any] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._subscriptions: list[Subscription] = []
        self._warned: set[str] = set()
        self._engine = _default_engine()
        self.written = 0
        """Events written to the file by this log so far."""
        self.lock_retries = 0
        """Times this log found the file held by another process and tried again."""
        self.last_error: str | None = None
        """The last write failure, or ``None`` when the last flush succeeded."""
        _open_logs.add(self)

    # -- repr -----------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"<SessionLog {str(self.path)!r} buffered={self.buffered} written={self.written} "
            f"attached={self.attached}>"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("file", str(self.path)),
            ("buffered events", str(self.buffered)),
            ("written events", str(self.written)),
            ("lock retries", str(self.lock_retries)),
            ("attached clients", str(self.attached)),
        ]
        if self.last_error:
            rows.append(("last error", self.last_error))
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
            f"{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<b>SessionLog</b><table>{cells}</table>"

    @property
    def buffered(self) -> int:
        """Events recorded and not yet written."""
        return len(self._buffer)

    @property
    def attached(self) -> int:
        """Clients this log is subscribed to (through :meth:`attach`, not yet detached)."""
        return len(self._subscriptions)

    # -- recording -------------------------------------------------------------------
    def attach(self, client: _HasEvents) -> Subscription:
        """Log every event of ``client`` (anything with an ``events`` bus); several may attach.

        Example:
            >>> import os, tempfile
            >>> from luminora_nb import LuminoraCoreClient
            >>> log = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb"))
            >>> sub = log.attach(LuminoraCoreClient())
            >>> log.attached
            1
            >>> log.detach()
        """
        sub = client.events.subscribe(self.record)
        self._subscriptions.append(sub)
        return sub

    def detach(self) -> None:
        """Unsubscribe from every client attached with :meth:`attach`."""
        subs, self._subscriptions = self._subscriptions, []
        for sub in subs:
            sub.close()

    def record(self, event: Event) -> None:
        """Buffer ``event`` for the next flush. Cheap, thread-safe, never raises."""
        try:
            # The two events of every turn are kept as plain tuples of their values:
            # thousands of buffered models would make every garbage collection of the
            # process walk them (measured: more than the rest of the log together).
            cls = type(event)
            item: Any = event
            if cls is TurnCompleted:
                item = (_TURN_COMPLETED, _TURN_FIELDS(event))
            elif cls is TurnStarted:
                item = (_TURN_STARTED, _STARTED_FIELDS(event))
            with self._lock:
                self._buffer.append(item)
            if self._thread is None:
                self._start_flusher()
        except Exception:  # pragma: no cover - appending cannot fail short of memory
            logger.exception("session log %s could not record an event", self.path)

    def _start_flusher(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            thread = threading.Thread(
                target=_flusher,
                args=(weakref.ref(self), self._stop, self.flush_interval),
                name=f"luminora-sessionlog-{self.path.name}",
                daemon=True,
            )
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: close() / atexit write the buffer
                return
            self._thread = thread
            _open_logs.add(self)

    def record_rating(
        self,
        *,
        blend: str,
        prompt: str,
        rating: int,
        note: str | None = None,
        run_id: str | None = None,
        repeat: int = 0,
        session_id: str | None = None,
    ) -> None:
        """Store a human rating (-1, 0 or +1) of ``blend``'s reply to ``prompt``, at once.

        The rating is an ``events`` row of type ``"rating"``; :meth:`ratings` gives the
        latest per (run_id, blend, prompt, repeat). The log is flushed before this returns
        (a write of about 25 ms; longer while another process holds the file), so call it
        from a widget callback or a cell, not from a coroutine on the client's loop.

        Raises:
            SessionLogError: ``rating`` is not -1, 0 or 1, ``blend``/``prompt`` are not
                non-empty strings, ``repeat`` is not a non-negative integer.
        """
        if isinstance(rating, bool) or not isinstance(rating, int) or rating not in (-1, 0, 1):
            raise SessionLogError(f"rating must be -1, 0 or 1 (thumbs down, neutral, up), got {rating!r}")
        for name, value in (("blend", blend), ("prompt", prompt)):
            if not isinstance(value, str) or not value:
                raise SessionLogError(f"{name} must be a non-empty string, got {value!r}")
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
            raise SessionLogError(f"repeat must be a non-negative integer, got {repeat!r}")
        for name, opt in (("note", note), ("run_id", run_id), ("session_id", session_id)):
            if opt is not None and not isinstance(opt, str):
                raise SessionLogError(f"{name} must be a string or None, got {opt!r}")
        self.record(
            RatingRecorded(
                session_id=session_id,
                blend=blend,
                prompt=prompt,
                rating=rating,
                note=note,
                run_id=run_id,
                repeat=repeat,
            )
        )
        self.flush()

    # -- writing ---------------------------------------------------------------------
    def flush(self) -> None:
        """Write every buffered event in one short transaction; on failure warn and keep them.

        Thread-safe; does nothing when nothing is buffered. Never raises for a write
        failure (it issues a :class:`SessionLogWarning` once per kind of failure).
        """
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                with _gc_paused():
                    built = _build(batch)
                for etype, error in built.skipped:
                    self._warn_once(
                        "serialise",
                        f"session log {self.path}: an event of type {etype!r} could not be serialised "
                        f"and was skipped ({error})",
                    )
                self._write(built.frames)
            except Exception as exc:
                with self._lock:
                    self._buffer[:0] = batch
                    dropped = self._trim()
                if dropped:
                    self._warn_once(
                        "dropped",
                        f"session log {self.path}: more than {self.max_buffered:,} events buffered while "
                        "writes fail; the oldest are being dropped. Fix the cause of the other warning",
                    )
                self._report(exc)
                return
            self.written += built.events
            self.last_error = None

    def _trim(self) -> int:
        """Drop the oldest events beyond ``max_buffered`` (caller holds ``_lock``); how many."""
        excess = len(self._buffer) - self.max_buffered
        if excess <= 0:
            return 0
        del self._buffer[:excess]
        return excess

    def _report(self, exc: Exception) -> None:
        kind = _failure_kind(exc)
        detail = f"{type(exc).__name__}: {exc}"
        self.last_error = detail
        logger.debug("session log %s: flush failed (%s)", self.path, detail)
        advice = {
            "locked": "another process keeps the file open (a DuckDB shell, a storage on the same file)",
            "read-only": "make the file and its directory writable, or log to another path",
            "newer-schema": "upgrade luminora_nb or log to another file",
            "schema": "log to another file",
            "disk-full": "free some disk space",
            "not-a-database": "the file is not a DuckDB database; log to another path",
        }.get(kind, "check the file and its directory")
        self._warn_once(
            kind,
            f"session log {self.path}: writing failed ({detail}); chats go on, {self.buffered} events "
            f"are kept and retried at each flush. To fix: {advice}",
        )

    def _warn_once(self, kind: str, message: str) -> None:
        if kind in self._warned:
            return
        self._warned.add(kind)
        warnings.warn(message, SessionLogWarning, stacklevel=3)

    def _write(self, frames: dict[str, _Columns]) -> None:
        """One transaction: open, migrate, insert every frame, commit, close."""
        with _gc_paused():
            tables = {name: self._frame(columns) for name, columns in frames.items()}
        params = {"host": self.host, "pid": os.getpid()}
        with _path_lock(self._key):
            con = _connect(self.path, read_only=False, timeout=self.lock_timeout, on_retry=self._retried)
            try:
                # A batch of a second's turns needs no parallelism, and a second DuckDB
                # thread would compete with the chat turns for the machine's cores.
                con.execute("SET threads TO 1")
                con.execute("BEGIN TRANSACTION")
                try:
                    _migrate(con, self.path)
                    for name, table in tables.items():
                        con.register(f"_luminora_{name}", table)
                    for sql in _statements(set(tables)):
                        con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
                    con.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(Exception):
                        con.execute("ROLLBACK")
                    raise
            finally:
                con.close()

    def _retried(self) -> None:
        self.lock_retries += 1

    def _frame(self, columns: _Columns) -> Any:
        return _arrow_table(columns) if self._engine == "arrow" else _pandas_frame(columns)

    def close(self) -> None:
        """Stop the background flusher and flush a last time. Safe to call twice.

        The log stays usable: recording again restarts the flusher.
        """
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()
        _open_logs.discard(self)

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------
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
            with _path_lock(self._key):
                try:
                    con = _connect(
                        self.path, read_only=True, timeout=self.lock_timeout, on_retry=self._retried
                    )
                except _LockTimeout:
                    raise
                except duckdb.Error as exc:
                    raise SessionLogError(f"cannot read session log {self.path}: {exc}") from None
                try:
                    version = _schema_version(con)
                    if version == 0:
                        return None
                    if version > SCHEMA_VERSION and check_schema:
                        raise _too_new(self.path, version)
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
        _migrate(con, Path(":memory:"))
        con.execute("COMMIT")
        return con.execute(query, params).df()
    finally:
        con.close()


def _check_number(name: str, value: object, *, minimum: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise SessionLogError(f"{name} must be a number of seconds >= {minimum:g}, got {value!r}")
