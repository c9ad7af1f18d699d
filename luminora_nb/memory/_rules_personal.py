"""Rules of the offline fact extractor about who the user is.

``personal_info`` (name, nickname, age, birth, places, nationality, languages), ``work``
(job, employer, field, studies, status) and ``relationships`` (relatives, partner, pets).
A rule that reads one value into one key (an age, a place, a status) is one
``_fact_rule`` call (:mod:`._fact_vocab`): its category, key, confidence, what it reads
from the match and its pattern. The others are functions registered by the ``_rule``
decorator that add facts through the ``add(category, key, value, confidence)`` callback
the extractor passes them. Rules run in the order they are registered here; see
:mod:`.facts` for the table of keys.
"""

from __future__ import annotations

import re
from typing import Any

from ._fact_vocab import (
    _BAD_OBJECT_START,
    _COUNT_KEYS,
    _DEMONYMS,
    _I,
    _IM,
    _JOBS,
    _MONTHS,
    _NUMBERS,
    _PETS,
    _PLURAL_PETS,
    _PLURAL_RELATIVES,
    _RELATIVES,
    _TRAILING,
    _Add,
    _age,
    _clean_object,
    _fact_rule,
    _group,
    _items,
    _name,
    _names,
    _number,
    _place,
    _place_of,
    _rule,
)
from ._text import Statement, negated_before

# personal_info ----------------------------------------------------------------------------------


@_rule(
    r"\bmy\s+(?:first\s+|full\s+)?name(?:'s|\s+is)\s+([^\W\d_][\w'-]*)(?:\s+((?-i:[A-Z])[\w'-]*))?", "name"
)
def _my_name(m: re.Match[str], st: Statement, add: _Add) -> None:
    first = _name(m.group(1), require_capital=False)
    if first is None:
        return
    last = _name(m.group(2), require_capital=True) if m.group(2) else None
    add("personal_info", "name", f"{first} {last}" if last else first, 0.95)


@_rule(
    r"^(?:(?:hi|hello|hey|hiya|greetings|yo|howdy)(?:\s+there)?[\s,!.]+)?(?:i'm|i\s+am|im)\s+"
    r"((?-i:[A-Z])[\w'-]*)(?:\s+((?-i:[A-Z])[\w'-]*))?\s*(?:$|[,.!]|\s+(?:and|from|here|by)\b)",
    "i",
)
def _im_name(m: re.Match[str], st: Statement, add: _Add) -> None:
    word = m.group(1)
    if word in _DEMONYMS:
        return  # nationality, read by its own rule
    first = _name(word, require_capital=True)
    if first is None:
        return
    last = _name(m.group(2), require_capital=True) if m.group(2) else None
    add("personal_info", "name", f"{first} {last}" if last else first, 0.85)


@_rule(r"\b(?:you\s+can\s+|please\s+|just\s+)?call\s+me\s+((?-i:[A-Z])[\w'-]*)", "call")
def _nickname(m: re.Match[str], st: Statement, add: _Add) -> None:
    name = _name(m.group(1), require_capital=True)
    if name is not None and not negated_before(st.text, m.start()):
        add("personal_info", "nickname", name, 0.85)


_fact_rule(
    "personal_info",
    "age",
    0.9,
    _age,
    _IM + r"(?:now\s+|only\s+|almost\s+|nearly\s+)?(\d{1,3})(?:\s*(?:years?|yrs?)(?:\s+old)?|\s*y/?o)?"
    r"(?=\s*$|\s*[,.!;]|\s+(?:and|but|now|years|yrs|so|too)\b)",
    "i",
)
_fact_rule(
    "personal_info", "age", 0.9, _age, r"\bi(?:'m|\s+am|m)\s+(?:a|an)\s+(\d{1,3})[- ]year[- ]old\b", "year"
)
_fact_rule("personal_info", "age", 0.9, _age, _I + r"(?:just\s+)?turned\s+(\d{1,3})\b", "turned")
_fact_rule("personal_info", "birth_year", 0.9, _number, _I + r"was\s+born\s+in\s+((?:19|20)\d\d)\b", "born")
_fact_rule(
    "personal_info", "hometown", 0.9, _place_of, _I + r"was\s+born\s+in\s+(?!(?:19|20)\d\d)(\S.*)", "born"
)
_fact_rule(
    "personal_info",
    "birthday",
    0.9,
    _group,
    r"\bmy\s+birthday\s+is\s+(?:on\s+)?((?:"
    + _MONTHS
    + r"\s+\d{1,2}(?:st|nd|rd|th)?)|(?:\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?"
    + _MONTHS
    + r"))\b",
    "birthday",
)


def _lived_in(m: re.Match[str]) -> str | None:
    if re.search(r"\bi\s+(?:lived|living)\b", m.group(0), re.I):
        return None  # "I lived in Rome" is the past; "I've lived in Rome for years" is not
    return _place(m.group(1))


_fact_rule(
    "personal_info",
    "location",
    0.9,
    _lived_in,
    r"\bi(?:\s+|'ve\s+|\s+have\s+)(?:currently\s+|now\s+|still\s+|also\s+|been\s+)?"
    r"(?:live|lived|living)\s+in\s+(\S.*)",
    "liv",
)
_fact_rule(
    "personal_info",
    "location",
    0.85,
    _place_of,
    _IM + r"(?:currently\s+|now\s+)?(?:based|living|located|settled)\s+in\s+(\S.*)",
    "in",
)
_fact_rule(
    "personal_info",
    "location",
    0.85,
    _place_of,
    _I + r"(?:just\s+|recently\s+|finally\s+)?moved\s+to\s+(\S.*)",
    "moved",
)
_fact_rule(
    "personal_info",
    "hometown",
    0.85,
    _place_of,
    r"(?:"
    + _IM
    + r"(?:originally\s+)?from|"
    + _I
    + r"(?:originally\s+)?come\s+from|"
    + _I
    + r"grew\s+up\s+in|\bborn\s+and\s+raised\s+in)\s+(\S.*)",
    "from",
    "grew",
    "raised",
)


@_rule(_IM + r"((?-i:[A-Z])[a-z]+)\b(?!\s+(?:food|music|cuisine|films?|movies?))", "i")
def _nationality(m: re.Match[str], st: Statement, add: _Add) -> None:
    if m.group(1) in _DEMONYMS:
        add("personal_info", "nationality", m.group(1), 0.85)


@_rule(_I + r"(?:also\s+)?speak\s+(\S.*)", "speak")
def _languages(m: re.Match[str], st: Statement, add: _Add) -> None:
    last_words = [i.split()[-1] for i in _items(_clean_object(m.group(1))) if i.split()]
    languages = [w for w in last_words if w[:1].isupper() and w != "I"]
    if languages:
        add("personal_info", "languages", languages, 0.85)


# work -------------------------------------------------------------------------------------------


def _job_phrase(text: str) -> str | None:
    phrase = re.split(r"\s+(?:at|for|in|with|and|but|who|since|from|on)\b|[,.;!]", text.strip(), maxsplit=1)[
        0
    ]
    phrase = _TRAILING.sub("", phrase).strip()
    parts = phrase.split()
    if not parts or len(parts) > 4 or parts[0].lower() in ("not", "bit", "little", "lot", "fan", "big"):
        return None
    return phrase.lower() if not any(p[:1].isupper() for p in parts[1:]) else phrase


@_rule(
    r"\bi(?:'ve|\s+have)\s+been\s+(?:a|an)\s+((?:[\w-]+\s+){0,3}?)("
    + "|".join(sorted(_JOBS, key=len, reverse=True))
    + r")\s+for\s+(?:\d+|a|an|two|three|four|five|six|seven|eight|nine|ten|many|several|over"
    r"|almost|nearly)\b",
    "been",
)
def _been_job(m: re.Match[str], st: Statement, add: _Add) -> None:
    add("work", "job", " ".join([*m.group(1).split(), m.group(2)]).lower(), 0.85)


@_rule(
    r"(?:" + _I + r"(?:currently\s+|now\s+|still\s+)?work\s+as"
    r"|\bi(?:'ve|\s+have)\s+(?:been\s+)?work(?:ed|ing)\s+as)\s+(?:a|an)\s+(\S.*)",
    "work",
)
def _work_as(m: re.Match[str], st: Statement, add: _Add) -> None:
    """``I work as a nurse``."""
    job = _job_phrase(m.group(1))
    if job:
        add("work", "job", job, 0.9)
    _employer(m.group(1), add)


def _employer(text: str, add: _Add) -> None:
    found = re.search(
        r"\b(?:at|for)\s+((?:the\s+)?(?-i:[A-Z])[\w&'.-]*(?:\s+(?-i:[A-Z&])[\w&'.-]*){0,3})", text
    )
    if found:
        add("work", "employer", found.group(1), 0.85)


@_rule(
    _IM + r"(?:a|an)\s+((?:[\w-]+\s+){0,3}?)(" + "|".join(sorted(_JOBS, key=len, reverse=True)) + r")\b"
    r"(?!\s+(?:of|at\s+heart|in\s+training)\b)(.*)",
    "i",
)
def _im_a_job(m: re.Match[str], st: Statement, add: _Add) -> None:
    modifiers = m.group(1).split()
    if any(
        w.lower() in ("not", "big", "huge", "bit", "fan", "terrible", "bad", "good", "great")
        for w in modifiers
    ):
        return
    modifiers = [w for w in modifiers if not re.fullmatch(r"\d+-year-old|\d+", w, re.I)]
    add("work", "job", " ".join([*modifiers, m.group(2)]).lower(), 0.85)
    _employer(m.group(3), add)


def _status(m: re.Match[str]) -> str:
    value = m.group(1).lower()
    return "unemployed" if value in ("between jobs", "out of work") else value


_fact_rule(
    "work",
    "employment_status",
    0.85,
    _status,
    _IM + r"(?:now\s+|currently\s+)?(retired|unemployed|self-employed"
    r"|between\s+jobs|out\s+of\s+work|a\s+stay-at-home\s+(?:mom|dad|parent))\b",
    "i",
)
_fact_rule(
    "work",
    "employer",
    0.9,
    _group,
    _I + r"(?:currently\s+|now\s+|still\s+)?work\s+(?:at|for)\s+("
    r"(?:the\s+)?(?-i:[A-Z])[\w&'.-]*(?:\s+(?-i:[A-Z&])[\w&'.-]*){0,3})",
    "work",
)


@_rule(_I + r"(?:currently\s+|now\s+|still\s+)?work\s+in\s+(\S.*)", "work")
def _work_in(m: re.Match[str], st: Statement, add: _Add) -> None:
    text = _clean_object(re.split(r"\s+(?:at|for|and|but|with)\b", m.group(1), maxsplit=1)[0])
    parts = text.split()
    if not parts or len(parts) > 4:
        return
    if parts[0].lower() in ("a", "an", "the"):
        add("work", "workplace", text.lower(), 0.8)
    else:
        add("work", "field", text if text.isupper() else text.lower(), 0.8)


@_rule(
    (
        r"\bmy\s+(?:job|profession|occupation)\s+is\s+(?:being\s+)?(?:a|an)\s+"
        r"(\S.*)|\bmy\s+(?:profession|occupation)\s+is\s+(\S.*)"
    ),
    "my",
)
def _my_job(m: re.Match[str], st: Statement, add: _Add) -> None:
    job = _job_phrase(m.group(1) or m.group(2))
    if job:
        add("work", "job", job, 0.9)


@_rule(
    r"(?:"
    + _I
    + r"(?:currently\s+)?study|"
    + _IM
    + (
        r"(?:currently\s+)?(?:studying|majoring\s+in|doing\s+a\s+(?:degree|phd"
        r"|masters?|bachelor'?s?)\s+in))\s+(\S.*)"
    ),
    "stud",
    "major",
    "degree",
)
def _studies(m: re.Match[str], st: Statement, add: _Add) -> None:
    text = re.split(r"\s+(?:at|in|and|but|with|for|because)\b", m.group(1), maxsplit=1)[0]
    text = _clean_object(text)
    parts = text.split()
    if (
        not parts
        or len(parts) > 4
        or parts[0].lower() in ("for", "to", "with", "hard", "a", "the", "all", "my", "so")
    ):
        return
    add("work", "studies", text if any(p[:1].isupper() for p in parts) else text.lower(), 0.85)
    school = re.search(
        r"\bat\s+((?:the\s+)?(?-i:[A-Z])[\w&'.-]*(?:\s+(?:of\s+)?(?-i:[A-Z&])[\w&'.-]*){0,4})", m.group(1)
    )
    if school:
        add("work", "school", school.group(1), 0.8)


@_rule(_I + r"(?:currently\s+|now\s+|still\s+)?teach\s+(\S.*)", "teach")
def _teach(m: re.Match[str], st: Statement, add: _Add) -> None:
    subject = _clean_object(
        re.split(r"\s+(?:at|in|to|for|and|but|which|who|,)\b|,", m.group(1), maxsplit=1)[0]
    )
    parts = subject.split()
    if (
        parts
        and len(parts) <= 4
        and parts[0].lower() not in _BAD_OBJECT_START
        and parts[0].lower() not in ("a", "the")
    ):
        add("work", "job", f"{subject.lower()} teacher", 0.8)


# relationships ----------------------------------------------------------------------------------

_REL_WORDS = "|".join(sorted((re.escape(k) for k in _RELATIVES), key=len, reverse=True))
_REL_PLURAL = "|".join(sorted(_PLURAL_RELATIVES, key=len, reverse=True))
_PET_WORDS = "|".join(sorted((re.escape(k) for k in _PETS), key=len, reverse=True))
_PET_PLURAL = "|".join(sorted((re.escape(k) for k in _PLURAL_PETS), key=len, reverse=True))
_DEATH = re.compile(
    r"\b(?:died|passed\s+away|passed\s+on|put\s+down|put\s+to\s+sleep|is\s+dying|lost\s+my)\b", re.I
)
_NAMED = r"(?:'s\s+name\s+is|\s+is\s+called|\s+is\s+named|\s+called|\s+named|\s*,)?\s+"


def _living_name(m: re.Match[str]) -> str | None:
    """The name in the second group, unless the statement tells of a death.

    A loss is the events rule's (with the name); ``m.string`` is the statement.
    """
    return None if _DEATH.search(m.string) else _name(m.group(2), require_capital=True)


_fact_rule(
    "relationships",
    lambda m: _RELATIVES[m.group(1).lower()],
    0.9,
    _living_name,
    r"\bmy\s+(?:(?:little|big|older|younger|baby|eldest|oldest|youngest|twin|new|lovely|late)\s+)?("
    + _REL_WORDS
    + r")"
    + _NAMED
    + r"((?-i:[A-Z])[\w'-]*)",
    "my",
)


@_rule(
    r"\bmy\s+(?:(?:little|big|older|younger|two|three|four|twin|lovely)\s+)?("
    + _REL_PLURAL
    + r")"
    + _NAMED
    + r"((?-i:[A-Z])\S*(?:(?:\s*,\s*|\s+and\s+)(?-i:[A-Z])\S*)+)",
    "my",
)
def _relatives(m: re.Match[str], st: Statement, add: _Add) -> None:
    names = _names(m.group(2))
    if len(names) >= 2:
        add("relationships", _PLURAL_RELATIVES[m.group(1).lower()], names, 0.9)


@_rule(
    r"\b(?:i|we)(?:\s+have|'ve\s+got|\s+have\s+got|\s+got)\s+"
    + (
        r"(no|zero|a|an|one|two|three|four|five|six|seven|eight|nine|ten"
        r"|\d{1,2})\s+(?:(?:little|big|older|younger|twin|grown(?:-up)?"
        r"|wonderful|lovely|amazing)\s+)?("
    )
    + _REL_PLURAL
    + r"|"
    + "|".join(k for k in _RELATIVES if " " not in k)
    + r"|boy|girl|baby\s+boy|baby\s+girl)\b(?:"
    + _NAMED
    + r"((?-i:[A-Z])[\w'-]*(?:(?:\s*,\s*|\s+and\s+)(?-i:[A-Z])[\w'-]*)*))?",
    "have",
    "got",
)
def _have_relatives(m: re.Match[str], st: Statement, add: _Add) -> None:
    word = m.group(2).lower().split()[-1]
    inferred = word in ("boy", "girl")  # "a little boy": a son, not a count of sons
    word = {"boy": "son", "girl": "daughter"}.get(word, word)
    if m.group(0).lower().startswith("we") and word not in ("son", "daughter", "children", "kids"):
        return  # "we have two sisters" is not about the user's family alone
    count = int(m.group(1)) if m.group(1).isdigit() else _NUMBERS[m.group(1).lower()]
    singular = _PLURAL_RELATIVES.get(word) or _RELATIVES.get(word)
    if singular is None:
        return
    if singular in _COUNT_KEYS and not inferred:
        add("relationships", f"number_of_{_COUNT_KEYS[singular]}", count, 0.85)
    names = _names(m.group(3)) if m.group(3) else []
    if names and count > 0:
        add("relationships", singular, names[0] if len(names) == 1 else names, 0.9)


@_rule(
    _IM
    + (
        r"(?:\d{1,3},?\s+(?:and\s+)?)?(?:happily\s+|recently\s+|newly\s+)?(married|single|divorced|widowed"
        r"|engaged|separated)\b(?:\s+to\s+((?-i:[A-Z])[\w'-]*))?"
    ),
    "i",
)
def _marital(m: re.Match[str], st: Statement, add: _Add) -> None:
    add("relationships", "marital_status", m.group(1).lower(), 0.85)
    if m.group(2):
        name = _name(m.group(2), require_capital=True)
        if name:
            add("relationships", "partner", name, 0.9)


_fact_rule(
    "relationships",
    lambda m: f"pet_{_PETS[m.group(1).lower()]}",
    0.9,
    _living_name,
    r"\bmy\s+(?:(?:little|big|old|new|baby|sweet|lovely|rescue|senior)\s+)?("
    + _PET_WORDS
    + r")"
    + _NAMED
    + r"((?-i:[A-Z])[\w'-]*)",
    "my",
)


def _pet_kind(m: re.Match[str]) -> str:
    word = m.group(1).lower()
    return _PETS.get(word) or _PLURAL_PETS[word]


def _pets_named(m: re.Match[str]) -> Any:
    """The pets' names, or the kind (``dog``) when the statement names none."""
    names = _names(m.group(2)) if m.group(2) else []
    return (names[0] if len(names) == 1 else names) if names else _pet_kind(m).replace("_", " ")


_fact_rule(
    "relationships",
    lambda m: f"pet_{_pet_kind(m)}",
    0.85,
    _pets_named,
    (
        r"\b(?:i|we)\s+(?:also\s+|still\s+)?(?:have|own|adopted|got)\s+(?:a|an"
        r"|one|two|three|four|\d)\s+(?:(?:little|big|old|new|baby|sweet|lovely"
        r"|rescue|senior|black|white|grey|gray|ginger|tabby)\s+)*("
    )
    + _PET_WORDS
    + r"|"
    + _PET_PLURAL
    + r")\b(?:"
    + _NAMED
    + r"((?-i:[A-Z])[\w'-]*(?:\s+and\s+(?-i:[A-Z])[\w'-]*)?))?",
    "have",
    "own",
    "adopted",
    "got",
)
