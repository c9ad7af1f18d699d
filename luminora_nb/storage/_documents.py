"""The documents every backend stores, built once: sessions, messages and user state.

Backends store these JSON documents as they are and give them back unchanged, so the
conformance suite sees identical results from every backend. A session is stored as its
document without messages and memory (:func:`session_documents`) plus one document per
message; :func:`session_from_documents` puts the parts back together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..errors import StorageError
from ..types._base import utcnow
from ..types.session import Message, SessionRecord

__all__ = [
    "affinity_document",
    "embedding_document",
    "episode_document",
    "fact_document",
    "message_documents",
    "mood_document",
    "select_episodes",
    "session_documents",
    "session_from_documents",
]


def session_documents(record: SessionRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Split a session into its document (no messages, no memory) and its message documents.

    The per-session key/value memory is stored apart (``set_memory``), as in every backend;
    :func:`session_from_documents` puts the parts back together.
    """
    doc = record.model_dump(mode="json", exclude={"memory"})
    messages: list[dict[str, Any]] = doc["conversation"].pop("messages")
    return doc, messages


def message_documents(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The JSON documents of appended messages."""
    return [m.model_dump(mode="json") for m in messages]


def session_from_documents(
    doc: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any] | Message],
    *,
    memory: Mapping[str, Any] | None = None,
    what: str,
) -> SessionRecord:
    """Rebuild a :class:`SessionRecord` from :func:`session_documents` output.

    ``messages`` may also hold :class:`Message` objects validated already (e.g. with
    ``model_validate_json``): they are taken as they are, not validated again.

    Raises:
        StorageError: the documents do not describe a valid session (names ``what``).
    """
    try:
        data = dict(doc)
        conversation = dict(data.get("conversation") or {})
        conversation["messages"] = list(messages)
        data["conversation"] = conversation
        data["memory"] = dict(memory or {})
        return SessionRecord.model_validate(data)
    except (ValidationError, TypeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StorageError(
            f"{what} is corrupt and could not be read: the stored document is not a valid session "
            f"({first}); restore it from a backup or delete it"
        ) from None


def affinity_document(
    user_id: str, personality_name: str, affinity_points: int, current_level: str, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """The stored affinity record (extra keyword fields kept, the named fields win)."""
    return {
        **extra,
        "user_id": user_id,
        "personality_name": personality_name,
        "affinity_points": int(affinity_points),
        "current_level": current_level,
        "updated_at": utcnow().isoformat(),
    }


def fact_document(
    user_id: str,
    category: str,
    key: str,
    value: Any,
    extra: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The stored fact; an update keeps the ``created_at`` of the fact it replaces."""
    now = utcnow().isoformat()
    return {
        "confidence": 1.0,
        **extra,
        "user_id": user_id,
        "category": category,
        "key": key,
        "value": value,
        "created_at": previous["created_at"] if previous else extra.get("created_at", now),
        "updated_at": now,
    }


def episode_document(
    user_id: str,
    episode_type: str,
    title: str,
    summary: str,
    importance: float,
    sentiment: str,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The stored episode, with an ``episode_id`` and ``timestamp`` when none is given."""
    return {
        **extra,
        "episode_id": extra.get("episode_id") or uuid.uuid4().hex,
        "user_id": user_id,
        "episode_type": episode_type,
        "title": title,
        "summary": summary,
        "importance": float(importance),
        "sentiment": sentiment,
        "timestamp": _iso(extra.get("timestamp")) or utcnow().isoformat(),
    }


def mood_document(
    session_id: str, user_id: str, current_mood: str, mood_intensity: float, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """The stored mood of a session."""
    return {
        **extra,
        "session_id": session_id,
        "user_id": user_id,
        "current_mood": current_mood,
        "mood_intensity": float(mood_intensity),
        "updated_at": utcnow().isoformat(),
    }


def embedding_document(
    item_id: str, kind: str, text: str, vector: Sequence[float], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """The stored embedding of a memory item."""
    return {**extra, "item_id": item_id, "kind": kind, "text": text, "vector": [float(v) for v in vector]}


def select_episodes(
    episodes: Iterable[Mapping[str, Any]], min_importance: float | None, max_results: int | None
) -> list[dict[str, Any]]:
    """Episodes with ``importance >= min_importance``, most important first, then newest.

    Episodes must come in the order they were saved (ties keep that order).

    Example:
        >>> rows = [{"importance": 1.0, "timestamp": "a"}, {"importance": 5.0, "timestamp": "b"}]
        >>> [e["importance"] for e in select_episodes(rows, 2.0, None)]
        [5.0]
    """
    rows = [dict(e) for e in episodes if min_importance is None or float(e["importance"]) >= min_importance]
    rows.sort(key=lambda e: str(e["timestamp"]), reverse=True)
    rows.sort(key=lambda e: -float(e["importance"]))
    return rows[:max_results] if max_results is not None else rows


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
