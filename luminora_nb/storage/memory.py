"""In-process storage: fast, nothing survives the process. The default backend.

Sessions are kept as JSON text, not as live objects, so callers never share state with
the store and copies cost what pydantic's (Rust) serialiser and parser cost:

* ``save_session`` stores the session's JSON (``model_dump_json``) in parts: the record
  without its conversation, the conversation without its messages, and the messages;
* ``append_messages`` adds the JSON of the new messages as one more part (O(1) per
  message: the stored conversation is never rewritten);
* ``load_session`` joins the parts into one JSON document and validates it with
  ``model_validate_json``, which builds a fresh record;
* ``list_sessions`` reads a small summary kept next to the parts.

Text that UTF-8 cannot hold (an unpaired surrogate, valid in a Python ``str``) cannot go
through pydantic's JSON; such parts are stored as ASCII-escaped JSON written by Python's
``json`` and the session is read back with Python's ``json`` (slower, same result).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from ..errors import StorageError
from ..types._base import utcnow
from ..types.session import Message, SessionRecord, SessionSummary, StorageConfig
from ._documents import select_episodes
from .base import Storage, require_strings
from .codec import DocumentCodec

__all__ = ["InMemoryStorage", "InMemoryStorageV11"]

_MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_RECORD_PARTS = {"conversation", "memory", "last_active"}
_CONVERSATION_PARTS = {"messages", "updated_at"}


def _json_copy(value: Any, what: str) -> Any:
    # Round-trip through JSON so every backend accepts and returns the same values.
    try:
        return json.loads(json.dumps(value, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StorageError(f"{what} is not JSON-serialisable ({exc}); store plain data") from None


def _json_text(value: Any, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"{what} is not JSON-serialisable ({exc}); store plain data") from None


def _fresh(row: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a stored row (JSON data), so callers never share state with the store."""
    copy: dict[str, Any] = json.loads(json.dumps(row))
    return copy


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _ascii_json(value: Any) -> bytes:
    """JSON of already JSON-mode data, ASCII-escaped (for text UTF-8 cannot hold)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")


@dataclass(slots=True)
class _StoredSession:
    """One session as JSON parts (see the module docstring); never handed out."""

    record: bytes  # the record without conversation, memory and last_active: {...}
    conversation: bytes  # the conversation without messages and updated_at: {...}
    messages: list[bytes]  # JSON arrays of messages, one per save or append (never empty)
    updated_at: bytes  # JSON string of conversation.updated_at
    last_active: bytes  # JSON string of last_active
    count: int  # number of messages
    summary: dict[str, Any]  # the constant fields of SessionSummary
    python_json: bool = False  # some part needs Python's json (ASCII-escaped surrogates)

    def document(self, memory: bytes) -> bytes:
        """The whole session as one JSON document."""
        conversation = b"".join(
            (
                self.conversation[:-1],
                b',"messages":[',
                b",".join(part[1:-1] for part in self.messages),
                b'],"updated_at":',
                self.updated_at,
                b"}",
            )
        )
        return b"".join(
            (
                self.record[:-1],
                b',"conversation":',
                conversation,
                b',"memory":',
                memory,
                b',"last_active":',
                self.last_active,
                b"}",
            )
        )


def _stored_session(record: SessionRecord) -> _StoredSession:
    """The JSON parts of a session (memory is kept apart, as in every backend)."""
    conversation = record.conversation
    try:
        parts = (
            record.model_dump_json(exclude=_RECORD_PARTS).encode("utf-8"),
            conversation.model_dump_json(exclude=_CONVERSATION_PARTS).encode("utf-8"),
            _MESSAGES.dump_json(conversation.messages),
        )
        python_json = False
    except PydanticSerializationError:  # text UTF-8 cannot hold (an unpaired surrogate)
        parts = (
            _ascii_json(record.model_dump(mode="json", exclude=_RECORD_PARTS)),
            _ascii_json(conversation.model_dump(mode="json", exclude=_CONVERSATION_PARTS)),
            _ascii_json([m.model_dump(mode="json") for m in conversation.messages]),
        )
        python_json = True
    head, conversation_head, messages = parts
    return _StoredSession(
        record=head,
        conversation=conversation_head,
        messages=[messages] if conversation.messages else [],
        updated_at=_DATETIME.dump_json(conversation.updated_at),
        last_active=_DATETIME.dump_json(record.last_active),
        count=len(conversation.messages),
        summary={
            "session_id": record.session_id,
            "personality_name": record.personality_name,
            "provider": str(record.provider_config.get("name", "")),
            "user_id": record.user_id,
            "created_at": record.created_at,
        },
        python_json=python_json,
    )


class InMemoryStorage(Storage):
    """Keeps everything in this process, as JSON.

    Values are copied in and out, so callers never share state with the store.

    Example:
        >>> import asyncio
        >>> store = InMemoryStorage()
        >>> asyncio.run(store.save_affinity("user1", "alicia", 50, "friend"))
        True
    """

    backend_name = "memory"

    def __init__(self, config: StorageConfig | None = None) -> None:
        super().__init__(config)
        if self.config.encryption_enabled:
            # Nothing is written anywhere, but a config asking for encryption without a key is
            # wrong on every backend: fail the same way (StorageError naming what to set).
            DocumentCodec.from_config(self.config)
        self._sessions: dict[str, _StoredSession] = {}
        self._memory: dict[str, dict[str, str]] = {}  # session -> key -> JSON text of the value
        self._affinity: dict[tuple[str, str], dict[str, Any]] = {}
        self._facts: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._episodes: dict[str, list[dict[str, Any]]] = {}
        self._moods: dict[str, dict[str, Any]] = {}
        self._embeddings: dict[str, dict[str, dict[str, Any]]] = {}

    # -- conversations -------------------------------------------------------------
    async def save_session(self, record: SessionRecord) -> None:
        self._sessions[record.session_id] = _stored_session(record)

    async def load_session(self, session_id: str) -> SessionRecord | None:
        require_strings(self.backend_name, "load_session", session_id=session_id)
        stored = self._sessions.get(session_id)
        if stored is None:
            return None
        values = self._memory.get(session_id, {})
        memory = "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{v}" for k, v in values.items()) + "}"
        try:
            if not stored.python_json:
                try:
                    return SessionRecord.model_validate_json(stored.document(memory.encode("utf-8")))
                except UnicodeEncodeError:  # a memory key or value UTF-8 cannot hold
                    pass
            document = stored.document(memory.encode("utf-8", "surrogatepass"))
            return SessionRecord.model_validate(json.loads(document.decode("utf-8", "surrogatepass")))
        except (ValidationError, ValueError) as exc:  # the parts are our own JSON: a bug if it happens
            raise StorageError(
                f"memory storage: session {session_id!r} could not be rebuilt ({exc}); save it again"
            ) from None

    async def append_messages(
        self, session_id: str, messages: Sequence[Message], *, last_active: datetime
    ) -> None:
        require_strings(self.backend_name, "append_messages", session_id=session_id)
        stored = self._sessions.get(session_id)
        if stored is None:
            raise StorageError(
                f"memory storage: session {session_id!r} is not stored; save it before appending"
            )
        if messages:
            try:
                part = _MESSAGES.dump_json(list(messages))
            except PydanticSerializationError:  # text UTF-8 cannot hold (an unpaired surrogate)
                part = _ascii_json([m.model_dump(mode="json") for m in messages])
                stored.python_json = True
            stored.messages.append(part)
            stored.count += len(messages)
        stamp = _DATETIME.dump_json(last_active)
        stored.updated_at = stored.last_active = stamp

    async def list_sessions(self, *, user_id: str | None = None) -> list[SessionSummary]:
        require_strings(self.backend_name, "list_sessions", user_id=user_id, optional=("user_id",))
        rows = [
            SessionSummary(
                **s.summary,
                message_count=s.count,
                last_active=_DATETIME.validate_json(s.last_active),
            )
            for s in self._sessions.values()
            if user_id is None or s.summary["user_id"] == user_id
        ]
        return sorted(rows, key=lambda s: (s.created_at, s.session_id))

    async def delete_session(self, session_id: str) -> bool:
        require_strings(self.backend_name, "delete_session", session_id=session_id)
        self._memory.pop(session_id, None)
        self._moods.pop(session_id, None)
        return self._sessions.pop(session_id, None) is not None

    async def set_memory(self, session_id: str, key: str, value: Any) -> None:
        require_strings(self.backend_name, "set_memory", session_id=session_id, key=key)
        self._memory.setdefault(session_id, {})[key] = _json_text(value, f"memory value for key {key!r}")

    async def get_memory(self, session_id: str, key: str) -> Any:
        require_strings(self.backend_name, "get_memory", session_id=session_id, key=key)
        text = self._memory.get(session_id, {}).get(key)
        return json.loads(text) if text is not None else None

    # -- v1.1 user state -----------------------------------------------------------
    async def save_affinity(
        self, user_id: str, personality_name: str, affinity_points: int, current_level: str, **kwargs: Any
    ) -> bool:
        require_strings(
            self.backend_name, "save_affinity", user_id=user_id, personality_name=personality_name
        )
        self._affinity[(user_id, personality_name)] = _json_copy(
            {
                **kwargs,
                "user_id": user_id,
                "personality_name": personality_name,
                "affinity_points": int(affinity_points),
                "current_level": current_level,
                "updated_at": utcnow().isoformat(),
            },
            "affinity",
        )
        return True

    async def get_affinity(self, user_id: str, personality_name: str) -> dict[str, Any] | None:
        require_strings(self.backend_name, "get_affinity", user_id=user_id, personality_name=personality_name)
        row = self._affinity.get((user_id, personality_name))
        return _fresh(row) if row is not None else None

    async def save_fact(self, user_id: str, category: str, key: str, value: Any, **kwargs: Any) -> bool:
        require_strings(self.backend_name, "save_fact", user_id=user_id, category=category, key=key)
        facts = self._facts.setdefault(user_id, {})
        now = utcnow().isoformat()
        previous = facts.get((category, key))
        facts[(category, key)] = _json_copy(
            {
                "confidence": 1.0,
                **kwargs,
                "user_id": user_id,
                "category": category,
                "key": key,
                "value": value,
                "created_at": previous["created_at"] if previous else kwargs.get("created_at", now),
                "updated_at": now,
            },
            "fact",
        )
        return True

    async def get_facts(self, user_id: str, category: str | None = None) -> list[dict[str, Any]]:
        require_strings(
            self.backend_name, "get_facts", user_id=user_id, category=category, optional=("category",)
        )
        facts = self._facts.get(user_id, {}).values()
        return [_fresh(f) for f in facts if category is None or f["category"] == category]

    async def delete_fact(self, user_id: str, category: str, key: str) -> bool:
        require_strings(self.backend_name, "delete_fact", user_id=user_id, category=category, key=key)
        return self._facts.get(user_id, {}).pop((category, key), None) is not None

    async def save_episode(
        self,
        user_id: str,
        episode_type: str,
        title: str,
        summary: str,
        importance: float,
        sentiment: str,
        **kwargs: Any,
    ) -> bool:
        require_strings(self.backend_name, "save_episode", user_id=user_id)
        episode = _json_copy(
            {
                **kwargs,
                "episode_id": kwargs.get("episode_id") or uuid.uuid4().hex,
                "user_id": user_id,
                "episode_type": episode_type,
                "title": title,
                "summary": summary,
                "importance": float(importance),
                "sentiment": sentiment,
                "timestamp": kwargs.get("timestamp") or utcnow().isoformat(),
            },
            "episode",
        )
        self._episodes.setdefault(user_id, []).append(episode)
        return True

    async def get_episodes(
        self, user_id: str, min_importance: float | None = None, max_results: int | None = None
    ) -> list[dict[str, Any]]:
        # The same selection as every other backend (ties: newest first, then save order).
        require_strings(self.backend_name, "get_episodes", user_id=user_id)
        return [
            _fresh(e) for e in select_episodes(self._episodes.get(user_id, []), min_importance, max_results)
        ]

    async def save_mood(
        self, session_id: str, user_id: str, current_mood: str, mood_intensity: float = 1.0, **kwargs: Any
    ) -> bool:
        require_strings(self.backend_name, "save_mood", session_id=session_id, user_id=user_id)
        self._moods[session_id] = _json_copy(
            {
                **kwargs,
                "session_id": session_id,
                "user_id": user_id,
                "current_mood": current_mood,
                "mood_intensity": float(mood_intensity),
                "updated_at": utcnow().isoformat(),
            },
            "mood",
        )
        return True

    async def get_mood(self, session_id: str) -> dict[str, Any] | None:
        require_strings(self.backend_name, "get_mood", session_id=session_id)
        row = self._moods.get(session_id)
        return _fresh(row) if row is not None else None

    async def save_embedding(
        self, user_id: str, item_id: str, kind: str, text: str, vector: Sequence[float], **kwargs: Any
    ) -> bool:
        require_strings(self.backend_name, "save_embedding", user_id=user_id, item_id=item_id, kind=kind)
        self._embeddings.setdefault(user_id, {})[item_id] = _json_copy(
            {**kwargs, "item_id": item_id, "kind": kind, "text": text, "vector": [float(v) for v in vector]},
            "embedding",
        )
        return True

    async def get_embeddings(self, user_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        require_strings(self.backend_name, "get_embeddings", user_id=user_id, kind=kind, optional=("kind",))
        rows = self._embeddings.get(user_id, {}).values()
        return [_fresh(r) for r in rows if kind is None or r["kind"] == kind]

    async def list_users(self) -> list[str]:
        users = (
            {u for u, _ in self._affinity} | set(self._facts) | set(self._episodes) | set(self._embeddings)
        )
        users |= {m["user_id"] for m in self._moods.values()}
        return sorted(users)

    async def delete_user_data(self, user_id: str) -> int:
        require_strings(self.backend_name, "delete_user_data", user_id=user_id)
        count = 0
        for key in [k for k in self._affinity if k[0] == user_id]:
            del self._affinity[key]
            count += 1
        count += len(self._facts.pop(user_id, {}))
        count += len(self._episodes.pop(user_id, []))
        count += len(self._embeddings.pop(user_id, {}))
        for session_id in [s for s, m in self._moods.items() if m["user_id"] == user_id]:
            del self._moods[session_id]
            count += 1
        return count


class InMemoryStorageV11(InMemoryStorage):
    """The seed's name for the in-memory v1.1 storage."""
