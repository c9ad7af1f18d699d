"""Seed import path ``luminoracore.types.session``."""

from luminora_nb.types.session import (
    Conversation,
    MemoryConfig,
    Message,
    MessageRole,
    SessionConfig,
    SessionType,
    StorageConfig,
    StorageType,
)

__all__ = [
    "Conversation",
    "MemoryConfig",
    "Message",
    "MessageRole",
    "SessionConfig",
    "SessionType",
    "StorageConfig",
    "StorageType",
]
