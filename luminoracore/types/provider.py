"""Seed import path ``luminoracore.types.provider``."""

from luminora_nb.types.provider import ChatMessage, ChatResponse, ProviderConfig

__all__ = ["ChatMessage", "ChatResponse", "ProviderConfig"]
