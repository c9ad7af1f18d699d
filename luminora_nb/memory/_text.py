"""Text handling shared by the rule-based memory modules (sentiment, facts, episodes).

A user message is turned into *statements*: the sentences and clauses that assert
something about the speaker. What must never become a memory is removed first:

* quoted speech (``My boss said "I love Mondays"``): a quotation introduced by a speech
  verb or holding a first-person sentence is cut out; a quoted title (``my favourite
  show is "Dark"``) keeps its words;
* reported speech without quotes (``my boss says I love Mondays``): the sentence ends at
  the speech verb of anyone but the user;
* questions (``Do you like jazz?``), except a statement before a tag question
  (``I love jazz, do you?`` keeps ``I love jazz``);
* hypotheticals and wishes (``If I were a doctor ...``, ``I wish I lived in Rome``).

Negation is left to each pattern (``I don't like jazz`` is a dislike, ``I'm not a
doctor`` is nothing), helped by :func:`negated_before`.

Example:
    >>> [s.text for s in statements('My boss said "I love Mondays". I live in Lyon, do you?')]
    ['My boss', 'I live in Lyon']
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "Statement",
    "fold_whitespace",
    "has_hedge",
    "is_hypothetical",
    "negated_before",
    "normalise",
    "sentences",
    "slug",
    "statements",
    "wordlist",
    "words",
]

_QUOTE_CHARS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)
_SPACE = re.compile(r"\s+")


def wordlist(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``, as a set (for vocabularies).

    Example:
        >>> sorted(wordlist(" b a  b "))
        ['a', 'b']
    """
    return frozenset(text.split())


def fold_whitespace(text: str) -> str:
    """``text`` on one line with single spaces.

    Example:
        >>> fold_whitespace(" a\\n  b ")
        'a b'
    """
    return _SPACE.sub(" ", text).strip()


def normalise(text: str) -> str:
    """NFKC, straight quotes and apostrophes, no control or format characters, one line.

    Example:
        >>> normalise("I\u2019m  here\u200b")
        "I'm here"
    """
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_CHARS)
    if not text.isascii():
        text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Co", "Cs"))
    # Line breaks end sentences: keep them as a full stop before folding.
    text = re.sub(r"\s*[\r\n\u2028\u2029]+\s*", ". ", text)
    return fold_whitespace(text)


_SPEECH_VERB = (
    r"(?:said|says|say|told\s+\w+|tells\s+\w+|tell\s+\w+|asked|asks|wrote|writes|texted|texts|"
    r"replied|replies|yelled|yells|shouted|shouts|joked|jokes|goes|went|was\s+like|is\s+like|claims|claimed)"
)
_DOUBLE_QUOTED = re.compile(r'"([^"]*)"')
_SINGLE_QUOTED = re.compile(r"(?:(?<=\s)|^)'([^']{2,}?)'(?=[\s.,!?;:]|$)")
_BEFORE_SPEECH = re.compile(_SPEECH_VERB + r"\s*[:,]?\s*$", re.I)
_AFTER_SPEECH = re.compile(r"^\s*[,.!?]*\s*(?:\w+\s+){0,2}?" + _SPEECH_VERB + r"\b", re.I)
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|my|me)\b")


def _drop_quotes(text: str) -> str:
    """``text`` with quoted speech removed and quoted titles unquoted."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        before, after = text[: match.start()], text[match.end() :]
        speech = (
            _BEFORE_SPEECH.search(before) is not None
            or _AFTER_SPEECH.match(after) is not None
            or _FIRST_PERSON.search(inner) is not None
        )
        return " " if speech else inner

    if '"' in text:
        text = _DOUBLE_QUOTED.sub(replace, text)
    if "'" in text:
        text = _SINGLE_QUOTED.sub(replace, text)
    return text


# Anyone but the user reporting what was said or thought: the rest is theirs, not ours.
_REPORTED = re.compile(
    r"\b(?!I\b)(?:he|she|they|we|you|someone|somebody|everyone|everybody|people|nobody|[A-Z][a-z]+|"
    r"(?i:my|his|her|their|our|your)\s+\w+)\s+(?P<verb>said|says|say|told\s+me|tells\s+me|thinks|thought|"
    r"claims|claimed|believes|believed|wrote|writes|texted|joked|asked|insists|insisted|reckons|swears|keeps\s+"
    r"telling\s+me|kept\s+telling\s+me)\b",
)
# A sentence ends at . ! ? ; and a space, except after a title or a common abbreviation.
_SENTENCE_END = re.compile(
    r"(?<!\bSt\.)(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMt\.)(?<!\bJr\.)(?<!\bSr\.)(?<!\bMrs\.)"
    r"(?<!\bvs\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<=[.!?;])\s+"
)
_TAG_QUESTION = re.compile(
    r"^(?P<statement>.*?\S)\s*[,-]\s*(?:do|don't|does|did|are|aren't|is|isn't|have|haven't|can|could|"
    r"would|will|won't|what|how|right|and|you know|wbu|hbu)\b[^,]*\?+$",
    re.I,
)
_ASKS = re.compile(
    r"^(?:do|does|did|can|could|would|will|should|shall|is|are|was|were|have|has|am|may|might)\s+"
    r"(?:you|i|we|he|she|they|it|u|ya|there)\b",
    re.I,
)
_HYPOTHETICAL = re.compile(
    r"\b(?:if|unless|suppose|supposing|imagine|imagining|pretend|pretending|hypothetically|"
    r"wish|wished|wishing|assuming|would\s+have|could\s+have|should\s+have|as\s+though|"
    r"in\s+another\s+life|in\s+a\s+world\s+where|dreamt|dreamed)\b",
    re.I,
)
_CLAUSE_SPLIT = re.compile(
    r"\s*(?:,\s*)?\b(?:but|although|though|because|cause|whereas|except\s+that)\b\s*"
    r"|,\s*so\s+"
    r"|(?:,\s*)?\s+and\s+(?=(?:I|I'm|I've|I'd|I'll|my|we|our)\b)"
    r"|,\s+(?=(?:I|I'm|I've|I'd|I'll|my|My|we)\b)"
    r"|\s+-+\s+"
)
_HEDGE = re.compile(
    r"\b(?:i\s+think|i\s+guess|i\s+suppose|i\s+believe|maybe|perhaps|probably|possibly|kind\s+of|sort\s+of|"
    r"kinda|not\s+sure)\b",
    re.I,
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|nobody|nothing|none|neither|nor|without|hardly|barely|no\s+longer|"
    r"\w+n't|cannot|dont|doesnt|didnt|isnt|wasnt|wont|cant|aint)\s+(?:\w+\s+){0,2}$",
    re.I,
)


@dataclass(frozen=True)
class Statement:
    """One clause of a message that may assert something about the user.

    Attributes:
        text: The clause.
        sentence: The sentence it is part of, as written (the fact's evidence).
        hedged: Whether the sentence hedges (``I think``, ``maybe``): lower confidence.
    """

    text: str
    sentence: str
    hedged: bool


def _statement_part(sentence: str) -> str | None:
    """The statement of ``sentence``, or ``None`` for a question."""
    body = sentence.rstrip()
    if body.endswith("?"):
        tagged = _TAG_QUESTION.match(body)
        if tagged is None or "?" in tagged.group("statement") or _ASKS.match(tagged.group("statement")):
            return None
        body = tagged.group("statement")
    elif _ASKS.match(body):
        return None
    return body


def is_hypothetical(sentence: str) -> bool:
    """Whether ``sentence`` is conditional, imagined or wished for.

    Example:
        >>> is_hypothetical("If I were a doctor, I would help"), is_hypothetical("I am a doctor")
        (True, False)
    """
    return _HYPOTHETICAL.search(sentence) is not None


def has_hedge(sentence: str) -> bool:
    """Whether ``sentence`` hedges (``I think``, ``maybe``, ``kind of``)."""
    return _HEDGE.search(sentence) is not None


def negated_before(text: str, start: int) -> bool:
    """Whether a negation stands within the two words before ``text[start:]``.

    Example:
        >>> s = "I do not really like jazz"
        >>> negated_before(s, s.index("like"))
        True
    """
    return _NEGATION.search(text[max(0, start - 40) : start]) is not None


@lru_cache(maxsize=2048)
def _statements(text: str) -> tuple[Statement, ...]:
    text = _drop_quotes(normalise(text))
    out: list[Statement] = []
    for raw in _SENTENCE_END.split(text):
        sentence = raw.strip()
        if not sentence:
            continue
        body = _statement_part(sentence)
        if body is None or is_hypothetical(body):
            continue
        reported = _REPORTED.search(body)
        if reported is not None:
            # Keep who said it ("my sister Ana says ..." still names a sister), drop what.
            body = body[: reported.start("verb")]
        body = body.strip().rstrip(".!;:,").strip()
        if not body:
            continue
        hedged = has_hedge(body)
        for clause in _CLAUSE_SPLIT.split(body):
            clause = clause.strip().strip(",;:").strip()
            if clause:
                out.append(Statement(clause, sentence, hedged))
    return tuple(out)


@lru_cache(maxsize=2048)
def _sentences(text: str) -> tuple[str, ...]:
    text = _drop_quotes(normalise(text))
    out = []
    for raw in _SENTENCE_END.split(text):
        sentence = raw.strip()
        if sentence and not is_hypothetical(sentence):
            out.append(sentence)
    return tuple(out)


def sentences(text: str) -> tuple[str, ...]:
    """The sentences of ``text``, questions included, without quoted speech or hypotheticals.

    Example:
        >>> sentences("Can I tell you a secret? If I won, I'd cry.")
        ('Can I tell you a secret?',)
    """
    return _sentences(text)


def statements(text: str) -> tuple[Statement, ...]:
    """The statements of ``text`` (see the module docstring), in order.

    Example:
        >>> [s.text for s in statements("If I were rich I'd travel. Do you like jazz? I do.")]
        ['I do']
    """
    return _statements(text)


_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (apostrophes kept: ``don't``).

    Example:
        >>> words("I DON'T like it!")
        ['i', "don't", 'like', 'it']
    """
    return _WORD.findall(text.lower())


def slug(text: str, max_words: int = 6) -> str:
    """A lower-case identifier for ``text``: ASCII letters, digits and ``_``; ``""`` if none.

    Example:
        >>> slug("Spicy Food!"), slug("café au lait")
        ('spicy_food', 'cafe_au_lait')
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    parts = re.findall(r"[a-z0-9]+", ascii_text)[:max_words]
    return "_".join(parts)[:64].strip("_")
