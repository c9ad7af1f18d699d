"""Session-side models of the seed: sessions, conversations, storage and memory config."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, field_serializer, field_validator

from ..errors import SessionError, StorageError
from ._base import (
    Coercible,
    Coercion,
    DisplayedModel,
    Model,
    SecretHoldingModel,
    known_fields_only,
    mask_secrets,
    redact_url,
    scrub_secrets,
    utcnow,
)
from .personality import PersonalityData

__all__ = [
    "Conversation",
    "MemoryConfig",
    "Message",
    "MessageRole",
    "SessionConfig",
    "SessionRecord",
    "SessionSummary",
    "SessionType",
    "StorageConfig",
    "StorageType",
]

_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.I)
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)[^@]*@", re.I)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
#: The longest idle ``timeout`` of a session, in seconds: about 31 years.
MAX_SESSION_TIMEOUT = 10**9


class SessionType(StrEnum):
    """How a session treats its history.

    ``chat`` (the default) and ``stateful`` send the history (up to ``max_history``
    messages) with each message; ``stateless`` answers each message on its own. Every
    session stores its whole conversation either way.
    """

    STATEFUL = "stateful"
    STATELESS = "stateless"
    CHAT = "chat"


class MessageRole(StrEnum):
    """Author of a message in a conversation."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class StorageType(StrEnum):
    """Storage backends for conversations and user state."""

    MEMORY = "memory"
    REDIS = "redis"
    POSTGRES = "postgres"
    MONGODB = "mongodb"
    FILE = "file"
    DUCKDB = "duckdb"


class Message(Model):
    """One message of a conversation.

    Example:
        >>> Message(role=MessageRole.USER, content="Hello!").role.value
        'user'
    """

    role: MessageRole
    content: str
    timestamp: datetime = Field(default_factory=utcnow)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Conversation(DisplayedModel):
    """A session's messages and metadata."""

    session_id: str
    messages: list[Message] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    _display_as: ClassVar[str] = "conversation"


class SessionConfig(Coercible, Model):
    """Configuration of one session.

    ``max_history`` caps how many past messages are sent to the provider on each turn
    (all of them are still stored). ``timeout`` is the idle time in seconds after which
    the session expires; ``0`` means never (at most :data:`MAX_SESSION_TIMEOUT`).
    """

    coercion: ClassVar[Coercion] = Coercion(
        "session_config",
        "a SessionConfig or a dict such as {'max_history': 20}",
        SessionError,
        none_is_default=True,
    )

    session_id: str = ""
    personality: dict[str, Any] = Field(default_factory=dict)
    provider_config: dict[str, Any] = Field(default_factory=dict)
    session_type: SessionType = SessionType.CHAT
    max_history: int = Field(default=100, ge=0)
    # bounded: an idle time beyond any clock (2**80 s) cannot be compared with one
    timeout: int = Field(default=3600, ge=0, le=MAX_SESSION_TIMEOUT)
    user_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_serializer("provider_config")
    def _no_secrets(self, value: dict[str, Any]) -> dict[str, Any]:
        # An api_key given here works for create_session but is never serialised.
        scrubbed: dict[str, Any] = scrub_secrets(value)
        if isinstance(scrubbed.get("base_url"), str):
            scrubbed["base_url"] = redact_url(scrubbed["base_url"])
        return scrubbed

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (mask_secrets(value) if key == "provider_config" else value)


class StorageConfig(Coercible, SecretHoldingModel):
    """Where conversations and user state are stored.

    ``encryption_key`` (or the ``LUMINORA_ENCRYPTION_KEY`` environment variable) is
    used when ``encryption_enabled``; like API keys it is never serialised or shown.

    Example:
        >>> StorageConfig(storage_type="memory").storage_type
        <StorageType.MEMORY: 'memory'>
        >>> StorageConfig.coerce("duckdb").storage_type, StorageConfig.coerce(None).storage_type
        (<StorageType.DUCKDB: 'duckdb'>, <StorageType.MEMORY: 'memory'>)
    """

    coercion: ClassVar[Coercion] = Coercion(
        "storage config",
        "a StorageConfig, a dict or a storage type such as 'duckdb'",
        StorageError,
        text_field="storage_type",
        none_is_default=True,
    )

    storage_type: StorageType = StorageType.MEMORY
    connection_string: str | None = None
    table_name: str = "luminora_sessions"
    auto_create_tables: bool = True
    encryption_enabled: bool = False
    compression_enabled: bool = False
    encryption_key: str | None = Field(default=None, exclude=True, repr=False)
    key_prefix: str = "luminora"
    connect_timeout: float = Field(default=5.0, gt=0)
    extra: dict[str, Any] = Field(default_factory=dict)

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            if key == "connection_string" and isinstance(value, str):
                value = _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", value))
            elif key == "extra":
                value = mask_secrets(value)
            yield key, value

    @field_validator("connection_string")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # C libraries (DuckDB, libpq) end a string at NUL: "a\x00b" would open "a"
        if value is not None and "\x00" in value:
            raise StorageError("connection_string holds a NUL character; pass a plain path or URL")
        return value

    @field_validator("storage_type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, StorageType):
            lowered = value.strip().lower()
            aliases = {"postgresql": "postgres", "mongo": "mongodb", "in_memory": "memory"}
            lowered = aliases.get(lowered, lowered)
            if lowered not in {t.value for t in StorageType}:
                known = ", ".join(t.value for t in StorageType)
                raise StorageError(f"unknown storage_type {value!r}; use one of: {known}")
            return lowered
        return value

    @field_validator("table_name")
    @classmethod
    def _valid_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise StorageError(
                f"table_name {value!r} is not a valid identifier; use letters, digits and "
                "underscores, starting with a letter or underscore (at most 63 characters)"
            )
        return value

    @field_validator("key_prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        # No ':' — it separates the parts of a key, so a prefix holding it could spell
        # another store's keys ("nb" + ":s:x" == "nb:s" + ":x").
        if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", value):
            raise StorageError(
                f"key_prefix {value!r} may only hold letters, digits and _ . - (no ':', which separates "
                "the parts of a key)"
            )
        return value


class MemoryConfig(Coercible, Model):
    """Configuration of conversation memory (the seed's eight fields), client-wide.

    Attributes:
        enabled: The v1.0 key/value memory (``store_memory``) works, and the v1.1 client
            learns from turns (facts, episodes, sentiment, affinity, mood); off, neither.
        max_entries: Keys kept per session by ``store_memory``; beyond, the oldest key
            is deleted.
        decay_factor: How much a remembered fact or episode loses per day of age when
            ranked for the prompt (``(1 - decay_factor) ** days``; see
            :mod:`luminora_nb.memory.ranking`).
        importance_threshold: Facts and episodes whose base score (confidence or
            importance / 10) is below it stay stored but do not reach the prompt.
        track_topics: Keep ``hobbies`` facts (what the user spends time on).
        track_preferences: Keep ``preferences`` facts (likes and dislikes).
        track_context: Keep ``events`` and ``goals`` facts (what goes on in the user's life).
        track_emotions: Keep the user's stated feelings as the fact ``other/feeling``
            (off by default: feelings are transient and sensitive). Sentiment is scored
            either way; it drives affinity and mood.

    The persona's ``memory_preferences`` add caps and categories per persona; the whole
    list of settings and their effects is in :mod:`luminora_nb.memory._pipeline`.
    """

    coercion: ClassVar[Coercion] = Coercion(
        "memory_config",
        "a MemoryConfig or a dict such as {'max_entries': 100}",
        SessionError,
        none_is_default=True,
    )

    enabled: bool = True
    max_entries: int = Field(default=1000, ge=0)
    decay_factor: float = Field(default=0.1, ge=0.0, le=1.0)
    importance_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    track_topics: bool = True
    track_preferences: bool = True
    track_context: bool = True
    track_emotions: bool = False


class SessionRecord(Model):
    """Everything a storage backend keeps about one session.

    The provider config is stored without its API key: a process that resumes the
    session supplies the key again, or the adapter reads it from the environment.
    """

    session_id: str
    personality_name: str
    personality: PersonalityData
    provider_config: dict[str, Any]
    session_config: SessionConfig
    user_id: str | None = None
    conversation: Conversation
    memory: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    last_active: datetime = Field(default_factory=utcnow)

    @field_validator("provider_config")
    @classmethod
    def _no_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        scrubbed: dict[str, Any] = scrub_secrets(value)
        if isinstance(scrubbed.get("base_url"), str):
            scrubbed["base_url"] = redact_url(scrubbed["base_url"])
        return scrubbed

    @field_validator("session_config", mode="before")
    @classmethod
    def _tolerate_newer_fields(cls, value: Any) -> Any:
        # a record written by a newer version may hold session settings this one lacks
        return known_fields_only(SessionConfig, value)

    def summary(self) -> SessionSummary:
        """The listing row of this session."""
        return SessionSummary(
            session_id=self.session_id,
            personality_name=self.personality_name,
            provider=str(self.provider_config.get("name", "")),
            user_id=self.user_id,
            message_count=len(self.conversation.messages),
            created_at=self.created_at,
            last_active=self.last_active,
        )


class SessionSummary(DisplayedModel):
    """A row of ``list_sessions``."""

    session_id: str
    personality_name: str
    provider: str
    user_id: str | None = None
    message_count: int = 0
    created_at: datetime
    last_active: datetime

    _display_as: ClassVar[str] = "session_summary"
