"""analytics.memory: facts, episodes, affinity, moods and sentiment read from the events table.

The events are real: published on a real client's bus (and, for affinity, by
``LuminoraCoreClientV11.update_affinity``) into a real session log, then read back
from the log, its file and its Parquet export (see ``test_analytics_frames``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from luminora_nb.analytics import (
    SENTIMENT_SCORES,
    affinity,
    episodes,
    facts,
    moods,
    sentiment,
    sentiment_score,
)
from luminora_nb.sessionlog import SessionLog

from .test_analytics_frames import Scripted, scripted, source

__all__ = ["scripted", "source"]  # fixtures used by the tests below


def test_facts_keep_category_key_value_and_confidence(scripted: Scripted, source: Any) -> None:
    frame = facts(source)
    got = list(zip(frame["category"], frame["key"], frame["value"], frame["confidence"], strict=True))
    assert got == scripted.facts  # the fact's "key" is not scrubbed as if it were a credential
    assert set(frame["session_id"]) == {scripted.aurora} and set(frame["user_id"]) == {"u1"}
    assert facts(source, session_id=scripted.blend).empty


def test_episodes(scripted: Scripted, source: Any) -> None:
    frame = episodes(source)
    got = list(zip(frame["title"], frame["importance"], frame["sentiment"], strict=True))
    assert got == scripted.episodes
    assert frame["episode_type"].tolist() == ["moment", "moment"]


def test_affinity_history_follows_update_affinity(scripted: Scripted, source: Any) -> None:
    frame = affinity(source)
    assert frame["affinity_points"].tolist() == scripted.affinity
    assert frame["points_delta"].tolist() == [5, 3, 5, 3]
    assert frame["previous_level"].isna().tolist() == [True, False, False, False]
    assert (frame["current_level"] == frame["previous_level"].shift(-1).fillna(frame["current_level"])).all()
    assert set(frame["personality_name"]) == {"aurora"}
    assert affinity(source, user_id="u2").empty
    assert frame["ts"].is_monotonic_increasing


def test_moods(scripted: Scripted, source: Any) -> None:
    frame = moods(source)
    assert frame[["previous_mood", "current_mood"]].values.tolist() == [["calm", "happy"]]
    assert frame["mood_intensity"].tolist() == [0.7]


def test_sentiment_from_scored_events(scripted: Scripted, source: Any) -> None:
    frame = sentiment(source)
    assert frame["sentiment"].tolist() == ["positive", "very_positive"]
    assert frame["score"].tolist() == [SENTIMENT_SCORES["positive"], 0.9]  # the label's, then the given score
    assert frame["turn_index"].tolist() == [0, 1]
    assert sentiment(source, session_id=scripted.blend).empty


def test_sentiment_reads_turns_carrying_one(tmp_path: Path) -> None:
    # A newer client may put the user message's sentiment into turn_completed payloads.
    path = tmp_path / "log.duckdb"
    with SessionLog(path) as log:
        log.record_rating(blend="x", prompt="p", rating=0)  # creates the file and its schema
    con = duckdb.connect(str(path))
    rows = [
        ("s1", {"type": "turn_completed", "sentiment": "negative", "turn_index": 0}),
        ("s1", {"type": "turn_completed", "sentiment": "happyish", "turn_index": 1}),  # unknown label
        ("s1", {"type": "turn_completed", "turn_index": 2}),  # none
        ("s1", {"type": "turn_completed", "sentiment": "positive", "sentiment_score": 0.3, "turn_index": 3}),
    ]
    for i, (sid, payload) in enumerate(rows):
        con.execute(
            "INSERT INTO events (ts, type, session_id, payload, host) VALUES "
            "(TIMESTAMPTZ '2026-01-01 00:00:00+00' + ? * INTERVAL 1 SECOND, 'turn_completed', ?, ?, 'h')",
            [i, sid, json.dumps(payload)],
        )
    con.close()
    frame = sentiment(path)
    assert frame[["sentiment", "score", "turn_index"]].values.tolist() == [
        ["negative", -0.5, 0],
        ["positive", 0.3, 3],
    ]


def test_sentiment_score() -> None:
    assert [sentiment_score(label) for label in SENTIMENT_SCORES] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert sentiment_score(" Positive ") == 0.5
    assert sentiment_score("positive", 0.2) == 0.2
    assert sentiment_score(None, float("nan")) is None
    assert sentiment_score("positive", True) == 0.5  # a bool is not a score
    assert sentiment_score(3) is None


@pytest.mark.parametrize("reader", [facts, episodes, affinity, moods, sentiment])
def test_empty_log_gives_documented_columns(tmp_path: Path, reader: Any) -> None:
    with SessionLog(tmp_path / "log.duckdb") as log:
        frame = reader(log)
    assert frame.empty
    assert list(frame.columns)[:4] == ["ts", "type", "session_id", "host"] and len(frame.columns) > 4
