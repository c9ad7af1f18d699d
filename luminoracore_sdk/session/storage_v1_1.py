"""Seed import path ``luminoracore_sdk.session.storage_v1_1``."""

from luminora_nb.storage.base import StorageV11Extension
from luminora_nb.storage.memory import InMemoryStorageV11

__all__ = ["InMemoryStorageV11", "StorageV11Extension"]
