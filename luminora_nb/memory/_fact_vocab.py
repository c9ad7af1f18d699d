"""Vocabularies and helpers of the rules fact extractor, and the registry of its rules.

The rules themselves live in :mod:`._rules_personal` (who the user is: name, age,
places, work, family, pets) and :mod:`._rules_life` (what the user likes, does, wants,
suffers from and lives through). Each registers itself with :func:`_rule`: a pattern
(case-insensitive) plus the words one of which must occur in the statement, so most
rules are skipped by a substring test before any regular expression runs.
:mod:`.facts` runs them (``_run_rules``). Split out of :mod:`.facts` only to keep
modules short; nothing here is public API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..types.memory import (
    FactCategory,
)
from ._text import Statement, slug, wordlist

# -- vocabularies -------------------------------------------------------------------------------

_JOBS = wordlist(
    """
    accountant actor actress administrator analyst architect artist assistant astronaut attorney
    baker banker barber barista bartender biologist bookkeeper builder butcher carpenter cashier ceo
    chef chemist cleaner clerk coach consultant cook counselor counsellor cto dancer dentist designer
    detective developer dietitian director doctor driver economist editor electrician engineer
    entrepreneur executive farmer firefighter founder freelancer gardener geologist hairdresser
    historian illustrator instructor intern investor janitor journalist judge lawyer lecturer
    librarian lifeguard manager mechanic midwife musician nanny nurse officer optician painter
    paralegal paramedic pharmacist photographer physician physicist physiotherapist pilot plumber
    poet politician postdoc producer professor programmer psychiatrist psychologist realtor
    receptionist reporter researcher salesman saleswoman salesperson scientist secretary singer
    soldier student surgeon tailor teacher technician therapist translator tutor undergrad
    veterinarian vet waiter waitress welder writer youtuber streamer owner"""
)
_DEMONYMS = wordlist(
    """
    American British English Scottish Irish Welsh Canadian Mexican Brazilian Argentinian Chilean
    Colombian Peruvian Spanish Portuguese French Italian German Dutch Belgian Swiss Austrian Swedish
    Norwegian Danish Finnish Polish Czech Greek Turkish Russian Ukrainian Romanian Hungarian Indian
    Pakistani Chinese Japanese Korean Vietnamese Thai Filipino Indonesian Australian Nigerian Kenyan
    Egyptian Moroccan Israeli Iranian Icelandic Cuban Venezuelan Croatian Serbian Bulgarian"""
)
_NOT_NAMES = wordlist(
    """
    not so just really very sorry fine good okay ok here back done sure glad happy sad tired going
    gonna feeling also still the a an in at on from with home married single retired ready excited
    afraid alright well busy free new old there always never currently totally actually literally
    pretty quite almost bored hungry lost confused curious interested looking trying working thinking
    learning living moving allergic from into about over off out up down sick fine great doing
    getting having hoping planning starting studying stuck sure thrilled worried your yours you"""
)
_RELATIVES: dict[str, str] = {
    "sister": "sister",
    "brother": "brother",
    "wife": "partner",
    "husband": "partner",
    "partner": "partner",
    "girlfriend": "partner",
    "boyfriend": "partner",
    "fiance": "partner",
    "fiancee": "partner",
    "fiancé": "partner",
    "fiancée": "partner",
    "spouse": "partner",
    "son": "son",
    "daughter": "daughter",
    "mom": "mother",
    "mum": "mother",
    "mother": "mother",
    "dad": "father",
    "father": "father",
    "grandma": "grandmother",
    "grandmother": "grandmother",
    "grandpa": "grandfather",
    "grandfather": "grandfather",
    "best friend": "best_friend",
    "cousin": "cousin",
    "aunt": "aunt",
    "uncle": "uncle",
    "niece": "niece",
    "nephew": "nephew",
    "stepson": "stepson",
    "stepdaughter": "stepdaughter",
    "twin": "twin",
}
_PLURAL_RELATIVES: dict[str, str] = {
    "sisters": "sister",
    "brothers": "brother",
    "sons": "son",
    "daughters": "daughter",
    "kids": "children",
    "children": "children",
    "cousins": "cousin",
    "twins": "twin",
    "siblings": "siblings",
    "parents": "parents",
    "grandkids": "grandchildren",
    "grandchildren": "grandchildren",
}
# What "I have N <relatives>" counts: number_of_<plural>.
_COUNT_KEYS = {
    "sister": "sisters",
    "brother": "brothers",
    "son": "sons",
    "daughter": "daughters",
    "children": "children",
    "cousin": "cousins",
    "twin": "twins",
    "siblings": "siblings",
    "grandchildren": "grandchildren",
}
_PETS: dict[str, str] = {
    "dog": "dog",
    "puppy": "dog",
    "pup": "dog",
    "cat": "cat",
    "kitten": "cat",
    "kitty": "cat",
    "hamster": "hamster",
    "rabbit": "rabbit",
    "bunny": "rabbit",
    "parrot": "parrot",
    "bird": "bird",
    "budgie": "bird",
    "fish": "fish",
    "goldfish": "fish",
    "turtle": "turtle",
    "tortoise": "tortoise",
    "horse": "horse",
    "pony": "horse",
    "guinea pig": "guinea_pig",
    "snake": "snake",
    "lizard": "lizard",
    "gecko": "lizard",
    "ferret": "ferret",
    "mouse": "mouse",
    "rat": "rat",
    "chicken": "chicken",
    "retriever": "dog",
    "golden retriever": "dog",
    "labrador": "dog",
    "lab": "dog",
    "poodle": "dog",
    "beagle": "dog",
    "terrier": "dog",
    "spaniel": "dog",
    "bulldog": "dog",
    "husky": "dog",
    "corgi": "dog",
    "dachshund": "dog",
    "chihuahua": "dog",
    "collie": "dog",
    "border collie": "dog",
    "german shepherd": "dog",
    "shepherd": "dog",
    "pug": "dog",
    "greyhound": "dog",
    "rottweiler": "dog",
    "boxer": "dog",
    "doberman": "dog",
    "pomeranian": "dog",
    "schnauzer": "dog",
    "shih tzu": "dog",
    "maltese": "dog",
    "whippet": "dog",
}
_PLURAL_PETS = {
    "dogs": "dog",
    "cats": "cat",
    "kittens": "cat",
    "puppies": "dog",
    "hamsters": "hamster",
    "rabbits": "rabbit",
    "birds": "bird",
    "fish": "fish",
    "turtles": "turtle",
    "horses": "horse",
    "guinea pigs": "guinea_pig",
    "snakes": "snake",
    "chickens": "chicken",
    "ferrets": "ferret",
    "rats": "rat",
    "parrots": "parrot",
}
_NUMBERS = {
    "no": 0,
    "zero": 0,
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twin": 2,
}
_PLAYED = wordlist(
    """
    guitar piano violin cello drums bass ukulele saxophone sax flute trumpet clarinet harp banjo
    harmonica keyboard tennis football soccer basketball baseball volleyball golf chess hockey rugby
    cricket badminton squash handball softball poker bridge pool snooker darts frisbee lacrosse
    padel pickleball"""
)
_PLAYED_PHRASES = (
    "video games",
    "board games",
    "table tennis",
    "ping pong",
    "the piano",
    "the guitar",
    "the violin",
    "the drums",
    "the cello",
    "the bass",
    "the flute",
    "the trumpet",
    "ultimate frisbee",
    "dungeons and dragons",
    "d&d",
)
_DONE = wordlist(
    """
    yoga pilates karate judo taekwondo crossfit meditation ballet aikido boxing kickboxing parkour
    gymnastics archery fencing jiu-jitsu jujitsu kendo tai chi zumba calisthenics"""
)
_GONE = wordlist(
    """
    hiking running climbing swimming fishing camping surfing skiing snowboarding cycling biking
    bouldering dancing sailing kayaking jogging skating bowling diving scuba snorkeling canoeing
    rowing birdwatching hunting"""
)
_CONDITIONS = (
    "type 1 diabetes",
    "type 2 diabetes",
    "diabetes",
    "asthma",
    "adhd",
    "autism",
    "anxiety",
    "depression",
    "migraines",
    "migraine",
    "epilepsy",
    "arthritis",
    "celiac disease",
    "coeliac disease",
    "insomnia",
    "high blood pressure",
    "hypertension",
    "ibs",
    "long covid",
    "back pain",
    "a bad back",
    "cancer",
    "ms",
    "multiple sclerosis",
    "ptsd",
    "ocd",
    "bipolar disorder",
    "bipolar",
    "dyslexia",
    "eczema",
    "psoriasis",
    "fibromyalgia",
    "tinnitus",
    "lupus",
    "crohn's disease",
    "crohns",
    "a heart condition",
    "chronic fatigue",
    "sleep apnea",
    "sleep apnoea",
    "endometriosis",
    "pcos",
    "scoliosis",
)
_STATES = {
    "lactose intolerant": "lactose_intolerance",
    "gluten intolerant": "gluten_intolerance",
    "diabetic": "diabetes",
    "asthmatic": "asthma",
    "epileptic": "epilepsy",
    "deaf": "deafness",
    "blind": "blindness",
    "colorblind": "colour_blindness",
    "colourblind": "colour_blindness",
    "color blind": "colour_blindness",
    "colour blind": "colour_blindness",
    "pregnant": "pregnancy",
    "autistic": "autism",
    "dyslexic": "dyslexia",
    "celiac": "celiac_disease",
    "coeliac": "celiac_disease",
    "hard of hearing": "hearing_loss",
    "in remission": "remission",
    "anemic": "anemia",
    "anaemic": "anemia",
}
_DIETS = (
    "vegetarian",
    "vegan",
    "pescatarian",
    "pescetarian",
    "keto",
    "gluten-free",
    "gluten free",
    "dairy-free",
    "dairy free",
    "halal",
    "kosher",
    "paleo",
)
_FEELINGS = wordlist(
    """
    happy sad anxious stressed lonely depressed excited angry upset worried scared nervous tired
    exhausted overwhelmed frustrated hopeful grateful proud relieved bored miserable heartbroken
    devastated calm content confused afraid terrified ashamed guilty jealous better worse great awful
    terrible down low hopeless"""
)
_GOAL_VERBS = wordlist(
    """
    learn become be run lose gain get start finish complete buy travel visit go move build write
    publish quit stop save graduate open launch improve speak climb retire find study master earn pass
    win read adopt own create join apply train compete spend have see make cycle swim hike walk
    finally"""
)
_ADVERBS = (
    r"(?:(?:really|absolutely|just|totally|also|truly|honestly|actually|genuinely|still|do|so|"
    r"definitely|seriously|deeply|simply|especially|kinda|kind\s+of|sort\s+of|quite|always|"
    r"super|secretly)\s+)*"
)
_I = r"\bi\s+"
_IM = r"\bi(?:'m|\s+am|m)\s+"
_TIME = re.compile(
    r"\b(?:today|tonight|tomorrow|yesterday|this\s+(?:morning|afternoon|evening|week|weekend|month|year)|"
    r"next\s+(?:week|weekend|month|year|monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"last\s+(?:night|week|weekend|month|year)|on\s+(?:monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)|in\s+(?:january|february|march|april|may|june|july|august|september|october|"
    r"november|december)|in\s+(?:a|\d+|two|three|four|a\s+few)\s+(?:days?|weeks?|months?))\b",
    re.I,
)
# When a goal is for: left out of the goal's key, so "run a marathon" and "run a marathon
# next year" are one goal.
_GOAL_TIME = re.compile(
    _TIME.pattern + r"|\b(?:someday|some\s+day|one\s+day|soon|eventually|in\s+the\s+future|"
    r"(?:this|next)\s+(?:spring|summer|autumn|fall|winter)|by\s+\d{4}|in\s+\d{4}|before\s+i\s+die)\b",
    re.I,
)
_MONTHS = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
)
_COMPOUNDS = (
    "rock and roll",
    "mac and cheese",
    "fish and chips",
    "salt and pepper",
    "rhythm and blues",
    "bread and butter",
    "black and white",
    "drum and bass",
    "peanut butter and jelly",
    "dungeons and dragons",
    "pros and cons",
    "arts and crafts",
    "law and order",
    "sweet and sour",
)
_BAD_OBJECT_START = wordlist(
    """
    it it's its that that's this these those you your yours you're u ur him her them they what how
    when where why which who whom whether because myself yourself himself herself so too very to_be
    me us everything nothing anything something everyone anyone someone nobody"""
)
_BAD_TO_VERBS = wordlist("think say believe know imagine see ask talk hear tell chat mention")
_TRAILING = re.compile(
    r"(?:\s+(?:a\s+lot|so\s+much|very\s+much|too|as\s+well|also|more\s+than\s+anything|the\s+most|"
    r"lately|nowadays|these\s+days|anymore|any\s+more|at\s+all|really|though|haha|lol|now|"
    r"a\s+little|a\s+bit|honestly|tbh|actually|in\s+general|generally|either|right\s+now|"
    r"to\s+be\s+honest|most\s+of\s+all|more\s+and\s+more))+$",
    re.I,
)
_OBJECT_CUT = re.compile(
    r"\s+(?:when|whenever|while|since|as\s+long\s+as|especially|particularly|like\s+you|and\s+then|"
    r"with\s+you|for\s+me|for\s+(?:my|our|the)\s+\w+|on\s+(?:the\s+)?(?:weekends?|\w+days)|every\s+\w+|"
    r"at\s+(?:night|weekends?|home)|in\s+the\s+(?:mornings?|evenings?|afternoons?|summer|winter)|"
    r"(?:on|in|at)\s+my\s+(?:free|spare|own)\s+time|after\s+work|before\s+work|with\s+my\s+\w+)\b.*$",
    re.I,
)
_ITEM_SPLIT = re.compile(r"\s*,\s*(?:and\s+|or\s+|&\s+)?|\s+(?:and|or|&|plus|as\s+well\s+as)\s+", re.I)

# -- the rule engine -----------------------------------------------------------------------------

_Add = Callable[[FactCategory, str, Any, float], None]
#: What a one-fact rule reads from its match (``None``: the match says nothing).
_Value = Callable[[re.Match[str]], Any]


def _items(text: str) -> list[str]:
    """A list of things (``jazz, blues and rock``) as its items, fixed pairs kept whole."""
    protected = text
    for i, pair in enumerate(_COMPOUNDS):
        if pair in protected.lower():
            start = protected.lower().index(pair)
            protected = protected[:start] + f"\x00{i}\x00" + protected[start + len(pair) :]
    out = []
    for item in _ITEM_SPLIT.split(protected):
        for i, pair in enumerate(_COMPOUNDS):
            item = item.replace(f"\x00{i}\x00", pair)
        item = item.strip(" .,;:!?\"'")
        if item:
            out.append(item)
    return out


def _clean_object(text: str) -> str:
    text = _OBJECT_CUT.sub("", text.strip())
    text = _TRAILING.sub("", text).strip(" .,;:!?\"'")
    return text


def _good_object(item: str, max_words: int = 5) -> bool:
    parts = item.lower().split()
    if not parts or len(parts) > max_words or not slug(item):
        return False
    if parts[0] in _BAD_OBJECT_START or parts[0] in ("not", "no", "never"):
        return False
    if (
        parts[0] in ("my", "our")
        and len(parts) > 1
        and (
            parts[-1] in _RELATIVES
            or parts[1] in _RELATIVES
            or parts[1] in _PETS
            or parts[1] in _PLURAL_RELATIVES
        )
    ):
        return False  # a person or a pet the user loves is a relationship, not a preference
    return not (parts[0] == "to" and (len(parts) < 2 or parts[1] in _BAD_TO_VERBS or parts[1] == "be"))


def _object_key(item: str) -> str:
    return slug(re.sub(r"^(?:the|a|an|some|any)\s+", "", item, flags=re.I))


def _place(text: str) -> str | None:
    """The leading proper-noun place of ``text`` (``Austin, Texas``), or ``None``."""
    tokens = text.replace(",", " , ").split()
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token[:1].isupper() and token != "I" and token.lower() not in ("i'm", "i've", "i'll", "i'd"):
            kept.append(token)
        elif token in (",", "of", "de", "del", "da", "la", "le", "upon", "on") and kept:
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if not following[:1].isupper() or following == "I":
                break
            kept.append(token)
        else:
            break
        i += 1
        if len(kept) >= 6:
            break
    place = " ".join(kept).replace(" , ", ", ").strip(" ,")
    if not place or place == "The":
        return None
    first = place.split()[0].strip(",")
    if first.upper() == first and len(first) > 3:
        return None  # shouting, not a place name
    return place


def _name(word: str, *, require_capital: bool) -> str | None:
    word = word.strip(".,;:!?'\"")
    if not word or not word[0].isalpha() or (require_capital and not word[0].isupper()):
        return None
    if word == "I" or word.startswith(("I'", "i'")):
        return None
    if word.lower() in _NOT_NAMES or word in _DEMONYMS or word.lower() in _JOBS:
        return None
    return word[0].upper() + word[1:]


def _names(text: str) -> list[str]:
    """Capitalised names at the start of ``text`` (``Leo and Mia``, ``Ana, Eva and Sam``)."""
    found: list[str] = []
    for part in _items(text):
        words = part.split()
        if not words:
            break
        name = _name(words[0], require_capital=True)
        if name is None:
            break
        found.append(name)
        if len(words) > 1:
            break
    return found


@dataclass(frozen=True)
class _Rule:
    """A pattern and what a match adds; ``needs`` are words one of which must occur."""

    pattern: re.Pattern[str]
    apply: Callable[[re.Match[str], Statement, _Add], None]
    needs: tuple[str, ...] = ()


_RULES: list[_Rule] = []


def _rule(pattern: str, *needs: str) -> Callable[[Callable[[re.Match[str], Statement, _Add], None]], None]:
    compiled = re.compile(pattern, re.I)

    def register(fn: Callable[[re.Match[str], Statement, _Add], None]) -> None:
        _RULES.append(_Rule(compiled, fn, tuple(n.lower() for n in needs)))
        # Returns None on purpose: a second decorator stacked on a rule registers None,
        # which tests/test_memory_facts.py catches (every rule applies a function).

    return register


def _fact_rule(
    category: FactCategory, key: str | _Value, confidence: float, value: _Value, pattern: str, *needs: str
) -> None:
    """Register a rule that adds one fact, valued ``value(match)`` (``None``: no fact).

    Most rules read one thing (an age, a place, a status, a relative's name) into one
    key (fixed, or ``key(match)`` when the match names it: ``sister``, ``pet_dog``); they
    are one call each instead of a function each. Rules that add several facts or decide
    by more than the match stay functions registered with :func:`_rule`.
    """

    def apply(m: re.Match[str], st: Statement, add: _Add) -> None:
        found = value(m)
        if found is not None:
            add(category, key if isinstance(key, str) else key(m), found, confidence)

    _rule(pattern, *needs)(apply)


def _group(m: re.Match[str]) -> str:
    """The first group as written (a birthday, an employer, a car)."""
    return m.group(1)


def _lower(m: re.Match[str]) -> str:
    """The first group in lower case."""
    return m.group(1).lower()


def _number(m: re.Match[str]) -> int:
    """The first group as a whole number (a year)."""
    return int(m.group(1))


def _age(m: re.Match[str]) -> int | None:
    """The first group as an age, if it is a plausible one."""
    age = int(m.group(1))
    return age if 1 <= age <= 120 else None


def _place_of(m: re.Match[str]) -> str | None:
    """The place the first group starts with (see :func:`_place`)."""
    return _place(m.group(1))
