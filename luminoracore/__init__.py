"""Seed import path ``luminoracore``: re-exports from :mod:`luminora_nb`."""

from luminora_nb.client import LuminoraCoreClient
from luminora_nb.errors import LuminoraError, PersonalityError, ProviderError, SessionError, StorageError
from luminora_nb.types import (
    ChatMessage,
    ChatResponse,
    Conversation,
    MemoryConfig,
    Message,
    MessageRole,
    PersonalityBlend,
    PersonalityData,
    ProviderConfig,
    SessionConfig,
    SessionType,
    StorageConfig,
    StorageType,
)

__all__ = [
    "ChatMessage",
    "ChatResponse",
    "Conversation",
    "LuminoraCoreClient",
    "LuminoraError",
    "MemoryConfig",
    "Message",
    "MessageRole",
    "PersonalityBlend",
    "PersonalityData",
    "PersonalityError",
    "ProviderConfig",
    "ProviderError",
    "SessionConfig",
    "SessionError",
    "SessionType",
    "StorageConfig",
    "StorageError",
    "StorageType",
]
