"""Pydantic models of the LuminoraCore SDK, with the seed's exact names and fields."""

from .memory import Episode, EpisodeDict, Fact, FactDict, MemorySearchResult, MoodDict, MoodState
from .persona import PersonaDefinition
from .personality import PersonalityBlend, PersonalityData, normalise_weights
from .provider import ChatMessage, ChatResponse, ProviderConfig, Usage
from .relationship import Affinity, AffinityDict
from .session import (
    Conversation,
    MemoryConfig,
    Message,
    MessageRole,
    SessionConfig,
    SessionRecord,
    SessionSummary,
    SessionType,
    StorageConfig,
    StorageType,
)

__all__ = [
    "Affinity",
    "AffinityDict",
    "ChatMessage",
    "ChatResponse",
    "Conversation",
    "Episode",
    "EpisodeDict",
    "Fact",
    "FactDict",
    "MemoryConfig",
    "MemorySearchResult",
    "Message",
    "MessageRole",
    "MoodDict",
    "MoodState",
    "PersonaDefinition",
    "PersonalityBlend",
    "PersonalityData",
    "ProviderConfig",
    "SessionConfig",
    "SessionRecord",
    "SessionSummary",
    "SessionType",
    "StorageConfig",
    "StorageType",
    "Usage",
    "normalise_weights",
]
