"""Pydantic models of the LuminoraCore SDK, with the seed's exact names and fields."""

from . import session as _session
from .memory import Episode, EpisodeDict, Fact, FactDict, MemorySearchResult, MoodDict, MoodState
from .persona import PersonaDefinition
from .personality import PersonalityBlend, PersonalityData, normalise_weights
from .provider import ChatMessage, ChatResponse, ProviderConfig, Usage
from .relationship import Affinity, AffinityDict
from .session import *  # noqa: F403  (every public session type; see __all__ below)

# The public names, by the module that defines them (all of the session module's).
__all__ = ["Episode", "EpisodeDict", "Fact", "FactDict", "MemorySearchResult", "MoodDict", "MoodState"]
__all__ += ["PersonaDefinition", "PersonalityBlend", "PersonalityData", "normalise_weights"]
__all__ += ["ChatMessage", "ChatResponse", "ProviderConfig", "Usage"]
__all__ += ["Affinity", "AffinityDict"]
__all__ += _session.__all__
