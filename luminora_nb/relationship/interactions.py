"""What kind of interaction a user message is, for the affinity points it earns.

Each user message is classified into exactly **one** interaction type. The built-in
types and how they are recognised (English cues, whole words, any case; a negated cue
such as ``you're not useless`` does not count):

=================  ================================================================
type               recognised by
=================  ================================================================
hostile            an insult aimed at the persona (``you're useless``, ``shut up``,
                   ``I hate you``, ``this bot is stupid``)
compliment         praise aimed at the persona or its answers (``you're so smart``,
                   ``great answer``, ``well done``, ``you rock``)
gratitude          thanks (``thank you``, ``thanks``, ``I appreciate it``; not
                   ``no thanks``; ``thanks for nothing`` is negative)
negative           displeasure with the persona or its answers (``that's wrong``,
                   ``not helpful``, ``you don't understand``), or a negative
                   message aimed at it
personal_share     the user tells something about themselves: the message yields a
                   fact or a memorable episode (not routine, not a fight with the
                   persona), or it is a first-person message with feeling in it
                   (``my day was awful``, ``I'm so excited``)
positive           any other positive or very positive message
neutral            everything else
=================  ================================================================

**Custom types.** A persona may define more types in
``affinity_config.interaction_points`` (``laughter``, ``fixed_finding``, ...). A custom
type is recognised by, in order:

1. the persona's own cue words: ``metadata["interaction_triggers"] = {"laughter":
   ["haha", "lol"]}`` in its definition (the same key can add cues to a built-in type);
2. otherwise the cue table :data:`DEFAULT_INTERACTION_CUES` for the custom types of
   the shipped personas (``question``, ``laughter``, ``story_request``, ``reflection``,
   ``trip_story``, ``task_completed``, ``good_argument``, ``idea_shared``,
   ``evidence_shared``, ``fixed_finding``);
3. otherwise its name read as a phrase (``trip_story`` -> ``trip story``).

**One type wins**, by precedence: hostile, then the persona's custom types (in the order
the persona lists them), compliment, gratitude, negative, personal_share, positive, the
custom types of low priority (``question``: a question is a weaker signal than thanks
or praise in the same message), neutral.

**Points.** The type's points come from the persona's ``interaction_points``; a
built-in type the persona leaves out keeps its default points (``AffinityConfig``'s
defaults: compliment 5, personal_share 4, positive 3, gratitude 2, neutral 0,
negative -3, hostile -10).

Example:
    >>> from luminora_nb.memory.sentiment import score_sentiment
    >>> text = "Thanks, you're amazing!"
    >>> classify_interaction(text, score_sentiment(text)).type
    'compliment'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import SessionError
from ..memory._text import negated_before, normalise
from ..memory.sentiment import SentimentResult, score_sentiment
from ..types.memory import DetectedEpisode, ExtractedFact
from ..types.persona import AffinityConfig, PersonaDefinition

__all__ = [
    "BUILTIN_INTERACTIONS",
    "DEFAULT_INTERACTION_CUES",
    "DEFAULT_INTERACTION_POINTS",
    "Interaction",
    "InteractionType",
    "classify_interaction",
    "interaction_points",
]

InteractionType = Literal[
    "hostile", "compliment", "gratitude", "negative", "personal_share", "positive", "neutral"
]
#: The built-in interaction types.
BUILTIN_INTERACTIONS: tuple[InteractionType, ...] = (
    "hostile",
    "compliment",
    "gratitude",
    "negative",
    "personal_share",
    "positive",
    "neutral",
)
#: Points of the built-in types when a persona does not set them.
DEFAULT_INTERACTION_POINTS: dict[str, int] = dict(AffinityConfig().interaction_points)

Priority = Literal["high", "low"]

#: Cues of the custom types of the shipped personas: (phrases, priority). ``?`` stands for
#: "the message is a question".
DEFAULT_INTERACTION_CUES: dict[str, tuple[tuple[str, ...], Priority]] = {
    "question": (("?",), "low"),
    "laughter": (("haha", "hahaha", "hehe", "lol", "lmao", "rofl", "\U0001f602", "\U0001f923", "so funny",
                  "that's hilarious", "hilarious", "made me laugh", "cracking up"), "high"),
    "story_request": (("tell me a story", "tell me another story", "a story about", "tell me a tale",
                       "another story", "story please", "once upon a time", "bedtime story",
                       "tell me about the time"), "high"),
    "reflection": (("i've been thinking", "i have been thinking", "i realised", "i realized",
                    "it made me think", "looking back", "i wonder", "i've noticed", "i have noticed",
                    "on reflection", "i've learned", "i have learned"), "high"),
    "trip_story": (("my trip", "on my trip", "when i was in", "i visited", "i travelled", "i traveled",
                    "on vacation", "on holiday", "we went to", "i went to", "i flew to",
                    "road trip"), "high"),
    "task_completed": (("it's done", "it is done", "all done", "done!", "completed", "finished it",
                        "sent it", "booked it", "all set", "task complete", "i've done it", "taken care of",
                        "submitted"), "high"),
    "good_argument": (("counterpoint", "counter-argument", "counterargument", "on the other hand",
                       "but consider", "the evidence", "studies show", "the data shows", "my argument",
                       "here's why", "that's a fallacy", "logically", "steelman", "i disagree because"),
                      "high"),
    "idea_shared": (("what if we", "i have an idea", "i've got an idea", "here's an idea", "my idea",
                     "how about we", "we could", "idea:", "what about a", "brainstorm"), "high"),
    "evidence_shared": (("study", "studies", "paper", "dataset", "the data", "results show", "the source",
                         "doi", "p-value", "experiment", "citation", "according to", "peer-reviewed",
                         "peer reviewed", "measured", "replicated"), "high"),
    "fixed_finding": (("fixed", "patched", "mitigated", "rotated", "remediated", "resolved",
                       "closed the hole", "closed the vulnerability", "upgraded"), "high"),
}  # fmt: skip

# The cues of the built-in types (English, any case), compiled once.
_CUES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.I)
    for name, pattern in {
        # aimed at the persona: "you", "this bot", "that answer"
        "directed": (
            r"\b(?:you|you're|youre|your|yours|yourself|u|ur|this\s+(?:bot|ai|assistant|app|thing|chatbot)|"
            r"(?:that|this)\s+(?:answer|reply|response|explanation|advice|suggestion|story|joke))\b"
        ),
        # insults, counted when aimed at the persona
        "insult": (
            r"\b(?:idiot|idiotic|stupid|dumb|useless|worthless|pathetic|moron|moronic|trash|garbage|suck|sucks|"
            r"loser|incompetent|clueless|liar|a\s+joke|the\s+worst|braindead|brain-dead)\b"
        ),
        # hostile whatever it is aimed at
        "hostile": (
            r"\b(?:i\s+hate\s+you|shut\s+up|screw\s+you|f\*+k\s+you|fuck\s+(?:you|off)|go\s+to\s+hell|get\s+lost|"
            r"piss\s+off|go\s+away|nobody\s+asked\s+you)\b"
        ),
        # praise of the persona or of its answers
        "praise": (
            r"\byou(?:'re|\s+are|re)?\s+(?:so\s+|really\s+|very\s+|truly\s+|such\s+|the\s+|just\s+|always\s+|"
            r"absolutely\s+)*(?:a\s+|an\s+)?(?:great|amazing|awesome|smart|clever|brilliant|wonderful|helpful|kind|"
            r"funny|sweet|wise|best|fantastic|lovely|genius|incredible|cool|nice|legend|gem|star|hilarious|"
            r"patient|insightful|good\s+(?:at|listener|friend))\b"
            r"|\byour\s+(?:advice|answers?|ideas?|explanations?|stories|story|jokes?|help|suggestions?|writing|"
            r"humou?r|insight)\s+(?:is|are|was|were)\s+(?:so\s+|really\s+|very\s+|always\s+)*(?:great|amazing|"
            r"awesome|brilliant|wonderful|helpful|perfect|spot\s+on|excellent|fantastic|gold|lovely|hilarious)\b"
            r"|\b(?:good|great|nice|excellent|brilliant|amazing|awesome|perfect)\s+(?:job|work|answer|one|"
            r"explanation|point|idea|advice|story|joke|catch)\b|\bwell\s+done\b|\byou\s+(?:rock|rule|nailed\s+it)\b"
            r"|\bi\s+(?:love|like|enjoy)\s+(?:your|talking\s+(?:to|with)\s+you|chatting\s+with\s+you)\b"
        ),
        # thanks (not "no thanks", see no_thanks)
        "thanks": (
            r"\b(?:thank\s+you|thanks|thank\s+u|thx|thanx|ty|tysm|much\s+appreciated|i\s+(?:really\s+)?appreciate|"
            r"i(?:'m|\s+am)\s+(?:so\s+|really\s+)?grateful|cheers\s+for)\b"
        ),
        # a refusal or sarcasm that contains a thank
        "no_thanks": r"\bno\s*,?\s+thank(?:s|\s+you)\b|\bthanks\s+for\s+nothing\b",
        # displeasure with the persona or its answers
        "complaint": (
            r"\b(?:that's|that\s+is|this\s+is|it's|it\s+is)\s+(?:not\s+(?:right|true|correct|helpful|what\s+i\s+"
            r"(?:asked|meant|said))|wrong|incorrect|unhelpful|useless|boring|annoying|nonsense|rubbish)\b"
            r"|\b(?:not|isn't|wasn't)\s+(?:helpful|useful)\b|\bdoesn't\s+(?:help|make\s+(?:any\s+)?sense)\b"
            r"|\bmakes?\s+no\s+sense\b|\byou(?:'re|\s+are)\s+(?:wrong|mistaken|not\s+listening|not\s+helping|"
            r"confusing\s+me|repeating\s+yourself)\b|\byou\s+(?:don't|do\s+not|never)\s+(?:understand|listen|get\s+it)\b"
            r"|\byou\s+misunderstood\b|\b(?:bad|terrible|awful|poor|wrong)\s+(?:answer|reply|advice|response)\b"
            r"|\bthanks\s+for\s+nothing\b|\bstop\s+(?:it|that|doing\s+that)\b"
        ),
        # the user speaking of themselves
        "first_person": r"\b(?:i|i'm|i've|i'd|i'll|im|my|me|myself)\b",
        # a question by its first word (with no question mark)
        "question_start": (
            r"^(?:what|who|where|when|why|how|which|can|could|would|will|should|do|does|did|is|are|was|were|"
            r"have|has)\b"
        ),
    }.items()
}


@dataclass(frozen=True)
class Interaction:
    """The interaction type of one message.

    Attributes:
        type: The type (built-in or one of the persona's custom ones).
        points: The persona's points for it (before the per-turn cap).
        cues: What in the message decided it (``sentiment:positive`` when the sentiment did).
        custom: Whether it is one of the persona's custom types.
    """

    type: str
    points: int
    cues: tuple[str, ...] = ()
    custom: bool = False


def _config_of(
    persona: PersonaDefinition | AffinityConfig | None,
) -> tuple[AffinityConfig, Mapping[str, Any]]:
    if isinstance(persona, PersonaDefinition):
        return persona.affinity_config, persona.metadata
    return persona or AffinityConfig(), {}


def interaction_points(persona: PersonaDefinition | AffinityConfig | None, interaction_type: str) -> int:
    """The points the persona gives ``interaction_type`` (0 for a type it does not know).

    Example:
        >>> from luminora_nb.personality.library import get_builtin
        >>> interaction_points(get_builtin("bastion").definition, "fixed_finding")
        5
        >>> interaction_points(None, "hostile")
        -10
    """
    config, _ = _config_of(persona)
    if interaction_type in config.interaction_points:
        return int(config.interaction_points[interaction_type])
    return DEFAULT_INTERACTION_POINTS.get(interaction_type, 0)


_PATTERNS: dict[tuple[str, ...], re.Pattern[str]] = {}


def _phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    key = tuple(phrases)
    found = _PATTERNS.get(key)
    if found is None:
        parts = [
            re.escape(p.lower()).replace(r"\ ", r"\s+")
            for p in sorted({p for p in phrases if p and p != "?"}, key=len, reverse=True)
        ]
        body = "|".join(parts) or r"(?!x)x"
        found = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.I)
        if len(_PATTERNS) > 1024:
            _PATTERNS.clear()
        _PATTERNS[key] = found
    return found


def _is_question(text: str) -> bool:
    stripped = text.strip()
    return stripped.endswith("?") or _CUES["question_start"].match(stripped) is not None


def _find(pattern: re.Pattern[str], text: str) -> str | None:
    """The first match of ``pattern`` in ``text`` that no negation precedes."""
    for match in pattern.finditer(text):
        if not negated_before(text, match.start()):
            return " ".join(match.group(0).split())
    return None


def _custom_cues(
    config: AffinityConfig, metadata: Mapping[str, Any]
) -> list[tuple[str, tuple[str, ...], Priority]]:
    triggers = metadata.get("interaction_triggers")
    own: Mapping[str, Any] = triggers if isinstance(triggers, Mapping) else {}
    out: list[tuple[str, tuple[str, ...], Priority]] = []
    for name in config.interaction_points:
        if name in BUILTIN_INTERACTIONS:
            continue
        words = own.get(name)
        if isinstance(words, Sequence) and not isinstance(words, str) and words:
            out.append((name, tuple(str(w) for w in words), "high"))
        elif name in DEFAULT_INTERACTION_CUES:
            phrases, priority = DEFAULT_INTERACTION_CUES[name]
            out.append((name, phrases, priority))
        else:
            out.append((name, (name.replace("_", " "),), "high"))
    return out


def _custom_match(text: str, phrases: tuple[str, ...]) -> str | None:
    if "?" in phrases and _is_question(text):
        return "?"
    return _find(_phrase_pattern(phrases), text)


def _extra_builtin_cues(metadata: Mapping[str, Any], name: str) -> tuple[str, ...]:
    triggers = metadata.get("interaction_triggers")
    words = triggers.get(name) if isinstance(triggers, Mapping) else None
    if isinstance(words, Sequence) and not isinstance(words, str):
        return tuple(str(w) for w in words)
    return ()


_UNSET: Any = object()


def classify_interaction(
    message: str,
    sentiment: SentimentResult | None = None,
    persona: PersonaDefinition | AffinityConfig | None = None,
    *,
    facts: Sequence[ExtractedFact] | None = None,
    episode: DetectedEpisode | None = _UNSET,
    persona_name: str | None = None,
) -> Interaction:
    """The one interaction type of ``message`` (see the module docstring).

    Args:
        message: The user's message.
        sentiment: Its sentiment (the lexicon scorer's when ``None``).
        persona: The persona's definition (custom types, cues in ``metadata``) or its
            affinity config; ``None`` for the defaults.
        facts: The facts read from the message (read with the rules extractor when ``None``).
        episode: The episode detected in it (detected with the rules when not given).
        persona_name: The persona's name: mentioning it makes a message aimed at it.

    Raises:
        SessionError: ``message`` is not a string.

    Example:
        >>> classify_interaction("You're useless.").type
        'hostile'
        >>> classify_interaction("My sister Ana got married!").type
        'personal_share'
        >>> from luminora_nb.personality.library import get_builtin
        >>> captain = get_builtin("captain_quip").definition
        >>> classify_interaction("hahaha that one got me", persona=captain)
        Interaction(type='laughter', points=4, cues=('hahaha',), custom=True)
    """
    if not isinstance(message, str):
        raise SessionError(f"message must be a string, got {type(message).__name__}")
    text = normalise(message)
    sentiment = sentiment if sentiment is not None else score_sentiment(message)
    config, metadata = _config_of(persona)
    if isinstance(persona, PersonaDefinition) and persona_name is None:
        persona_name = persona.persona.name

    def result(kind: str, cue: str, custom: bool = False) -> Interaction:
        return Interaction(type=kind, points=interaction_points(config, kind), cues=(cue,), custom=custom)

    directed = _CUES["directed"].search(text) is not None or (
        persona_name is not None and re.search(rf"\b{re.escape(persona_name)}\b", text, re.I) is not None
    )
    extra = _extra_builtin_cues(metadata, "hostile")
    cue = _find(_CUES["hostile"], text) or (_find(_CUES["insult"], text) if directed else None)
    if cue is None and extra:
        cue = _find(_phrase_pattern(extra), text)
    if cue is not None:
        return result("hostile", cue)
    customs = _custom_cues(config, metadata)
    for name, phrases, priority in customs:
        if priority == "high" and (found := _custom_match(text, phrases)) is not None:
            return result(name, found, custom=True)
    extra = _extra_builtin_cues(metadata, "compliment")
    cue = _find(_CUES["praise"], text) or (_find(_phrase_pattern(extra), text) if extra else None)
    if cue is not None:
        return result("compliment", cue)
    complaint = _find(_CUES["complaint"], text)
    extra = _extra_builtin_cues(metadata, "gratitude")
    cue = None if _CUES["no_thanks"].search(text) else _find(_CUES["thanks"], text)
    cue = cue or (_find(_phrase_pattern(extra), text) if extra else None)
    if cue is not None and complaint is None:
        return result("gratitude", cue)
    extra = _extra_builtin_cues(metadata, "negative")
    complaint = complaint or (_find(_phrase_pattern(extra), text) if extra else None)
    if complaint is not None:
        return result("negative", complaint)
    if directed and sentiment.label in ("negative", "very_negative"):
        return result("negative", f"sentiment:{sentiment.label}")
    if facts is None:
        from ..memory.facts import extract_facts

        facts = extract_facts(message)
    if episode is _UNSET:
        from ..memory.episodes import detect_episode

        episode = detect_episode(message, sentiment)
    if facts:
        return result("personal_share", f"fact:{facts[0].category}/{facts[0].key}")
    if (
        episode is not None
        and episode.episode_type != "routine"
        and episode.title != "Conflict with the persona"
    ):
        return result("personal_share", f"episode:{episode.episode_type}")
    if sentiment.label != "neutral" and _CUES["first_person"].search(text) and not directed:
        return result("personal_share", f"sentiment:{sentiment.label}")
    extra = _extra_builtin_cues(metadata, "personal_share")
    if extra and (cue := _find(_phrase_pattern(extra), text)) is not None:
        return result("personal_share", cue)
    if sentiment.label in ("positive", "very_positive"):
        return result("positive", f"sentiment:{sentiment.label}")
    extra = _extra_builtin_cues(metadata, "positive")
    if extra and (cue := _find(_phrase_pattern(extra), text)) is not None:
        return result("positive", cue)
    for name, phrases, priority in customs:
        if priority == "low" and (found := _custom_match(text, phrases)) is not None:
            return result(name, found, custom=True)
    return result("neutral", f"sentiment:{sentiment.label}")
