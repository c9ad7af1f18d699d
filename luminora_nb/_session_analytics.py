"""What ``LuminoraCoreClientV11.get_session_analytics`` reads, and from where.

The numbers themselves are computed by the pure
:func:`luminora_nb.analytics.session.session_analytics`; this module gathers its inputs:

* the session's stored messages (counts, lengths, tokens, latency, duration) and the
  stored facts and episodes of its user (``facts_learned`` / ``episodes_created`` count
  those naming the session);
* with a session log on the base client (the facade's default), affinity, mood and
  sentiment come from the logged events, exactly as published;
* without one, from what storage keeps: the affinity history of the session's user and
  personality from the session's start until that user's next session with the same
  persona, the session's current mood, and each user message scored again with the v1.1
  client's sentiment scorer.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .analytics.session import session_analytics, session_analytics_from_log
from .errors import SessionError, shown

if TYPE_CHECKING:
    from .client_v11 import LuminoraCoreClientV11

__all__ = ["gather_session_analytics"]


async def gather_session_analytics(v11: LuminoraCoreClientV11, session_id: str) -> dict[str, Any]:
    """The analytics of ``session_id`` as a dict (see the module docstring for the sources).

    Raises:
        SessionError: no such session.
    """

    base = v11.base_client
    conversation = await base.get_conversation(session_id)
    if conversation is None:
        raise SessionError(f"unknown session {shown(session_id)}; list stored sessions with list_sessions()")
    record = await base.storage.load_session(session_id) if hasattr(base, "storage") else None
    user_id = v11.user_of(getattr(record, "user_id", None))
    facts = await v11.storage.get_facts(user_id)
    episodes = await v11.storage.get_episodes(user_id)
    log = getattr(base, "session_log", None)
    if log is not None:
        await asyncio.to_thread(log.flush)
        logged = await asyncio.to_thread(session_analytics_from_log, log, session_id)
        if logged.total_messages == len(conversation.messages):
            stored = session_analytics(conversation, session_id=session_id, facts=facts, episodes=episodes)
            merged = logged.to_dict()
            for name in ("facts_learned", "episodes_created"):
                merged[name] = stored.to_dict()[name]
            return merged
    events: list[dict[str, Any]] = []
    times = [m.timestamp for m in conversation.messages]
    if record is not None and times:
        # A change belongs to this session from its start until the user's next session
        # with the same persona (learning runs after the reply is stored, so the last
        # message's time is too early a bound).
        start = min([record.created_at, *times])
        later = [
            s.created_at
            for s in await base.session_summaries(user_id=record.user_id)
            if s.personality_name == record.personality_name and s.created_at > start
        ]
        end = min(later) if later else datetime.max.replace(tzinfo=UTC)
        affinity = await v11.storage.get_affinity(user_id, record.personality_name)
        for entry in (affinity or {}).get("history") or []:
            when = _as_datetime(entry.get("timestamp"))
            if when is not None and start <= when < end:
                events.append(
                    {
                        "type": "affinity_changed",
                        "timestamp": when,
                        "affinity_points": entry.get("points_after", entry.get("affinity_points")),
                        "points_delta": entry.get("points_delta"),
                        "previous_level": entry.get("level_before"),
                        "current_level": entry.get("level_after", entry.get("current_level")),
                        "interaction_type": entry.get("interaction_type"),
                    }
                )
        mood = await v11.storage.get_mood(session_id)
        if mood:
            when = _as_datetime(mood.get("updated_at")) or max(times)
            events.append({**mood, "type": "mood_changed", "timestamp": when})
        scorer = v11.pipeline.scorer
        for message in conversation.messages:
            if message.role == "user" and hasattr(scorer, "score"):
                result = scorer.score(message.content)
                events.append(
                    {
                        "type": "sentiment_scored",
                        "sentiment": result.label,
                        "score": result.valence,
                        "timestamp": message.timestamp,
                    }
                )
    return session_analytics(
        conversation, events, session_id=session_id, facts=facts, episodes=episodes
    ).to_dict()


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None
