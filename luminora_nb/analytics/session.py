"""The analytics of one session, computed from its stored messages and events.

:func:`session_analytics` is a pure function (no I/O, no pandas): it takes the
session's messages as stored (:class:`~luminora_nb.types.session.Message` objects, a
:class:`~luminora_nb.types.session.Conversation`, or dicts of the same shape) and,
where present, the events published during it, and returns a :class:`SessionAnalytics`.
It is what ``LuminoraCoreClientV11.get_session_analytics`` returns (as
:meth:`SessionAnalytics.to_dict`); :func:`session_analytics_from_log` computes the same
from a session log or a folder of Parquet exports.

Where each number comes from:

* counts and average lengths (characters) from the messages' roles and contents;
* ``tokens_in`` / ``tokens_out``: the sums of ``metadata["usage"]["prompt_tokens"]`` /
  ``["completion_tokens"]`` of the assistant messages (the client stores each reply's
  usage and ``latency_ms`` in its metadata, see :mod:`luminora_nb.turns`);
* ``latency_p50_ms`` / ``latency_p95_ms``: percentiles of the assistant messages'
  ``metadata["latency_ms"]``, linearly interpolated (numpy's default);
* ``duration_seconds``: last message time minus first;
* ``facts_learned``, ``episodes_created``: the stored facts / episodes whose
  ``session_id`` is this session when they are given (``facts=``, ``episodes=``: what
  ``get_facts`` / ``get_episodes`` return), else the ``fact_learned`` /
  ``episode_created`` events;
* ``affinity_progression``: ``affinity_changed`` events (points, level, delta), in order;
* ``mood_changes``: ``mood_changed`` events;
* ``sentiment_trajectory``: ``sentiment_scored`` events, turns carrying a
  ``sentiment``, and user messages whose metadata holds a ``sentiment`` (see
  :mod:`luminora_nb.analytics.memory` for the payloads).

Events are given as :class:`~luminora_nb.events.Event` objects, their
:meth:`~luminora_nb.events.Event.to_record` dicts, or the rows of
:func:`luminora_nb.analytics.events`. An event carrying another session's id is ignored;
one without a session id (affinity changes are published per user and personality) is
counted: the caller passes the events of the session's time span.

Example:
    >>> from luminora_nb.types.session import Message
    >>> msgs = [Message(role="user", content="Hi!"),
    ...         Message(role="assistant", content="Hello there", metadata={"latency_ms": 4.0,
    ...             "usage": {"prompt_tokens": 12, "completion_tokens": 3}})]
    >>> a = session_analytics(msgs, session_id="s1")
    >>> a.total_messages, a.tokens_in, a.tokens_out, a.latency_p50_ms, a.avg_assistant_length
    (2, 12, 3, 4.0, 11.0)
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..events import Event
from ..types.session import Conversation, Message
from .memory import sentiment_score

if TYPE_CHECKING:
    import pandas as pd

    from ._source import Source, SourceLike

__all__ = ["SessionAnalytics", "percentile", "session_analytics", "session_analytics_from_log"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated; ``None`` if empty.

    Example:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 95), percentile([], 50)
        (2.5, 3.85, None)
    """
    data = sorted(values)
    if not data:
        return None
    position = (len(data) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


@dataclass
class SessionAnalytics:
    """The metrics of one session; :meth:`to_dict` for JSON, rich display in notebooks."""

    session_id: str | None
    total_messages: int = 0
    user_messages: int = 0
    assistant_messages: int = 0
    avg_message_length: float = 0.0
    avg_user_length: float = 0.0
    avg_assistant_length: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    total_tokens: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_mean_ms: float | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float = 0.0
    facts_learned: int = 0
    episodes_created: int = 0
    affinity_progression: list[dict[str, Any]] = field(default_factory=list)
    mood_changes: list[dict[str, Any]] = field(default_factory=list)
    sentiment_trajectory: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 strings)."""
        result: dict[str, Any] = json.loads(json.dumps(asdict(self), default=_iso))
        return result

    def __str__(self) -> str:
        return "\n".join(f"{name}: {value}" for name, value in self._summary())

    def _summary(self) -> list[tuple[str, str]]:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} ms"

        affinity = " -> ".join(str(step.get("affinity_points")) for step in self.affinity_progression) or "-"
        moods = " -> ".join(str(step.get("current_mood")) for step in self.mood_changes) or "-"
        scores = [s["score"] for s in self.sentiment_trajectory]
        return [
            ("session", str(self.session_id)),
            (
                "messages",
                f"{self.total_messages} ({self.user_messages} user, {self.assistant_messages} assistant)",
            ),
            (
                "average length",
                f"user {self.avg_user_length:.0f}, assistant {self.avg_assistant_length:.0f} chars",
            ),
            ("tokens", f"{self.tokens_in:,} in, {self.tokens_out:,} out"),
            ("latency", f"p50 {ms(self.latency_p50_ms)}, p95 {ms(self.latency_p95_ms)}"),
            ("duration", f"{self.duration_seconds:.1f} s"),
            ("facts learned", str(self.facts_learned)),
            ("episodes created", str(self.episodes_created)),
            ("affinity", affinity),
            ("mood", moods),
            ("sentiment", f"{len(scores)} scores, mean {sum(scores) / len(scores):+.2f}" if scores else "-"),
        ]

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
            f"{html.escape(v)}</td></tr>"
            for k, v in self._summary()
        )
        return f"<b>Session analytics</b><table>{cells}</table>"


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _as_message(item: Message | Mapping[str, Any]) -> tuple[str, str, datetime | None, Mapping[str, Any]]:
    if isinstance(item, Message):
        return str(item.role.value), item.content, item.timestamp, item.metadata
    role = item.get("role")
    return (
        str(getattr(role, "value", role)),
        str(item.get("content") or ""),
        _as_time(item.get("timestamp")),
        item.get("metadata") or {},
    )


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    to_py = getattr(value, "to_pydatetime", None)  # a pandas Timestamp
    return to_py() if callable(to_py) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _records(events: Iterable[Event | Mapping[str, Any]] | pd.DataFrame | None) -> list[dict[str, Any]]:
    """Events as payload dicts with ``type`` and ``timestamp``, whatever form they came in."""
    if events is None:
        return []
    if hasattr(events, "to_dict") and hasattr(events, "columns"):  # a DataFrame of events()
        rows: Iterable[Any] = events.to_dict("records")
    else:
        rows = events
    out = []
    for row in rows:
        if isinstance(row, Event):
            record = row.to_record()
            record["timestamp"] = row.timestamp
        elif isinstance(row, Mapping) and isinstance(row.get("payload"), str):  # an events() row
            record = json.loads(row["payload"])
            record.setdefault("type", row.get("type"))
            record["timestamp"] = _as_time(row.get("ts")) or _as_time(record.get("timestamp"))
        elif isinstance(row, Mapping):
            record = dict(row)
            record["timestamp"] = _as_time(record.get("timestamp"))
        else:
            continue
        out.append(record)
    return out


def session_analytics(
    messages: Conversation | Iterable[Message | Mapping[str, Any]],
    events: Iterable[Event | Mapping[str, Any]] | pd.DataFrame | None = None,
    *,
    session_id: str | None = None,
    facts: Iterable[Mapping[str, Any]] | None = None,
    episodes: Iterable[Mapping[str, Any]] | None = None,
) -> SessionAnalytics:
    """The metrics of one session from its stored messages and, where present, its events.

    Args:
        messages: The session's stored messages (a conversation, messages, or dicts with
            ``role, content, timestamp, metadata``), oldest first.
        events: Events published during the session (objects, records or an events
            frame); those naming another session are ignored.
        session_id: The session (default: the conversation's).
        facts: Stored facts of the session's user (``FactDict``); when given, those
            learned in this session (their ``session_id``) are ``facts_learned``
            instead of the events' count.
        episodes: Stored episodes (``EpisodeDict``), likewise for ``episodes_created``.

    Returns:
        A :class:`SessionAnalytics`; with no messages, zero counts and ``None`` latencies.
    """
    if isinstance(messages, Conversation):
        session_id = session_id or messages.session_id
        messages = messages.messages
    rows = [_as_message(m) for m in messages]
    result = SessionAnalytics(session_id=session_id, total_messages=len(rows))
    user = [content for role, content, _, _ in rows if role == "user"]
    assistant = [(content, meta) for role, content, _, meta in rows if role == "assistant"]
    result.user_messages, result.assistant_messages = len(user), len(assistant)
    if rows:
        result.avg_message_length = sum(len(c) for _, c, _, _ in rows) / len(rows)
    if user:
        result.avg_user_length = sum(len(c) for c in user) / len(user)
    latencies = []
    for _, meta in assistant:
        found = meta.get("usage")
        usage: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        result.tokens_in += int(_number(usage.get("prompt_tokens")) or 0)
        result.tokens_out += int(_number(usage.get("completion_tokens")) or 0)
        latency = _number(meta.get("latency_ms"))
        if latency is not None:
            latencies.append(latency)
    if assistant:
        result.avg_assistant_length = sum(len(c) for c, _ in assistant) / len(assistant)
    result.total_tokens = result.tokens_in + result.tokens_out
    result.latency_p50_ms = percentile(latencies, 50)
    result.latency_p95_ms = percentile(latencies, 95)
    result.latency_mean_ms = sum(latencies) / len(latencies) if latencies else None
    times = [t for _, _, t, _ in rows if t is not None]
    if times:
        result.started_at, result.ended_at = min(times), max(times)
        result.duration_seconds = (result.ended_at - result.started_at).total_seconds()
    for _, _, when, meta in (r for r in rows if r[0] == "user"):
        score = sentiment_score(meta.get("sentiment"), meta.get("sentiment_score"))
        if score is not None:
            result.sentiment_trajectory.append(
                {"timestamp": when, "sentiment": meta.get("sentiment"), "score": score, "source": "message"}
            )
    _add_events(result, _records(events), session_id)
    if facts is not None:
        result.facts_learned = sum(1 for f in facts if f.get("session_id") == session_id)
    if episodes is not None:
        result.episodes_created = sum(1 for e in episodes if e.get("session_id") == session_id)
    result.sentiment_trajectory.sort(key=lambda s: (s["timestamp"] is None, s["timestamp"] or 0))
    return result


def _add_events(result: SessionAnalytics, records: list[dict[str, Any]], session_id: str | None) -> None:
    for record in records:
        sid = record.get("session_id")
        if session_id is not None and sid is not None and sid != session_id:
            continue
        kind, when = record.get("type"), record.get("timestamp")
        if kind == "fact_learned":
            result.facts_learned += 1
        elif kind == "episode_created":
            result.episodes_created += 1
        elif kind == "affinity_changed":
            result.affinity_progression.append(
                {
                    "timestamp": when,
                    "affinity_points": record.get("affinity_points"),
                    "points_delta": record.get("points_delta"),
                    "previous_level": record.get("previous_level"),
                    "current_level": record.get("current_level"),
                    "interaction_type": record.get("interaction_type"),
                }
            )
        elif kind == "mood_changed":
            result.mood_changes.append(
                {
                    "timestamp": when,
                    "previous_mood": record.get("previous_mood"),
                    "current_mood": record.get("current_mood"),
                    "mood_intensity": record.get("mood_intensity"),
                }
            )
        elif kind == "sentiment_scored" or (kind == "turn_completed" and record.get("sentiment") is not None):
            score = sentiment_score(
                record.get("sentiment"), record.get("score", record.get("sentiment_score"))
            )
            if score is not None:
                result.sentiment_trajectory.append(
                    {"timestamp": when, "sentiment": record.get("sentiment"), "score": score, "source": kind}
                )


def session_analytics_from_log(source: SourceLike | Source, session_id: str) -> SessionAnalytics:
    """:func:`session_analytics` of a session as logged (a log, log file or Parquet folder).

    Messages come from the ``messages`` table (tokens and latency from its columns);
    events are those of the session plus those without a session id of the session's
    user within its time span (affinity changes, published per user).

    Example:
        >>> import os, tempfile
        >>> from luminora_nb import Luminora
        >>> with Luminora(log=os.path.join(tempfile.mkdtemp(), "log.duckdb"), learn=False) as lum:
        ...     sid = lum.create_session("aurora")
        ...     _ = lum.send_message(sid, "Hello!")
        ...     session_analytics_from_log(lum.log, sid).total_messages
        2
    """
    from ._source import open_source
    from .frames import messages as read_messages
    from .frames import sessions as read_sessions

    with open_source(source) as src:
        frame = read_messages(src, session_id)
        known = read_sessions(src)
        logged = _session_events(src, known, frame, session_id)
    stored = []
    for row in frame.to_dict("records"):
        meta: dict[str, Any] = {}
        if row["role"] == "assistant":
            usage = {k: row[k] for k in ("prompt_tokens", "completion_tokens") if _present(row[k])}
            meta = {"usage": {k: int(v) for k, v in usage.items()}}
            if _present(row["latency_ms"]):
                meta["latency_ms"] = float(row["latency_ms"])
        stored.append(
            {"role": row["role"], "content": row["content"], "timestamp": row["ts"], "metadata": meta}
        )
    return session_analytics(stored, logged, session_id=session_id)


def _session_events(src: Source, known: pd.DataFrame, frame: pd.DataFrame, session_id: str) -> pd.DataFrame:
    """The session's events, plus those without a session id that belong to it (one query).

    Events published per user (affinity changes) carry no session id: they count for
    the session when their ``user_id`` (and ``personality_name``, if any) are the
    session's and they happen from the session's start until the user's next session
    starts.
    """
    columns = "SELECT ts, type, session_id, payload, host, pid FROM events"
    order = f"ORDER BY ts, {src.seq()}"
    mine = known[known["session_id"] == session_id]
    rows = mine if len(mine) else frame.rename(columns={"ts": "created_at"})
    users = rows["user_id"].dropna()
    if users.empty:
        return src.query(f"{columns} WHERE session_id = $sid {order}", {"sid": session_id})
    user, persona = users.iloc[0], rows["personality"].iloc[0]
    start = min(rows["created_at"].min(), frame["ts"].min()) if len(frame) else rows["created_at"].min()
    later = known[(known["user_id"] == user) & (known["created_at"] > start)]
    params: dict[str, Any] = {"sid": session_id, "user": user, "persona": persona, "start": start}
    until = ""
    if len(later):
        until, params["end"] = "AND ts < $end", later["created_at"].min()
    return src.query(
        f"{columns} WHERE session_id = $sid OR (session_id IS NULL AND payload->>'user_id' = $user "
        f"AND coalesce(payload->>'personality_name', $persona) = $persona AND ts >= $start {until}) {order}",
        params,
    )


def _present(value: Any) -> bool:
    import pandas as pd

    return not pd.isna(value)
