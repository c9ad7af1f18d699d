"""``LuminoraCoreClientV11.get_session_analytics``: numbers checked by hand against storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from luminora_nb import LuminoraCoreClient
from luminora_nb.client_v11 import LuminoraCoreClientV11
from luminora_nb.errors import SessionError
from luminora_nb.events import Event, SentimentScored
from luminora_nb.memory.sentiment import LexiconSentimentScorer
from luminora_nb.sessionlog import SessionLog
from luminora_nb.types.session import Conversation

from .test_analytics_session import by_hand

SCRIPT = [
    "Hi! I'm Marta and I live in Porto.",
    "I love hiking and I hate traffic.",
    "Thank you, you are wonderful!",
    "My dog Bruno died last week, I'm devastated.",
    "What do you think about the sea?",
]


async def _run(client: LuminoraCoreClient) -> tuple[LuminoraCoreClientV11, str, list[Event]]:
    v11 = LuminoraCoreClientV11(client)
    seen: list[Event] = []
    client.events.subscribe(seen.append)
    sid = await client.create_session("aurora", user_id="marta")
    for text in SCRIPT:
        await client.send_message(sid, text)
    return v11, sid, seen


def _by_hand(conversation: Conversation, facts: list[Any], episodes: list[Any], sid: str) -> dict[str, Any]:
    """The message metrics, as analytics.session's test computes them, and what was learned in ``sid``."""
    return {
        **by_hand(conversation),
        "facts_learned": sum(1 for f in facts if f.get("session_id") == sid),
        "episodes_created": sum(1 for e in episodes if e.get("session_id") == sid),
    }


@pytest.mark.parametrize("with_log", [False, True], ids=["storage", "session-log"])
async def test_session_analytics_match_storage_computed_by_hand(tmp_path: Path, with_log: bool) -> None:
    log = SessionLog(tmp_path / "log.duckdb") if with_log else None
    async with LuminoraCoreClient(session_log=log) as client:
        v11, sid, seen = await _run(client)
        stats = await v11.get_session_analytics(sid)
        conversation = await client.get_conversation(sid)
        assert conversation is not None
        facts = await v11.storage.get_facts("marta")
        episodes = await v11.storage.get_episodes("marta")
    expected = _by_hand(conversation, facts, episodes, sid)
    for name, value in expected.items():
        assert stats[name] == pytest.approx(value, abs=1e-3), name
    assert stats["facts_learned"] >= 3  # name, city, likes hiking, ...
    assert stats["episodes_created"] >= 1  # the loss of the dog
    # Affinity: one change per classified user message, in order, ending at the stored points.
    affinity = await v11.get_affinity("marta", "aurora")
    progression = stats["affinity_progression"]
    assert progression and progression[-1]["affinity_points"] == affinity["affinity_points"]
    # Sentiment: one score per user message, as the scorer (and the published events) say.
    scorer = LexiconSentimentScorer()
    assert [round(p["score"], 3) for p in stats["sentiment_trajectory"]] == [
        round(scorer.score(text).valence, 3) for text in SCRIPT
    ]
    published = [e for e in seen if isinstance(e, SentimentScored)]
    assert [e.sentiment for e in published] == [p["sentiment"] for p in stats["sentiment_trajectory"]]
    if log is not None:
        log.close()


async def test_unknown_session_is_a_session_error() -> None:
    async with LuminoraCoreClient() as client:
        v11 = LuminoraCoreClientV11(client)
        with pytest.raises(SessionError, match="unknown session"):
            await v11.get_session_analytics("nope")
