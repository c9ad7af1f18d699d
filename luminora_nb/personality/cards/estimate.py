"""A deterministic, offline estimate of a card's traits and six parameters from its text.

Cards describe a character in prose; our personas need ``core_traits`` and the six
``advanced_parameters`` to blend. The estimate reads the card's description,
personality, scenario, greeting and example lines (macros removed, lower-cased, split
into words) and scores them against small word lists:

* each parameter starts at 0.5 and moves 0.08 per distinct cue word found (up by a
  "more" cue, down by a "less" cue), clamped to 0.05..0.95; ``verbosity`` also
  follows the mean length of the character's example and greeting lines, and
  ``formality`` the share of contractions and casual markers in them;
* ``archetype`` and ``temperament`` are the category with most cue hits (ties broken
  by the order of the word lists; none found gives ``companion`` / ``calm``);
  ``communication_style`` follows the cues, then formality and empathy;
* ``tone`` lists the tone adjectives the card uses (at most five), ``syntax`` follows
  the mean sentence length of the character's lines, ``punctuation_style`` their
  exclamation marks, dashes and ellipses.

The same text always gives the same numbers; nothing is random and nothing is fetched.
Users override any value at import (``import_card(..., traits=..., parameters=...)``).

Example:
    >>> est = estimate_profile("A cheerful, witty bard who loves jokes and tells tales.", [])
    >>> est.traits["archetype"], est.parameters["humor"] > 0.5
    ('storyteller', True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...types.persona import PARAMETER_NAMES

__all__ = ["Estimate", "estimate_profile"]

_WORD = re.compile(r"[a-z][a-z'\-]*")
_SENTENCE = re.compile(r"[.!?]+(?:\s|$)")
_STEP = 0.08

# parameter -> (words that raise it, words that lower it)
_PARAMETER_CUES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "verbosity": (
        frozenset(
            ["talkative", "chatty", "verbose", "rambling", "eloquent", "loquacious", "detailed", "lengthy"]
        ),
        frozenset(["quiet", "terse", "laconic", "reserved", "silent", "taciturn", "brief", "curt", "mute"]),
    ),
    "formality": (
        frozenset(
            [
                "formal",
                "polite",
                "proper",
                "refined",
                "noble",
                "elegant",
                "courteous",
                "dignified",
                "aristocratic",
                "butler",
                "professional",
                "royal",
                "etiquette",
            ]
        ),
        frozenset(
            [
                "casual",
                "laid-back",
                "slang",
                "relaxed",
                "informal",
                "crude",
                "rude",
                "rowdy",
                "goofy",
                "chill",
            ]
        ),
    ),
    "humor": (
        frozenset(
            [
                "funny",
                "witty",
                "playful",
                "joke",
                "jokes",
                "joking",
                "humor",
                "humour",
                "humorous",
                "teasing",
                "tease",
                "mischievous",
                "sarcastic",
                "sarcasm",
                "pun",
                "puns",
                "silly",
                "goofy",
                "prankster",
                "cheeky",
                "laugh",
                "laughs",
            ]
        ),
        frozenset(
            ["serious", "stern", "grim", "solemn", "humorless", "humourless", "somber", "sombre", "austere"]
        ),
    ),
    "empathy": (
        frozenset(
            [
                "kind",
                "caring",
                "gentle",
                "warm",
                "compassionate",
                "empathetic",
                "supportive",
                "nurturing",
                "loving",
                "understanding",
                "sweet",
                "motherly",
                "tender",
                "patient",
                "comforting",
            ]
        ),
        frozenset(
            [
                "cold",
                "cruel",
                "aloof",
                "callous",
                "ruthless",
                "indifferent",
                "heartless",
                "distant",
                "selfish",
                "arrogant",
            ]
        ),
    ),
    "creativity": (
        frozenset(
            [
                "creative",
                "imaginative",
                "artistic",
                "whimsical",
                "inventive",
                "dreamy",
                "poetic",
                "curious",
                "eccentric",
                "quirky",
                "visionary",
                "inspired",
                "magical",
            ]
        ),
        frozenset(
            ["practical", "pragmatic", "conventional", "rigid", "traditional", "methodical", "literal"]
        ),
    ),
    "directness": (
        frozenset(
            [
                "blunt",
                "direct",
                "honest",
                "straightforward",
                "frank",
                "assertive",
                "stern",
                "bold",
                "confident",
                "outspoken",
                "commanding",
                "decisive",
            ]
        ),
        frozenset(
            [
                "shy",
                "timid",
                "hesitant",
                "diplomatic",
                "meek",
                "nervous",
                "evasive",
                "cryptic",
                "mysterious",
                "indirect",
            ]
        ),
    ),
}

_ARCHETYPES: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "mentor",
        frozenset(["teacher", "mentor", "professor", "tutor", "instructor", "coach", "trainer", "guide"]),
    ),
    (
        "sage",
        frozenset(
            ["wise", "sage", "scholar", "philosopher", "wizard", "mage", "librarian", "monk", "oracle"]
        ),
    ),
    (
        "scientist",
        frozenset(
            ["scientist", "engineer", "researcher", "inventor", "hacker", "chemist", "physicist", "doctor"]
        ),
    ),
    (
        "caregiver",
        frozenset(["nurse", "healer", "caretaker", "caregiver", "maid", "mother", "nanny", "medic"]),
    ),
    (
        "guardian",
        frozenset(["knight", "guard", "guardian", "protector", "soldier", "bodyguard", "paladin", "warrior"]),
    ),
    (
        "ruler",
        frozenset(
            [
                "king",
                "queen",
                "prince",
                "princess",
                "emperor",
                "empress",
                "ruler",
                "boss",
                "ceo",
                "commander",
                "lord",
                "lady",
            ]
        ),
    ),
    (
        "rebel",
        frozenset(["rebel", "outlaw", "thief", "rogue", "pirate", "punk", "bandit", "mercenary", "assassin"]),
    ),
    (
        "explorer",
        frozenset(
            ["adventurer", "explorer", "traveler", "traveller", "ranger", "wanderer", "sailor", "nomad"]
        ),
    ),
    ("jester", frozenset(["jester", "clown", "prankster", "comedian", "trickster", "fool"])),
    (
        "creator",
        frozenset(
            ["artist", "painter", "musician", "writer", "poet", "sculptor", "designer", "composer", "baker"]
        ),
    ),
    ("storyteller", frozenset(["bard", "storyteller", "narrator", "tales", "tale", "legends"])),
    (
        "companion",
        frozenset(
            ["friend", "companion", "roommate", "girlfriend", "boyfriend", "partner", "neighbor", "neighbour"]
        ),
    ),
)

_TEMPERAMENTS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "cheerful",
        frozenset(["cheerful", "happy", "bubbly", "sunny", "upbeat", "optimistic", "bright", "joyful"]),
    ),
    ("energetic", frozenset(["energetic", "hyper", "lively", "excitable", "enthusiastic", "restless"])),
    ("playful", frozenset(["playful", "mischievous", "teasing", "cheeky", "flirty", "impish"])),
    ("curious", frozenset(["curious", "inquisitive", "nosy", "investigative"])),
    ("warm", frozenset(["warm", "kind", "gentle", "caring", "sweet", "affectionate"])),
    ("passionate", frozenset(["passionate", "fiery", "intense", "fierce", "zealous"])),
    (
        "melancholic",
        frozenset(["sad", "melancholic", "melancholy", "gloomy", "lonely", "brooding", "tragic"]),
    ),
    ("stoic", frozenset(["stoic", "stern", "cold", "reserved", "disciplined", "unflappable"])),
    ("wry", frozenset(["wry", "sarcastic", "sardonic", "cynical", "dry", "deadpan"])),
    ("calm", frozenset(["calm", "serene", "patient", "peaceful", "composed", "quiet"])),
)

_STYLE_CUES: tuple[tuple[str, frozenset[str]], ...] = (
    ("storytelling", frozenset(["narrator", "narrates", "storyteller", "bard", "tales"])),
    ("technical", frozenset(["technical", "engineer", "hacker", "scientist", "programmer"])),
    ("poetic", frozenset(["poetic", "poet", "verse", "rhymes", "lyrical"])),
    ("socratic", frozenset(["socratic", "questions", "questioning", "teacher", "tutor"])),
    ("direct", frozenset(["blunt", "direct", "curt", "straightforward"])),
)

_TONES = [
    "warm",
    "gentle",
    "playful",
    "witty",
    "sarcastic",
    "cheerful",
    "calm",
    "stern",
    "friendly",
    "formal",
    "mysterious",
    "dramatic",
    "confident",
    "shy",
    "sweet",
    "grumpy",
    "kind",
    "serious",
    "curious",
    "flirty",
    "teasing",
    "wise",
    "cold",
    "bubbly",
]

_CASUAL = re.compile(
    r"\b(?:lol|lmao|gonna|wanna|gotta|ya|yeah|nah|hey|dude|kinda|sorta|omg)\b|~|:\)|xd\b", re.I
)
_CONTRACTION = re.compile(r"\b\w+'(?:s|re|ll|ve|d|t|m)\b", re.I)


@dataclass
class Estimate:
    """What :func:`estimate_profile` found: trait values, the six parameters, style."""

    traits: dict[str, str]
    parameters: dict[str, float]
    tone: list[str] = field(default_factory=list)
    syntax: str = "varied"
    punctuation_style: str = "standard"


def _clamp(value: float) -> float:
    return round(min(0.95, max(0.05, value)), 2)


def _best(options: Sequence[tuple[str, frozenset[str]]], words: set[str], default: str) -> str:
    scores = [(len(cues & words), -index, name) for index, (name, cues) in enumerate(options)]
    hits, _, name = max(scores)
    return name if hits else default


def estimate_profile(text: str, character_lines: Sequence[str]) -> Estimate:
    """Estimate traits and parameters from a card's prose and the character's own lines.

    Args:
        text: Description, personality and scenario (macros already removed).
        character_lines: What the character says (greetings, example replies).

    Example:
        >>> estimate_profile("A stern, formal royal butler.", ["Good evening, sir."]).parameters["formality"]
        0.84
    """
    spoken = " ".join(character_lines)
    words = set(_WORD.findall((text + " " + spoken).lower()))
    params: dict[str, float] = {}
    for name in PARAMETER_NAMES:
        more, less = _PARAMETER_CUES[name]
        params[name] = 0.5 + _STEP * (len(more & words) - len(less & words))
    if character_lines:
        mean_words = sum(len(line.split()) for line in character_lines) / len(character_lines)
        # 10 words per line is neutral; every 10 more (or fewer) moves verbosity by 0.1
        params["verbosity"] += max(-0.3, min(0.3, (mean_words - 10) / 100))
        casual = len(_CASUAL.findall(spoken)) + len(_CONTRACTION.findall(spoken))
        tokens = max(1, len(spoken.split()))
        params["formality"] += 0.1 if casual == 0 else -min(0.3, 2.0 * casual / tokens)
    params = {name: _clamp(value) for name, value in params.items()}

    archetype = _best(_ARCHETYPES, words, "companion")
    temperament = _best(_TEMPERAMENTS, words, "calm")
    style = _best(_STYLE_CUES, words, "")
    if not style:
        if params["formality"] >= 0.7:
            style = "formal"
        elif params["empathy"] >= 0.7:
            style = "supportive"
        elif params["formality"] <= 0.3:
            style = "casual"
        else:
            style = "conversational"
    tone = [t for t in _TONES if t in words][:5] or [temperament]

    sentences = [s for s in _SENTENCE.split(spoken) if s.strip()]
    mean_len = sum(len(s.split()) for s in sentences) / len(sentences) if sentences else 12.0
    syntax = (
        "terse"
        if mean_len < 5
        else "simple"
        if mean_len < 9
        else "varied"
        if mean_len < 17
        else "complex"
        if mean_len < 25
        else "elaborate"
    )
    marks = spoken.count("!") + spoken.count("...") + spoken.count("—") + spoken.count("~")
    punctuation = "expressive" if marks >= max(2, len(sentences) // 3) else "standard"
    return Estimate(
        traits={"archetype": archetype, "temperament": temperament, "communication_style": style},
        parameters=params,
        tone=tone,
        syntax=syntax,
        punctuation_style=punctuation,
    )
