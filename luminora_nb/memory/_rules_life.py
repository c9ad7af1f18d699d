"""Rules of the offline fact extractor about what the user likes, does, wants and lives through.

``preferences`` (likes, dislikes, favourites, diet), ``hobbies``, ``goals``, ``health``
(allergies, conditions, injuries), ``events`` (life events with their time when said,
:func:`_event_rule`) and ``other`` (feelings, car). Registered like the rules of
:mod:`._rules_personal` (one ``_fact_rule`` call for a rule that reads one value into one
key, a ``_rule`` function for the others); see :mod:`.facts` for the table of keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._fact_vocab import (
    _ADVERBS,
    _BAD_OBJECT_START,
    _CONDITIONS,
    _DIETS,
    _DONE,
    _FEELINGS,
    _GOAL_TIME,
    _GOAL_VERBS,
    _GONE,
    _I,
    _IM,
    _PETS,
    _PLAYED,
    _PLAYED_PHRASES,
    _RELATIVES,
    _STATES,
    _TIME,
    _TRAILING,
    _Add,
    _clean_object,
    _fact_rule,
    _good_object,
    _group,
    _items,
    _object_key,
    _place,
    _rule,
)
from ._rules_personal import _PET_WORDS, _REL_WORDS
from ._text import Statement, negated_before, slug

# preferences ------------------------------------------------------------------------------------


def _preference_items(text: str, verb: str) -> list[str]:
    text = _clean_object(text)
    if verb == "prefer":
        text = re.split(r"\s+(?:to|over|than|rather\s+than|instead\s+of)\s+", text, maxsplit=1)[0]
    return [i for i in (_TRAILING.sub("", x).strip() for x in _items(text)) if _good_object(i)]


def _add_preferences(items: Iterable[str], value: str, confidence: float, add: _Add) -> None:
    for item in items:
        key = _object_key(item)
        if key:
            add("preferences", key, value, confidence)


_LIKE_CONFIDENCE = {"love": 0.9, "adore": 0.9, "like": 0.8, "enjoy": 0.8, "prefer": 0.75}


@_rule(
    r"(?<!n't\s)(?<!not\s)\bi\s+" + _ADVERBS + r"(love|adore|like|enjoy|prefer)\s+(\S.*)",
    "love",
    "adore",
    "like",
    "enjoy",
    "prefer",
)
def _likes(m: re.Match[str], st: Statement, add: _Add) -> None:
    if re.search(r"\b(?:would|'d)\s*$", st.text[: m.start(1)]):
        return
    verb = m.group(1).lower()
    _add_preferences(_preference_items(m.group(2), verb), "likes", _LIKE_CONFIDENCE[verb], add)


@_rule(
    r"\bi\s+"
    + _ADVERBS
    + (
        r"(hate|dislike|detest|loathe|despise|can't\s+stand|cannot\s+stand"
        r"|can't\s+bear|cannot\s+bear|can't\s+handle)\s+(\S.*)"
    ),
    "hate",
    "dislike",
    "detest",
    "loathe",
    "despise",
    "stand",
    "bear",
    "handle",
)
def _dislikes(m: re.Match[str], st: Statement, add: _Add) -> None:
    confidence = 0.85 if m.group(1).lower() == "dislike" else 0.9
    _add_preferences(_preference_items(m.group(2), "hate"), "dislikes", confidence, add)


@_rule(
    (
        r"\bi\s+(?:do\s+not|don't|dont|never|didn't|did\s+not|no\s+longer)\s+"
        r"(really\s+|particularly\s+|much\s+)?(?:like|love|enjoy|liked|enjoyed"
        r"|loved)\s+(\S.*)"
    ),
    "like",
    "love",
    "enjoy",
)
def _not_likes(m: re.Match[str], st: Statement, add: _Add) -> None:
    confidence = 0.7 if m.group(1) else 0.8
    _add_preferences(_preference_items(m.group(2), "like"), "dislikes", confidence, add)


@_rule(
    _IM + r"(not\s+)?(?:a|an)\s+(?:big\s+|huge\s+|massive\s+|great\s+|die-hard\s+)?(\S+(?:\s+\S+)?)\s+fan\b",
    "fan",
)
def _x_fan(m: re.Match[str], st: Statement, add: _Add) -> None:
    thing = m.group(2)
    if thing.lower().split()[0] in ("big", "huge", "massive", "great") or not _good_object(thing):
        return
    _add_preferences([thing], "dislikes" if m.group(1) else "likes", 0.75 if m.group(1) else 0.85, add)


@_rule(
    _IM
    + (
        r"(not\s+)?(?:really\s+|just\s+)?(?:a\s+(?:big\s+|huge\s+|massive\s+"
        r"|great\s+)?fan\s+of|into|obsessed\s+with|passionate\s+about"
        r"|crazy\s+about|keen\s+on|mad\s+about)\s+(\S.*)"
    ),
    "fan",
    "into",
    "obsessed",
    "passionate",
    "crazy",
    "keen",
    "mad",
)
def _fan(m: re.Match[str], st: Statement, add: _Add) -> None:
    items = _preference_items(m.group(2), "like")
    if m.group(1):
        _add_preferences(items, "dislikes", 0.75, add)
    else:
        _add_preferences(items, "likes", 0.85, add)


_FAVOURITE = r"fav(?:ou?rite|e)"


@_rule(
    r"\bmy\s+(?:all[- ]time\s+|absolute\s+)?"
    + _FAVOURITE
    + r"\s+([a-z]+(?:\s+[a-z]+)?)\s+(?:is|are|has\s+to\s+be|would\s+be)\s+(\S.*)",
    "fav",
)
def _favourite(m: re.Match[str], st: Statement, add: _Add) -> None:
    thing, value = m.group(1).lower(), _clean_object(m.group(2))
    items = [i for i in _items(value) if _good_object(i, max_words=6)]
    if items and slug(thing):
        add("preferences", f"favorite_{slug(thing, 3)}", items[0] if len(items) == 1 else items, 0.9)


@_rule(
    r"^(\S.*?)\s+(?:is|are)\s+my\s+(?:all[- ]time\s+|absolute\s+)?"
    + _FAVOURITE
    + r"(?:\s+([a-z]+(?:\s+[a-z]+)?))?$",
    "fav",
)
def _is_favourite(m: re.Match[str], st: Statement, add: _Add) -> None:
    subject = _clean_object(m.group(1))
    if not _good_object(subject, max_words=6):
        return
    if m.group(2):
        add("preferences", f"favorite_{slug(m.group(2), 3)}", subject, 0.9)
    else:
        _add_preferences([subject], "likes", 0.9, add)


_fact_rule(
    "preferences",
    "diet",
    0.9,
    lambda m: m.group(1).lower().replace(" ", "-"),
    r"\bi(?:'m|\s+am|m|'ve\s+been|\s+have\s+been|\s+went|\s+became|\s+turned)\s+"
    + r"(?:a\s+|an\s+|strictly\s+|mostly\s+|fully\s+)?("
    + "|".join(re.escape(d) for d in _DIETS)
    + r")\b",
    "i",
)


# hobbies ----------------------------------------------------------------------------------------


def _add_hobbies(items: Iterable[str], confidence: float, add: _Add) -> None:
    for item in items:
        item = re.sub(r"^(?:the)\s+", "", item.strip(), flags=re.I)
        if _good_object(item) and slug(item):
            add("hobbies", slug(item), item.lower() if not item[:1].isupper() else item, confidence)


@_rule(
    (
        r"\bmy\s+(?:favou?rite\s+|main\s+|only\s+|new\s+)?(?:hobby\s+is"
        r"|hobbies\s+are|hobbies\s+include|pastimes?\s+(?:is|are))\s+(\S.*)"
    ),
    "hobb",
    "pastime",
)
def _my_hobbies(m: re.Match[str], st: Statement, add: _Add) -> None:
    _add_hobbies(_items(_clean_object(m.group(1))), 0.9, add)


@_rule(
    (
        r"^(\S.*?)\s+is\s+my\s+(?:favou?rite\s+|main\s+|new\s+)?(?:hobby|pastime"
        r"|passion)$"
    ),
    "hobby",
    "pastime",
    "passion",
)
def _is_hobby(m: re.Match[str], st: Statement, add: _Add) -> None:
    _add_hobbies([_clean_object(m.group(1))], 0.9, add)


@_rule(_I + _ADVERBS + r"(?:play|have\s+been\s+playing|started\s+playing)\s+(\S.*)", "play")
def _play(m: re.Match[str], st: Statement, add: _Add) -> None:
    text = m.group(1).lower()
    phrase = next((p for p in _PLAYED_PHRASES if text.startswith(p)), None)
    if phrase is None:
        first = re.split(r"[\s,.!;]+", text, maxsplit=1)[0]
        phrase = first if first in _PLAYED else None
    if phrase is not None:
        _add_hobbies([phrase], 0.85, add)


@_rule(
    _I + _ADVERBS + r"(?:do|practi[cs]e|have\s+been\s+doing|started\s+doing|started)\s+(\S.*)",
    "do",
    "practi",
    "started",
)
def _do(m: re.Match[str], st: Statement, add: _Add) -> None:
    text = m.group(1).lower()
    first = next((d for d in sorted(_DONE, key=len, reverse=True) if text.startswith(d)), None)
    if first is not None:
        _add_hobbies([first], 0.85, add)


@_rule(
    _I + _ADVERBS + r"(?:go|went|have\s+been\s+going)\s+(" + "|".join(sorted(_GONE)) + r")\b",
    "go",
    "went",
    "going",
)
def _go(m: re.Match[str], st: Statement, add: _Add) -> None:
    if not re.search(r"\b(?:yesterday|last|today|this\s+morning|once)\b", st.text, re.I):
        _add_hobbies([m.group(1).lower()], 0.8, add)


_ACTIVITIES = {
    "run": "running",
    "jog": "jogging",
    "swim": "swimming",
    "cycle": "cycling",
    "bike": "biking",
    "hike": "hiking",
    "climb": "climbing",
    "surf": "surfing",
    "ski": "skiing",
    "skate": "skating",
    "dance": "dancing",
    "paint": "painting",
    "draw": "drawing",
    "knit": "knitting",
    "sew": "sewing",
    "bake": "baking",
    "garden": "gardening",
    "meditate": "meditating",
    "sing": "singing",
    "fish": "fishing",
    "write": "writing",
    "read": "reading",
    "cook": "cooking",
}
_REGULARLY = (
    r"(?:every\s+(?:day|morning|evening|night|week|weekend|sunday|saturday|monday|tuesday|wednesday|"
    r"thursday|friday)|daily|regularly|most\s+(?:days|mornings|evenings|weekends)|a\s+lot|on\s+weekends|"
    r"at\s+the\s+weekend|(?:twice|three\s+times|once)\s+a\s+week|whenever\s+i\s+can)"
)


@_rule(
    _I + r"(?:also\s+|usually\s+|often\s+|still\s+)?(" + "|".join(_ACTIVITIES) + r")\s+" + _REGULARLY + r"\b",
    "every",
    "daily",
    "regularly",
    "most",
    "lot",
    "week",
    "whenever",
)
def _activity(m: re.Match[str], st: Statement, add: _Add) -> None:
    activity = _ACTIVITIES[m.group(1).lower()]
    add("hobbies", activity, activity, 0.8)


@_rule(_I + _ADVERBS + r"collect\s+(\S.*)", "collect")
def _collect(m: re.Match[str], st: Statement, add: _Add) -> None:
    for item in _items(_clean_object(m.group(1))):
        if _good_object(item, max_words=4):
            add("hobbies", f"collecting_{slug(item, 4)}", f"collecting {item.lower()}", 0.85)


@_rule(
    (
        r"\bin\s+my\s+(?:free|spare|down)\s+time,?\s+i\s+(?:like\s+to\s+"
        r"|love\s+to\s+|usually\s+|often\s+|mostly\s+|tend\s+to\s+)?(\S.*)"
    ),
    "time",
)
def _free_time(m: re.Match[str], st: Statement, add: _Add) -> None:
    _add_hobbies(_items(_clean_object(m.group(1))), 0.75, add)


# goals ------------------------------------------------------------------------------------------


def _goal(text: str, confidence: float, add: _Add, *, prefix: str = "") -> None:
    phrase = _clean_object(
        re.split(
            r"\s+(?:but|because|so\s+that|and\s+then|before|after|when|while|once|until)\b", text, maxsplit=1
        )[0]
    )
    parts = phrase.split()
    if not parts or len(parts) > 10:
        return
    if not prefix and parts[0].lower() not in _GOAL_VERBS:
        return
    if parts[0].lower() == "be" and (
        len(parts) < 2
        or parts[1].lower()
        not in ("a", "an", "the", "able", "more", "fluent", "healthier", "fitter", "debt-free")
    ):
        return
    if parts[0].lower() == "finally" and len(parts) > 1:
        parts = parts[1:]
    value = f"{prefix}{' '.join(parts)}".strip()
    add("goals", slug(_GOAL_TIME.sub("", value), 5) or slug(value, 5), value, confidence)


@_rule(
    (
        r"\bmy\s+(?:main\s+|big\s+|biggest\s+|ultimate\s+|new\s+|long-term\s+"
        r"|life\s+)?(?:goal|dream|plan|ambition|aim|resolution)\s+(?:for\s+\S+"
        r"(?:\s+\S+)?\s+|(?:this|next)\s+(?:year|month|summer|week)\s+)?is\s+to\s+(\S.*)"
    ),
    "goal",
    "dream",
    "plan",
    "ambition",
    "aim",
    "resolution",
)
def _my_goal(m: re.Match[str], st: Statement, add: _Add) -> None:
    _goal(m.group(1), 0.9, add, prefix="" if m.group(1).split()[0].lower() in _GOAL_VERBS else " ")


@_rule(
    (
        r"(?<!n't\s)\bi(?:'m\s+|\s+am\s+|\s+|'d\s+(?:really\s+)?|\s+would\s+"
        r"(?:really\s+)?)(?:really\s+|seriously\s+|finally\s+)?(plan(?:ning)?"
        r"|intend(?:ing)?|aim(?:ing)?|hope|hoping|want|trying|determined|going"
        r"|like|love)\s+to\s+(\S.*)"
    ),
    "to",
)
def _want_to(m: re.Match[str], st: Statement, add: _Add) -> None:
    verb = m.group(1).lower()
    conditional = re.search(r"(?:'d|would)\s+(?:really\s+)?$", st.text[: m.start(1)], re.I) is not None
    if verb in ("like", "love") and not conditional:
        return  # "I like to cook" is a preference, read by the likes rule
    if verb == "going" and not re.search(
        r"\b(?:next|this|someday|one\s+day|by\s+\d{4}|in\s+\d{4})\b", m.group(2), re.I
    ):
        return  # "I'm going to make tea" is not a goal; "I'm going to run a marathon next year" is
    confidence = 0.85 if verb.startswith(("plan", "intend", "aim", "determined")) else 0.75
    _goal(m.group(2), confidence, add)


@_rule(
    _IM
    + (
        r"(?:currently\s+|slowly\s+|finally\s+)?(?:learning"
        r"|teaching\s+myself)\s+((?:to\s+|how\s+to\s+)?\S.*)"
    ),
    "learning",
    "teaching",
)
def _learning(m: re.Match[str], st: Statement, add: _Add) -> None:
    text = _clean_object(re.split(r"\s+(?:at|with|for|because|and)\b", m.group(1), maxsplit=1)[0])
    parts = text.split()
    if (
        parts
        and len(parts) <= 4
        and parts[0].lower() not in _BAD_OBJECT_START
        and parts[0].lower() not in ("a", "the", "so", "more", "about")
    ):
        _goal(f"learn {text}", 0.8, add)


@_rule(_IM + r"(?:currently\s+)?training\s+for\s+(?:a|an|my|the)\s+(\S.*)", "training")
def _training(m: re.Match[str], st: Statement, add: _Add) -> None:
    text = _clean_object(re.split(r"\s+(?:in|on|at|next|this|with)\b", m.group(1), maxsplit=1)[0])
    if text and len(text.split()) <= 4 and text.split()[0].lower() not in _BAD_OBJECT_START:
        add("goals", slug(f"train for {text}", 5), f"train for {text.lower()}", 0.8)


@_rule(_IM + r"(?:currently\s+)?saving\s+(?:up\s+)?(?:money\s+)?(?:for|to)\s+(\S.*)", "saving")
def _saving(m: re.Match[str], st: Statement, add: _Add) -> None:
    text = _clean_object(m.group(1))
    if text and len(text.split()) <= 6 and text.split()[0].lower() not in _BAD_OBJECT_START:
        value = f"save for {text}" if text.split()[0].lower() not in _GOAL_VERBS else text
        add("goals", slug(value, 5), value, 0.8)


@_rule(r"\b(?:one\s+day|someday|some\s+day),?\s+i(?:'ll|\s+will)\s+(\S.*)", "day")
def _someday(m: re.Match[str], st: Statement, add: _Add) -> None:
    _goal(m.group(1), 0.7, add)


# health -----------------------------------------------------------------------------------------


@_rule(_IM + r"(?:severely\s+|very\s+|mildly\s+|slightly\s+|deathly\s+)?allergic\s+to\s+(\S.*)", "allergic")
def _allergy(m: re.Match[str], st: Statement, add: _Add) -> None:
    for item in _items(_clean_object(m.group(1))):
        if _good_object(item, max_words=3):
            add("health", f"allergy_{slug(item, 3)}", item.lower(), 0.95)


@_rule(
    (
        r"\b(?:i\s+(?:have|suffer\s+from|live\s+with|was\s+diagnosed\s+with"
        r"|got\s+diagnosed\s+with|take\s+(?:medication|meds|pills)\s+for)"
        r"|i'm\s+being\s+treated\s+for)\s+(?:severe\s+|mild\s+|chronic\s+"
        r"|bad\s+)?(\S.*)"
    ),
    "have",
    "suffer",
    "live",
    "diagnosed",
    "take",
    "treated",
)
def _condition(m: re.Match[str], st: Statement, add: _Add) -> None:
    text = m.group(1).lower()
    found = next(
        (c for c in _CONDITIONS if text == c or text.startswith(c + " ") or text.startswith(c + ",")), None
    )
    if found is None and "diagnosed" in m.group(0).lower():
        phrase = _clean_object(re.split(r"\s+(?:last|this|in|when|at|and)\b", m.group(1), maxsplit=1)[0])
        found = phrase.lower() if 0 < len(phrase.split()) <= 4 else None
    if found:
        name = re.sub(r"^a\s+", "", found)
        add("health", f"condition_{slug(name, 4)}", name, 0.9)


@_rule(
    _IM
    + r"(?:also\s+)?("
    + "|".join(sorted((re.escape(k) for k in _STATES), key=len, reverse=True))
    + r")\b",
    "i",
)
def _health_state(m: re.Match[str], st: Statement, add: _Add) -> None:
    word = m.group(1).lower()
    add("health", f"condition_{_STATES[word]}", word, 0.9)


@_rule(
    _I
    + (
        r"(?:just\s+)?(broke|fractured|sprained|tore|injured|hurt"
        r"|dislocated)\s+my\s+(?:left\s+|right\s+)?(\w+)"
    ),
    "my",
)
def _injury(m: re.Match[str], st: Statement, add: _Add) -> None:
    verb, part = m.group(1).lower(), m.group(2).lower()
    if part in (
        "leg",
        "arm",
        "wrist",
        "ankle",
        "knee",
        "back",
        "hip",
        "shoulder",
        "foot",
        "hand",
        "finger",
        "toe",
        "nose",
        "rib",
        "ribs",
        "collarbone",
        "neck",
        "elbow",
        "acl",
    ):
        label = {
            "broke": "broken",
            "fractured": "fractured",
            "sprained": "sprained",
            "tore": "torn",
            "dislocated": "dislocated",
        }.get(verb, "injured")
        add("health", "injury", f"{label} {part}", 0.85)


# events -----------------------------------------------------------------------------------------


def _when(st: Statement) -> str:
    found = _TIME.search(st.sentence)
    return f" ({found.group(0).lower()})" if found else ""


_EVENTS: tuple[tuple[str, str, str], ...] = (
    # (key, pattern, value)
    (
        "engagement",
        r"\b(?:i|we)\s+(?:just\s+|finally\s+|recently\s+)?got\s+engaged\b|\b(?:he|she|they)\s+proposed\b",
        "got engaged",
    ),
    ("wedding", r"\b(?:i|we)\s+(?:just\s+|finally\s+|recently\s+)?got\s+married\b", "got married"),
    ("wedding", r"\b(?:i'm|i\s+am|we're|we\s+are)\s+getting\s+married\b", "getting married"),
    ("graduation", r"\bi\s+(?:just\s+|finally\s+|recently\s+)?graduated\b", "graduated"),
    ("graduation", r"\bi(?:'m|\s+am)\s+graduating\b", "graduating"),
    (
        "new_job",
        (
            r"\bi\s+(?:just\s+|finally\s+)?(?:got|landed|accepted)\s+(?:a|the|my)\s+"
            r"(?:new\s+|first\s+|dream\s+)?job\b|\bi\s+got\s+hired\b|\bi(?:'m"
            r"|\s+am)\s+starting\s+(?:a|my)\s+new\s+job\b"
        ),
        "new job",
    ),
    (
        "promotion",
        r"\bi\s+(?:just\s+|finally\s+)?(?:got|was)\s+promoted\b|\bi\s+got\s+a\s+promotion\b",
        "got promoted",
    ),
    (
        "job_loss",
        (
            r"\bi\s+(?:just\s+)?(?:lost\s+my\s+job|got\s+fired|got\s+laid\s+off"
            r"|was\s+laid\s+off|was\s+fired|got\s+let\s+go|was\s+let\s+go)\b"
        ),
        "lost their job",
    ),
    (
        "new_baby",
        r"\b(?:i|we)\s+(?:just\s+)?had\s+(?:a|our|my)\s+(?:first\s+|second\s+)?(?:baby|son|daughter)\b",
        "had a baby",
    ),
    (
        "new_baby",
        (
            r"\b(?:i'm|i\s+am|we're|we\s+are)\s+(?:having\s+a\s+baby|expecting)\b"
            r"|\bmy\s+(?:wife|partner|girlfriend)\s+is\s+pregnant\b"
        ),
        "expecting a baby",
    ),
    (
        "breakup",
        (
            r"\b(?:i|we)\s+(?:just\s+)?broke\s+up\b|\bmy\s+(?:girlfriend|boyfriend"
            r"|partner|wife|husband|fiance|fiancee)\s+(?:left\s+me"
            r"|broke\s+up\s+with\s+me|dumped\s+me)\b|\bi\s+got\s+dumped\b"
        ),
        "broke up",
    ),
    (
        "divorce",
        (
            r"\b(?:i'm|i\s+am|we're|we\s+are)\s+getting\s+(?:a\s+)?divorced?\b"
            r"|\bi\s+(?:just\s+)?got\s+divorced\b"
        ),
        "divorce",
    ),
    ("retirement", r"\bi\s+(?:just\s+|finally\s+)?retired\b|\bi(?:'m|\s+am)\s+retiring\b", "retirement"),
    (
        "accident",
        r"\bi\s+(?:was|got)\s+in\s+(?:a|an)\s+(?:car\s+|bike\s+|bad\s+|serious\s+)?(?:accident|crash)\b",
        "was in an accident",
    ),
    ("hospital", r"\bi(?:'m|\s+am|\s+was|\s+ended\s+up)\s+in\s+(?:the\s+)?hospital\b", "in hospital"),
    ("birthday", r"\b(?:today\s+is|it's|it\s+is)\s+my\s+birthday\b", "birthday"),
    (
        "bought_home",
        (
            r"\b(?:i|we)\s+(?:just\s+|finally\s+)?bought\s+(?:a|our|my)\s+"
            r"(?:first\s+|new\s+)?(?:house|home|flat|apartment|condo)\b"
        ),
        "bought a home",
    ),
)
_PASSED = re.compile(
    r"\bi\s+(?:just\s+|finally\s+|actually\s+)?passed\s+(?:my|the|all\s+my)\s+((?:[a-z-]+\s+){0,3}?)"
    r"(test|exam|exams|bar|boards|finals|thesis\s+defen[cs]e|audition)\b",
    re.I,
)
_EVENT_RULES = tuple((key, re.compile(pattern, re.I), value) for key, pattern, value in _EVENTS)
_UPCOMING = re.compile(
    r"\bi\s+(?:have|'ve\s+got|got)\s+(?:a|an|my|the)\s+(?:big\s+|important\s+|final\s+|first\s+)?"
    r"(exam|job\s+interview|interview|surgery|operation|presentation|finals|test|audition|date|"
    r"driving\s+test|thesis\s+defen[cs]e|defen[cs]e|appointment|competition|match|race|recital|concert)\b",
    re.I,
)
_MOVING = re.compile(r"\bi(?:'m|\s+am)\s+(?:moving|relocating)\s+to\s+(\S.*)", re.I)
_LOSS = re.compile(
    r"\bmy\s+(?:(?:old|little|beloved|sweet|dear|best)\s+)?(" + _REL_WORDS + r"|" + _PET_WORDS + r")"
    r"(?:\s+(?P<name>(?-i:[A-Z])[\w'-]*))?\s+(?:just\s+|recently\s+|finally\s+|suddenly\s+)?"
    r"(?:died|passed\s+away|passed|was\s+put\s+down|was\s+put\s+to\s+sleep|is\s+dying)\b"
    r"|\bi\s+(?:just\s+|recently\s+)?lost\s+my\s+(" + _REL_WORDS + r"|" + _PET_WORDS + r")\b",
    re.I,
)


def _event_rule(st: Statement, add: _Add) -> None:
    text = st.text
    lowered = text.lower()
    for key, pattern, value in _EVENT_RULES:
        found = pattern.search(text)
        if found and not negated_before(text, found.start()):
            add("events", key, value + _when(st), 0.85)
    if "have" in lowered or "got" in lowered:
        upcoming = _UPCOMING.search(text)
        if upcoming:
            kind = re.sub(r"\s+", "_", upcoming.group(1).lower())
            add("events", f"upcoming_{kind}", upcoming.group(1).lower() + _when(st), 0.8)
    if "passed" in lowered:
        passed = _PASSED.search(text)
        if passed and not negated_before(text, passed.start()):
            what = " ".join([*passed.group(1).lower().split(), passed.group(2).lower()])
            add("events", f"passed_{slug(what, 4)}", f"passed their {what}{_when(st)}", 0.85)
    if "moving" in lowered or "relocating" in lowered:
        moving = _MOVING.search(text)
        place = _place(moving.group(1)) if moving else None
        if place:
            add("events", "move", f"moving to {place}{_when(st)}", 0.85)
    if "my" in lowered:
        loss = _LOSS.search(text)
        if loss:
            who = (loss.group(1) or loss.group(2)).lower()
            who = _PETS.get(who, _RELATIVES.get(who, who)) if who in _PETS else _RELATIVES.get(who, who)
            name = f" {loss.group('name')}" if loss.group("name") else ""
            add("events", f"loss_{who}", f"{who.replace('_', ' ')}{name} died{_when(st)}", 0.9)


# other ------------------------------------------------------------------------------------------


_fact_rule(
    "other",
    "feeling",
    0.7,
    lambda m: m.group(1).lower() if m.group(1).lower() in _FEELINGS else None,
    r"\bi(?:'m\s+feeling|\s+am\s+feeling|'ve\s+been\s+feeling|\s+have\s+been\s+feeling"
    r"|'ve\s+been|\s+have\s+been|'m|\s+am|\s+feel|\s+felt)\s+(?:so\s+"
    r"|very\s+|really\s+|a\s+bit\s+|a\s+little\s+|kind\s+of\s+|pretty\s+"
    r"|super\s+|extremely\s+|quite\s+|incredibly\s+|totally\s+)?([a-z]+)\b",
    "i",
)
_fact_rule(
    "other",
    "car",
    0.8,
    _group,
    _I + r"(?:drive|own)\s+(?:a|an)\s+((?:(?-i:[A-Z])[\w-]*)(?:\s+(?-i:[A-Z0-9])[\w-]*){0,2})",
    "drive",
    "own",
)
