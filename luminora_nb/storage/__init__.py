"""Storage backends behind one protocol."""

from .base import ConversationStorage, Storage, StorageV11Extension
from .factory import available_backends, create_storage
from .memory import InMemoryStorage, InMemoryStorageV11

__all__ = [
    "ConversationStorage",
    "InMemoryStorage",
    "InMemoryStorageV11",
    "Storage",
    "StorageV11Extension",
    "available_backends",
    "create_storage",
]
