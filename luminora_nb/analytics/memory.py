"""What v1.1 memory and relationships did, from the ``events`` table: facts, episodes,
affinity, mood and sentiment over time.

The client publishes these as events (:mod:`luminora_nb.events`) and the session log
stores each with its JSON payload (:meth:`Event.to_record() <luminora_nb.events.Event.to_record>`).
The frames below read events **by their** ``type`` **column**, not by importing the
classes, so a log written by a version that publishes more (or fewer) of them reads the
same way; a type that never occurs gives an empty frame with the documented columns.

=====================  =============================================================
event ``type``         payload keys read (besides ``ts``, ``session_id``, ``host``)
=====================  =============================================================
``fact_learned``       ``user_id, category, key, value, confidence``
``episode_created``    ``user_id, episode_type, title, importance`` (0-10), ``sentiment``
``affinity_changed``   ``user_id, personality_name, points_delta, affinity_points,
                       previous_level, current_level, interaction_type``
``mood_changed``       ``user_id, previous_mood, current_mood, mood_intensity``
``sentiment_scored``   ``user_id, sentiment`` (a :data:`~luminora_nb.types.memory.Sentiment`
                       label), ``score`` (optional, -1..1), ``turn_index`` (optional)
=====================  =============================================================

``sentiment_scored`` is published by the v1.1 client once per user message
(:class:`~luminora_nb.events.SentimentScored`). A ``turn_completed`` payload carrying a
``sentiment`` key is read as a score as well.
A label without a ``score`` is scored with :data:`SENTIMENT_SCORES`.

Example:
    >>> import asyncio, os, tempfile
    >>> from luminora_nb.events import EventBus, FactLearned
    >>> from luminora_nb.sessionlog import SessionLog
    >>> log, bus = SessionLog(os.path.join(tempfile.mkdtemp(), "log.duckdb")), EventBus()
    >>> sub = log.attach(type("C", (), {"events": bus})())
    >>> fact = FactLearned(user_id="u1", category="music", key="likes", value="jazz", confidence=0.9)
    >>> asyncio.run(bus.publish(fact))
    >>> facts(log)[["category", "key", "value"]].values.tolist()
    [['music', 'likes', 'jazz']]
    >>> log.close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._source import Source, SourceLike, open_source
from .frames import payloads

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AFFINITY_COLUMNS",
    "EPISODE_COLUMNS",
    "FACT_COLUMNS",
    "MOOD_COLUMNS",
    "SENTIMENT_COLUMNS",
    "SENTIMENT_SCORES",
    "affinity",
    "episodes",
    "facts",
    "moods",
    "sentiment",
    "sentiment_score",
]

FACT_COLUMNS = {
    "user_id": "string",
    "category": "string",
    "key": "string",
    "value": "object",
    "confidence": "float64",
}
EPISODE_COLUMNS = {
    "user_id": "string",
    "episode_type": "string",
    "title": "string",
    "importance": "float64",
    "sentiment": "string",
}
AFFINITY_COLUMNS = {
    "user_id": "string",
    "personality_name": "string",
    "points_delta": "Int64",
    "affinity_points": "Int64",
    "previous_level": "string",
    "current_level": "string",
    "interaction_type": "string",
}
MOOD_COLUMNS = {
    "user_id": "string",
    "previous_mood": "string",
    "current_mood": "string",
    "mood_intensity": "float64",
}
SENTIMENT_COLUMNS = {"user_id": "string", "sentiment": "string", "score": "float64", "turn_index": "Int64"}

#: The score of a sentiment label that comes without a numeric score.
SENTIMENT_SCORES: dict[str, float] = {
    "very_negative": -1.0,
    "negative": -0.5,
    "neutral": 0.0,
    "positive": 0.5,
    "very_positive": 1.0,
}


def sentiment_score(label: object, score: object = None) -> float | None:
    """A sentiment as a number in -1..1: ``score`` when it is one, else the label's.

    Example:
        >>> sentiment_score("positive"), sentiment_score("positive", 0.8), sentiment_score("meh")
        (0.5, 0.8, None)
    """
    if isinstance(score, int | float) and not isinstance(score, bool) and score == score:
        return float(score)
    if isinstance(label, str):
        return SENTIMENT_SCORES.get(label.strip().lower())
    return None


def facts(source: SourceLike | Source, *, session_id: str | None = None) -> pd.DataFrame:
    """Facts learned (``fact_learned`` events), in the order they were learned.

    Columns: ``ts, type, session_id, host`` and :data:`FACT_COLUMNS`.
    """
    return payloads(source, "fact_learned", FACT_COLUMNS, session_id=session_id)


def episodes(source: SourceLike | Source, *, session_id: str | None = None) -> pd.DataFrame:
    """Memorable episodes (``episode_created`` events); ``importance`` runs 0-10.

    Columns: ``ts, type, session_id, host`` and :data:`EPISODE_COLUMNS`.
    """
    return payloads(source, "episode_created", EPISODE_COLUMNS, session_id=session_id)


def affinity(source: SourceLike | Source, *, user_id: str | None = None) -> pd.DataFrame:
    """Affinity history (``affinity_changed`` events): points and level after each change.

    Columns: ``ts, type, session_id, host`` and :data:`AFFINITY_COLUMNS`.
    """
    frame = payloads(source, "affinity_changed", AFFINITY_COLUMNS)
    if user_id is not None:
        frame = frame[frame["user_id"] == user_id].reset_index(drop=True)
    return frame


def moods(source: SourceLike | Source, *, session_id: str | None = None) -> pd.DataFrame:
    """Mood changes (``mood_changed`` events).

    Columns: ``ts, type, session_id, host`` and :data:`MOOD_COLUMNS`.
    """
    return payloads(source, "mood_changed", MOOD_COLUMNS, session_id=session_id)


def sentiment(source: SourceLike | Source, *, session_id: str | None = None) -> pd.DataFrame:
    """Sentiment over time: ``sentiment_scored`` events and turns carrying a ``sentiment``.

    ``score`` is the payload's score when numeric, else the label's
    (:data:`SENTIMENT_SCORES`); rows with neither are left out.

    Columns: ``ts, type, session_id, host`` and :data:`SENTIMENT_COLUMNS`.
    """
    with open_source(source) as src:
        frame = payloads(src, "sentiment_scored", SENTIMENT_COLUMNS, session_id=session_id)
        where = "WHERE type = 'turn_completed' AND payload->>'sentiment' IS NOT NULL"
        params: dict[str, str] = {}
        if session_id is not None:
            where += " AND session_id = $sid"
            params["sid"] = session_id
        turns = src.query(
            "SELECT ts, type, session_id, host, payload->>'user_id' AS user_id, "
            "payload->>'sentiment' AS sentiment, TRY_CAST(payload->>'sentiment_score' AS DOUBLE) AS score, "
            f"TRY_CAST(payload->>'turn_index' AS BIGINT) AS turn_index FROM events {where} "
            f"ORDER BY ts, {src.seq()}",
            params,
        )
    import pandas as pd

    if len(turns):
        frame = pd.concat([frame, turns.astype(frame.dtypes.to_dict())], ignore_index=True)
        frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    scores = [
        sentiment_score(label, None if pd.isna(score) else score)
        for label, score in zip(frame["sentiment"], frame["score"], strict=True)
    ]
    frame["score"] = pd.Series(scores, index=frame.index, dtype="float64")
    return frame[frame["score"].notna()].reset_index(drop=True)
