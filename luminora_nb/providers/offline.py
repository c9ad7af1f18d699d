"""The offline provider: a deterministic persona simulator, **not a language model**.

``ProviderConfig(name="offline")`` is the embedded default of luminora_nb. It needs no
API key and no network, and it answers in microseconds, so notebooks, tests and
benchmarks run anywhere and give the same output every time.

It does not understand language and knows no facts. It recognises a few intents in the
user's message with regular expressions (greeting, farewell, thanks, a question, success,
a mistake or complaint, confusion, statements about the user such as "my name is Sam",
"I love jazz", "I work as a nurse", "I feel tired", and everything else as a plain
statement) and composes a reply from templates shaped by the persona definition:

* trigger responses: ``on_greeting`` (or the current relationship level's ``greetings``),
  ``on_goodbye``, ``on_success``, ``on_error`` and ``on_confusion``;
* vocabulary (signature phrases woven in, the highest-ranked first) and fillers;
* the six advanced parameters: verbosity sets the number of sentences (about one at 0,
  six or more at 1), formality the register (contractions and casual openers when low,
  full forms and courteous phrasing when high), humor a playful aside, empathy an
  acknowledgement of the user's feelings, directness whether the point comes first or
  is hedged, creativity a metaphor;
* punctuation style, communication style (how a reply closes), safety guards (forbidden
  topics are declined, ``max_informality`` bounds the register), the current mood;
* the conversation: the user's name and what they said about themselves earlier, and
  the facts the client passes in ``context["facts"]``.

Questions are answered around their topic words ("On speed of light, ..."): the
simulator echoes the topic, it cannot say anything true about it. Replies never claim
to be a simulation; this docstring is where that is said.

Determinism: every choice is drawn from a BLAKE2b hash of the persona name, the six
parameters rounded to two decimals, the user's message, the number of earlier user
turns (``context["turn_index"]`` when given) and the temperature when given. Same
input, same output, in any process.
``temperature=0`` always takes the first, most characteristic variant; other
temperatures only select among the same deterministic variants.

Token counts use a simple documented tokenizer, :data:`TOKEN_PATTERN`: every run of
word characters is one token and so is every other non-space character.

Example:
    >>> import asyncio
    >>> from luminora_nb.types import ChatMessage, ProviderConfig
    >>> provider = OfflineProvider(ProviderConfig(name="offline"))
    >>> request = ChatRequest(messages=[ChatMessage(role="user", content="Hello!")], persona_name="Guide")
    >>> reply = asyncio.run(provider.chat(request))
    >>> reply.content == asyncio.run(provider.chat(request)).content, reply.finish_reason
    (True, 'stop')
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Final

from ..errors import ProviderBadRequestError, ProviderError
from ..types.persona import PARAMETER_NAMES, PersonaDefinition
from ..types.provider import ChatResponse, ProviderConfig
from .base import ChatRequest, Provider

__all__ = ["TOKEN_PATTERN", "OfflineProvider", "count_tokens"]

#: The documented tokenizer of the offline provider: one token per run of word
#: characters and one per other non-space character ("Don't!" -> ``Don``, ``'``, ``t``, ``!``).
TOKEN_PATTERN: Final = re.compile(r"\w+|[^\w\s]")


@lru_cache(maxsize=8192)
def _count_piece(piece: str) -> int:
    return len(TOKEN_PATTERN.findall(piece))


@lru_cache(maxsize=1024)
def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` by :data:`TOKEN_PATTERN`.

    Tokens never span whitespace, so the text is counted line by line with a cache:
    a system prompt that changes in one line per turn costs one line's work, and an
    unchanged one costs a dictionary look-up.

    Example:
        >>> count_tokens("Hello, world! It's 9 o'clock.")
        12
    """
    if "\n" not in text:
        return _count_piece(text)
    return sum(_count_piece(line) for line in text.split("\n"))


# --------------------------------------------------------------------------------------
# Message analysis (pure functions of the user's text, cached)
# --------------------------------------------------------------------------------------

_I = re.IGNORECASE


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (keeps long word lists readable)."""
    return frozenset(text.split())


_GREETING = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|heya|howdy|greetings|hallo|hola|yo|good (?:morning|afternoon|evening|day))\b",
    _I,
)
_FAREWELL = re.compile(
    r"\b(?:good\s?bye|bye(?:\s?bye)?|see (?:you|ya)(?: later| soon| tomorrow)?|farewell|good night|"
    r"take care(?! of)|"
    r"talk (?:to you )?(?:later|soon|tomorrow)|catch you later|gotta go|i have to go now|signing off|cya|"
    r"until next time)\b",
    _I,
)
_HOW_ARE_YOU = re.compile(
    r"\bhow (?:are|r) (?:you|u)\b|\bhow(?:'s| is) it going\b|\bhow have you been\b|\bhow are things\b", _I
)
_ABOUT_SELF = re.compile(
    r"\b(?:who are you|what are you|what(?:'s| is) your name|tell me about yourself|introduce yourself)\b", _I
)
_THANKS = re.compile(
    r"\b(?:thanks|thank (?:you|u)|thx|ty|cheers|much appreciated|"
    r"appreciate (?:it|that|the help|your help))\b",
    _I,
)
_SUCCESS = re.compile(
    r"\b(?:(?:it|that|this) (?:worked|works(?: now)?)|got it|i get it now|i see now|makes sense now|"
    r"that makes sense|solved it|fixed it|i did it|nailed it|i understand(?: it)? now|it clicked|eureka)\b",
    _I,
)
# A failure report; the weak words also appear in ordinary questions ("common mistakes in chess?").
_ERROR = re.compile(
    r"\b(?:(?:does|did|is)n'?t work(?:ing)?|(?:does|did|do) not work|not working|(?:is|was) broken|"
    r"(?:got|get|getting|throws?|gives?|have|has) an? (?:error|exception|bug)|error message|"
    r"(?:that'?s|that is|you'?re|you are|it'?s|it is|went|something'?s|something is) (?:wrong|incorrect)|"
    r"(?:made|make) a mistake|doesn'?t (?:run|compile|add up))\b",
    _I,
)
_WEAK_ERROR = re.compile(r"\b(?:mistakes?|failed|crash(?:ed|es)|wrong|incorrect|broken)\b", _I)
_CONFUSION = re.compile(
    r"\b(?:i (?:still )?(?:do not|don'?t) (?:understand|get (?:it|this|that)|follow)|"
    r"i(?:'m| am) (?:so |really |a bit |still |totally )?(?:confused|lost)|"
    r"(?:this|that|it)(?: is|'s) (?:so |really )?(?:confusing|unclear)|makes no sense|doesn'?t make sense|"
    r"what do you mean|i don'?t get|lost me|over my head|huh)\b",
    _I,
)
_QUESTION_START = re.compile(
    r"^\W*(?:(why)|(how)|(what|which|who|whom|whose)|(when|where)|"
    r"(?:(?:can|could|would|will) you (?:please )?)?(explain|tell me|describe|show me|teach me|help me|"
    r"define|give me|compare)|"
    r"(can|could|would|should|will|is|are|am|do|does|did|have|has|was|were|may|might|shall))\b",
    _I,
)
_NAME = re.compile(
    r"\b(?:my name is|my name'?s|call me|i am called|i'?m called|they call me)\s+"
    r"([A-Za-z][A-Za-z'-]{0,30})",
    _I,
)
_NAME_INTRO = re.compile(
    r"^\W*(?:(?i:hi|hello|hey)[,!.\s]+)?(?i:i am|i'm)\s+([A-Z][a-z'-]{1,30})\s*[.!]?\s*$"
)
_PREFERENCE = re.compile(
    r"\bi (?:really |truly |absolutely |just |do )?(love|like|enjoy|adore|hate|dislike|can'?t stand|"
    r"do not like|don'?t like)\s+(?!to\b)(.+?)(?:[.!?;]|$)",
    _I,
)
_IDENTITY = re.compile(r"\bi(?: am|'m) (a|an) (?!bit\b|little\b|lot\b)(.+?)(?:[.!?;,]|\band\b|\bbut\b|$)", _I)
_WORK = re.compile(
    r"\bi(?:'m| am)? work(?:ing)? (as (?:an? )?|at |for |in )(.+?)(?:[.!?;,]|\band\b|\bbut\b|$)", _I
)
_FEEL = re.compile(
    r"\bi(?:'m| am)?\s*(?:feel|feeling)\s+(?:so |really |very |a bit |a little |kind of |quite |pretty |"
    r"extremely |super |rather )?([a-z-]+)",
    _I,
)
_NEGATIVE_FEELINGS: Final = _words(
    "sad down low unhappy depressed lonely anxious nervous worried stressed overwhelmed tired exhausted "
    "drained frustrated angry furious upset scared afraid terrified hurt awful terrible bad miserable bored "
    "sick ill hopeless lost stuck confused discouraged disappointed heartbroken ashamed guilty burnt"
)
_POSITIVE_FEELINGS: Final = _words(
    "happy glad great good fine excited proud grateful thankful calm relaxed hopeful confident wonderful "
    "amazing fantastic thrilled joyful cheerful motivated inspired curious content energized better"
)
_FEELINGS: Final = _NEGATIVE_FEELINGS | _POSITIVE_FEELINGS
_EMOTION_ALT = "|".join(sorted(_FEELINGS))
_I_AM_EMOTION = re.compile(
    r"\bi(?:'m| am)\s+(?:so |really |very |a bit |a little |kind of |quite |pretty |extremely |super |"
    rf"rather |feeling )?({_EMOTION_ALT})\b",
    _I,
)
_STRONG_EMOTION = re.compile(
    r"\b(stressed|anxious|overwhelmed|frustrated|exhausted|lonely|depressed|heartbroken|miserable|scared|"
    r"terrified|worried|upset|burnt out|burned out)\b",
    _I,
)
_HOW_TO = re.compile(r"^\W*how (?:(?:do|can|should|could|would|might|will) (?:i|we|you|one) |to )(.+)", _I)
_WORD = re.compile(r"[^\W_][\w'\u2019+#-]*")
_SENTENCE_END = re.compile(r"[.!?…]['\")\]]*$")

_STOP: Final = _words(
    """a an the and or but if then so than that this these those there here it its it's is are was were be
    been being am do does did doing done have has had having will would shall should can could may might must
    i me my mine myself you your yours yourself we us our ours he him his she her hers they them their theirs
    what why how when where who whom which whose please tell explain describe show teach help give define
    compare know think want need like feel feels feeling felt just really very much many some any about of to
    in on at for with from by
    as into onto up down out over under again also too not no yes okay ok well hi hello hey thanks thank let
    lets let's get got make makes made go going thing things something anything stuff kind sort bit lot little
    i'm you're don't doesn't didn't isn't aren't can't won't i've i'd i'll what's how's that's there's mean
    means one ones now still even maybe perhaps actually basically probably sure right exactly other another
    does doing every each all both more most quite rather pretty whether"""
)
_NOT_NAMES: Final = (
    _STOP
    | _FEELINGS
    | _words("later tomorrow back soon anytime again tonight here home done ready busy sorry")
)
_REFLECT: Final = {
    "i": "you",
    "me": "you",
    "my": "your",
    "mine": "yours",
    "myself": "yourself",
    "am": "are",
    "we": "you",
    "us": "you",
    "our": "your",
    "ours": "yours",
    "your": "my",
    "yours": "mine",
    "yourself": "myself",
    "i'm": "you're",
    "i've": "you've",
    "i'd": "you'd",
    "i'll": "you'll",
}
_TRAILING_VERBS: Final = _words("work works happen happens mean function operate exist matter start begin")
_CLAUSE_STARTS: Final = (
    "it",
    "the ",
    "there ",
    "we ",
    "you ",
    "a ",
    "this ",
    "that ",
    "once ",
    "every ",
    "i ",
)
_POSSESSIVE: Final = frozenset({"my", "our", "your", "his", "her", "their"})
_DROP_BY_INTENT: Final = {
    "success": _words("worked works work working got solved fixed did makes sense understand clicked"),
    "error": _words(
        "wrong error errors mistake mistakes work working broken failed fail bug incorrect crashed crash "
        "exception message compile run"
    ),
    "confusion": _words("understand get follow confused confusing lost unclear sense mean huh head"),
    "farewell": _words("bye goodbye good night see later soon care farewell gotta go"),
    "thanks": _words("thanks thank thx cheers appreciate appreciated help"),
    "greeting": _words("morning afternoon evening day greetings hiya heya howdy hola hallo yo"),
}


@dataclass(frozen=True, slots=True)
class _Analysis:
    """What the simulator recognises in one user message."""

    intent: str
    greeted: bool
    thanked: bool
    qtype: str
    name: str | None
    feeling: str | None
    valence: int
    preference: tuple[str, str] | None
    identity: str | None
    work: str | None
    topic: str | None
    keywords: tuple[str, ...]
    facts: tuple[str, ...]


def _reflect(words: Sequence[str]) -> str:
    out = []
    for word in words:
        swap = _REFLECT.get(word.lower())
        out.append(swap if swap is not None else word)
    return " ".join(out)


def _clip_phrase(text: str, limit: int = 6) -> str:
    words = _WORD.findall(text)[:limit]
    return _reflect(words)


def _topic(text: str, drop: frozenset[str], *, tail: bool = False) -> tuple[str | None, tuple[str, ...]]:
    """The topic words of ``text``: the span from the first to the last content word.

    With ``tail`` (plain statements, where the span would be a whole clause) only the
    last one or two adjacent content words, with a preceding possessive.
    """
    words = _WORD.findall(text)
    picked = [i for i, w in enumerate(words) if (lw := w.lower()) not in _STOP and lw not in drop]
    if not picked:
        return None, ()
    keywords = tuple(dict.fromkeys(words[i].lower() for i in picked))
    first, last = picked[0], picked[-1]
    if tail:
        first = last - 1 if len(picked) > 1 and picked[-2] == last - 1 else last
    if first > 0 and words[first - 1].lower() in _POSSESSIVE:
        first -= 1
    span = words[first : last + 1] if last - first < 6 else [words[i] for i in picked[:4]]
    topic = _reflect(span)
    if len(topic) > 60:
        topic = topic[:60].rsplit(" ", 1)[0]
    return topic, keywords


def _feeling(text: str) -> tuple[str | None, int]:
    match = _FEEL.search(text)
    if match is not None:
        word = match.group(1).lower()
        if word not in {"like", "that", "as", "it", "about", "for", "the", "a"}:
            return word, (-1 if word in _NEGATIVE_FEELINGS else 1 if word in _POSITIVE_FEELINGS else 0)
    match = _I_AM_EMOTION.search(text) or _STRONG_EMOTION.search(text)
    if match is not None:
        word = match.group(1).lower()
        return word, (-1 if word in _NEGATIVE_FEELINGS or " " in word else 1)
    return None, 0


@lru_cache(maxsize=4096)
def _analyse(text: str) -> _Analysis:
    """Recognise the intent and the statements about the user in one message (cached)."""
    stripped = text.strip()
    greeted = bool(_GREETING.match(stripped))
    thanked = bool(_THANKS.search(stripped))
    qmatch = _QUESTION_START.match(stripped)
    is_question = stripped.endswith("?") or qmatch is not None
    qtype = "yesno"
    if qmatch is not None:
        qtype = ("why", "how", "what", "when", "request", "yesno")[(qmatch.lastindex or 6) - 1]

    name: str | None = None
    named = _NAME.search(stripped) or _NAME_INTRO.match(stripped)
    if named is not None and named.group(1).lower() not in _NOT_NAMES:
        name = named.group(1)[0].upper() + named.group(1)[1:]
    feeling, valence = _feeling(stripped)
    preference: tuple[str, str] | None = None
    identity: str | None = None
    work: str | None = None
    if not is_question:
        if (m := _PREFERENCE.search(stripped)) is not None:
            obj = _clip_phrase(m.group(2))
            if obj:
                preference = (m.group(1).lower().replace("can't", "cannot").replace("don't", "do not"), obj)
        if (m := _IDENTITY.search(stripped)) is not None:
            what = _clip_phrase(m.group(2), 5)
            if what and _FEELINGS.isdisjoint(what.lower().split()):
                identity = f"{m.group(1).lower()} {what}"
        if (m := _WORK.search(stripped)) is not None:
            where = _clip_phrase(m.group(2), 5)
            if where:
                work = f"{m.group(1).strip().lower()} {where}"

    if _FAREWELL.search(stripped) and (not is_question or len(stripped.split()) <= 4):
        intent = "farewell"
    elif _CONFUSION.search(stripped):
        intent = "confusion"
    elif _ERROR.search(stripped) or (not is_question and _WEAK_ERROR.search(stripped)):
        intent = "error"
    elif not is_question and _SUCCESS.search(stripped):
        intent = "success"
    elif _ABOUT_SELF.search(stripped):
        intent = "about_self"
    elif _HOW_ARE_YOU.search(stripped):
        intent = "how_are_you"
    elif is_question:
        intent = "question"
    elif name or feeling or preference or identity or work:
        intent = "about_user"
    elif thanked:
        intent = "thanks"
    elif greeted:
        intent = "greeting"
    elif not stripped:
        intent = "empty"
    else:
        intent = "statement"

    drop = _DROP_BY_INTENT.get(intent, frozenset()) | _DROP_BY_INTENT["greeting"]
    if thanked:
        drop = drop | _DROP_BY_INTENT["thanks"]
    if preference is not None and intent == "about_user":
        topic, keywords = _topic(preference[1], drop)
    elif intent == "about_user" and (identity or work):
        topic, keywords = _topic((identity or work or "").split(" ", 1)[1], drop)
    elif intent == "about_user" and name and not feeling:
        topic, keywords = None, ()
    else:
        topic, keywords = _topic(
            stripped, drop | ({feeling} if feeling else set()), tail=intent == "statement"
        )
        if intent == "question" and topic and (how := _HOW_TO.match(stripped)) is not None:
            topic = f"how to {_clip_phrase(how.group(1), 8)}"
        elif intent == "question" and topic and " " in topic:
            head, _, last = topic.rpartition(" ")
            if last.lower() in _TRAILING_VERBS:  # "how does photosynthesis work" -> "photosynthesis"
                topic = head

    facts: list[str] = []  # what the user said about themselves, in the second person (not the name)
    if preference:
        facts.append(f"you {preference[0]} {preference[1]}")
    if identity:
        facts.append(f"you are {identity}")
    if work:
        facts.append(f"you work {work}")
    return _Analysis(
        intent=intent,
        greeted=greeted,
        thanked=thanked,
        qtype=qtype,
        name=name,
        feeling=feeling,
        valence=valence,
        preference=preference,
        identity=identity,
        work=work,
        topic=topic,
        keywords=keywords,
        facts=tuple(facts),
    )


# --------------------------------------------------------------------------------------
# Persona profiles (derived once per definition, cached)
# --------------------------------------------------------------------------------------

_DANGLING: Final = _words(
    "that is the a an of to and like because how what if when with for as so but or about into than"
)


@dataclass(frozen=True, slots=True)
class _Profile:
    """What the simulator needs from a persona, precomputed."""

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
    levels: tuple[tuple[str, int, int, tuple[str, ...]], ...]
    style: str
    punctuation: str
    params: dict[str, float]
    min_formality: float
    forbidden: tuple[tuple[str, frozenset[str], int], ...]

    def level_greetings(self, name: Any, points: Any) -> tuple[str, ...]:
        """Greetings of the level called ``name`` (or holding ``points``); empty if none."""
        if isinstance(name, str):
            for level_name, _, _, greetings in self.levels:
                if level_name == name:
                    return greetings
            return ()
        if isinstance(points, int) and not isinstance(points, bool):
            chosen: tuple[str, ...] = ()
            for _, low, high, greetings in self.levels:
                if low <= points:
                    chosen = greetings
                if low <= points <= high:
                    return greetings
            return chosen
        return ()


def _lower_first(text: str) -> str:
    """``text`` with its first letter lowered when it only starts a sentence ("The", "A"; not "I", "AI")."""
    if len(text) > 1 and text[0].isupper() and (text[1].islower() or (text[0] == "A" and text[1] == " ")):
        return text[0].lower() + text[1:]
    return text


def _forbidden(topics: Sequence[str]) -> tuple[tuple[str, frozenset[str], int], ...]:
    out = []
    for topic in topics:
        words = frozenset(w.lower() for w in _WORD.findall(topic) if len(w) > 3 and w.lower() not in _STOP)
        if words:
            out.append((topic, words, max(1, math.ceil(len(words) / 2))))
    return tuple(out)


def _weavable(vocabulary: Sequence[str]) -> tuple[str, ...]:
    """Signature phrases that can lead a sentence, in their rank order."""
    return tuple(
        v for v in vocabulary if v.split()[-1].lower() not in _DANGLING or v.split()[-1].lower() == "that"
    )


def _profile_from_definition(definition: PersonaDefinition) -> _Profile:
    info, ling, triggers = definition.persona, definition.linguistic_profile, definition.trigger_responses
    vocabulary = tuple(v.strip() for v in ling.vocabulary if v.strip())
    levels = tuple(
        (lvl.name, lvl.affinity_range[0], lvl.affinity_range[1], tuple(lvl.greetings))
        for lvl in sorted(definition.relationship_levels, key=lambda lvl: lvl.affinity_range[0])
    )
    return _Profile(
        name=info.name,
        description=info.description.strip(),
        vocabulary=vocabulary,
        phrases=_weavable(vocabulary),
        fillers=tuple(f.strip() for f in ling.fillers if f.strip()),
        on_greeting=tuple(triggers.on_greeting),
        on_goodbye=tuple(triggers.on_goodbye),
        on_success=tuple(triggers.on_success),
        on_error=tuple(triggers.on_error),
        on_confusion=tuple(triggers.on_confusion),
        levels=levels,
        style=definition.core_traits.communication_style,
        punctuation=ling.punctuation_style,
        params=definition.advanced_parameters.as_dict(),
        min_formality=1.0 - definition.safety_guards.tone_limits.max_informality,
        forbidden=_forbidden(definition.safety_guards.forbidden_topics),
    )


_YOU_ARE = re.compile(r"^\s*you are\s+", _I)


@lru_cache(maxsize=256)
def _neutral_profile(name: str, first_line: str) -> _Profile:
    """A neutral built-in profile for personas given only as a name and a system prompt."""
    description = _YOU_ARE.sub("", first_line).strip()
    if description.lower().startswith(name.lower()):
        description = description[len(name) :].lstrip(" .,:;-—").strip()
    return _Profile(
        name=name,
        description=description or "a friendly conversation partner",
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


def _signature(definition: PersonaDefinition) -> tuple[int, ...]:
    # Identity of the parts a profile reads: assignment on a validate_assignment model
    # replaces the object, so a changed part gives a new signature.
    ling, triggers, guards = (
        definition.linguistic_profile,
        definition.trigger_responses,
        definition.safety_guards,
    )
    return (
        id(definition.persona),
        id(definition.core_traits),
        id(ling),
        id(ling.vocabulary),
        len(ling.vocabulary),
        id(ling.fillers),
        len(ling.fillers),
        id(triggers),
        id(definition.advanced_parameters),
        id(definition.relationship_levels),
        len(definition.relationship_levels),
        id(guards),
        id(guards.tone_limits),
        id(guards.forbidden_topics),
    )


_PROFILE_CACHE: OrderedDict[int, tuple[PersonaDefinition, tuple[int, ...], _Profile]] = OrderedDict()
_PROFILE_CACHE_SIZE = 256
_PROFILE_LOCK = threading.Lock()


def _profile_for(definition: PersonaDefinition) -> _Profile:
    key = id(definition)
    signature = _signature(definition)
    entry = _PROFILE_CACHE.get(key)
    # The entry holds the definition itself, so its id cannot be reused while cached.
    if entry is not None and entry[0] is definition and entry[1] == signature:
        return entry[2]
    profile = _profile_from_definition(definition)
    with _PROFILE_LOCK:  # clients on several threads (one event loop each) share the cache
        _PROFILE_CACHE[key] = (definition, signature, profile)
        _PROFILE_CACHE.move_to_end(key)
        while len(_PROFILE_CACHE) > _PROFILE_CACHE_SIZE:
            _PROFILE_CACHE.popitem(last=False)
    return profile


# --------------------------------------------------------------------------------------
# Wording: templates (full forms; the register decides contractions)
# --------------------------------------------------------------------------------------

_CONTRACTIONS: Final = {
    "i am": "I'm",
    "you are": "you're",
    "we are": "we're",
    "they are": "they're",
    "it is": "it's",
    "that is": "that's",
    "there is": "there's",
    "what is": "what's",
    "do not": "don't",
    "does not": "doesn't",
    "did not": "didn't",
    "is not": "isn't",
    "are not": "aren't",
    "cannot": "can't",
    "will not": "won't",
    "would not": "wouldn't",
    "let us": "let's",
    "i will": "I'll",
    "you will": "you'll",
    "we will": "we'll",
    "i would": "I'd",
    "i have": "I've",
    "you have": "you've",
    "we have": "we've",
}
_LIGHT: Final = ("it is", "that is", "let us", "i am", "what is")


def _contraction_pattern(keys: Sequence[str]) -> re.Pattern[str]:
    return re.compile(
        r"\b(" + "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) + r")\b", _I
    )


_CONTRACT_ALL = _contraction_pattern(tuple(_CONTRACTIONS))
_CONTRACT_LIGHT = _contraction_pattern(_LIGHT)


def _contract(match: re.Match[str]) -> str:
    found = match.group(0)
    short = _CONTRACTIONS[found.lower()]
    return short[0].upper() + short[1:] if found[0].isupper() else short


@lru_cache(maxsize=2048)
def _in_register(template: str, full: bool) -> str:
    """``template`` with contractions: all of them (``full``) or the light set."""
    return (_CONTRACT_ALL if full else _CONTRACT_LIGHT).sub(_contract, template)


_QUESTION_CORE: Final = {
    "why": (
        "On {topic}, the reason usually comes down to a few causes, and it is worth asking which one "
        "matters most.",
        "On {topic}, several forces meet, and what is interesting is which one wins in your case.",
        "On {topic}, it is less one cause than a chain of them, and each link can be checked.",
    ),
    "how": (
        "On {topic}, it is easiest to go in small steps: set the goal, try the smallest version, then check "
        "what changed.",
        "On {topic}, the way in is to start small: get one piece working, and we will build from there.",
        "On {topic}, let us begin with the simplest version that works and improve it one change at a time.",
    ),
    "what": (
        "On {topic}, it is best understood by what it does and where it shows up, not only by its "
        "definition.",
        "On {topic}, it is worth thinking first about its purpose; the formal definition makes sense "
        "after that.",
        "On {topic}, the core idea is simpler than it looks once you see what problem it is solving.",
    ),
    "when": (
        "On {topic}, it depends on the circumstances, so let us pin those down first.",
        "On {topic}, timing and setting decide most of it, and that is where we should look.",
    ),
    "yesno": (
        "On {topic}, the honest answer is that it depends on what you want from it, so let us weigh "
        "the options.",
        "On {topic}, I would say yes in many cases, but the details decide it.",
        "On {topic}, it is often possible, though it is worth checking the conditions first.",
    ),
    "request": (
        "On {topic}, let us start with the core idea and add detail as you need it.",
        "On {topic}, here is the gist: it is a set of simple parts that only look complicated together.",
        "On {topic}, the clearest path is one idea at a time, and I will keep each one short.",
    ),
}
_CORE: Final = {
    "statement": (
        "I see what you are saying about {topic}.",
        "That is an interesting point about {topic}.",
        "You have clearly been thinking about {topic}.",
    ),
    "statement_bare": ("I see what you are saying.", "That is an interesting thought.", "I am listening."),
    "success": (
        "Now that {topic} works, we will build on it.",
        "That is real progress on {topic}, and it is worth noticing what made it click.",
    ),
    "success_bare": (
        "Now that it works, we will build on it.",
        "That is real progress, and it is worth noticing.",
    ),
    "error": (
        "On {topic}, let us retrace the steps and find where it stopped matching what we expected.",
        "On {topic}, mistakes are information: let us find the exact step where it went off course.",
    ),
    "error_bare": (
        "Let us retrace the steps and find where it stopped matching what we expected.",
        "Mistakes are information, so let us find the exact step where it went off course.",
    ),
    "confusion": (
        "On {topic}, let us start again from the part that did make sense.",
        "On {topic}, I will put it another way: one small piece at a time.",
    ),
    "confusion_bare": (
        "Let us start again from the part that did make sense.",
        "I will put it another way, one small piece at a time.",
    ),
    "thanks": ("You are welcome.", "It is my pleasure.", "I am glad I could help."),
    "thanks_casual": ("Anytime!", "No problem at all!", "Happy to help!"),
    "thanks_formal": (
        "You are most welcome.",
        "It is my pleasure to help.",
        "I am very glad to have helped.",
    ),
    "how_are_you": ("I am doing well, thank you for asking.", "I am well, and glad to be talking with you."),
    "empty": ("I am listening; what is on your mind?", "Take your time; I am here when you are ready."),
    "greeting": ("Hello! What is on your mind today?", "Hello! What would you like to talk about?"),
    "farewell": ("Goodbye, and take care.", "Until next time; it was good talking with you."),
    "refuse": (
        "I would rather not get into {forbidden}; is there something else I can help you with?",
        "That is not something I will go into ({forbidden}), but I am happy to help with something else.",
    ),
}
_ABOUT_USER: Final = {
    "name": ("Nice to meet you, {name}.", "It is good to meet you, {name}."),
    "name_formal": ("It is a pleasure to meet you, {name}.",),
    "love": (
        "You love {obj}; that is good to know.",
        "So {obj} is something you love; I will remember that.",
    ),
    "like": ("You like {obj}; that is good to know.", "So you like {obj}; I will remember that."),
    "hate": (
        "You are not a fan of {obj}; fair enough.",
        "So {obj} is not for you; I will keep that in mind.",
    ),
    "identity": ("So you are {what}; that is interesting.", "You are {what}; I will keep that in mind."),
    "work": (
        "You work {what}; that sounds like it keeps you busy.",
        "So you work {what}; I will remember that.",
    ),
    "feel_negative": ("Do you want to talk about what is behind it?", "What has been weighing on you?"),
    "feel_positive": ("What made it so good?", "It is worth enjoying that."),
    "feel_neutral": ("What is behind that feeling?", "Tell me a little more about how that feels."),
}
_FOLLOW_UP: Final = {
    "love": "What draws you to {obj}?",
    "like": "What do you enjoy most about {obj}?",
    "hate": "What puts you off {obj}?",
    "identity": "What do you enjoy most about being {what}?",
    "work": "What does a typical day look like?",
}
_EMPATHY: Final = {
    "neg_high": (
        "I am really sorry you are feeling {feeling}; that sounds hard, and it makes sense to feel that way.",
        "That sounds genuinely tough, and feeling {feeling} is completely understandable.",
    ),
    "neg_mid": ("I am sorry to hear you are feeling {feeling}.", "That sounds hard."),
    "neg_low": ("Noted.", "Understood."),
    "pos_high": (
        "I am so glad to hear you are feeling {feeling}; you deserve it.",
        "That is wonderful; feeling {feeling} is worth savouring.",
    ),
    "pos_mid": ("Glad to hear you are feeling {feeling}.",),
    "neutral_high": ("Thank you for telling me how you feel.",),
    "question": ("That is a thoughtful thing to ask.", "It makes complete sense to wonder about that."),
    "confusion": ("It is completely normal to find this tricky.", "Feeling stuck here is completely normal."),
    "error": (
        "That sounds frustrating, and it happens to everyone.",
        "That is annoying, and you are not alone.",
    ),
    "statement": ("Thank you for sharing that with me.", "I appreciate you telling me."),
}
_ELABORATION: Final = {
    "explain": (
        "A useful first step is to say what you already know about {topic}.",
        "Then we can test the idea on one small, concrete example.",
        "If part of {topic} feels fuzzy, that is exactly the part worth slowing down on.",
        "The details matter less than the overall shape of the idea at first.",
        "Once that clicks, the rest of {topic} tends to follow naturally.",
        "It also helps to compare {topic} with something you already understand well.",
        "We can always go back a step if something does not fit.",
    ),
    "chat": (
        "I am always happy to hear more about {topic}.",
        "There is usually more to a thing like this than first appears.",
        "It is the small details that make a conversation like this interesting.",
        "We can take this in whatever direction you like.",
        "I will keep that in mind as we go.",
        "Feel free to tell me as much or as little as you want.",
    ),
    "greeting": (
        "I am glad you are here.",
        "We can start wherever you like.",
        "There is no rush; take your time.",
        "Bring me a question, a puzzle or just a thought.",
        "It is always good to pick up a conversation.",
    ),
    "farewell": (
        "It was good talking with you.",
        "I will be here whenever you want to pick this up again.",
        "Rest well, and come back with new questions.",
        "Every conversation leaves something to think about.",
        "Until then, be kind to yourself.",
    ),
    "success": (
        "It is worth noticing what made the difference this time.",
        "That kind of progress builds on itself.",
        "Next time, the same steps will feel easier.",
        "We can try a slightly harder version whenever you are ready.",
        "Take a moment to enjoy it; you have earned it.",
    ),
    "thanks": (
        "I am glad it was useful.",
        "That is what I am here for.",
        "Come back any time you want to go further.",
        "It was a pleasure working through it with you.",
    ),
    "self": (
        "I am here to help you think things through.",
        "Ask me anything, and we will work through it together.",
        "My favourite moment in a conversation is when an idea finally clicks.",
        "I try to keep things clear and honest.",
    ),
}
_ELABORATION_FAMILY: Final = {
    "question": "explain",
    "confusion": "explain",
    "error": "explain",
    "success": "success",
    "statement": "chat",
    "about_user": "chat",
    "thanks": "thanks",
    "how_are_you": "greeting",
    "about_self": "self",
    "empty": "chat",
    "greeting": "greeting",
    "farewell": "farewell",
}
_CLOSER: Final = {
    "socratic": (
        "What do you already know about {topic}?",
        "What do you think would change if we looked at {topic} from the other side?",
        "Can you put that in your own words?",
    ),
    "supportive": (
        "You are doing well, and we will figure this out together.",
        "Whatever you decide, I am here.",
    ),
    "direct": ("Tell me which part you want next.", "Say the word and we will go deeper."),
    "technical": (
        "If you share the exact details, I can be more precise.",
        "Which constraints matter most here?",
    ),
    "storytelling": (
        "Every good story has a turning point, and {topic} is no different.",
        "Shall I tell you how this usually plays out?",
    ),
    "poetic": (
        "There is a quiet rhythm to {topic}, if you listen for it.",
        "Some ideas open slowly, like a flower at dawn.",
    ),
    "casual": ("What do you reckon?", "Sound good?"),
    "formal": (
        "Please let me know if you would like further detail.",
        "I would be glad to elaborate on any point.",
    ),
    "conversational": ("What got you thinking about {topic}?", "How does that sound to you?"),
}
_CHAT_CLOSER: Final = {
    "socratic": ("What makes {topic} matter to you?", "What would you like to explore next?"),
    "supportive": ("I am glad you shared that with me.", "I am here for whatever comes next."),
    "direct": ("What do you want to do next?", "Tell me where you want to take this."),
    "technical": ("Tell me more and I can be more specific.", "What details should I know?"),
    "storytelling": (
        "I would love to hear the rest of that story.",
        "Every story has a next chapter; what is yours?",
    ),
    "poetic": ("There is something lovely in {topic}.", "Some moments are worth lingering on."),
    "casual": ("What else is new?", "Go on, I am listening!"),
    "formal": ("Please do tell me more, if you wish.", "I would be glad to hear more."),
    "conversational": ("Tell me more about {topic}.", "How did that come about?"),
}
_HUMOUR: Final = (
    "(No pop quiz afterwards, I promise.)",
    "If {topic} had a fan club, I would be running the newsletter.",
    "I would make a joke about {topic}, but I am still workshopping the punchline.",
    "Fair warning: I get suspiciously excited about {topic}.",
    "My rubber duck has opinions on {topic}, but it mostly just squeaks.",
)
_METAPHOR: Final = (
    "Think of {topic} as a map you draw while you walk: each step adds detail.",
    "Picture {topic} as a garden; it grows with patient, regular attention.",
    "Imagine {topic} as a puzzle: find the edge pieces first and the middle fills itself in.",
    "Treat {topic} like a recipe: follow it once, then start adjusting to taste.",
    "See {topic} as a river: the shape stays while the water keeps changing.",
)
_HEDGE: Final = ("if it helps,", "I might be wrong, but", "as far as I can tell,", "roughly speaking,")
_CASUAL_OPENER: Final = ("Oh", "Okay", "Alright", "Ooh")
_FORMAL_OPENER: Final = ("If I may", "Certainly", "Indeed")
_SALUTATION: Final = {"casual": "Hey", "neutral": "Hello", "formal": "Good day"}
_GENTLE_MOOD_LINE: Final = ("Take your time; there is no rush.", "We will go at whatever pace suits you.")
_ENERGETIC_MOODS: Final = _words(
    "excited happy cheerful joyful playful enthusiastic delighted elated proud energetic thrilled"
)
_GENTLE_MOODS: Final = _words(
    "concerned worried sad melancholic anxious protective sympathetic caring gentle tender"
)
_GREETING_WORD = re.compile(
    r"^(Hello|Hi|Hey|Hiya|Welcome back|Welcome|Good (?:morning|afternoon|evening|day))([!.,])"
)
_EXPLAIN_INTENTS: Final = frozenset({"question", "confusion", "error", "success", "statement", "about_user"})


# --------------------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------------------


class _Rng:
    """Deterministic choices drawn from a BLAKE2b digest of the turn's inputs."""

    __slots__ = ("_buf", "_greedy", "_pos")

    def __init__(self, key: str, *, greedy: bool) -> None:
        self._buf = hashlib.blake2b(key.encode("utf-8"), digest_size=64).digest()
        self._pos = 0
        self._greedy = greedy

    def _next(self) -> int:
        if self._pos + 2 > len(self._buf):
            self._buf = hashlib.blake2b(self._buf, digest_size=64).digest()
            self._pos = 0
        value = (self._buf[self._pos] << 8) | self._buf[self._pos + 1]
        self._pos += 2
        return value

    def index(self, n: int) -> int:
        """An index in ``range(n)`` (always 0 when greedy)."""
        if n <= 1 or self._greedy:
            return 0
        return self._next() % n

    def chance(self, p: float) -> bool:
        """True with probability ``p`` (when greedy: true iff ``p >= 0.5``)."""
        if p <= 0.0:
            return False
        if p >= 1.0:
            return True
        if self._greedy:
            return p >= 0.5
        return self._next() < p * 65536


class _Seg:
    """One sentence of a reply; ``authored`` text comes verbatim from the persona."""

    __slots__ = ("authored", "role", "text", "woven")

    def __init__(self, text: str, role: str, *, authored: bool = False) -> None:
        self.text = text
        self.role = role
        self.authored = authored
        self.woven = False


class _Memory:
    """What the conversation so far tells the simulator."""

    __slots__ = ("facts", "last_reply", "name", "prior_turns")

    def __init__(self, name: str | None, facts: list[str], last_reply: str, prior_turns: int) -> None:
        self.name = name
        self.facts = facts
        self.last_reply = last_reply
        self.prior_turns = prior_turns


class _Composer:
    """Builds one reply from a profile, the effective parameters and the analysed message."""

    def __init__(
        self,
        profile: _Profile,
        params: Mapping[str, float],
        turn: _Analysis,
        memory: _Memory,
        context: Mapping[str, Any],
        rng: _Rng,
    ) -> None:
        self.p = profile
        self.turn = turn
        self.memory = memory
        self.context = context
        self.rng = rng
        self.verbosity = params["verbosity"]
        self.formality = max(params["formality"], profile.min_formality)
        self.humor = params["humor"]
        self.empathy = params["empathy"]
        self.creativity = params["creativity"]
        self.directness = params["directness"]
        self.register = "casual" if self.formality < 0.4 else "formal" if self.formality >= 0.7 else "neutral"
        self.contractions = (
            _CONTRACT_ALL if self.formality < 0.4 else _CONTRACT_LIGHT if self.formality < 0.7 else None
        )
        self.topic = turn.topic or "this"

    # -- helpers -----------------------------------------------------------------------
    def pick(self, pool: Sequence[str]) -> str:
        choice = pool[self.rng.index(len(pool))] if pool else ""
        if len(pool) > 1 and self.memory.last_reply and choice in self.memory.last_reply:
            choice = pool[(pool.index(choice) + 1) % len(pool)]
        return choice

    def say(self, template: str, role: str, **values: str) -> _Seg:
        # The register applies to our wording only; the user's words are echoed as given.
        if self.contractions is not None:
            template = _in_register(template, self.contractions is _CONTRACT_ALL)
        text = template.format(topic=self.topic, **values) if "{" in template else template
        return _Seg(text[0].upper() + text[1:] if text else text, role)

    def authored(self, text: str, role: str) -> _Seg:
        text = text.strip()
        if not _SENTENCE_END.search(text):
            text += "."
        return _Seg(text, role, authored=True)

    # -- parts -------------------------------------------------------------------------
    def trigger(self, pool: tuple[str, ...], fallback: str, role: str = "head") -> _Seg:
        if pool:
            return self.authored(self.pick(pool), role)
        return self.say(self.pick(_CORE[fallback]), role)

    def greeting(self) -> _Seg:
        level = self.p.level_greetings(
            self.context.get("relationship_level"), self.context.get("affinity_points")
        )
        pool = level or self.p.on_greeting
        if pool and self.memory.prior_turns == 0:
            pool = pool[:1]  # a first meeting takes the first line ("Welcome back" comes later)
        seg = (
            self.authored(self.pick(pool), "core") if pool else self.say(self.pick(_CORE["greeting"]), "core")
        )
        name = self.memory.name
        if name and name not in seg.text:
            with_name, count = _GREETING_WORD.subn(lambda m: f"{m[1]}, {name}{m[2]}", seg.text, count=1)
            if count:
                seg.text = with_name
            else:
                seg.text = f"{_SALUTATION[self.register]}, {name}! {seg.text}"
        return seg

    def salutation(self) -> _Seg:
        name = f", {self.memory.name}" if self.memory.name and not self.turn.name else ""
        return _Seg(f"{_SALUTATION[self.register]}{name}!", "head")

    def empathy_ack(self) -> _Seg | None:
        turn, empathy = self.turn, self.empathy
        if turn.feeling is not None:
            feeling = turn.feeling
            if turn.valence < 0:
                key = "neg_high" if empathy >= 0.65 else "neg_mid" if empathy >= 0.35 else "neg_low"
            elif turn.valence > 0:
                key = "pos_high" if empathy >= 0.65 else "pos_mid" if empathy >= 0.35 else ""
            else:
                key = "neutral_high" if empathy >= 0.5 else ""
            return self.say(self.pick(_EMPATHY[key]), "ack", feeling=feeling) if key else None
        intent = "statement" if turn.intent == "about_user" else turn.intent
        if turn.intent == "about_user" and not (turn.preference or turn.identity or turn.work):
            return None
        if intent in ("question", "confusion", "error", "statement") and (
            empathy >= 0.75 or (intent in ("confusion", "error") and self.rng.chance((empathy - 0.4) * 2.5))
        ):
            return self.say(self.pick(_EMPATHY[intent]), "ack")
        return None

    def core(self) -> list[_Seg]:
        turn, intent = self.turn, self.turn.intent
        bare = turn.topic is None
        if intent == "question":
            return [self.say(self.pick(_QUESTION_CORE[turn.qtype]), "core")]
        if intent == "about_self":
            desc = self.p.description.rstrip(".")
            return [_Seg(f"I am {self.p.name}, {_lower_first(desc)}.", "core")]
        if intent in ("success", "error", "confusion"):
            trigger_pool = {"success": self.p.on_success, "error": self.p.on_error}.get(
                intent, self.p.on_confusion
            )
            segs = [self.authored(self.pick(trigger_pool), "head")] if trigger_pool else []
            segs.append(self.say(self.pick(_CORE[f"{intent}_bare" if bare else intent]), "core"))
            return segs
        if intent == "about_user":
            return self.about_user()
        if intent in ("statement", "empty", "how_are_you"):
            key = "statement_bare" if intent == "statement" and bare else intent
            return [self.say(self.pick(_CORE[key]), "core")]
        if intent == "thanks":
            key = {"casual": "thanks_casual", "formal": "thanks_formal"}.get(self.register, "thanks")
            seg = self.say(self.pick(_CORE[key]), "core")
            return [self.with_name(seg)]
        raise AssertionError(f"no core for intent {intent!r}")  # pragma: no cover - intents are closed

    def about_user(self) -> list[_Seg]:
        turn = self.turn
        segs: list[_Seg] = []
        if turn.name:
            key = "name_formal" if self.register == "formal" else "name"
            segs.append(self.say(self.pick(_ABOUT_USER[key]), "head", name=turn.name))
        if turn.preference:
            verb, obj = turn.preference
            key = "love" if verb in ("love", "adore") else "like" if verb in ("like", "enjoy") else "hate"
            segs.append(self.say(self.pick(_ABOUT_USER[key]), "core", obj=obj))
        elif turn.identity:
            segs.append(self.say(self.pick(_ABOUT_USER["identity"]), "core", what=turn.identity))
        elif turn.work:
            segs.append(self.say(self.pick(_ABOUT_USER["work"]), "core", what=turn.work))
        elif turn.feeling:
            key = (
                "feel_negative"
                if turn.valence < 0
                else "feel_positive"
                if turn.valence > 0
                else "feel_neutral"
            )
            segs.append(self.say(self.pick(_ABOUT_USER[key]), "core"))
        if segs and all(s.role != "core" for s in segs):
            segs[-1].role = "core"
        return segs

    def follow_up(self) -> _Seg | None:
        turn = self.turn
        if turn.intent == "about_user":
            if turn.preference:
                verb = turn.preference[0]
                key = "love" if verb in ("love", "adore") else "like" if verb in ("like", "enjoy") else "hate"
                return self.say(_FOLLOW_UP[key], "closer", obj=turn.preference[1])
            if turn.identity:
                return self.say(_FOLLOW_UP["identity"], "closer", what=turn.identity)
            if turn.work:
                return self.say(_FOLLOW_UP["work"], "closer")
        if turn.intent in ("greeting", "farewell") or (turn.intent == "about_user" and turn.feeling):
            return None
        if turn.intent == "how_are_you":
            return self.say("How about you?", "closer")
        if turn.intent == "about_self":
            return self.say(
                self.pick(("What would you like to talk about?", "What can I help you with?")), "closer"
            )
        if turn.intent == "thanks":
            return self.say("Is there anything else you would like to look at?", "closer")
        if turn.intent in ("question", "confusion", "error"):
            return self.say(self.pick(_CLOSER[self.p.style]), "closer")
        return self.say(self.pick(_CHAT_CLOSER[self.p.style]), "closer")

    def with_name(self, seg: _Seg) -> _Seg:
        name = self.memory.name
        if name and name not in seg.text and seg.text[-1:] in ".!?":
            seg.text = f"{seg.text[:-1]}, {name}{seg.text[-1]}"
        return seg

    def fact_recall(self) -> _Seg | None:
        keywords = [k for k in self.turn.keywords if len(k) > 2]
        if not keywords or not self.memory.facts:
            return None
        for fact in reversed(self.memory.facts):
            if not set(_WORD.findall(fact.lower())).isdisjoint(keywords):
                if fact.startswith("you "):
                    return self.say("That ties in with what you told me: {fact}.", "style", fact=fact)
                return self.say("That ties in with what I know about you ({fact}).", "style", fact=fact)
        return None

    def forbidden(self, text: str) -> str | None:
        if not self.p.forbidden or self.turn.intent in ("greeting", "farewell", "thanks"):
            return None
        words = {w.lower() for w in _WORD.findall(text)}
        for topic, needed_words, needed in self.p.forbidden:
            if len(needed_words & words) >= needed:
                return topic
        return None

    # -- the reply ---------------------------------------------------------------------
    def compose(self, text: str) -> str:
        turn, rng = self.turn, self.rng
        intent = turn.intent
        refused = self.forbidden(text)
        if refused is not None:
            seg = self.say(self.pick(_CORE["refuse"]), "core", forbidden=refused)
            return self.finish([self.with_name(seg)], refused=True)

        head: list[_Seg] = []
        mandatory_style: list[_Seg] = []
        optional: list[_Seg] = []
        if intent == "greeting":
            core = [self.greeting()]
        elif intent == "farewell":
            core = [self.trigger(self.p.on_goodbye, "farewell", "core")]
            if self.memory.name and self.memory.name not in core[0].text:
                core.append(self.say("Take care, {name}.", "closer", name=self.memory.name))
        else:
            core = self.core()
            if turn.greeted:
                head.append(self.salutation())
        if turn.thanked and intent not in ("thanks",):
            head.append(self.say(self.pick(_CORE["thanks"]), "head"))

        ack = self.empathy_ack()
        if ack is not None and turn.feeling is None and self.verbosity < 0.3:
            optional.append(ack)  # a terse persona validates only when there is room
            ack = None
        negative = turn.valence < 0 and turn.feeling is not None

        # Style: humour, creativity, memory, mood.
        if intent not in ("greeting", "farewell", "empty") and not negative:
            if self.humor >= 0.7:
                mandatory_style.append(self.say(self.pick(_HUMOUR), "style"))
            elif self.humor >= 0.35 and rng.chance((self.humor - 0.35) * 2.0):
                optional.append(self.say(self.pick(_HUMOUR), "style"))
        if intent in ("question", "confusion", "error", "success") and turn.topic is not None:
            if self.creativity >= 0.7:
                mandatory_style.append(self.say(self.pick(_METAPHOR), "style"))
            elif self.creativity >= 0.35 and rng.chance((self.creativity - 0.35) * 2.0):
                optional.append(self.say(self.pick(_METAPHOR), "style"))
        recall = self.fact_recall()
        if recall is not None:
            optional.insert(0, recall)
        mood = self.context.get("mood")
        intensity = self.context.get("mood_intensity", 1.0)
        strong_mood = isinstance(intensity, int | float) and intensity >= 0.5
        if isinstance(mood, str) and mood in _GENTLE_MOODS and strong_mood and intent != "farewell":
            optional.insert(0, self.say(self.pick(_GENTLE_MOOD_LINE), "style"))

        closer = self.follow_up()
        if closer is not None:
            if (
                self.p.style == "socratic"
                and intent in ("question", "confusion", "error")
                and self.verbosity >= 0.3
            ):
                mandatory_style.append(closer)
            else:
                optional.append(closer)

        # Verbosity: about one sentence at 0, seven at 1; elaborations fill what is left.
        segs = [*head, *([ack] if ack else []), *core, *mandatory_style]
        budget = 1 + round(self.verbosity * 6)
        for seg in optional:
            if len(segs) >= budget:
                break
            segs.append(seg)
        family = _ELABORATION[_ELABORATION_FAMILY[intent]]
        start = rng.index(len(family))
        for i in range(min(len(family), budget - len(segs))):
            segs.append(self.say(family[(start + i) % len(family)], "elab"))
        return self.finish(segs, energetic=isinstance(mood, str) and mood in _ENERGETIC_MOODS and strong_mood)

    def finish(self, segs: list[_Seg], *, refused: bool = False, energetic: bool = False) -> str:
        rng = self.rng
        order = {"head": 0, "ack": 1, "core": 2, "style": 3, "elab": 4, "closer": 5}
        if (
            self.directness >= 0.65
            and self.turn.intent in _EXPLAIN_INTENTS
            and self.turn.intent != "about_user"
        ):
            order["core"] = -1  # lead with the point
        segs.sort(key=lambda s: order[s.role])
        templates = [s for s in segs if not s.authored]
        if not refused:
            if self.directness < 0.35 and self.turn.intent in _EXPLAIN_INTENTS:
                self.hedge(segs)
            self.weave_vocabulary(segs)
            self.add_fillers(templates)
            if self.memory.name and self.turn.intent in ("question", "statement") and rng.chance(0.5):
                closer = next((s for s in segs if s.role == "closer"), None)
                if closer is not None:
                    self.with_name(closer)
        texts = self.punctuate(segs, energetic=energetic and not refused)
        return " ".join(texts)

    def weave_vocabulary(self, segs: list[_Seg]) -> None:
        vocab = self.p.phrases
        if not vocab:
            return
        # Statements only (never a question, an aside or a trigger line); the core first
        # when the reply explains something, else the elaborations.
        explains = self.turn.intent in ("question", "confusion", "error", "success")
        roles = ("core", "elab") if explains else ("elab",)
        candidates = [
            s
            for s in segs
            if not s.authored
            and s.role in roles
            and not s.text.startswith("(")
            and s.text.endswith((".", "!"))
        ]
        if not candidates:
            return
        first = self.rng.index(min(2, len(vocab)))
        phrases = [vocab[first]]
        if self.verbosity >= 0.55 and len(vocab) > 1:
            pool = [i for i in range(min(4, len(vocab))) if i != first]
            phrases.append(vocab[pool[self.rng.index(len(pool))]])
        # The dangling "... that" phrases introduce a clause; other dangling phrases
        # ("the liberty of", "what if") cannot lead an arbitrary sentence and are skipped.
        core = next((s for s in candidates if s.role == "core"), candidates[0])
        others = [s for s in candidates if s is not core]
        targets = [core, *reversed(others)]
        for phrase in phrases:
            dangling = phrase.lower().endswith("that")
            if dangling:  # "notice that" + a clause with a subject, never an imperative
                target = next(
                    (s for s in targets if not s.woven and s.text.lower().startswith(_CLAUSE_STARTS)), None
                )
            else:
                target = next((s for s in targets if not s.woven), None)
            if target is None:
                continue
            lead = phrase[0].upper() + phrase[1:]
            if ": " in target.text:  # never two colons in one sentence
                target.text = f"{lead}, {_lower_first(target.text)}"
            elif phrase[-1] in ".!?":
                target.text = f"{lead} {target.text}"
            elif dangling:
                target.text = f"{lead} {_lower_first(target.text)}"
            else:
                target.text = f"{lead}: {_lower_first(target.text)}"
            target.woven = True

    def hedge(self, segs: list[_Seg]) -> None:
        core = next((s for s in segs if s.role == "core" and not s.authored and not s.woven), None)
        if core is None:
            return
        hedge = _HEDGE[self.rng.index(len(_HEDGE))]
        text = core.text
        if not text.endswith("."):
            return  # questions and exclamations are not hedged
        if text.startswith("On ") and ", " in text:
            lead, _, body = text.partition(", ")
            core.text = f"{lead}, {hedge} {_lower_first(body)}"
        else:
            core.text = f"{hedge[0].upper()}{hedge[1:]} {_lower_first(text)}"

    def add_fillers(self, templates: list[_Seg]) -> None:
        plain = [
            s
            for s in templates
            if not s.woven and s.role not in ("head", "ack") and not s.text.startswith(("(", "I ", "I'"))
        ]
        if not plain:
            return
        fillers = self.p.fillers
        if self.formality < 0.35:
            count = 2
        elif self.formality < 0.7:
            count = 1 if self.rng.chance(0.5) else 0
        else:
            count = 0
        used = 0
        if fillers:
            for seg in plain[:count]:
                filler = fillers[self.rng.index(len(fillers))]
                if seg.text.lower().startswith(filler.lower()):
                    continue
                sep = " " if filler[-1] in ".!?,…" else ", "
                seg.text = f"{filler[0].upper()}{filler[1:]}{sep}{_lower_first(seg.text)}"
                seg.woven = True
                used += 1
        rest = [s for s in plain if not s.woven]
        if rest and self.formality < 0.3 and (not used or self.rng.chance(0.5)):
            rest[0].text = f"{self.pick(_CASUAL_OPENER)}, {_lower_first(rest[0].text)}"
            rest[0].woven = True
        elif rest and self.formality >= 0.8 and self.rng.chance(0.5):
            rest[0].text = f"{self.pick(_FORMAL_OPENER)}, {_lower_first(rest[0].text)}"
            rest[0].woven = True

    def punctuate(self, segs: list[_Seg], *, energetic: bool) -> list[str]:
        style = self.p.punctuation
        texts = [s.text for s in segs]
        somber = self.turn.valence < 0 and self.turn.feeling is not None
        if style == "minimal":
            return [t.replace("!", ".").replace(";", ",").replace(": ", ", ") for t in texts]
        if (style in ("expressive", "elaborate") or energetic) and not somber:
            for i in (0, len(texts) - 1) if style != "standard" else (0,):
                if texts[i].endswith("."):
                    texts[i] = texts[i][:-1] + "!"
        if style == "elaborate":
            for i in range(len(texts) - 1):
                joinable = segs[i].role in ("core", "style", "elab") and segs[i + 1].role in ("style", "elab")
                if joinable and texts[i].endswith(".") and not texts[i + 1].startswith("("):
                    texts[i] = f"{texts[i][:-1]}; {_lower_first(texts[i + 1])}"
                    del texts[i + 1]
                    break
        return texts


# --------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reply:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    intent: str


_PARAMETER_SET: Final = frozenset(PARAMETER_NAMES)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProviderBadRequestError(
            f"offline provider: {what} must be a finite number, got {value!r}", provider="offline"
        )
    return float(value)


def _memory_of(messages: Sequence[Any], context: Mapping[str, Any], prior_turns: int) -> _Memory:
    name: str | None = None
    facts: list[str] = []
    last_reply = ""
    for message in messages[:-1]:
        if message.role == "user":
            earlier = _analyse(message.content)
            if earlier.name:
                name = earlier.name
            if earlier.facts:
                facts.extend(earlier.facts)
        elif message.role == "assistant":
            last_reply = message.content
    given_name = context.get("user_name")
    if given_name is not None:
        if not isinstance(given_name, str):
            raise ProviderBadRequestError(
                f"offline provider: context['user_name'] must be a string, got {type(given_name).__name__}",
                provider="offline",
            )
        name = given_name.strip() or name
    given_facts = context.get("facts")
    if given_facts is not None:
        if not isinstance(given_facts, list | tuple) or not all(isinstance(f, str) for f in given_facts):
            raise ProviderBadRequestError(
                "offline provider: context['facts'] must be a list of strings", provider="offline"
            )
        facts = [*given_facts, *facts]
    current = _analyse(messages[-1].content)
    if current.name:
        name = current.name
    return _Memory(name, facts, last_reply, prior_turns)


class OfflineProvider(Provider):
    """A deterministic persona simulator that answers without a network or an API key.

    It is not a language model: it recognises a handful of intents and composes the
    reply from the persona's trigger lines, vocabulary and fillers, shaped by the six
    advanced parameters (see the module docstring for every rule). It uses
    ``request.persona`` when given, else a neutral profile named ``request.persona_name``
    described by the first line of ``request.system``; ``request.context`` may carry the
    effective ``parameters``, ``relationship_level``, ``affinity_points``, ``mood``,
    ``mood_intensity``, ``user_name``, ``facts`` and ``turn_index``.

    Generation parameters: ``max_tokens`` caps the reply (``finish_reason="length"``),
    ``stop`` (a string or a list of strings) cuts it before the first stop sequence,
    ``temperature`` picks among deterministic variants (0 = always the first), and
    ``top_p`` is accepted and ignored: there is no sampling.

    Simulated timing, off by default (``ProviderConfig.extra``): ``latency`` seconds
    before a reply (or its first chunk), and ``chunk_delay`` seconds between streamed
    chunks, so notebooks can show a reply being typed and tests can stop one midway.

    Example:
        >>> import asyncio
        >>> from luminora_nb.types import ChatMessage, ProviderConfig
        >>> provider = OfflineProvider(ProviderConfig(name="offline"))
        >>> req = ChatRequest(messages=[ChatMessage(role="user", content="My name is Sam.")])
        >>> "Sam" in asyncio.run(provider.chat(req)).content
        True
    """

    name: ClassVar[str] = "offline"
    default_model: ClassVar[str] = "luminora-sim-1"
    requires_api_key: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._closed = False
        # Bad generation parameters in config.extra fail at session creation, not at the first turn.
        self._check_params(self.generation_params(ChatRequest.model_construct(messages=[], params={})))
        extra = config.extra or {}
        self._latency = self._delay(extra.get("latency"), "latency")
        self._chunk_delay = self._delay(extra.get("chunk_delay"), "chunk_delay")

    @staticmethod
    def _delay(value: Any, what: str) -> float:
        if value is None:
            return 0.0
        seconds = _number(value, what)
        if not 0.0 <= seconds <= 60.0:
            raise ProviderBadRequestError(
                f"offline provider: {what} must lie between 0 and 60 seconds, got {value!r}",
                provider="offline",
            )
        return seconds

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` with one complete, deterministic reply."""
        started = time.perf_counter()
        if self._latency:
            await asyncio.sleep(self._latency)
        reply = self._reply(request)
        return ChatResponse(
            content=reply.text,
            role="assistant",
            finish_reason=reply.finish_reason,
            usage=self._usage(reply),
            model=self.model,
            metadata={"latency_ms": (time.perf_counter() - started) * 1000.0, "intent": reply.intent},
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        """Answer ``request`` in word chunks (a word and its following space each).

        The concatenation of the chunks equals :meth:`chat`'s content; the last chunk
        carries ``finish_reason``, ``usage`` and ``metadata["latency_ms"]``.
        """
        started = time.perf_counter()
        if self._latency:
            await asyncio.sleep(self._latency)
        reply = self._reply(request)
        words = reply.text.split(" ")
        model = self.model
        for word in words[:-1]:
            yield ChatResponse(content=f"{word} ", model=model)
            await asyncio.sleep(self._chunk_delay)
        yield ChatResponse(
            content=words[-1],
            role="assistant",
            finish_reason=reply.finish_reason,
            usage=self._usage(reply),
            model=model,
            metadata={"latency_ms": (time.perf_counter() - started) * 1000.0, "intent": reply.intent},
        )

    async def aclose(self) -> None:
        """Mark the provider closed; it holds no connections. Safe to call twice."""
        self._closed = True

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _usage(reply: _Reply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    @staticmethod
    def _check_params(params: Mapping[str, Any]) -> tuple[int | None, float | None, tuple[str, ...]]:
        max_tokens = params.get("max_tokens")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise ProviderBadRequestError(
                f"offline provider: max_tokens must be a positive integer, got {max_tokens!r}",
                provider="offline",
            )
        temperature = params.get("temperature")
        if temperature is not None:
            temperature = _number(temperature, "temperature")
            if not 0.0 <= temperature <= 2.0:
                raise ProviderBadRequestError(
                    f"offline provider: temperature must lie between 0 and 2, got {temperature!r}",
                    provider="offline",
                )
        stop = params.get("stop")
        stops: tuple[str, ...] = ()
        if isinstance(stop, str):
            stops = (stop,) if stop else ()
        elif isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop):
            stops = tuple(s for s in stop if s)
        elif stop is not None:
            raise ProviderBadRequestError(
                f"offline provider: stop must be a string or a list of strings, got {stop!r}",
                provider="offline",
            )
        return max_tokens, temperature, stops

    def _reply(self, request: ChatRequest) -> _Reply:
        if self._closed:
            raise ProviderError(
                "the offline provider was closed (aclose); create a new session or provider to keep chatting",
                provider="offline",
            )
        messages = request.messages
        if not messages or messages[-1].role != "user":
            got = "no messages" if not messages else f"a last message with role {messages[-1].role!r}"
            raise ProviderBadRequestError(
                f"offline provider: the request must end with a user message (the new turn); got {got}",
                provider="offline",
            )
        max_tokens, temperature, stops = self._check_params(self.generation_params(request))
        context = request.context or {}
        if request.persona is not None:
            profile = _profile_for(request.persona)
        else:
            first_line = (request.system or "").strip().split("\n", 1)[0]
            name = (request.persona_name or "").strip() or "Assistant"
            if name.islower():  # a registry key such as "helpful_assistant" -> "Helpful Assistant"
                name = name.replace("_", " ").title()
            profile = _neutral_profile(name, first_line)
        params = self._parameters(profile, context)
        user_text = messages[-1].content
        turn_index = context.get("turn_index")
        prior = (
            turn_index
            if isinstance(turn_index, int) and not isinstance(turn_index, bool)
            else sum(1 for m in messages[:-1] if m.role == "user")
        )
        key = "\x1f".join(
            (
                profile.name,
                ",".join(f"{params[k]:.2f}" for k in PARAMETER_NAMES),
                user_text,
                str(prior),
                "" if temperature is None else f"{temperature:.1f}",
            )
        )
        rng = _Rng(key, greedy=temperature == 0.0)
        turn = _analyse(user_text)
        memory = _memory_of(messages, context, prior)
        text = _Composer(profile, params, turn, memory, context, rng).compose(user_text)
        text = " ".join(text.split())
        finish = "stop"
        for stop in stops:
            cut = text.find(stop)
            if cut != -1:
                text = text[:cut].rstrip()
        text, completion, cut_short = self._cap(text, max_tokens)
        if cut_short:
            finish = "length"
        prompt = count_tokens(request.system) if request.system else 0
        prompt += sum(count_tokens(m.content) for m in messages)
        return _Reply(text, finish, prompt, completion, turn.intent)

    @staticmethod
    def _cap(text: str, max_tokens: int | None) -> tuple[str, int, bool]:
        words = text.split(" ") if text else []
        total = 0
        for i, word in enumerate(words):
            n = _count_piece(word)
            if max_tokens is not None and total + n > max_tokens:
                keep = max_tokens - total
                if keep == 0:
                    return " ".join(words[:i]), total, True
                ends = [m.end() for m in TOKEN_PATTERN.finditer(word)]
                return " ".join([*words[:i], word[: ends[keep - 1]]]), max_tokens, True
            total += n
        return text, total, False

    @staticmethod
    def _parameters(profile: _Profile, context: Mapping[str, Any]) -> dict[str, float]:
        given = context.get("parameters")
        if given is None:
            return profile.params
        if not isinstance(given, Mapping):
            raise ProviderBadRequestError(
                "offline provider: context['parameters'] must map parameter names to numbers 0..1",
                provider="offline",
            )
        if len(given) > len(PARAMETER_NAMES) or not _PARAMETER_SET.issuperset(given):
            unknown = sorted(set(given) - _PARAMETER_SET)
            raise ProviderBadRequestError(
                f"offline provider: unknown parameter(s) {unknown} in context['parameters']; "
                f"expected some of {list(PARAMETER_NAMES)}",
                provider="offline",
            )
        out = dict(profile.params)
        for key, value in given.items():
            if type(value) is not float or not 0.0 <= value <= 1.0:  # the client's own floats skip this
                value = min(1.0, max(0.0, _number(value, f"context['parameters'][{key!r}]")))
            out[key] = value
        return out
