"""Message analysis: what the offline simulator recognises in one user message.

The simulator does not understand language. It recognises a few intents with regular
expressions and pulls out what the user says about themselves; everything here is a
pure function of the message text, cached, so a history is analysed once per message.

Intents (:data:`Intent`), tried in this order, the first that matches wins:

* ``farewell`` ("bye", "see you later", "take care", ...; a question only when it is
  four words or fewer, so "how do I take care of a cactus?" stays a question);
* ``confusion`` ("I don't understand", "I'm confused", "what do you mean", "huh");
* ``error``, a mistake or complaint ("it doesn't work", "I got an error", "you are
  wrong"); the weak words ("mistakes", "failed", "wrong") count only outside questions,
  so "what are common mistakes in chess?" stays a question;
* ``success`` ("it worked", "got it", "that makes sense"), outside questions;
* ``about_self`` ("who are you?") and ``how_are_you`` ("how are you?");
* ``question``: ends with "?" or starts like one ("why", "how", "can you explain", "is
  it"); its :data:`QuestionType` (why, how, what, when, a request, or yes/no) comes
  from the first words;
* ``about_user``: a statement about the user: their name ("my name is Sam", "call me
  Alex", "Hi, I'm Priya"), a preference ("I love jazz"), what they are ("I am a nurse"),
  their work ("I work as a baker") or a feeling ("I feel tired", "I'm so stressed");
* ``thanks``, ``greeting``, ``empty`` (nothing but white space), and everything else a
  plain ``statement``.

Greetings and thanks are also noted on their own (``greeted``, ``thanked``), so "Hi, how
are you?" is a ``how_are_you`` that the reply opens with a salutation.

The topic: questions are answered around their topic words ("On speed of light, ..."),
the span from the first to the last content word once stop words and the intent's own
words are dropped (when it is longer than six words, the first four content words; at
most 60 characters), reflected into the second person ("my dog" -> "your dog"). "How do I
learn Python?" gives "how to learn Python"; a trailing "work"/"happen"/... is cut ("how
does photosynthesis work" -> "photosynthesis"); a plain statement keeps only its last
one or two content words. The simulator echoes the topic; it cannot say anything true
about it.

Feelings have a valence (:data:`NEGATIVE_FEELINGS` -1, :data:`POSITIVE_FEELINGS` +1,
other words 0). What the user says about themselves becomes ``facts`` in the second
person ("you love jazz music", "you are a nurse", "you work as a baker"), which later
turns recall; the name is kept apart.

Example:
    >>> turn = analyse("My name is Sam and I love jazz music.")
    >>> turn.intent, turn.user.name, turn.user.facts
    ('about_user', 'Sam', ('you love jazz music',))
    >>> analyse("How does photosynthesis work?").topic
    'photosynthesis'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

__all__ = [
    "NEGATIVE_FEELINGS",
    "POSITIVE_FEELINGS",
    "STOP_WORDS",
    "WORD_PATTERN",
    "Intent",
    "MessageAnalysis",
    "QuestionType",
    "UserStatements",
    "analyse",
    "clip_phrase",
    "reflect",
    "word_set",
]

#: What the user's message is doing; the composer builds a different reply for each.
Intent = Literal[
    "greeting",
    "farewell",
    "thanks",
    "question",
    "success",
    "error",
    "confusion",
    "about_user",
    "about_self",
    "how_are_you",
    "statement",
    "empty",
]
#: The kind of question, from its first words; ``request`` is "explain ...", "tell me ...".
QuestionType = Literal["why", "how", "what", "when", "request", "yesno"]

_IGNORE_CASE: Final = re.IGNORECASE


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (keeps long word lists readable).

    Example:
        >>> sorted(word_set("to be or not to be"))
        ['be', 'not', 'or', 'to']
    """
    return frozenset(text.split())


#: A word as the simulator sees it: a letter or digit, then word characters and ' + # -.
WORD_PATTERN: Final = re.compile(r"[^\W_][\w'\u2019+#-]*")

_GREETING = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|heya|howdy|greetings|hallo|hola|yo|good (?:morning|afternoon|evening|day))\b",
    _IGNORE_CASE,
)
_FAREWELL = re.compile(
    r"\b(?:good\s?bye|bye(?:\s?bye)?|see (?:you|ya)(?: later| soon| tomorrow)?|farewell|good night|"
    r"take care(?! of)|"
    r"talk (?:to you )?(?:later|soon|tomorrow)|catch you later|gotta go|i have to go now|signing off|cya|"
    r"until next time)\b",
    _IGNORE_CASE,
)
_HOW_ARE_YOU = re.compile(
    r"\bhow (?:are|r) (?:you|u)\b|\bhow(?:'s| is) it going\b|\bhow have you been\b|\bhow are things\b",
    _IGNORE_CASE,
)
_ABOUT_SELF = re.compile(
    r"\b(?:who are you|what are you|what(?:'s| is) your name|tell me about yourself|introduce yourself)\b",
    _IGNORE_CASE,
)
_THANKS = re.compile(
    r"\b(?:thanks|thank (?:you|u)|thx|ty|cheers|much appreciated|"
    r"appreciate (?:it|that|the help|your help))\b",
    _IGNORE_CASE,
)
_SUCCESS = re.compile(
    r"\b(?:(?:it|that|this) (?:worked|works(?: now)?)|got it|i get it now|i see now|makes sense now|"
    r"that makes sense|solved it|fixed it|i did it|nailed it|i understand(?: it)? now|it clicked|eureka)\b",
    _IGNORE_CASE,
)
# A failure report; the weak words also appear in ordinary questions ("common mistakes in chess?").
_ERROR = re.compile(
    r"\b(?:(?:does|did|is)n'?t work(?:ing)?|(?:does|did|do) not work|not working|(?:is|was) broken|"
    r"(?:got|get|getting|throws?|gives?|have|has) an? (?:error|exception|bug)|error message|"
    r"(?:that'?s|that is|you'?re|you are|it'?s|it is|went|something'?s|something is) (?:wrong|incorrect)|"
    r"(?:made|make) a mistake|doesn'?t (?:run|compile|add up))\b",
    _IGNORE_CASE,
)
_WEAK_ERROR = re.compile(r"\b(?:mistakes?|failed|crash(?:ed|es)|wrong|incorrect|broken)\b", _IGNORE_CASE)
_CONFUSION = re.compile(
    r"\b(?:i (?:still )?(?:do not|don'?t) (?:understand|get (?:it|this|that)|follow)|"
    r"i(?:'m| am) (?:so |really |a bit |still |totally )?(?:confused|lost)|"
    r"(?:this|that|it)(?: is|'s) (?:so |really )?(?:confusing|unclear)|makes no sense|doesn'?t make sense|"
    r"what do you mean|i don'?t get|lost me|over my head|huh)\b",
    _IGNORE_CASE,
)
# Groups 1-6 name the question type, in the order of _QUESTION_TYPES.
_QUESTION_START = re.compile(
    r"^\W*(?:(why)|(how)|(what|which|who|whom|whose)|(when|where)|"
    r"(?:(?:can|could|would|will) you (?:please )?)?(explain|tell me|describe|show me|teach me|help me|"
    r"define|give me|compare)|"
    r"(can|could|would|should|will|is|are|am|do|does|did|have|has|was|were|may|might|shall))\b",
    _IGNORE_CASE,
)
_QUESTION_TYPES: Final[tuple[QuestionType, ...]] = ("why", "how", "what", "when", "request", "yesno")
_NAME = re.compile(
    r"\b(?:my name is|my name'?s|call me|i am called|i'?m called|they call me)\s+"
    r"([A-Za-z][A-Za-z'-]{0,30})",
    _IGNORE_CASE,
)
_NAME_INTRO = re.compile(
    r"^\W*(?:(?i:hi|hello|hey)[,!.\s]+)?(?i:i am|i'm)\s+([A-Z][a-z'-]{1,30})\s*[.!]?\s*$"
)
_PREFERENCE = re.compile(
    r"\bi (?:really |truly |absolutely |just |do )?(love|like|enjoy|adore|hate|dislike|can'?t stand|"
    r"do not like|don'?t like)\s+(?!to\b)(.+?)(?:[.!?;]|$)",
    _IGNORE_CASE,
)
_IDENTITY = re.compile(
    r"\bi(?: am|'m) (a|an) (?!bit\b|little\b|lot\b)(.+?)(?:[.!?;,]|\band\b|\bbut\b|$)", _IGNORE_CASE
)
_WORK = re.compile(
    r"\bi(?:'m| am)? work(?:ing)? (as (?:an? )?|at |for |in )(.+?)(?:[.!?;,]|\band\b|\bbut\b|$)",
    _IGNORE_CASE,
)
_FEEL = re.compile(
    r"\bi(?:'m| am)?\s*(?:feel|feeling)\s+(?:so |really |very |a bit |a little |kind of |quite |pretty |"
    r"extremely |super |rather )?([a-z-]+)",
    _IGNORE_CASE,
)
# Words after "I feel" that start a clause or a comparison, not a feeling.
_NOT_FEELINGS: Final = word_set("like that as it about for the a")

#: Feelings the composer meets with sympathy (valence -1).
NEGATIVE_FEELINGS: Final = word_set(
    "sad down low unhappy depressed lonely anxious nervous worried stressed overwhelmed tired exhausted "
    "drained frustrated angry furious upset scared afraid terrified hurt awful terrible bad miserable bored "
    "sick ill hopeless lost stuck confused discouraged disappointed heartbroken ashamed guilty burnt"
)
#: Feelings the composer is glad about (valence +1).
POSITIVE_FEELINGS: Final = word_set(
    "happy glad great good fine excited proud grateful thankful calm relaxed hopeful confident wonderful "
    "amazing fantastic thrilled joyful cheerful motivated inspired curious content energized better"
)
_FEELINGS: Final = NEGATIVE_FEELINGS | POSITIVE_FEELINGS
_EMOTION_ALTERNATIVES = "|".join(sorted(_FEELINGS))
_I_AM_EMOTION = re.compile(
    r"\bi(?:'m| am)\s+(?:so |really |very |a bit |a little |kind of |quite |pretty |extremely |super |"
    rf"rather |feeling )?({_EMOTION_ALTERNATIVES})\b",
    _IGNORE_CASE,
)
_STRONG_EMOTION = re.compile(
    r"\b(stressed|anxious|overwhelmed|frustrated|exhausted|lonely|depressed|heartbroken|miserable|scared|"
    r"terrified|worried|upset|burnt out|burned out)\b",
    _IGNORE_CASE,
)
_HOW_TO = re.compile(
    r"^\W*how (?:(?:do|can|should|could|would|might|will) (?:i|we|you|one) |to )(.+)", _IGNORE_CASE
)

#: Words that are never a topic: function words, question words, fillers.
STOP_WORDS: Final = word_set(
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
    STOP_WORDS
    | _FEELINGS
    | word_set("later tomorrow back soon anytime again tonight here home done ready busy sorry")
)
# First person -> second person and back, for echoing the user's words.
_REFLECTIONS: Final = {
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
_TRAILING_VERBS: Final = word_set("work works happen happens mean function operate exist matter start begin")
_POSSESSIVES: Final = frozenset({"my", "our", "your", "his", "her", "their"})
# An intent's own words are not its topic ("I don't understand derivatives" -> "derivatives").
_DROP_BY_INTENT: Final[dict[str, frozenset[str]]] = {
    "success": word_set("worked works work working got solved fixed did makes sense understand clicked"),
    "error": word_set(
        "wrong error errors mistake mistakes work working broken failed fail bug incorrect crashed crash "
        "exception message compile run"
    ),
    "confusion": word_set("understand get follow confused confusing lost unclear sense mean huh head"),
    "farewell": word_set("bye goodbye good night see later soon care farewell gotta go"),
    "thanks": word_set("thanks thank thx cheers appreciate appreciated help"),
    "greeting": word_set("morning afternoon evening day greetings hiya heya howdy hola hallo yo"),
}


@dataclass(frozen=True, slots=True)
class UserStatements:
    """What one message says about the user.

    Attributes:
        name: the user's name, capitalised, when they gave it.
        feeling: the feeling word ("sad", "stressed") when they named one.
        valence: -1, 0 or +1 for ``feeling``; 0 without one.
        preference: the verb and its object ("love", "jazz music").
        identity: what they are ("a nurse").
        work: where or as what they work ("as a baker").
        facts: the preference, identity and work in the second person ("you love jazz
            music", "you are a nurse", "you work as a baker"), for later turns to recall.
    """

    name: str | None
    feeling: str | None
    valence: int
    preference: tuple[str, str] | None
    identity: str | None
    work: str | None
    facts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MessageAnalysis:
    """What the simulator recognises in one user message.

    Attributes:
        intent: what the message is doing (see the module docstring).
        greeted: it opens with a greeting.
        thanked: it thanks.
        question_type: the kind of question (``yesno`` when it is no question).
        user: what it says about the user.
        topic: the topic words, reflected into the second person, or None.
        keywords: the content words, lowered, in order, once each.
    """

    intent: Intent
    greeted: bool
    thanked: bool
    question_type: QuestionType
    user: UserStatements
    topic: str | None
    keywords: tuple[str, ...]


def reflect(words: Sequence[str]) -> str:
    """``words`` joined, first and second person swapped.

    Example:
        >>> reflect(["I", "love", "my", "dog"])
        'you love your dog'
    """
    reflected = []
    for word in words:
        swapped = _REFLECTIONS.get(word.lower())
        reflected.append(swapped if swapped is not None else word)
    return " ".join(reflected)


def clip_phrase(text: str, limit: int = 6) -> str:
    """The first ``limit`` words of ``text``, reflected.

    Example:
        >>> clip_phrase("my old blue bike that I fixed last summer", 4)
        'your old blue bike'
    """
    return reflect(WORD_PATTERN.findall(text)[:limit])


def _topic(text: str, drop: frozenset[str], *, tail: bool = False) -> tuple[str | None, tuple[str, ...]]:
    """The topic words of ``text``: the span from the first to the last content word.

    With ``tail`` (plain statements, where the span would be a whole clause) only the
    last one or two adjacent content words, with a preceding possessive.
    """
    words = WORD_PATTERN.findall(text)
    content = [
        position
        for position, word in enumerate(words)
        if (lowered := word.lower()) not in STOP_WORDS and lowered not in drop
    ]
    if not content:
        return None, ()
    keywords = tuple(dict.fromkeys(words[position].lower() for position in content))
    first, last = content[0], content[-1]
    if tail:
        first = last - 1 if len(content) > 1 and content[-2] == last - 1 else last
    if first > 0 and words[first - 1].lower() in _POSSESSIVES:
        first -= 1
    span = words[first : last + 1] if last - first < 6 else [words[position] for position in content[:4]]
    topic = reflect(span)
    if len(topic) > 60:
        topic = topic[:60].rsplit(" ", 1)[0]
    return topic, keywords


def _valence(word: str) -> int:
    return -1 if word in NEGATIVE_FEELINGS else 1 if word in POSITIVE_FEELINGS else 0


def _feeling(text: str) -> tuple[str | None, int]:
    """The feeling named in ``text`` and its valence: "I feel X" first, then "I'm X"."""
    match = _FEEL.search(text)
    if match is not None:
        word = match.group(1).lower()
        if word not in _NOT_FEELINGS:
            return word, _valence(word)
    match = _I_AM_EMOTION.search(text) or _STRONG_EMOTION.search(text)
    if match is not None:
        word = match.group(1).lower()
        return word, (-1 if word in NEGATIVE_FEELINGS or " " in word else 1)
    return None, 0


def _intent(text: str, *, is_question: bool, thanked: bool, greeted: bool, about_user: bool) -> Intent:
    """The intent of ``text`` (stripped), by the order of the module docstring."""
    if _FAREWELL.search(text) and (not is_question or len(text.split()) <= 4):
        return "farewell"
    if _CONFUSION.search(text):
        return "confusion"
    if _ERROR.search(text) or (not is_question and _WEAK_ERROR.search(text)):
        return "error"
    if not is_question and _SUCCESS.search(text):
        return "success"
    if _ABOUT_SELF.search(text):
        return "about_self"
    if _HOW_ARE_YOU.search(text):
        return "how_are_you"
    if is_question:
        return "question"
    if about_user:
        return "about_user"
    if thanked:
        return "thanks"
    if greeted:
        return "greeting"
    if not text:
        return "empty"
    return "statement"


def _statements_about_user(text: str, *, is_question: bool) -> UserStatements:
    """What ``text`` (stripped) says about the user.

    A question states nothing but a name or a feeling ("Do I love jazz?" is no preference).
    """
    name: str | None = None
    named = _NAME.search(text) or _NAME_INTRO.match(text)
    if named is not None and named.group(1).lower() not in _NOT_NAMES:
        name = named.group(1)[0].upper() + named.group(1)[1:]
    feeling, valence = _feeling(text)
    preference: tuple[str, str] | None = None
    identity: str | None = None
    work: str | None = None
    if not is_question:
        if (match := _PREFERENCE.search(text)) is not None:
            liked = clip_phrase(match.group(2))
            if liked:
                verb = match.group(1).lower().replace("can't", "cannot").replace("don't", "do not")
                preference = (verb, liked)
        if (match := _IDENTITY.search(text)) is not None:
            what = clip_phrase(match.group(2), 5)
            if what and _FEELINGS.isdisjoint(what.lower().split()):
                identity = f"{match.group(1).lower()} {what}"
        if (match := _WORK.search(text)) is not None:
            where = clip_phrase(match.group(2), 5)
            if where:
                work = f"{match.group(1).strip().lower()} {where}"
    facts: list[str] = []
    if preference:
        facts.append(f"you {preference[0]} {preference[1]}")
    if identity:
        facts.append(f"you are {identity}")
    if work:
        facts.append(f"you work {work}")
    return UserStatements(name, feeling, valence, preference, identity, work, tuple(facts))


@lru_cache(maxsize=4096)
def analyse(text: str) -> MessageAnalysis:
    """Recognise the intent and the statements about the user in one message (cached).

    Example:
        >>> turn = analyse("I feel so tired today.")
        >>> turn.intent, turn.user.feeling, turn.user.valence
        ('about_user', 'tired', -1)
    """
    stripped = text.strip()
    greeted = bool(_GREETING.match(stripped))
    thanked = bool(_THANKS.search(stripped))
    question_start = _QUESTION_START.match(stripped)
    is_question = stripped.endswith("?") or question_start is not None
    question_type: QuestionType = "yesno"
    if question_start is not None:
        question_type = _QUESTION_TYPES[(question_start.lastindex or 6) - 1]
    user = _statements_about_user(stripped, is_question=is_question)
    intent = _intent(
        stripped,
        is_question=is_question,
        thanked=thanked,
        greeted=greeted,
        about_user=bool(user.name or user.feeling or user.preference or user.identity or user.work),
    )

    drop = _DROP_BY_INTENT.get(intent, frozenset()) | _DROP_BY_INTENT["greeting"]
    if thanked:
        drop = drop | _DROP_BY_INTENT["thanks"]
    if user.preference is not None and intent == "about_user":
        topic, keywords = _topic(user.preference[1], drop)
    elif intent == "about_user" and (user.identity or user.work):
        topic, keywords = _topic((user.identity or user.work or "").split(" ", 1)[1], drop)
    elif intent == "about_user" and user.name and not user.feeling:
        topic, keywords = None, ()
    else:
        topic, keywords = _topic(
            stripped, drop | ({user.feeling} if user.feeling else set()), tail=intent == "statement"
        )
        if intent == "question" and topic and (how := _HOW_TO.match(stripped)) is not None:
            topic = f"how to {clip_phrase(how.group(1), 8)}"
        elif intent == "question" and topic and " " in topic:
            head, _, last = topic.rpartition(" ")
            if last.lower() in _TRAILING_VERBS:  # "how does photosynthesis work" -> "photosynthesis"
                topic = head
    return MessageAnalysis(intent, greeted, thanked, question_type, user, topic, keywords)
