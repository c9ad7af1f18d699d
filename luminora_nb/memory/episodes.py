"""Episode detection: the memorable moments of a conversation.

An *episode* is a moment worth remembering as a moment (not as a fact): a loss, an
engagement, a confession, a fight, an achievement, a moment of closeness, or just the
day's routine. :func:`detect_episode` reads one user message (with its sentiment and
the turn's context) and returns at most one
:class:`~luminora_nb.types.memory.DetectedEpisode`, the most important moment it holds.

Each type has cues (English phrases) and a base importance (0..10):

==================  =====  =============================================================
type                base   cues
==================  =====  =============================================================
emotional_moment    8      a loss (``my dog died``, ``I lost my mother``)
emotional_moment    5.5    a strong first-person feeling (``I feel so lonely``,
                           ``I've been crying``, ``best day of my life``)
emotional_moment    3.5    no cue, but a very positive or very negative first-person message
milestone           7      engagement, wedding, graduation, a baby, a new home, a new job,
                           moving, retirement, a birthday or anniversary, a first day
confession          6.5    ``I've never told anyone``, ``can I tell you a secret``,
                           ``I have to admit``, ``I'm ashamed``, ``nobody knows``
achievement         6.5    ``I did it``, ``I passed``, ``I won``, ``I got promoted``,
                           ``I finished my first marathon``
conflict            5.5    a fight or argument with someone (``we had a huge fight``)
conflict            4      hostility towards the persona (``you're useless``)
bonding             5      ``you're my best friend``, ``I trust you``, ``thank you for
                           listening``, ``you understand me``
routine             1.5    ``I just woke up``, ``had lunch``, ``heading to bed``
==================  =====  =============================================================

``importance = min(10, base + weight x |valence|)`` with ``weight`` 1.5 (0.5 for routine):
a loss told with ``heartbroken`` outranks one told flatly. The episode's ``sentiment`` is
the message's label; its ``title`` names the moment (``Loss of a pet``, ``Engagement``),
its ``summary`` tells it in the third person where a template exists (``User's dog Rex
died.``) and quotes the sentence otherwise. Questions and hypotheticals (``If my dog
died ...``) are not moments, except the cues marked as allowed in questions (``Can I
tell you a secret?``).

**Stored or not.** A persona remembers only moments at or above its
``memory_preferences.episode_min_importance`` (and none when ``remember_episodes`` is
off): :func:`detect_episodes` returns an :class:`EpisodeDetection` holding both the
detected ``candidate`` and the ``stored`` one (``None`` below the threshold), so callers
can show what was noticed and keep what counts.

Example:
    >>> from luminora_nb.memory.sentiment import score_sentiment
    >>> text = "My dog Rex died yesterday, I'm heartbroken."
    >>> e = detect_episode(text, score_sentiment(text))
    >>> e.episode_type, e.title, e.summary, e.importance, e.sentiment
    ('emotional_moment', 'Loss of a pet', "User's dog Rex died.", 9.2, 'very_negative')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..errors import SessionError
from ..types._base import utcnow
from ..types.memory import DetectedEpisode, EpisodeType, MessageRef, check_importance
from ..types.persona import MemoryPreferences
from ._text import fold_whitespace, is_hypothetical, sentences
from .sentiment import SentimentResult, score_sentiment

__all__ = [
    "EpisodeContext",
    "EpisodeDetection",
    "EpisodeDetector",
    "detect_episode",
    "detect_episodes",
]

_PETS = (
    r"dog|puppy|pup|cat|kitten|kitty|hamster|rabbit|bunny|parrot|bird|budgie|fish|goldfish|turtle|"
    r"tortoise|horse|pony|guinea\s+pig|snake|lizard|ferret|pet"
)
_PEOPLE = (
    r"mother|mom|mum|father|dad|grandmother|grandma|grandfather|grandpa|grandparent|sister|brother|"
    r"wife|husband|partner|girlfriend|boyfriend|son|daughter|baby|child|friend|best\s+friend|aunt|uncle|"
    r"cousin|niece|nephew|fiance|fiancee|teacher|mentor"
)
_DIED = (
    r"(?:died|passed\s+away|passed\s+on|passed|was\s+put\s+down"
    r"|was\s+put\s+to\s+sleep|is\s+dying|was\s+killed)"
)
_INTENSE = (
    r"(?:so\s+|really\s+|very\s+|extremely\s+|completely\s+|incredibly\s+|totally\s+|utterly\s+|deeply\s+)?"
)


@dataclass(frozen=True)
class _Cue:
    episode_type: EpisodeType
    title: str
    base: float
    pattern: re.Pattern[str]
    summary: str | None = None  # a template over the match's named groups
    in_questions: bool = False


def _cue(
    episode_type: EpisodeType,
    title: str,
    base: float,
    pattern: str,
    summary: str | None = None,
    *,
    in_questions: bool = False,
) -> _Cue:
    return _Cue(episode_type, title, base, re.compile(pattern, re.I), summary, in_questions)


_CUES: tuple[_Cue, ...] = (
    # emotional moments
    _cue(
        "emotional_moment",
        "Loss of a pet",
        8.0,
        r"\bmy\s+(?:(?:old|little|beloved|sweet|dear)\s+)?(?P<who>"
        + _PETS
        + (
            r")(?:\s+(?P<name>[A-Z][\w'-]*))?\s+(?:just\s+|recently\s+|finally\s+"
            r"|suddenly\s+)?"
        )
        + _DIED
        + r"|\bi\s+(?:just\s+)?lost\s+my\s+(?P<who2>"
        + _PETS
        + r")\b",
        "User's {who}{name} died.",
    ),
    _cue(
        "emotional_moment",
        "Loss of a loved one",
        8.0,
        r"\bmy\s+(?:(?:old|beloved|dear|best)\s+)?(?P<who>"
        + _PEOPLE
        + r")(?:\s+(?P<name>[A-Z][\w'-]*))?\s+(?:just\s+|recently\s+|suddenly\s+)?"
        + _DIED
        + r"|\bi\s+(?:just\s+)?lost\s+my\s+(?P<who2>"
        + _PEOPLE
        + r")\b(?!\s+(?:keys|phone|job|wallet))",
        "User's {who}{name} died.",
    ),
    _cue(
        "emotional_moment",
        "Feeling {feeling}",
        5.5,
        (
            r"\bi(?:'m|\s+am|\s+feel|'m\s+feeling|\s+am\s+feeling"
            r"|'ve\s+been\s+feeling|\s+have\s+been\s+feeling|\s+felt)\s+"
        )
        + _INTENSE
        + (
            r"(?P<feeling>lonely|depressed|heartbroken|devastated|hopeless"
            r"|overwhelmed|terrified|miserable|worthless|broken|empty|lost|scared"
            r"|anxious|desperate|suicidal|numb|ecstatic|overjoyed)\b"
        ),
    ),
    _cue(
        "emotional_moment",
        "Tears",
        5.5,
        (
            r"\bi(?:'ve\s+been|\s+have\s+been|'m|\s+am|\s+was|\s+just)?\s+(?:crying"
            r"|cried|in\s+tears|sobbing)\b"
        ),
    ),
    _cue(
        "emotional_moment",
        "A joyful moment",
        5.5,
        (
            r"\b(?:best\s+day\s+of\s+my\s+life|happiest\s+(?:day"
            r"|moment)\s+of\s+my\s+life|i(?:'m|\s+am)\s+"
        )
        + _INTENSE
        + r"(?:happy|thrilled|over\s+the\s+moon)\s+i\s+could\s+cry)\b",
    ),
    # milestones
    _cue(
        "milestone",
        "Engagement",
        7.0,
        (
            r"\b(?:i|we)\s+(?:just\s+|finally\s+)?got\s+engaged\b|\b(?:he|she"
            r"|they)\s+proposed\b"
        ),
    ),
    _cue(
        "milestone",
        "Wedding",
        7.0,
        (
            r"\b(?:i|we)\s+(?:just\s+|finally\s+)?got\s+married\b|\b(?:i'm|i\s+am"
            r"|we're|we\s+are)\s+getting\s+married\b|\bour\s+wedding\b"
        ),
    ),
    _cue(
        "milestone",
        "Graduation",
        7.0,
        (
            r"\bi\s+(?:just\s+|finally\s+|officially\s+)?graduated\b|\bi(?:'m"
            r"|\s+am)\s+graduating\b"
        ),
    ),
    _cue(
        "milestone",
        "New baby",
        8.0,
        (
            r"\b(?:i|we)\s+(?:just\s+)?had\s+(?:a|our|my)\s+(?:first\s+|second\s+)?"
            r"(?:baby|son|daughter)\b|\b(?:i'm|i\s+am|we're|we\s+are)\s+(?:pregnant"
            r"|expecting|having\s+a\s+baby)\b"
        ),
    ),
    _cue(
        "milestone",
        "New home",
        6.5,
        (
            r"\b(?:i|we)\s+(?:just\s+|finally\s+)?bought\s+(?:a|our|my)\s+"
            r"(?:first\s+|new\s+)?(?:house|home|flat|apartment|condo)\b"
        ),
    ),
    _cue(
        "milestone",
        "New job",
        6.5,
        (
            r"\bi(?:'m|\s+am)\s+starting\s+(?:a|my)\s+new\s+job\b"
            r"|\bmy\s+first\s+day\s+at\s+(?:my\s+new\s+job|work)\b|\bi\s+"
            r"(?:just\s+)?(?:got|landed|accepted)\s+(?:a|my)\s+new\s+job\b"
        ),
    ),
    _cue(
        "milestone",
        "Moving",
        6.0,
        (
            r"\b(?:i|we)\s+(?:just\s+|finally\s+)?moved\s+(?:to|into|house|out)\b|\b"
            r"(?:i'm|i\s+am|we're|we\s+are)\s+(?:moving|relocating)\s+to\b"
        ),
    ),
    _cue(
        "milestone",
        "Retirement",
        7.0,
        (
            r"\bi\s+(?:just\s+|finally\s+|officially\s+)?retired\b|\bi(?:'m"
            r"|\s+am)\s+retiring\b"
        ),
    ),
    _cue(
        "milestone",
        "Birthday",
        6.0,
        (
            r"\b(?:today\s+is|it's|it\s+is)\s+my\s+(?:\d+\w*\s+)?birthday\b|\bi\s+"
            r"(?:just\s+)?turned\s+\d{1,3}\b"
        ),
    ),
    _cue("milestone", "Anniversary", 6.0, r"\b(?:today\s+is|it's|it\s+is)\s+our\s+(?:\w+\s+)?anniversary\b"),
    _cue(
        "milestone",
        "Breakup",
        7.0,
        (
            r"\b(?:i|we)\s+(?:just\s+)?broke\s+up\b|\bmy\s+(?:girlfriend|boyfriend"
            r"|partner|wife|husband|fiance|fiancee)\s+(?:left\s+me"
            r"|broke\s+up\s+with\s+me|dumped\s+me)\b|\b(?:i'm|i\s+am|we're"
            r"|we\s+are)\s+getting\s+(?:a\s+)?divorced?\b"
        ),
    ),
    _cue(
        "milestone",
        "Lost job",
        7.0,
        (
            r"\bi\s+(?:just\s+)?(?:lost\s+my\s+job|got\s+fired|got\s+laid\s+off"
            r"|was\s+laid\s+off|was\s+fired|got\s+let\s+go)\b"
        ),
    ),
    # confessions
    _cue(
        "confession",
        "A confession",
        6.5,
        (
            r"\b(?:i(?:'ve|\s+have)\s+never\s+told\s+(?:anyone|anybody"
            r"|this\s+to\s+anyone)|don't\s+tell\s+anyone|can\s+i\s+tell\s+you\s+a\s+"
            r"secret|i\s+have\s+(?:to|a)\s+(?:confess|confession)|i\s+(?:must"
            r"|need\s+to|should)\s+(?:confess|admit)|i(?:'m|\s+am)\s+"
            r"(?:so\s+)?ashamed|nobody\s+knows|no\s+one\s+knows|i(?:'ve"
            r"|\s+have)\s+been\s+hiding|my\s+(?:biggest\s+|deepest\s+)?secret\s+is"
            r"|i\s+lied\s+(?:to|about))\b"
        ),
        in_questions=True,
    ),
    # achievements
    _cue(
        "achievement",
        "Achievement",
        6.5,
        (
            r"\bi\s+(?:finally\s+|actually\s+|just\s+)*(?:did\s+it|passed(?!\s+away)"
            r"|won|aced|nailed\s+it|made\s+it|got\s+accepted|got\s+into"
            r"|got\s+the\s+job|got\s+promoted|got\s+a\s+promotion|hit\s+my\s+goal"
            r"|reached\s+my\s+goal|published|finished\s+my\s+(?:first\s+)?\w+"
            r"|completed\s+my\s+(?:first\s+)?\w+|ran\s+my\s+first|beat\s+my\s+"
            r"(?:personal\s+)?(?:best|record)|got\s+my\s+(?:degree|license|licence"
            r"|diploma|phd|black\s+belt))\b"
        ),
    ),
    # conflicts
    _cue(
        "conflict",
        "Conflict with {who}",
        5.5,
        (
            r"\b(?:we|i)\s+(?:just\s+)?had\s+(?:a|another)\s+(?:big\s+|huge\s+"
            r"|terrible\s+|massive\s+|bad\s+|horrible\s+)?(?:fight|argument|row"
            r"|falling\s+out)(?:\s+with\s+(?P<who>my\s+\w+|[A-Z]\w+))?|\bi\s+"
            r"(?:just\s+)?(?:argued|fought|fell\s+out)\s+with\s+(?P<who2>my\s+\w+"
            r"|[A-Z]\w+)|\bi(?:'m|\s+am)\s+"
        )
        + _INTENSE
        + (
            r"(?:angry|mad|furious)\s+(?:at|with)\s+(?P<who3>my\s+\w+|[A-Z]\w+)|\b"
            r"(?:we're|we\s+are)\s+not\s+(?:speaking|talking)\b"
        ),
    ),
    _cue(
        "conflict",
        "Conflict with the persona",
        4.0,
        r"\byou(?:'re|\s+are)\s+"
        + _INTENSE
        + (
            r"(?:useless|stupid|an\s+idiot|worthless|pathetic|terrible|the\s+worst"
            r"|a\s+joke|annoying|dumb)\b|\bi\s+hate\s+you\b|\bshut\s+up\b|\b(?:screw"
            r"|f\*+k|fuck)\s+you\b"
        ),
        in_questions=True,
    ),
    # bonding
    _cue(
        "bonding",
        "A bonding moment",
        5.0,
        (
            r"\b(?:you(?:'re|\s+are)\s+(?:my\s+best\s+friend|like\s+a\s+(?:friend"
            r"|sister|brother)|the\s+only\s+one\s+(?:who|i\s+can))|i\s+(?:really\s+"
            r"|completely\s+)?trust\s+you|thank\s+you\s+for\s+(?:always\s+)?"
            r"(?:being\s+there|listening|understanding|being\s+so\s+patient)|you\s+"
            r"(?:really\s+|always\s+)?(?:understand|get)\s+me|i\s+(?:love|enjoy)\s+"
            r"(?:talking|chatting)\s+(?:to|with)\s+you|i\s+missed\s+you|i\s+feel\s+"
            r"(?:like\s+i\s+can\s+talk\s+to\s+you|safe\s+with\s+you|heard))\b"
        ),
        in_questions=True,
    ),
    # routine
    _cue(
        "routine",
        "Daily routine",
        1.5,
        (
            r"\bi\s+(?:just\s+)?(?:woke\s+up|got\s+up|had\s+(?:breakfast|lunch"
            r"|dinner|coffee|a\s+shower)|got\s+home|got\s+back\s+from\s+work"
            r"|went\s+to\s+(?:work|the\s+gym|bed|school|the\s+store)|took\s+a\s+nap"
            r"|did\s+the\s+(?:laundry|dishes|shopping)|went\s+(?:shopping"
            r"|for\s+a\s+walk|for\s+a\s+run)|walked\s+the\s+dog|finished\s+work"
            r"|made\s+(?:breakfast|lunch|dinner))\b|\b(?:i'm|i\s+am)\s+(?:heading"
            r"|going)\s+(?:home|to\s+bed|to\s+work|to\s+sleep|out)\b|\bgood\s+"
            r"(?:morning|night)\b"
        ),
    ),
)

_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|my|me|myself|we|our)\b", re.I)
_SUMMARY_LIMIT = 200


@dataclass(frozen=True)
class EpisodeContext:
    """What the turn knows around the message.

    Attributes:
        message_id: The message's id, if it has one.
        message_index: The message's index in the conversation (the turn index).
        timestamp: When the message was sent (now when ``None``).
        earlier: Earlier messages this moment builds on (added to ``source_messages``).
    """

    message_id: str | None = None
    message_index: int | None = None
    timestamp: datetime | None = None
    earlier: Sequence[MessageRef] = ()


@dataclass(frozen=True)
class EpisodeDetection:
    """The moment a message holds, and whether the persona keeps it.

    Attributes:
        candidate: The detected moment, whatever its importance (``None`` if none).
        min_importance: The persona's ``episode_min_importance``.
        remember: The persona's ``remember_episodes``.
    """

    candidate: DetectedEpisode | None
    min_importance: float = 5.0
    remember: bool = True

    @property
    def stored(self) -> DetectedEpisode | None:
        """The candidate if the persona keeps it (``importance >= min_importance``)."""
        if self.candidate is None or not self.remember:
            return None
        return self.candidate if self.candidate.importance >= self.min_importance else None


def _quoted(text: str) -> str:
    text = fold_whitespace(text)
    text = text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 3].rstrip() + "..."
    return f'User said: "{text}"'


def _summary(cue: _Cue, match: re.Match[str], sentence: str, message: str) -> str:
    if cue.summary is not None:
        groups = {k: v for k, v in match.groupdict().items() if v}
        who = groups.get("who") or groups.get("who2") or "pet"
        name = f" {groups['name']}" if groups.get("name") else ""
        return cue.summary.format(who=fold_whitespace(who).lower(), name=name)
    # The whole message when it fits (a confession's context is the next sentence).
    return _quoted(message if len(fold_whitespace(message)) <= _SUMMARY_LIMIT else sentence)


def _title(cue: _Cue, match: re.Match[str]) -> str:
    groups = {k: v for k, v in match.groupdict().items() if v}
    if "{feeling}" in cue.title:
        return cue.title.format(feeling=groups.get("feeling", "strongly").lower())
    if "{who}" in cue.title:
        who = groups.get("who") or groups.get("who2") or groups.get("who3")
        who = re.sub(r"^my\s+", "", fold_whitespace(who), flags=re.I) if who else "someone"
        return cue.title.format(who=who)
    return cue.title


def detect_episode(
    message: str, sentiment: SentimentResult | None = None, context: EpisodeContext | None = None
) -> DetectedEpisode | None:
    """The most important moment in ``message``, or ``None``.

    Args:
        message: The user's message.
        sentiment: Its sentiment (scored with the lexicon scorer when ``None``).
        context: The message's id, index, time and earlier sources.

    Raises:
        SessionError: ``message`` is not a string.

    Example:
        >>> detect_episode("I just got engaged!!").title
        'Engagement'
        >>> detect_episode("If my dog died I would be devastated.") is None
        True
    """
    if not isinstance(message, str):
        raise SessionError(f"message must be a string, got {type(message).__name__}")
    sentiment = sentiment if sentiment is not None else score_sentiment(message)
    context = context or EpisodeContext()
    best: tuple[float, _Cue, re.Match[str], str] | None = None
    cues: list[str] = []
    for sentence in sentences(message):
        question = sentence.rstrip().endswith("?")
        for cue in _CUES:
            if question and not cue.in_questions:
                continue
            match = cue.pattern.search(sentence)
            if match is None:
                continue
            weight = 0.5 if cue.episode_type == "routine" else 1.5
            importance = min(10.0, cue.base + weight * sentiment.intensity)
            cues.append(fold_whitespace(match.group(0)))
            if best is None or importance > best[0]:
                best = (importance, cue, match, sentence)
    source = MessageRef(message_id=context.message_id, message_index=context.message_index, text=message)
    timestamp = context.timestamp or utcnow()
    if best is None:
        if sentiment.label not in ("very_negative", "very_positive") or not _FIRST_PERSON.search(message):
            return None
        if is_hypothetical(message) or message.rstrip().endswith("?"):
            return None
        return DetectedEpisode(
            episode_type="emotional_moment",
            title="A strong feeling" if sentiment.valence < 0 else "A happy moment",
            summary=_quoted(message),
            importance=round(min(10.0, 3.5 + 1.5 * sentiment.intensity), 1),
            sentiment=sentiment.label,
            timestamp=timestamp,
            source_messages=[*context.earlier, source],
            cues=[f"sentiment:{sentiment.label}"],
        )
    importance, cue, match, sentence = best
    return DetectedEpisode(
        episode_type=cue.episode_type,
        title=_title(cue, match),
        summary=_summary(cue, match, sentence, message),
        importance=round(importance, 1),
        sentiment=sentiment.label,
        timestamp=timestamp,
        source_messages=[*context.earlier, source],
        cues=list(dict.fromkeys(cues)),
    )


def detect_episodes(
    message: str,
    sentiment: SentimentResult | None = None,
    context: EpisodeContext | None = None,
    *,
    preferences: MemoryPreferences | None = None,
    min_importance: float | None = None,
) -> EpisodeDetection:
    """The moment in ``message`` and whether the persona keeps it.

    ``min_importance`` overrides ``preferences.episode_min_importance`` (5.0 by default).

    Raises:
        SessionError: ``min_importance`` is not a number from 0 to 10.

    Example:
        >>> d = detect_episodes("I just had lunch.", min_importance=5)
        >>> d.candidate.episode_type, d.stored
        ('routine', None)
    """
    preferences = preferences or MemoryPreferences()
    threshold = check_importance(
        preferences.episode_min_importance if min_importance is None else min_importance
    )
    return EpisodeDetection(
        candidate=detect_episode(message, sentiment, context),
        min_importance=threshold,
        remember=preferences.remember_episodes,
    )


class EpisodeDetector:
    """The rule-based detector as an object (the interface an LLM detector would share).

    Example:
        >>> EpisodeDetector().detect("I finally passed my driving test!").episode_type
        'achievement'
    """

    name = "rules"

    def detect(
        self, message: str, sentiment: SentimentResult | None = None, context: EpisodeContext | None = None
    ) -> DetectedEpisode | None:
        """See :func:`detect_episode`."""
        return detect_episode(message, sentiment, context)
