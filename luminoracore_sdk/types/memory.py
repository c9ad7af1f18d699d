"""Seed import path ``luminoracore_sdk.types.memory``."""

from luminora_nb.types.memory import EpisodeDict, FactDict, MemorySearchResult, MoodDict

__all__ = ["EpisodeDict", "FactDict", "MemorySearchResult", "MoodDict"]
