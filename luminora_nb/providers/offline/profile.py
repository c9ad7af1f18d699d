"""Persona profile: what the offline composer needs from a persona definition.

A :class:`PersonaProfile` is the part of a
:class:`~luminora_nb.types.persona.PersonaDefinition` the simulator reads, prepared
once: the name and description; the signature phrases of ``linguistic_profile.vocabulary``
in rank order, and among them the ones that can lead a sentence (a phrase ending in a
dangling word such as "the liberty of" cannot, "notice that" can, before a clause); the
fillers; the five trigger-response pools (``on_greeting``, ``on_goodbye``,
``on_success``, ``on_error``, ``on_confusion``); the relationship levels with their
greetings; the communication style; the punctuation style; the six advanced
parameters; the lowest formality the safety guards allow (``1 - max_informality``);
and the forbidden topics with the content words that reveal each.

A persona given only as a name and a system prompt (``request.persona`` is None) gets
a neutral profile (:func:`neutral_profile`): every parameter 0.5, conversational,
standard punctuation, no triggers, described by the first line of the system prompt.

Caching: :func:`profile_for` is called on every turn, so profiles are cached, keyed on
the definition's *content*: the tuple of exactly the values a profile is built from
(:func:`_profile_source`), never on object ids. Any edit, however nested
(``definition.persona.name = "x"``, ``definition.linguistic_profile.vocabulary[0] =
"y"``), changes the key, so a stale profile is never served; equal definitions share
one profile. Building the key reads about thirty attributes and copies a few short
lists, a few microseconds, far less than hashing the definition's JSON.

Example:
    >>> from luminora_nb.personality.library import get_builtin
    >>> definition = get_builtin("aurora").definition
    >>> profile_for(definition).name
    'Aurora'
    >>> definition.persona.name = "Borealis"
    >>> profile_for(definition).name
    'Borealis'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Any, Final, NamedTuple

from ...types.persona import PARAMETER_NAMES, CommunicationStyle, PersonaDefinition, PunctuationStyle
from .analysis import STOP_WORDS, WORD_PATTERN, word_set

__all__ = ["ForbiddenTopic", "Level", "PersonaProfile", "neutral_profile", "profile_for"]

# A phrase ending in one of these cannot lead a sentence ("the liberty of", "what if"),
# except "... that", which leads a clause.
_DANGLING: Final = word_set(
    "that is the a an of to and like because how what if when with for as so but or about into than"
)
_NEUTRAL_DESCRIPTION: Final = "a friendly conversation partner"
_YOU_ARE = re.compile(r"^\s*you are\s+", re.IGNORECASE)
_PARAMETER_VALUES: Final = attrgetter(*PARAMETER_NAMES)  # the six values, in PARAMETER_NAMES order


class Level(NamedTuple):
    """A relationship level as the composer sees it: name, affinity range, greetings."""

    name: str
    low: int
    high: int
    greetings: tuple[str, ...]


class ForbiddenTopic(NamedTuple):
    """A forbidden topic and how many of its content words reveal it in a message."""

    topic: str
    words: frozenset[str]
    needed: int


@dataclass(frozen=True, slots=True)
class PersonaProfile:
    """What the simulator needs from a persona, precomputed.

    Attributes:
        name: the persona's name (part of every reply's seed).
        description: who it is, for "who are you?".
        vocabulary: the signature phrases, in rank order.
        phrases: the ones that can lead a sentence, in rank order.
        fillers: interjections ("hmm", "well").
        on_greeting: greeting lines, the first the most characteristic.
        on_goodbye: farewell lines.
        on_success: lines for the user's success.
        on_error: lines for a mistake or a complaint.
        on_confusion: lines for the user's confusion.
        levels: relationship levels sorted by their lowest affinity.
        style: the communication style (how a reply closes).
        punctuation: the punctuation style.
        params: the six advanced parameters by name (shared: never mutate).
        min_formality: the lowest formality the safety guards allow.
        forbidden: the forbidden topics.
    """

    name: str
    description: str
    vocabulary: tuple[str, ...]
    phrases: tuple[str, ...]
    fillers: tuple[str, ...]
    on_greeting: tuple[str, ...]
    on_goodbye: tuple[str, ...]
    on_success: tuple[str, ...]
    on_error: tuple[str, ...]
    on_confusion: tuple[str, ...]
    levels: tuple[Level, ...]
    style: CommunicationStyle
    punctuation: PunctuationStyle
    params: Mapping[str, float]
    min_formality: float
    forbidden: tuple[ForbiddenTopic, ...]

    def level_greetings(self, level_name: Any, points: Any) -> tuple[str, ...]:
        """Greetings of the level called ``level_name`` (or holding ``points``); empty if none.

        A name wins over points; points between two levels take the level below, like
        :meth:`~luminora_nb.types.persona.PersonaDefinition.level_for`.

        Example:
            >>> profile = neutral_profile("Guide", "")
            >>> profile.level_greetings("friend", 50)
            ()
        """
        if isinstance(level_name, str):
            for level in self.levels:
                if level.name == level_name:
                    return level.greetings
            return ()
        if isinstance(points, int) and not isinstance(points, bool):
            chosen: tuple[str, ...] = ()
            for level in self.levels:
                if level.low <= points:
                    chosen = level.greetings
                if level.low <= points <= level.high:
                    return level.greetings
            return chosen
        return ()


def _forbidden(topics: Sequence[str]) -> tuple[ForbiddenTopic, ...]:
    """Each topic with its long content words; half of them (at least one) reveal it."""
    forbidden = []
    for topic in topics:
        words = frozenset(
            word.lower()
            for word in WORD_PATTERN.findall(topic)
            if len(word) > 3 and word.lower() not in STOP_WORDS
        )
        if words:
            forbidden.append(ForbiddenTopic(topic, words, max(1, math.ceil(len(words) / 2))))
    return tuple(forbidden)


def _weavable(vocabulary: Sequence[str]) -> tuple[str, ...]:
    """Signature phrases that can lead a sentence, in their rank order."""
    return tuple(
        phrase
        for phrase in vocabulary
        if (last := phrase.split()[-1].lower()) not in _DANGLING or last == "that"
    )


# Every value of a definition a profile is built from, in this order: the cache key.
# (A plain tuple: it is built on every turn, and a NamedTuple costs a Python-level call.)
_ProfileSource = tuple[
    str,  # persona.name
    str,  # persona.description
    tuple[str, ...],  # linguistic_profile.vocabulary
    tuple[str, ...],  # linguistic_profile.fillers
    PunctuationStyle,  # linguistic_profile.punctuation_style
    tuple[tuple[str, ...], ...],  # trigger_responses: greeting, goodbye, success, error, confusion
    tuple[tuple[str, tuple[int, int], tuple[str, ...]], ...],  # relationship_levels
    CommunicationStyle,  # core_traits.communication_style
    tuple[float, ...],  # advanced_parameters, in PARAMETER_NAMES order
    float,  # safety_guards.tone_limits.max_informality
    tuple[str, ...],  # safety_guards.forbidden_topics
]


def _profile_source(definition: PersonaDefinition) -> _ProfileSource:
    info, ling, triggers = definition.persona, definition.linguistic_profile, definition.trigger_responses
    guards = definition.safety_guards
    return (
        info.name,
        info.description,
        tuple(ling.vocabulary),
        tuple(ling.fillers),
        ling.punctuation_style,
        (
            tuple(triggers.on_greeting),
            tuple(triggers.on_goodbye),
            tuple(triggers.on_success),
            tuple(triggers.on_error),
            tuple(triggers.on_confusion),
        ),
        tuple(
            [
                (level.name, level.affinity_range, tuple(level.greetings))
                for level in definition.relationship_levels
            ]
        ),
        definition.core_traits.communication_style,
        _PARAMETER_VALUES(definition.advanced_parameters),
        guards.tone_limits.max_informality,
        tuple(guards.forbidden_topics),
    )


@lru_cache(maxsize=256)
def _build_profile(source: _ProfileSource) -> PersonaProfile:
    (
        name,
        description,
        vocabulary,
        fillers,
        punctuation,
        triggers,
        levels,
        style,
        params,
        max_informality,
        forbidden,
    ) = source
    on_greeting, on_goodbye, on_success, on_error, on_confusion = triggers
    phrases = tuple(phrase.strip() for phrase in vocabulary if phrase.strip())
    return PersonaProfile(
        name=name,
        description=description.strip(),
        vocabulary=phrases,
        phrases=_weavable(phrases),
        fillers=tuple(filler.strip() for filler in fillers if filler.strip()),
        on_greeting=on_greeting,
        on_goodbye=on_goodbye,
        on_success=on_success,
        on_error=on_error,
        on_confusion=on_confusion,
        levels=tuple(
            Level(level_name, low, high, greetings)
            for level_name, (low, high), greetings in sorted(levels, key=lambda level: level[1][0])
        ),
        style=style,
        punctuation=punctuation,
        params={parameter: float(value) for parameter, value in zip(PARAMETER_NAMES, params, strict=True)},
        min_formality=1.0 - max_informality,
        forbidden=_forbidden(forbidden),
    )


def profile_for(definition: PersonaDefinition) -> PersonaProfile:
    """The profile of ``definition``, cached on its content (see the module docstring)."""
    return _build_profile(_profile_source(definition))


@lru_cache(maxsize=256)
def neutral_profile(name: str, first_line: str) -> PersonaProfile:
    """A neutral built-in profile for personas given only as a name and a system prompt.

    Example:
        >>> neutral_profile("Zed", "You are Zed, a grumpy robot.").description
        'a grumpy robot.'
    """
    description = _YOU_ARE.sub("", first_line).strip()
    if description.lower().startswith(name.lower()):
        description = description[len(name) :].lstrip(" .,:;-—").strip()
    return PersonaProfile(
        name=name,
        description=description or _NEUTRAL_DESCRIPTION,
        vocabulary=(),
        phrases=(),
        fillers=(),
        on_greeting=(),
        on_goodbye=(),
        on_success=(),
        on_error=(),
        on_confusion=(),
        levels=(),
        style="conversational",
        punctuation="standard",
        params=dict.fromkeys(PARAMETER_NAMES, 0.5),
        min_formality=0.0,
        forbidden=(),
    )
