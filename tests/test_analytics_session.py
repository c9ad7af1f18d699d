"""analytics.session: one session's metrics, checked against values computed by hand.

A real scripted offline session (``LuminoraCoreClient``, the offline provider, a session
log attached) is run; the expected numbers are computed here from the *stored* messages
(``get_conversation``: contents, roles, times, and the usage and latency the client
stores in each reply's metadata) with plain Python and numpy, then compared with
:func:`session_analytics` and with :func:`session_analytics_from_log` over the log and
its Parquet export.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.analytics import (
    SessionAnalytics,
    events,
    export_parquet,
    percentile,
    session_analytics,
    session_analytics_from_log,
)
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.events import EpisodeCreated, Event, FactLearned, MoodChanged
from luminora_nb.sessionlog import SessionLog
from luminora_nb.types.session import Conversation, Message

from .test_analytics_frames import SentimentScored

PROMPTS = [
    "Hello! I'm Ana, I work as a nurse.",
    "Night shifts are tiring 😴",
    "Can you suggest a calm evening routine?",
    "Thanks, that helps a lot.",
]


def run_session(path: Path) -> tuple[SessionLog, str, Conversation, list[Event]]:
    log = SessionLog(path, flush_interval=3600.0)
    published: list[Event] = []

    async def run() -> tuple[str, Conversation]:
        async with LuminoraCoreClient(session_log=log) as client:
            client.events.subscribe(published.append)
            v11 = LuminoraCoreClientV11(client, learn=False)  # only the events published here
            other = await client.create_session("vex", user_id="u9")  # another session: never counted
            await client.send_message(other, "Noise")
            await client.events.publish(
                FactLearned(session_id=other, user_id="u9", category="x", key="k", value=1, confidence=1.0)
            )
            sid = await client.create_session("aurora", user_id="ana")
            for i, text in enumerate(PROMPTS):
                await client.send_message(sid, text)
                await v11.update_affinity("ana", "aurora", 4 - i, "positive")
                await client.events.publish(
                    SentimentScored(session_id=sid, user_id="ana", sentiment=["positive", "negative"][i % 2])
                )
            await client.events.publish(
                FactLearned(
                    session_id=sid, user_id="ana", category="work", key="job", value="nurse", confidence=0.9
                )
            )
            await client.events.publish(
                EpisodeCreated(
                    session_id=sid,
                    user_id="ana",
                    episode_type="confession",
                    title="Tired",
                    importance=6.0,
                    sentiment="negative",
                )
            )
            for mood in ("calm", "caring"):
                await client.events.publish(MoodChanged(session_id=sid, user_id="ana", current_mood=mood))
            conversation = await client.get_conversation(sid)
            assert conversation is not None
            return sid, conversation

    sid, conversation = asyncio.run(run())
    log.flush()
    return log, sid, conversation, published


@pytest.fixture(scope="module")
def session_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("session")
    log, sid, conversation, published = run_session(folder / "log.duckdb")
    yield log, sid, conversation, published, folder
    log.close()


def by_hand(conversation: Conversation) -> dict[str, Any]:
    """The metrics a session's stored messages give, computed with plain Python and numpy.

    Also the reference of test_client_v11_analytics (``get_session_analytics``).
    """
    stored = conversation.messages
    user = [m for m in stored if m.role == "user"]
    replies = [m for m in stored if m.role == "assistant"]
    latencies = [m.metadata["latency_ms"] for m in replies]
    return {
        "total_messages": len(stored),
        "user_messages": len(user),
        "assistant_messages": len(replies),
        "avg_message_length": np.mean([len(m.content) for m in stored]),
        "avg_user_length": np.mean([len(m.content) for m in user]),
        "avg_assistant_length": np.mean([len(m.content) for m in replies]),
        "tokens_in": sum(m.metadata["usage"]["prompt_tokens"] for m in replies),
        "tokens_out": sum(m.metadata["usage"]["completion_tokens"] for m in replies),
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
        "latency_mean_ms": float(np.mean(latencies)),
        "duration_seconds": (stored[-1].timestamp - stored[0].timestamp).total_seconds(),
    }


def test_numbers_match_the_stored_messages(session_run: Any) -> None:
    _, sid, conversation, published, _ = session_run
    assert [m.content for m in conversation.messages if m.role == "user"] == PROMPTS
    result = session_analytics(conversation, published)
    assert result.session_id == sid
    expected = by_hand(conversation)
    for name, value in expected.items():
        assert getattr(result, name) == pytest.approx(value), name
    assert result.total_tokens == expected["tokens_in"] + expected["tokens_out"] > 0
    assert len(set(m.metadata["latency_ms"] for m in conversation.messages if m.role == "assistant")) > 1
    # events: only this session's (the other session's fact is not counted)
    assert result.facts_learned == 1 and result.episodes_created == 1
    assert [step["current_mood"] for step in result.mood_changes] == ["calm", "caring"]
    assert [s["score"] for s in result.sentiment_trajectory] == [0.5, -0.5, 0.5, -0.5]
    points = [step["affinity_points"] for step in result.affinity_progression]
    assert [step["points_delta"] for step in result.affinity_progression] == [4, 3, 2, 1]
    assert points == list(np.cumsum([4, 3, 2, 1]) + points[0] - 4)


def test_the_log_and_its_export_give_the_same(session_run: Any) -> None:
    log, sid, conversation, published, folder = session_run
    direct = session_analytics(conversation, published)
    export = export_parquet(log, folder / "exports").folder
    for source in (log, log.path, export):
        logged = session_analytics_from_log(source, sid)
        for name in ("total_messages", "user_messages", "assistant_messages", "tokens_in", "tokens_out"):
            assert getattr(logged, name) == getattr(direct, name), name
        for name in ("avg_user_length", "avg_assistant_length", "duration_seconds"):
            assert getattr(logged, name) == pytest.approx(getattr(direct, name)), name
        # the stored metadata rounds latency to the microsecond; the log keeps it whole
        assert logged.latency_p50_ms == pytest.approx(direct.latency_p50_ms, abs=1e-3)
        assert logged.latency_p95_ms == pytest.approx(direct.latency_p95_ms, abs=1e-3)
        assert (logged.facts_learned, logged.episodes_created) == (1, 1)
        assert [s["current_mood"] for s in logged.mood_changes] == ["calm", "caring"]
        assert [s["affinity_points"] for s in logged.affinity_progression] == [
            s["affinity_points"] for s in direct.affinity_progression
        ]
        assert [s["score"] for s in logged.sentiment_trajectory] == [0.5, -0.5, 0.5, -0.5]


def test_events_frame_and_records_are_accepted(session_run: Any) -> None:
    log, _, conversation, published, _ = session_run
    from_frame = session_analytics(conversation, events(log))
    from_records = session_analytics(conversation, [e.to_record() for e in published])
    assert from_frame.facts_learned == from_records.facts_learned == 1
    assert len(from_frame.affinity_progression) == len(from_records.affinity_progression) == 4


def test_to_dict_and_display(session_run: Any) -> None:
    _, sid, conversation, published, _ = session_run
    result = session_analytics(conversation, published)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["total_messages"] == 8 and isinstance(data["started_at"], str)
    assert isinstance(data["affinity_progression"][0]["timestamp"], str)
    html = result._repr_html_()
    assert "Session analytics" in html and f"{result.tokens_in:,} in" in html and sid in html
    assert "facts learned: 1" in str(result)


def test_edge_cases() -> None:
    empty = session_analytics([], session_id="s0")
    assert (empty.total_messages, empty.latency_p50_ms, empty.duration_seconds) == (0, None, 0.0)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "role": "user",
            "content": "abcd",
            "timestamp": t0.isoformat(),
            "metadata": {"sentiment": "very_negative"},
        },
        {"role": "assistant", "content": "xy", "timestamp": t0 + timedelta(seconds=90), "metadata": {}},
        Message(role="user", content="later", timestamp=t0 + timedelta(seconds=120)),
    ]
    result = session_analytics(rows, [{"type": "fact_learned", "session_id": "other"}], session_id="s1")
    assert (result.user_messages, result.assistant_messages, result.tokens_in) == (2, 1, 0)
    assert result.latency_p95_ms is None and result.duration_seconds == 120.0
    assert result.facts_learned == 0  # another session's
    assert (
        result.sentiment_trajectory[0]["score"] == -1.0
        and result.sentiment_trajectory[0]["source"] == "message"
    )
    assert isinstance(result, SessionAnalytics)


def test_percentile_matches_numpy() -> None:
    rng = np.random.default_rng(7)
    for size in (1, 2, 5, 101):
        values = rng.exponential(100.0, size).tolist()
        for q in (0, 50, 95, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_per_user_events_count_until_the_users_next_session(tmp_path: Path) -> None:
    log = SessionLog(tmp_path / "log.duckdb", flush_interval=3600.0)

    async def run() -> tuple[str, str]:
        async with LuminoraCoreClient(session_log=log) as client:
            v11 = LuminoraCoreClientV11(client, learn=False)  # only the events published here
            first = await client.create_session("aurora", user_id="ana")
            await client.send_message(first, "Hi")
            await v11.update_affinity("ana", "aurora", 2, "positive")
            await v11.update_affinity("ana", "vex", 9, "positive")  # another personality
            await v11.update_affinity("bob", "aurora", 9, "positive")  # another user
            second = await client.create_session("aurora", user_id="ana")
            await client.send_message(second, "Hi again")
            await v11.update_affinity("ana", "aurora", 5, "positive")
            return first, second

    try:
        first, second = asyncio.run(run())
        for sid, deltas in ((first, [2]), (second, [5])):
            steps = session_analytics_from_log(log, sid).affinity_progression
            assert [step["points_delta"] for step in steps] == deltas
    finally:
        log.close()


def test_stored_facts_and_episodes_count_when_given(tmp_path: Path) -> None:
    """What get_session_analytics can pass without a session log: the v1.1 storage's records."""

    async def run() -> tuple[str, Conversation, list[Any], list[Any]]:
        async with LuminoraCoreClient() as client:
            v11 = LuminoraCoreClientV11(client, learn=False)  # only the events published here
            sid = await client.create_session("aurora", user_id="ana")
            await client.send_message(sid, "I'm a nurse")
            storage = v11.storage
            await storage.save_fact("ana", "work", "job", "nurse", confidence=0.9, session_id=sid)
            await storage.save_fact("ana", "work", "shift", "night", confidence=0.7, session_id="earlier")
            await storage.save_episode(
                "ana", "moment", "Job", "Said she is a nurse", 5.0, "neutral", session_id=sid
            )
            conversation = await client.get_conversation(sid)
            assert conversation is not None
            return sid, conversation, await v11.get_facts("ana"), await v11.get_episodes("ana")

    sid, conversation, facts, episodes = asyncio.run(run())
    assert len(facts) == 2
    result = session_analytics(conversation, facts=facts, episodes=episodes)
    assert (result.session_id, result.facts_learned, result.episodes_created) == (sid, 1, 1)
    assert session_analytics(conversation).facts_learned == 0
