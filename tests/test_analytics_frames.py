"""analytics.frames and analytics._source: the log's tables from a log, a log file or Parquet exports.

The data is real: :func:`scripted_log` runs offline sessions (one of a blend) through
``LuminoraCoreClient`` with a ``SessionLog`` attached, changes affinity through
``LuminoraCoreClientV11`` and publishes the v1.1 events on the client's own bus, as the
memory pipeline does. Other ``test_analytics_*`` files reuse it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.analytics import (
    MESSAGE_COLUMNS,
    blends,
    events,
    export_parquet,
    messages,
    open_source,
    payloads,
    ratings,
    sessions,
)
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.events import EpisodeCreated, Event, FactLearned, MoodChanged
from luminora_nb.sessionlog import SessionLog, SessionLogError


class SentimentScored(Event):
    """A sentiment event without a score (the real one always has one): read by its label."""

    type: ClassVar[str] = "sentiment_scored"
    user_id: str
    sentiment: str
    score: float | None = None
    turn_index: int | None = None


@dataclass
class Scripted:
    """What :func:`scripted_log` did, to compare the frames with."""

    log: SessionLog
    aurora: str = ""  # session ids
    blend: str = ""
    blend_name: str = ""
    prompts: dict[str, list[str]] = field(default_factory=dict)
    facts: list[tuple[str, str, str, float]] = field(default_factory=list)  # category, key, value, confidence
    episodes: list[tuple[str, float, str]] = field(default_factory=list)  # title, importance, sentiment
    affinity: list[int] = field(default_factory=list)  # points after each change
    sentiments: list[tuple[str, float | None]] = field(default_factory=list)


def scripted_log(path: Path) -> Scripted:
    """Two offline sessions (aurora for u1, a 70/30 blend for u2) with v1.1 events and ratings."""
    log = SessionLog(path, flush_interval=3600.0, host="lab-1")
    done = Scripted(log=log)
    done.prompts = {
        "aurora": ["Hi, I'm Ana and I love jazz.", "What do you think about rainy days?", "Thanks, bye!"],
        "blend": ["Give me one idea for a weekend project.", "Make it cheaper, please 🙂"],
    }
    done.facts = [
        ("preferences", "music", "jazz", 0.9),
        ("personal_info", "name", "Ana", 0.95),
        ("preferences", "weather", "rain", 0.6),
    ]
    done.episodes = [("First hello", 4.0, "positive"), ("Talked about rain", 7.5, "neutral")]
    done.sentiments = [("positive", None), ("very_positive", 0.9)]

    async def run() -> None:
        async with LuminoraCoreClient(session_log=log) as client:
            v11 = LuminoraCoreClientV11(client, learn=False)  # only the events published here
            blended = await client.blend_personalities(["aurora", "vex"], [0.7, 0.3])
            done.blend_name = blended.name
            done.aurora = await client.create_session("aurora", user_id="u1")
            for i, text in enumerate(done.prompts["aurora"]):
                await client.send_message(done.aurora, text)
                if i == 0:
                    for category, key, value, confidence in done.facts:
                        await client.events.publish(
                            FactLearned(
                                session_id=done.aurora,
                                user_id="u1",
                                category=category,
                                key=key,
                                value=value,
                                confidence=confidence,
                            )
                        )
                for delta in (5, 3) if i < 2 else ():
                    state = await v11.update_affinity("u1", "aurora", delta, "positive")
                    assert state is not None
                    done.affinity.append(int(state["affinity_points"]))
                if i < len(done.sentiments):
                    label, score = done.sentiments[i]
                    await client.events.publish(
                        SentimentScored(
                            session_id=done.aurora, user_id="u1", sentiment=label, score=score, turn_index=i
                        )
                    )
            for title, importance, sentiment in done.episodes:
                await client.events.publish(
                    EpisodeCreated(
                        session_id=done.aurora,
                        user_id="u1",
                        episode_type="moment",
                        title=title,
                        importance=importance,
                        sentiment=sentiment,
                    )
                )
            await client.events.publish(
                MoodChanged(
                    session_id=done.aurora,
                    user_id="u1",
                    previous_mood="calm",
                    current_mood="happy",
                    mood_intensity=0.7,
                )
            )
            done.blend = await client.create_session(blended.name, user_id="u2")
            for text in done.prompts["blend"]:
                await client.send_message(done.blend, text)

    asyncio.run(run())
    log.record_rating(blend=done.blend_name, prompt="p1", rating=1, run_id="r1")
    log.record_rating(blend=done.blend_name, prompt="p2", rating=-1, run_id="r1")
    log.record_rating(blend="aurora", prompt="p1", rating=-1, run_id="r1")
    log.record_rating(blend="aurora", prompt="p1", rating=1, run_id="r1", note="changed my mind")
    log.flush()
    return done


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scripted]:
    """One scripted log per test module: the tests only read it."""
    done = scripted_log(tmp_path_factory.mktemp("scripted") / "luminora.duckdb")
    yield done
    done.log.close()


SOURCES: dict[str, Callable[[Scripted, Path], Any]] = {
    "log": lambda s, tmp: s.log,
    "file": lambda s, tmp: str(s.log.path),
    "parquet": lambda s, tmp: export_parquet(s.log, tmp / "exports").folder,
}


@pytest.fixture(params=sorted(SOURCES))
def source(request: pytest.FixtureRequest, scripted: Scripted, tmp_path: Path) -> Any:
    return SOURCES[request.param](scripted, tmp_path)


def test_messages_are_the_turns_in_order_with_usage_on_replies(scripted: Scripted, source: Any) -> None:
    frame = messages(source)
    assert list(frame.columns) == list(MESSAGE_COLUMNS)
    aurora = frame[frame["session_id"] == scripted.aurora]
    assert aurora[aurora["role"] == "user"]["content"].tolist() == scripted.prompts["aurora"]
    assert aurora["role"].tolist() == ["user", "assistant"] * 3
    replies = frame[frame["role"] == "assistant"]
    assert replies["prompt_tokens"].notna().all() and (replies["latency_ms"] > 0).all()
    assert frame[frame["role"] == "user"]["prompt_tokens"].isna().all()
    blend = messages(source, scripted.blend)
    assert blend["content"].iloc[2] == scripted.prompts["blend"][1]  # emoji kept
    assert set(blend["personality"]) == {scripted.blend_name}
    assert set(frame["host"]) == {"lab-1"}
    assert len(messages(source, personality="aurora")) == 6


def test_sessions_blends_and_events(scripted: Scripted, source: Any) -> None:
    frame = sessions(source)
    assert frame["session_id"].tolist() == [scripted.aurora, scripted.blend]
    assert frame["blend_sources"].tolist() == [None, ["aurora", "vex"]]
    assert json.loads(frame["blend_weights"].iloc[1]) == pytest.approx({"aurora": 0.7, "vex": 0.3})
    assert sessions(source, user_id="u2")["session_id"].tolist() == [scripted.blend]
    made = blends(source)
    assert made["name"].tolist() == [scripted.blend_name] and made["sources"].tolist() == [["aurora", "vex"]]
    kinds = events(source)["type"].tolist()
    assert kinds.count("turn_completed") == 5 and kinds.count("fact_learned") == 3
    assert kinds.count("affinity_changed") == 4 and kinds.count("rating") == 4
    assert kinds[0] == "blend_created"  # in the order published
    assert len(events(source, type="turn_completed", session_id=scripted.blend)) == 2


def test_ratings_keep_the_latest_per_cell(scripted: Scripted, source: Any) -> None:
    frame = ratings(source)
    cells = sorted(zip(frame["blend"], frame["prompt"], frame["rating"], strict=True))
    assert cells == sorted(
        [(scripted.blend_name, "p1", 1), (scripted.blend_name, "p2", -1), ("aurora", "p1", 1)]
    )
    assert frame[frame["blend"] == "aurora"]["note"].tolist() == ["changed my mind"]


def test_every_source_gives_the_same_frames(scripted: Scripted, tmp_path: Path) -> None:
    folder = export_parquet(scripted.log, tmp_path / "exports").folder
    for reader in (messages, sessions, events, blends, ratings):
        from_log, from_parquet = reader(scripted.log), reader(folder)
        pd.testing.assert_frame_equal(from_log, from_parquet, check_dtype=False)


def test_payloads_reads_any_event_type_by_name(scripted: Scripted, source: Any) -> None:
    frame = payloads(
        source, ["sentiment_scored"], {"sentiment": "string", "score": "float64", "nope": "string"}
    )
    assert frame["sentiment"].tolist() == ["positive", "very_positive"]
    assert frame["score"].isna().tolist() == [True, False] and frame["nope"].isna().all()
    empty = payloads(source, "never_published", {"x": "Int64"})
    assert empty.empty and list(empty.columns) == ["ts", "type", "session_id", "host", "x"]


def test_empty_and_missing_sources(tmp_path: Path) -> None:
    log = SessionLog(tmp_path / "new.duckdb")
    try:
        frame = messages(log)  # no file yet: empty, right columns
        assert frame.empty and list(frame.columns) == list(MESSAGE_COLUMNS)
    finally:
        log.close()
    with pytest.raises(SessionLogError, match="no session log or Parquet export folder"):
        messages(tmp_path / "nowhere.duckdb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SessionLogError, match="holds no Parquet export"):
        messages(tmp_path / "empty")
    with pytest.raises(SessionLogError, match="not int"):
        messages(42)  # type: ignore[arg-type]


def test_a_table_never_exported_reads_empty(scripted: Scripted, tmp_path: Path) -> None:
    folder = export_parquet(scripted.log, tmp_path / "exports").folder
    for path in sorted((folder / "blends").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    assert blends(folder).empty and list(blends(folder).columns) == list(blends(scripted.log).columns)
    assert len(messages(folder)) == 10


def test_open_source_kinds(scripted: Scripted, tmp_path: Path) -> None:
    folder = export_parquet(scripted.log, tmp_path / "exports").folder
    with open_source(folder) as src:
        assert src.kind == "parquet"
        assert int(src.query("SELECT count(*) AS n FROM messages")["n"][0]) == 10
    with open_source(scripted.log.path) as src:
        assert src.kind == "log"


def test_messages_are_ordered_by_time_whatever_the_logged_order(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "log.duckdb"
    with SessionLog(path) as log:
        log.record_rating(blend="x", prompt="p", rating=0)  # creates the file and its schema
    con = duckdb.connect(str(path))
    rows = [  # logged out of time order; turn 1's two rows share one timestamp
        ("s", 1, "assistant", "a1", "2026-01-01 00:00:05+00"),
        ("s", 0, "assistant", "a0", "2026-01-01 00:00:02+00"),
        ("s", 1, "user", "u1", "2026-01-01 00:00:05+00"),
        ("s", 0, "user", "u0", "2026-01-01 00:00:01+00"),
        ("s", 2, "user", "late", None),  # no time: last
    ]
    for sid, index, role, content, ts in rows:
        con.execute(
            "INSERT INTO messages (session_id, turn_index, role, content, ts) VALUES (?, ?, ?, ?, ?)",
            [sid, index, role, content, ts],
        )
    con.close()
    expected = ["u0", "a0", "u1", "a1", "late"]
    assert messages(path)["content"].tolist() == expected
    log = SessionLog(path)
    try:
        assert log.messages()["content"].tolist() == expected  # the log's own reader orders the same
        folder = export_parquet(log, tmp_path / "exports").folder
    finally:
        log.close()
    assert messages(folder)["content"].tolist() == expected
    assert list(messages(folder).columns) == list(MESSAGE_COLUMNS)


@pytest.mark.parametrize("table", ["sessions", "messages", "events", "blends", "ratings"])
def test_arrow_reads_match_duckdb_df(scripted: Scripted, table: str) -> None:
    """Reads go through Arrow (frame_of) for speed; values and dtypes are DuckDB's own df()'s."""
    import duckdb

    from luminora_nb.sessionlog._readers import frame_of

    scripted.log.flush()
    con = duckdb.connect(str(scripted.log.path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        query = f"SELECT * EXCLUDE ({'blend_sources' if table == 'sessions' else 'sources'}) FROM {table}"
        if table not in ("sessions", "blends"):
            query = f"SELECT * FROM {table}"
        ours, theirs = frame_of(con, query), con.execute(query).df()
        empty_ours, empty_theirs = frame_of(con, query + " LIMIT 0"), con.execute(query + " LIMIT 0").df()
    finally:
        con.close()
    assert len(ours) > 0
    pd.testing.assert_frame_equal(ours, theirs)
    pd.testing.assert_frame_equal(empty_ours, empty_theirs)


def test_a_log_of_a_newer_schema_is_refused(newer_schema_log: Path) -> None:
    with pytest.raises(SessionLogError, match="newer"):
        ratings(newer_schema_log)
