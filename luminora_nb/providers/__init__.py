"""LLM provider adapters behind one protocol, and their registry."""

from .base import ChatRequest, Provider
from .registry import available_providers, create_provider, register_provider

__all__ = ["ChatRequest", "Provider", "available_providers", "create_provider", "register_provider"]
