"""Seed import path ``luminoracore.types.personality``."""

from luminora_nb.types.persona import PersonaDefinition
from luminora_nb.types.personality import PersonalityBlend, PersonalityData

__all__ = ["PersonaDefinition", "PersonalityBlend", "PersonalityData"]
