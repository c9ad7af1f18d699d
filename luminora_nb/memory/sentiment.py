"""Sentiment of a user message: a valence from -1 to 1 and one of five labels.

The offline scorer (:class:`LexiconSentimentScorer`, the default) is deterministic and
needs no model: each word of a small lexicon carries a valence from -1 to 1, and

* a negation (``not``, ``never``, ``don't`` ...) within the three words before a word
  flips it, damped (x-0.8 for a positive word: ``don't like`` is nearly a dislike; x-0.5
  for a negative one: ``not bad`` is only mildly good);
* an intensifier before a word strengthens it (``very``, ``so``, ``really``: x1.4) and a
  softener weakens it (``a bit``, ``kind of``, ``slightly``: x0.6); a word in capitals
  inside a message that is not all capitals counts x1.3;
* after ``but`` words count x1.5 and before it x0.6 (``good but slow`` leans negative);
* each ``!`` (up to three) adds 0.1 in the direction of the sum; emoticons and emoji
  count as words.

The sum ``s`` is squashed to ``s / sqrt(s*s + 2)`` (so one strong word is "positive",
several are "very positive") and labelled by :func:`label_for`: ``<= -0.6``
very_negative, ``<= -0.15`` negative, ``< 0.15`` neutral, ``< 0.6`` positive,
otherwise very_positive.

Scorers share one small interface (:class:`SentimentScorer`: ``score(text)`` returning
a :class:`SentimentResult`), so a model-based scorer can replace the lexicon later; an
asynchronous one (an LLM) implements :class:`AsyncSentimentScorer` instead.

Example:
    >>> score_sentiment("I love this, it's amazing!").label
    'very_positive'
    >>> score_sentiment("I don't like jazz").label
    'negative'
    >>> score_sentiment("The meeting is at noon.").label
    'neutral'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, runtime_checkable

from ..types.memory import Sentiment
from ._text import wordlist

__all__ = [
    "AsyncSentimentScorer",
    "LexiconSentimentScorer",
    "SentimentResult",
    "SentimentScorer",
    "label_for",
    "score_sentiment",
]

# Valence of each word, -1 (worst) .. 1 (best). Inflections are listed where they matter.
_LEXICON: dict[str, float] = {
    # positive
    "good": 0.5, "great": 0.7, "awesome": 0.8, "amazing": 0.8, "wonderful": 0.8, "fantastic": 0.8,
    "excellent": 0.8, "brilliant": 0.8, "perfect": 0.8, "incredible": 0.7, "outstanding": 0.8,
    "superb": 0.8, "lovely": 0.6, "nice": 0.4, "fine": 0.2, "okay": 0.1, "ok": 0.1, "cool": 0.4,
    "best": 0.7, "better": 0.4, "love": 0.7, "loved": 0.7, "loving": 0.6, "loves": 0.6, "adore": 0.8,
    "like": 0.3, "liked": 0.3, "enjoy": 0.5, "enjoyed": 0.5, "enjoying": 0.5, "happy": 0.7, "happier": 0.6,
    "glad": 0.5, "joy": 0.7, "joyful": 0.7, "delighted": 0.8, "thrilled": 0.8, "excited": 0.6,
    "exciting": 0.6, "proud": 0.6, "grateful": 0.6, "thankful": 0.6, "thanks": 0.4, "thank": 0.4,
    "appreciate": 0.5, "fun": 0.5, "funny": 0.4, "hilarious": 0.5, "beautiful": 0.6, "gorgeous": 0.6,
    "cute": 0.4, "sweet": 0.4, "kind": 0.4, "helpful": 0.5, "useful": 0.4,
    "smart": 0.4, "clever": 0.4, "wise": 0.4, "calm": 0.3, "relaxed": 0.4, "peaceful": 0.4,
    "hope": 0.3, "hopeful": 0.4, "optimistic": 0.4, "confident": 0.4, "win": 0.5, "won": 0.6,
    "success": 0.6, "successful": 0.6, "passed": 0.4, "promoted": 0.6, "celebrate": 0.6,
    "celebrating": 0.6, "congrats": 0.6, "congratulations": 0.6, "yay": 0.6, "hooray": 0.6,
    "wow": 0.4, "blessed": 0.6, "lucky": 0.5, "safe": 0.3, "healthy": 0.4, "recovered": 0.4,
    "engaged": 0.3, "married": 0.2, "graduated": 0.4, "favorite": 0.4, "favourite": 0.4,
    "interesting": 0.3, "fascinating": 0.5, "impressive": 0.5, "inspiring": 0.5, "comfortable": 0.3,
    "satisfied": 0.4, "pleased": 0.5, "cheerful": 0.6, "ecstatic": 0.9, "overjoyed": 0.9,
    "relieved": 0.4, "yes": 0.1, "agree": 0.2, "welcome": 0.3, "enjoyable": 0.5,
    "genius": 0.6, "legend": 0.5, "rocks": 0.4, "fabulous": 0.8,
    "haha": 0.4, "hahaha": 0.5, "lol": 0.3, "lmao": 0.4, "glorious": 0.7, "marvelous": 0.7,
    "marvellous": 0.7, "terrific": 0.7, "splendid": 0.6, "phenomenal": 0.8, "stellar": 0.6,
    # negative
    "bad": -0.5, "terrible": -0.8, "awful": -0.8, "horrible": -0.8, "dreadful": -0.7, "worst": -0.8,
    "worse": -0.5, "poor": -0.4, "sad": -0.6, "sadder": -0.6, "unhappy": -0.6, "upset": -0.6,
    "angry": -0.6, "mad": -0.5, "furious": -0.8, "annoyed": -0.5, "annoying": -0.5, "irritated": -0.5,
    "frustrated": -0.6, "frustrating": -0.6, "hate": -0.7, "hated": -0.7, "hates": -0.6,
    "dislike": -0.5, "disliked": -0.5, "awkward": -0.3, "boring": -0.4, "bored": -0.4, "tired": -0.3,
    "exhausted": -0.5, "stressed": -0.6, "stressful": -0.6, "stress": -0.4, "anxious": -0.6,
    "anxiety": -0.5, "worried": -0.5, "worry": -0.4, "scared": -0.6, "afraid": -0.5, "fear": -0.5,
    "terrified": -0.8, "nervous": -0.4, "lonely": -0.6, "alone": -0.3, "depressed": -0.8,
    "depression": -0.7, "miserable": -0.8, "hopeless": -0.8, "helpless": -0.6, "heartbroken": -0.9,
    "devastated": -0.9, "grief": -0.8, "grieving": -0.8, "crying": -0.6, "cried": -0.6, "cry": -0.5,
    "tears": -0.4, "hurt": -0.6, "hurts": -0.6, "pain": -0.6, "painful": -0.6, "sick": -0.5, "ill": -0.4,
    "died": -0.8, "dead": -0.7, "death": -0.7, "dying": -0.7, "passed away": -0.8, "lost": -0.4,
    "loss": -0.6, "lose": -0.4, "losing": -0.4, "fail": -0.5, "failed": -0.6, "failing": -0.6,
    "failure": -0.6, "fired": -0.5, "broke": -0.3, "broken": -0.5, "wrong": -0.4, "mistake": -0.4,
    "problem": -0.3, "problems": -0.3, "issue": -0.2, "difficult": -0.3, "hard": -0.2, "struggle": -0.4,
    "struggling": -0.5, "useless": -0.7, "stupid": -0.7, "dumb": -0.6, "idiot": -0.8, "idiotic": -0.7,
    "pathetic": -0.7, "worthless": -0.8, "garbage": -0.6, "trash": -0.5, "sucks": -0.6, "suck": -0.5,
    "crap": -0.5, "shit": -0.5, "damn": -0.3, "ugh": -0.4, "disappointed": -0.6, "disappointing": -0.6,
    "disappointment": -0.6, "confused": -0.3, "confusing": -0.3, "ashamed": -0.6, "embarrassed": -0.5,
    "guilty": -0.5, "jealous": -0.4, "overwhelmed": -0.6, "panic": -0.7, "crisis": -0.6,
    "ruined": -0.7, "disaster": -0.7, "horrified": -0.8, "disgusting": -0.7, "gross": -0.5,
    "unfair": -0.5, "rude": -0.5, "cruel": -0.7, "scary": -0.5, "dangerous": -0.4,
    "sorry": -0.2, "unfortunately": -0.4, "sadly": -0.5, "miss": -0.3, "missing": -0.3,
    "argument": -0.4, "fight": -0.5, "fought": -0.5, "argued": -0.4, "divorce": -0.5, "cancelled": -0.3,
    "canceled": -0.3, "late": -0.2, "slow": -0.2, "expensive": -0.2, "lame": -0.4, "meh": -0.2,
    "no": -0.1, "nope": -0.2, "hell": -0.4, "fucking": -0.4, "fuck": -0.6, "wtf": -0.5,
    "shut": -0.3, "injured": -0.6, "accident": -0.6, "surgery": -0.3, "cancer": -0.7, "hospital": -0.3,
    # emoticons and emoji
    ":)": 0.5, ":-)": 0.5, ":d": 0.6, "<3": 0.6, ";)": 0.4, ":(": -0.5, ":-(": -0.5, ":'(": -0.7,
    "\U0001f60a": 0.6, "\U0001f600": 0.6, "\U0001f603": 0.6, "\U0001f604": 0.6, "\U0001f601": 0.6,
    "\U0001f602": 0.5, "\U0001f923": 0.5, "\U0001f60d": 0.8, "\u2764": 0.7, "\u2764\ufe0f": 0.7,
    "\U0001f970": 0.8, "\U0001f389": 0.7, "\U0001f44d": 0.4, "\U0001f64f": 0.4, "\U0001f622": -0.6,
    "\U0001f62d": -0.7, "\U0001f61e": -0.5, "\U0001f614": -0.5, "\U0001f620": -0.7, "\U0001f621": -0.8,
    "\U0001f494": -0.8, "\U0001f44e": -0.4, "\U0001f62b": -0.5, "\U0001f629": -0.5,
}  # fmt: skip

_NEGATORS = wordlist(
    "not no never nobody nothing none neither nor without hardly barely cannot cant dont doesnt didnt "
    "isnt wasnt arent werent wont wouldnt shouldnt couldnt aint"
)
_BOOST = {
    "very": 1.4, "so": 1.4, "really": 1.4, "extremely": 1.6, "super": 1.4, "totally": 1.3,
    "absolutely": 1.5, "incredibly": 1.5, "too": 1.2, "such": 1.3, "completely": 1.4, "utterly": 1.5,
    "deeply": 1.4, "truly": 1.3, "especially": 1.2, "most": 1.3, "damn": 1.3, "insanely": 1.5,
    "slightly": 0.6, "somewhat": 0.6, "bit": 0.6, "kinda": 0.6, "little": 0.7, "fairly": 0.8,
    "barely": 0.5, "mildly": 0.6, "rather": 0.8, "partly": 0.6, "pretty": 1.2, "quite": 1.1,
}  # fmt: skip
# "like" is a verb of liking only after one of these ("I like", "don't like"), not a filler
# or a preposition ("it's like", "feel like").
_LIKE_AFTER = wordlist(
    "i we you they he she really also just totally do does did kinda would i'd we'd don't doesn't didn't "
    "dont doesnt didnt never"
)
_SOFT_PAIRS = {("kind", "of"), ("sort", "of")}
# Phrases first (so "passed away" is one unit), then words, emoticons and emoji.
_TOKEN = re.compile(
    r"passed away|[a-z]+(?:n't|'[a-z]+)?|:'\(|:-?[)(d]|;\)|<3|[\U0001f300-\U0001faff\u2764]\ufe0f?|[!]"
)
_PUNCT_SCOPE = re.compile(r"[.,;:?]")


def label_for(valence: float) -> Sentiment:
    """The label of a valence from -1 to 1.

    Example:
        >>> [label_for(v) for v in (-0.9, -0.3, 0.0, 0.3, 0.9)]
        ['very_negative', 'negative', 'neutral', 'positive', 'very_positive']
    """
    if valence <= -0.6:
        return "very_negative"
    if valence <= -0.15:
        return "negative"
    if valence < 0.15:
        return "neutral"
    if valence < 0.6:
        return "positive"
    return "very_positive"


@dataclass(frozen=True)
class SentimentResult:
    """The sentiment of one message.

    Attributes:
        valence: From -1 (very negative) to 1 (very positive).
        label: One of the five :data:`~luminora_nb.types.memory.Sentiment` labels.
        hits: The scored words with their contribution, in order.
    """

    valence: float
    label: Sentiment
    hits: tuple[tuple[str, float], ...] = ()

    @property
    def intensity(self) -> float:
        """``abs(valence)``: how strongly the message leans either way."""
        return abs(self.valence)


@runtime_checkable
class SentimentScorer(Protocol):
    """Anything with ``score(text) -> SentimentResult`` (synchronous)."""

    def score(self, text: str) -> SentimentResult:
        """The sentiment of ``text``."""
        ...


@runtime_checkable
class AsyncSentimentScorer(Protocol):
    """An asynchronous scorer (e.g. one asking an LLM): ``await ascore(text)``."""

    async def ascore(self, text: str) -> SentimentResult:
        """The sentiment of ``text``."""
        ...


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for piece in _PUNCT_SCOPE.split(text):
        out.extend(_TOKEN.findall(piece))
        out.append(".")  # a scope boundary: negation and intensifiers stop here
    return out


@lru_cache(maxsize=4096)
def _score(text: str) -> SentimentResult:
    lowered = text.lower()
    tokens = _tokens(lowered)
    caps = {w.lower() for w in re.findall(r"\b[A-Z]{3,}\b", text)} if not text.isupper() else set()
    total = 0.0
    hits: list[tuple[str, float]] = []
    but_at = next((i for i, t in enumerate(tokens) if t == "but"), None)
    exclamations = 0
    for i, token in enumerate(tokens):
        if token == "!":
            exclamations += 1
            continue
        base = _LEXICON.get(token)
        if base is None:
            continue
        if token in ("like", "liked") and (i == 0 or tokens[i - 1] not in _LIKE_AFTER):
            continue
        if token == "kind" and i + 1 < len(tokens) and tokens[i + 1] == "of":
            continue
        value = base
        scope = []
        for j in range(i - 1, max(-1, i - 4), -1):
            if tokens[j] == ".":
                break
            scope.append(tokens[j])
        if scope:
            previous = scope[0]
            if previous in _BOOST:
                value *= _BOOST[previous]
            elif len(scope) > 1 and (scope[1], previous) in _SOFT_PAIRS:
                value *= 0.6
        if any(t in _NEGATORS or t.endswith("n't") for t in scope):
            # "don't like" is nearly a dislike; "not bad" is only mildly good.
            value *= -0.8 if base > 0 else -0.5
        if token in caps:
            value *= 1.3
        if but_at is not None:
            value *= 0.6 if i < but_at else 1.5
        total += value
        hits.append((token, round(value, 3)))
    if total and exclamations:
        total += math.copysign(0.1 * min(exclamations, 3), total)
    valence = total / math.sqrt(total * total + 2.0)
    valence = round(max(-1.0, min(1.0, valence)), 3)
    return SentimentResult(valence=valence, label=label_for(valence), hits=tuple(hits))


class LexiconSentimentScorer:
    """The offline, deterministic scorer described in the module docstring.

    Example:
        >>> LexiconSentimentScorer().score("not bad at all").label
        'positive'
    """

    name = "lexicon"

    def score(self, text: str) -> SentimentResult:
        """The sentiment of ``text`` (an empty text is neutral)."""
        return _score(text)


def score_sentiment(text: str) -> SentimentResult:
    """The sentiment of ``text`` by the lexicon scorer.

    Example:
        >>> score_sentiment("My dog died yesterday and I'm heartbroken").label
        'very_negative'
    """
    return _score(text)
