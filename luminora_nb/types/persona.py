"""The structured persona definition: the single source of truth of the JSON Schema.

A definition describes who a personality is (``persona``, ``core_traits``), how it
speaks (``linguistic_profile``, ``advanced_parameters``), what it must and must not do
(``behavioral_rules``, ``safety_guards``), how it reacts (``trigger_responses``),
what it sounds like (``examples``), and in v1.1 how it changes with the relationship
(``relationship_levels``, ``affinity_config``), what it remembers
(``memory_preferences``) and how its mood moves (``mood_config``).

The file ``luminora_nb/personality/persona.schema.json`` is generated from these
models by ``python -m luminora_nb.personality.schema``; a test fails when it is stale.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ._base import StrictModel

__all__ = [
    "PARAMETER_NAMES",
    "AdvancedParameters",
    "AffinityConfig",
    "Archetype",
    "CommunicationStyle",
    "CoreTraits",
    "Examples",
    "LinguisticProfile",
    "MemoryPreferences",
    "MoodConfig",
    "MoodDefinition",
    "ParameterModifiers",
    "PersonaDefinition",
    "PersonaInfo",
    "PunctuationStyle",
    "RelationshipLevel",
    "SafetyGuards",
    "SampleResponse",
    "Syntax",
    "Temperament",
    "ToneLimits",
    "TriggerResponses",
]

Archetype = Literal[
    "caregiver",
    "companion",
    "creator",
    "explorer",
    "guardian",
    "jester",
    "mentor",
    "rebel",
    "ruler",
    "sage",
    "scientist",
    "storyteller",
]
Temperament = Literal[
    "calm",
    "cheerful",
    "curious",
    "energetic",
    "melancholic",
    "passionate",
    "playful",
    "stoic",
    "warm",
    "wry",
]
CommunicationStyle = Literal[
    "casual",
    "conversational",
    "direct",
    "formal",
    "poetic",
    "socratic",
    "storytelling",
    "supportive",
    "technical",
]
Syntax = Literal["terse", "simple", "varied", "complex", "elaborate"]
PunctuationStyle = Literal["minimal", "standard", "expressive", "elaborate"]

PARAMETER_NAMES: tuple[str, ...] = (
    "verbosity",
    "formality",
    "humor",
    "empathy",
    "creativity",
    "directness",
)

_Unit = Field(default=0.5, ge=0.0, le=1.0)


class PersonaInfo(StrictModel):
    """Identity of the persona."""

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(default="1.0.0", pattern=r"^\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.]+)?$")
    description: str = Field(min_length=1, max_length=2000)
    author: str = "unknown"
    tags: list[str] = Field(default_factory=list, max_length=30)
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    compatibility: list[str] = Field(
        default_factory=list, description="Providers the persona was tuned for; empty means any."
    )


class CoreTraits(StrictModel):
    """The persona's character in three categorical traits."""

    archetype: Archetype
    temperament: Temperament
    communication_style: CommunicationStyle


class LinguisticProfile(StrictModel):
    """How the persona words things."""

    tone: list[str] = Field(min_length=1, max_length=12)
    syntax: Syntax = "varied"
    vocabulary: list[str] = Field(
        default_factory=list, max_length=60, description="Signature words and phrases."
    )
    fillers: list[str] = Field(
        default_factory=list, max_length=20, description="Interjections the persona uses, e.g. 'hmm'."
    )
    punctuation_style: PunctuationStyle = "standard"


class TriggerResponses(StrictModel):
    """Ready lines for recurring moments of a conversation."""

    on_greeting: list[str] = Field(default_factory=list)
    on_confusion: list[str] = Field(default_factory=list)
    on_success: list[str] = Field(default_factory=list)
    on_error: list[str] = Field(default_factory=list)
    on_goodbye: list[str] = Field(default_factory=list)


class AdvancedParameters(StrictModel):
    """Six behaviour dials, each from 0 (none) to 1 (a lot)."""

    verbosity: float = _Unit
    formality: float = _Unit
    humor: float = _Unit
    empathy: float = _Unit
    creativity: float = _Unit
    directness: float = _Unit

    def as_dict(self) -> dict[str, float]:
        """The six parameters as a plain dict."""
        return {name: float(getattr(self, name)) for name in PARAMETER_NAMES}


class ToneLimits(StrictModel):
    """Upper bounds on tones; a blend keeps the strictest (lowest) of each."""

    max_sarcasm: float = Field(default=1.0, ge=0.0, le=1.0)
    max_aggression: float = Field(default=0.2, ge=0.0, le=1.0)
    max_informality: float = Field(default=1.0, ge=0.0, le=1.0)


class SafetyGuards(StrictModel):
    """What the persona must never do."""

    forbidden_topics: list[str] = Field(default_factory=list)
    tone_limits: ToneLimits = Field(default_factory=ToneLimits)
    content_filters: list[str] = Field(default_factory=list)


class SampleResponse(StrictModel):
    """One example exchange."""

    input: str = Field(min_length=1)
    output: str = Field(min_length=1)
    context: str | None = None


class Examples(StrictModel):
    """Example exchanges that show the persona's voice."""

    sample_responses: list[SampleResponse] = Field(default_factory=list)


class ParameterModifiers(StrictModel):
    """Offsets added to ``advanced_parameters`` (the result is clamped to 0..1)."""

    verbosity: float = Field(default=0.0, ge=-1.0, le=1.0)
    formality: float = Field(default=0.0, ge=-1.0, le=1.0)
    humor: float = Field(default=0.0, ge=-1.0, le=1.0)
    empathy: float = Field(default=0.0, ge=-1.0, le=1.0)
    creativity: float = Field(default=0.0, ge=-1.0, le=1.0)
    directness: float = Field(default=0.0, ge=-1.0, le=1.0)

    def as_dict(self) -> dict[str, float]:
        """The six offsets as a plain dict."""
        return {name: float(getattr(self, name)) for name in PARAMETER_NAMES}


class RelationshipLevel(StrictModel):
    """A stage of the relationship, active while affinity lies in ``affinity_range``."""

    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    affinity_range: tuple[int, int] = Field(description="Inclusive [min, max] affinity points.")
    description: str = ""
    modifiers: ParameterModifiers = Field(default_factory=ParameterModifiers)
    behavioral_rules: list[str] = Field(default_factory=list)
    greetings: list[str] = Field(default_factory=list, description="Greetings used at this level.")

    @field_validator("affinity_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 0 <= low <= high <= 100:
            raise ValueError(f"affinity_range {list(value)} must satisfy 0 <= min <= max <= 100")
        return value


class AffinityConfig(StrictModel):
    """How interactions move the affinity points (0..100)."""

    enabled: bool = True
    initial_points: int = Field(default=0, ge=0, le=100)
    interaction_points: dict[str, int] = Field(
        default_factory=lambda: {
            "positive": 3,
            "negative": -3,
            "compliment": 5,
            "gratitude": 2,
            "personal_share": 4,
            "hostile": -10,
            "neutral": 0,
        },
        description="Points added per interaction type.",
    )
    max_change_per_turn: int = Field(default=10, ge=1, le=100)


class MemoryPreferences(StrictModel):
    """What the persona pays attention to and how much of it reaches the prompt."""

    remember_facts: bool = True
    remember_episodes: bool = True
    fact_categories: list[str] = Field(
        default_factory=lambda: [
            "personal_info",
            "preferences",
            "relationships",
            "work",
            "hobbies",
            "goals",
            "health",
            "events",
            "other",
        ]
    )
    episode_min_importance: float = Field(default=5.0, ge=0.0, le=10.0)
    max_facts_in_prompt: int = Field(default=10, ge=0, le=100)
    max_episodes_in_prompt: int = Field(default=3, ge=0, le=50)


class MoodDefinition(StrictModel):
    """A mood the persona can be in, with the parameter shift it causes."""

    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    modifiers: ParameterModifiers = Field(default_factory=ParameterModifiers)
    triggers: list[str] = Field(
        default_factory=list, description="Words in the user's message that bring it on."
    )


class MoodConfig(StrictModel):
    """The persona's moods."""

    enabled: bool = True
    default_mood: str = "neutral"
    moods: list[MoodDefinition] = Field(default_factory=lambda: [MoodDefinition(name="neutral")])
    decay_turns: int = Field(default=3, ge=1, le=100, description="Turns until a mood fades to the default.")

    @model_validator(mode="after")
    def _default_exists(self) -> MoodConfig:
        names = [m.name for m in self.moods]
        if len(set(names)) != len(names):
            raise ValueError(f"mood names must be unique, got {names}")
        if self.default_mood not in names:
            raise ValueError(f"default_mood {self.default_mood!r} is not one of the moods {names}")
        return self


class PersonaDefinition(StrictModel):
    """A complete persona definition (v1.0 sections plus the v1.1 ones)."""

    persona: PersonaInfo
    core_traits: CoreTraits
    linguistic_profile: LinguisticProfile
    behavioral_rules: list[str] = Field(default_factory=list, max_length=40)
    trigger_responses: TriggerResponses = Field(default_factory=TriggerResponses)
    advanced_parameters: AdvancedParameters = Field(default_factory=AdvancedParameters)
    safety_guards: SafetyGuards = Field(default_factory=SafetyGuards)
    examples: Examples = Field(default_factory=Examples)
    metadata: dict[str, Any] = Field(default_factory=dict)
    instructions: str | None = Field(
        default=None, description="Free-text instructions appended to the compiled prompt."
    )
    relationship_levels: list[RelationshipLevel] = Field(default_factory=list)
    affinity_config: AffinityConfig = Field(default_factory=AffinityConfig)
    memory_preferences: MemoryPreferences = Field(default_factory=MemoryPreferences)
    mood_config: MoodConfig = Field(default_factory=MoodConfig)

    @field_validator("relationship_levels")
    @classmethod
    def _levels_do_not_overlap(cls, value: list[RelationshipLevel]) -> list[RelationshipLevel]:
        levels = sorted(value, key=lambda lvl: lvl.affinity_range[0])
        names = [lvl.name for lvl in levels]
        if len(set(names)) != len(names):
            raise ValueError(f"relationship level names must be unique, got {names}")
        for before, after in pairwise(levels):
            if after.affinity_range[0] <= before.affinity_range[1]:
                raise ValueError(
                    f"relationship levels {before.name!r} {list(before.affinity_range)} and "
                    f"{after.name!r} {list(after.affinity_range)} overlap"
                )
        return value

    def level_for(self, points: int) -> RelationshipLevel | None:
        """The relationship level whose range holds ``points`` (the nearest one below if none)."""
        chosen: RelationshipLevel | None = None
        for level in sorted(self.relationship_levels, key=lambda lvl: lvl.affinity_range[0]):
            if level.affinity_range[0] <= points:
                chosen = level
            if level.affinity_range[0] <= points <= level.affinity_range[1]:
                return level
        return chosen

    def mood(self, name: str) -> MoodDefinition | None:
        """The mood called ``name``, if the persona has it."""
        return next((m for m in self.mood_config.moods if m.name == name), None)
