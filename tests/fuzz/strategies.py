"""What the fuzz tests generate: calls of the public API with careless and hostile arguments.

Each argument is valid three times in four and hostile otherwise (:func:`mostly`), so
most calls get past their first check and carry one or two bad values deep into the
library. A call is a :class:`Call` (shown as ``C("send_message", Sid(0), "hi")`` when an
example fails); :class:`Sid` and :class:`Derived` stand for the ids of sessions the example
created, resolved when the call is made.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from luminora_nb import ProviderConfig, SessionConfig
from luminora_nb.personality.library import get_builtin
from luminora_nb.types import MemoryConfig
from luminora_nb.types.personality import PersonalityBlend, PersonalityData

# -- values that are neither JSON nor text ------------------------------------------------


class Opaque:
    """An object of no known kind."""

    def __repr__(self) -> str:
        return "Opaque()"


class Deep(dict):  # type: ignore[type-arg]
    """A dict nested ``depth`` levels deep (its repr stays short)."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth
        inner: dict[str, Any] = {}
        self["k"] = inner
        for _ in range(depth - 2):
            inner["k"] = {}
            inner = inner["k"]

    def __repr__(self) -> str:
        return f"Deep({self.depth})"


class Cyclic(dict):  # type: ignore[type-arg]
    """A dict that holds itself."""

    def __init__(self) -> None:
        super().__init__()
        self["self"] = self

    def __repr__(self) -> str:
        return "Cyclic()"


class Edited(dict):  # type: ignore[type-arg]
    """Aurora's full definition with one field set to ``value`` (or removed)."""

    def __init__(self, path: tuple[str | int, ...], value: Any, *, remove: bool = False) -> None:
        data = copy.deepcopy(AURORA_DATA)
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        if remove and isinstance(node, dict):
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
        super().__init__(data)
        self.path, self.value, self.remove = path, value, remove

    def __repr__(self) -> str:
        if self.remove:
            return f"Edited({self.path!r}, None, remove=True)"
        return f"Edited({self.path!r}, {self.value!r})"


_aurora = get_builtin("aurora").definition
assert _aurora is not None
AURORA_DATA: dict[str, Any] = _aurora.model_dump(mode="json")


def _leaf_paths(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaf_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            yield from _leaf_paths(item, (*path, index))


DEFINITION_PATHS = sorted(_leaf_paths(AURORA_DATA), key=lambda p: (len(p), repr(p)))

# -- session ids that stand for sessions of the example -----------------------------------


@dataclass(frozen=True)
class Sid:
    """The ``index``-th session of the example (modulo how many there are)."""

    index: int

    def __repr__(self) -> str:
        return f"Sid({self.index})"


@dataclass(frozen=True)
class Derived:
    """A session id of the example, changed by ``form`` (``"{} "``, ``"../{}"``, ...)."""

    index: int
    form: str

    def __repr__(self) -> str:
        return f"Derived({self.index}, {self.form!r})"


@dataclass
class Call:
    """One call of the public API; ``method`` names a client (or v1.1 client) method."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __repr__(self) -> str:
        shown = [repr(self.method), *map(repr, self.args)]
        if all(k.isidentifier() for k in self.kwargs):
            shown += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        elif self.kwargs:
            shown.append(f"**{self.kwargs!r}")
        return f"C({', '.join(shown)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def C(method: str, *args: Any, **kwargs: Any) -> Call:
    """``C("send_message", Sid(0), "hi", temperature=3)``: a call, as shown in failures."""
    return Call(method, args, kwargs)


V11_METHODS = {"update_affinity", "get_affinity", "get_facts", "get_episodes"}
#: The API key of the valid provider configs: no error message may ever show it.
API_KEY = "sk-fuzz-7c1e9a2b"

# -- strategies -----------------------------------------------------------------------------
# Each argument is valid three times in four and hostile otherwise, so that most calls get
# past their first check and carry one or two bad values deep into the library.


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` three times in four, else ``hostile`` (shrinking towards ``valid``)."""
    return st.integers(0, 3).flatmap(lambda i: hostile if i == 3 else valid)


ANY_CHAR = st.characters(exclude_categories=())  # lone surrogates included
ANY_TEXT = st.text(ANY_CHAR, max_size=20)
WHITESPACE = st.text(st.sampled_from(" \t\n\r\x0b\x0c\x85\xa0\u2003\u3000\ufeff"), max_size=4)
CONTROL = st.builds(
    "a{}b".format, st.sampled_from(["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x1f", "\x85", "\u2028"])
)
HUGE = st.sampled_from([201, 5_000, 100_000]).map(lambda n: "x" * n)
NON_STRINGS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.binary(max_size=4),
    st.just(Opaque()),
    st.lists(st.integers(), max_size=2),
    st.tuples(st.text(max_size=2)),
    st.sets(st.integers(), max_size=2),
    st.sampled_from([{"$ne": ""}, {"$gt": ""}, {"name": "aurora"}, {}]),
)
HOSTILE_TEXT = st.one_of(st.just(""), WHITESPACE, CONTROL, HUGE, ANY_TEXT, NON_STRINGS)

NAMES = mostly(st.sampled_from(["aurora", "vex", " lyra ", "pip", "fuzzed", "mix", "Aurora"]), HOSTILE_TEXT)
NEW_NAMES = mostly(st.sampled_from(["fuzzed", "mix", " spaced ", "Ünïcødé 名前", "aurora"]), HOSTILE_TEXT)

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(),  # NaN and infinities are floats: metadata checks let them through
    st.text(ANY_CHAR, max_size=8),  # lone surrogates are str too
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 2**64, "\ud800", "\x00", "", "\u2028"]),
)
JSON_KEYS = st.one_of(
    st.text(ANY_CHAR, max_size=6), st.sampled_from(["\udc00", "", "$ne", "a.b", "\x00", "k"])
)
HOSTILE_LEAF = st.one_of(
    st.just(Opaque()),
    st.sets(st.integers(), max_size=2),
    st.frozensets(st.text(max_size=2), max_size=2),
    st.binary(max_size=4),
    st.datetimes(),
    st.decimals(),
    st.complex_numbers(),
    st.uuids(),
    st.sampled_from([object, len, range(2), bytearray(b"x"), Ellipsis]),
)
ANY_KEY = st.one_of(
    st.text(ANY_CHAR, max_size=6),
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(),
    st.tuples(st.integers()),
)


def nested(leaf: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists, tuples and dicts of ``leaf`` up to a few levels deep."""
    return st.recursive(
        leaf,
        lambda inner: (
            st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(keys, inner, max_size=3)
        ),
        max_leaves=6,
    )


JSON_VALUES = nested(JSON_LEAF, JSON_KEYS)
GOOD_JSON = nested(
    st.one_of(
        st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False), st.text()
    ),
    st.text(max_size=5),
)
HOSTILE_VALUES = st.one_of(
    nested(JSON_LEAF | HOSTILE_LEAF, ANY_KEY),
    st.sampled_from([200, 5_000]).map(Deep),
    st.builds(Cyclic),
)
METADATA = mostly(
    st.one_of(st.none(), st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=3)),
    st.one_of(
        st.dictionaries(ANY_KEY, HOSTILE_VALUES, min_size=1, max_size=3),
        st.sampled_from([200, 5_000]).map(Deep),
        st.builds(Cyclic),
        st.text(max_size=4),
        NON_STRINGS,
        st.just([("source", "cli")]),
    ),
)

GOOD_MESSAGES = st.sampled_from(["Hello!", "My name is Sam.", "What do you think about volcanoes?", "ok"])
MESSAGES = mostly(
    st.one_of(GOOD_MESSAGES, st.text(min_size=1, max_size=40).filter(str.strip)),
    st.one_of(
        st.sampled_from(
            [
                "",
                " ",
                "\n\t ",
                "\x00",
                "hi\x00there",
                "\ud800",
                "a\udfffb",
                "\ud83d",
                "\r\n",
                "\u202e\u200b",
                "\ufeff",
                "null",
                '{"$ne": ""}',
                "'; DROP TABLE sessions; --",
                "../../etc/passwd",
                "🙂" * 50,
            ]
        ),
        ANY_TEXT,
        st.sampled_from([2_000, 50_000]).map("word ".__mul__),
        NON_STRINGS,
    ),
)

NUMBERS = st.one_of(
    st.floats(),
    st.integers(-10, 10),
    st.integers(2**62, 2**80),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.sampled_from([[0.5], {"v": 1}, Opaque()]),
    st.decimals(),
    st.fractions(),
)
STOPS = st.one_of(
    st.text(ANY_CHAR, max_size=4),
    st.lists(st.one_of(st.text(ANY_CHAR, max_size=3), st.integers(), st.none()), max_size=3),
    st.tuples(st.text(max_size=3)),
    NON_STRINGS,
)
OPTIONS = st.builds(
    lambda known, unknown: {**unknown, **known},
    st.fixed_dictionaries(
        {},
        optional={
            "temperature": mostly(st.floats(0, 2) | st.none(), NUMBERS),
            "top_p": mostly(st.floats(0, 1) | st.none(), NUMBERS),
            "max_tokens": mostly(st.integers(1, 40) | st.none(), NUMBERS),
            "stop": mostly(st.sampled_from([None, "\n", ["."], ("###",), ""]), STOPS),
            "metadata": METADATA,
        },
    ),
    mostly(
        st.just({}),
        st.dictionaries(
            st.sampled_from(
                ["temp", "model", "stream", "user_id", "", "Temperature", "max_history", "session"]
            ),
            NUMBERS,
            min_size=1,
            max_size=2,
        ),
    ),
)

ID_FORMS = ["{} ", " {}", "{}/../x", "../{}", "{}\x00", "{}\n", "{}.json", "{}*", "{}%", "{}/", "{}\ud800"]
LITERAL_IDS = [
    "",
    " ",
    ".",
    "..",
    "../x",
    "../../x",
    "/",
    "/tmp/x",
    "a/b",
    "..\\x",
    "C:\\x",
    "\x00",
    "sess_\x00",
    "\ud800",
    "CON",
    "nul",
    "*",
    "%",
    "?",
    "' OR '1'='1",
    ":",
    "s:1:x",
    "x" * 10_000,
    "luminora_sessions",
]
HOSTILE_IDS = st.one_of(
    st.builds(Derived, st.integers(0, 3), st.sampled_from(ID_FORMS)),
    st.sampled_from(LITERAL_IDS),
    ANY_TEXT,
    NON_STRINGS,
)
SESSION_IDS = mostly(st.builds(Sid, st.integers(0, 3)), HOSTILE_IDS)
NEW_SESSION_IDS = mostly(
    st.sampled_from([None, None, "mine-1", "mine-2", "Ünïcødé-id", "with space"]),
    st.one_of(st.builds(Sid, st.integers(0, 3)), HOSTILE_IDS),
)
USER_IDS = mostly(st.sampled_from([None, "u1", "u2", "ユーザー"]), HOSTILE_TEXT)

# Delays of the offline provider: never a valid positive one (a test must not sleep).
DELAYS = st.sampled_from([0, 0.0, -1, 61, math.inf, math.nan, "1", None, True, [1]])
VALID_EXTRA = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "max_tokens": st.integers(1, 50),
        "top_p": st.floats(0, 1),
        "stop": st.just("."),
        "latency": st.just(0),
    },
)
HOSTILE_EXTRA = st.fixed_dictionaries(
    {},
    optional={
        "temperature": NUMBERS,
        "max_tokens": NUMBERS,
        "top_p": NUMBERS,
        "stop": STOPS,
        "latency": DELAYS,
        "chunk_delay": DELAYS,
        "timeout": NUMBERS,
        "max_retries": NUMBERS,
        "bogus": NUMBERS,
    },
)
VALID_PROVIDERS = st.one_of(
    st.sampled_from([None, "offline", " OFFLINE ", ProviderConfig(name="offline")]),
    st.fixed_dictionaries(
        {"name": st.sampled_from(["offline", " Offline "])},
        optional={
            "model": st.sampled_from(["sim-1", "luminora-sim-1"]),
            "api_key": st.just(API_KEY),
            "extra": VALID_EXTRA,
        },
    ),
)
# Other providers only by name and without a key: they must fail at session creation,
# never reach the network.
BAD_PROVIDER_NAMES = st.sampled_from(
    ["", " ", "nope", "openai", "anthropic", "../offline", "offline\x00", "\ud800", "offline " * 40]
)
HOSTILE_PROVIDERS = st.one_of(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["offline", " Offline "])},
        optional={
            "model": st.one_of(ANY_TEXT, NON_STRINGS),
            "base_url": st.one_of(
                st.sampled_from(["not a url", "http://u:p@x/", "", "file:///etc"]), NON_STRINGS
            ),
            "api_key": st.one_of(st.text(max_size=4), NON_STRINGS),
            "extra": st.one_of(HOSTILE_EXTRA, NON_STRINGS),
            "bogus": st.integers(),
        },
    ),
    BAD_PROVIDER_NAMES,
    BAD_PROVIDER_NAMES.map(lambda name: {"name": name}),
    NON_STRINGS.map(lambda name: {"name": name}),
    NON_STRINGS,
)
PROVIDER_CONFIGS = mostly(VALID_PROVIDERS, HOSTILE_PROVIDERS)

INTS = st.one_of(st.integers(-5, 5), st.integers(2**31, 2**80), st.floats(), st.text(max_size=3), NON_STRINGS)
VALID_SESSION_CONFIGS = st.one_of(
    st.none(),
    st.sampled_from([SessionConfig(), SessionConfig(max_history=1, session_type="stateless")]),
    st.fixed_dictionaries(
        {},
        optional={
            "max_history": st.integers(0, 6),
            "timeout": st.sampled_from([0, 60, 3600]),
            "session_type": st.sampled_from(["chat", "stateless", "stateful"]),
            "metadata": st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=2),
            "user_id": st.sampled_from(["u1", "u2"]),
        },
    ),
)
HOSTILE_SESSION_CONFIGS = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "max_history": mostly(st.integers(0, 6), INTS),
            "timeout": mostly(st.sampled_from([0, 60, 3600]), INTS),
            "session_type": mostly(
                st.sampled_from(["chat", "stateless", "stateful"]),
                st.sampled_from(["bogus", "", "CHAT", 1, None]),
            ),
            "personality": mostly(
                st.fixed_dictionaries({"name": NAMES}), st.one_of(NON_STRINGS, st.just({"name": None}))
            ),
            "provider_config": mostly(
                st.just({"name": "offline"}),
                st.one_of(HOSTILE_PROVIDERS.filter(lambda p: isinstance(p, dict)), NON_STRINGS),
            ),
            "metadata": METADATA,
            "user_id": USER_IDS,
            "session_id": NEW_SESSION_IDS.filter(lambda v: not isinstance(v, Sid | Derived)),
            "bogus": st.integers(),
        },
    ),
    st.sampled_from(["chat", "abc", 1, b"x", [("max_history", 1)], [1, 2], Opaque()]),
)
SESSION_CONFIGS = mostly(VALID_SESSION_CONFIGS, HOSTILE_SESSION_CONFIGS)

WEIGHT = st.one_of(
    st.floats(),
    st.integers(-3, 10),
    st.integers(2**1023, 2**1100),
    st.booleans(),
    st.none(),
    st.sampled_from(["7", "1e500", "nan", "-1", "", "x", Opaque()]),
    st.decimals(),
    st.fractions(),
    st.complex_numbers(),
)
WEIGHTS = mostly(
    st.lists(st.floats(0.1, 10), min_size=2, max_size=2),
    st.one_of(
        st.lists(WEIGHT, max_size=4),
        st.tuples(WEIGHT, WEIGHT),
        st.dictionaries(st.sampled_from(["aurora", "vex"]), WEIGHT, max_size=2),
        st.text(max_size=4),
        NON_STRINGS,
    ),
)
# Personality objects where a name is asked (code written for LuminoraCore does that),
# with metadata that JSON may not hold.
PERSONALITY_OBJECTS = st.builds(
    lambda name, metadata: PersonalityData(name=name, system_prompt="You are kind.", metadata=metadata),
    st.sampled_from(["mine", " spaced ", "aurora", "fuzzed"]),
    st.one_of(
        st.sampled_from([{}, {"a": math.nan}, {"\udc00": 1}, {"k": ["\ud800"]}, {"tags": ["ok"]}]),
        st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=2),
    ),
)
BLEND_SOURCES = mostly(
    st.sampled_from([["aurora", "vex"], ("aurora", "lyra"), [" pip ", "vex"], ["fuzzed", "aurora"]]),
    st.one_of(
        st.sampled_from([["aurora", "aurora"], ["aurora"], [], ["aurora", "vex", "lyra"]]),
        st.lists(NAMES | PERSONALITY_OBJECTS, max_size=3),
        HOSTILE_TEXT,
    ),
)
BLEND_TYPES = mostly(
    st.sampled_from(["weighted_average", "weighted", "dominant", "hybrid"]),
    st.sampled_from(["", "bogus", "DOMINANT", None, 1, ["dominant"]]),
)
RULE_FIELDS = st.sampled_from(
    [
        "advanced_parameters.humor",
        "core_traits.archetype",
        "linguistic_profile.vocabulary",
        "safety_guards.forbidden_topics",
        "persona.name",
        "advanced_parameters",
        "nope",
        "",
    ]
)
RULE_VALUES = st.one_of(
    st.sampled_from(["mean", "max", "min", "dominant", "vote", "union", "rank", "interleave", "bogus", ""]),
    st.fixed_dictionaries({"value": st.one_of(JSON_LEAF, HOSTILE_LEAF, st.lists(JSON_LEAF, max_size=2))}),
    NON_STRINGS,
)
CUSTOM_RULES = mostly(
    st.sampled_from([None, {"advanced_parameters.humor": "max"}, {"core_traits.archetype": "dominant"}]),
    st.one_of(
        st.dictionaries(st.one_of(RULE_FIELDS, ANY_KEY), RULE_VALUES, min_size=1, max_size=2), NON_STRINGS
    ),
)
REPLACE = mostly(st.booleans(), NON_STRINGS)


def recipe(sources: list[str], weights: Any, blend_type: Any, custom_rules: Any) -> Any:
    """A ``PersonalityBlend`` of shipped personas; the plain dict when the model refuses it."""
    fields = {
        "personalities": [get_builtin(name) for name in sources],
        "weights": weights,
        "blend_type": blend_type,
        "custom_rules": custom_rules,
    }
    try:
        return PersonalityBlend(**fields)
    except Exception:  # a careless caller then passes the dict itself
        return {**fields, "personalities": sources}


RECIPES = mostly(
    st.sampled_from([["aurora", "vex"], ["lyra", "pip"], ["aurora", "vex", "lyra"]]).flatmap(
        lambda sources: st.builds(
            recipe,
            st.just(sources),
            st.lists(st.floats(0.1, 10), min_size=len(sources), max_size=len(sources)),
            BLEND_TYPES,
            CUSTOM_RULES,
        )
    ),
    st.one_of(
        st.builds(
            recipe,
            st.lists(st.sampled_from(["aurora", "vex", "lyra"]), min_size=1, max_size=3),
            WEIGHTS,
            BLEND_TYPES,
            CUSTOM_RULES,
        ),
        NON_STRINGS,
    ),
)

PERSONALITY_DATA = mostly(
    st.fixed_dictionaries(
        {"system_prompt": st.one_of(st.just("You are kind."), st.text(min_size=1, max_size=30))},
        optional={"description": st.text(max_size=20), "metadata": METADATA},
    ),
    st.one_of(
        st.fixed_dictionaries(
            {"system_prompt": st.one_of(ANY_TEXT, HUGE, NON_STRINGS)},
            optional={
                "description": st.one_of(ANY_TEXT, NON_STRINGS),
                "metadata": METADATA,
                "name": NAMES,
                "name_override": st.one_of(ANY_TEXT, NON_STRINGS),
                "definition": NON_STRINGS,
                "bogus": st.integers(),
            },
        ),
        st.builds(
            Edited,
            st.sampled_from(DEFINITION_PATHS),
            st.one_of(
                JSON_LEAF, HOSTILE_LEAF, st.just({}), st.just([]), st.sampled_from([200, 5_000]).map(Deep)
            ),
        ),
        st.builds(lambda path: Edited(path, None, remove=True), st.sampled_from(DEFINITION_PATHS)),
        st.builds(
            lambda edited: {"definition": edited},
            st.builds(Edited, st.sampled_from(DEFINITION_PATHS), JSON_LEAF),
        ),
        st.just({}),
        NON_STRINGS,
    ),
)
MEMORY_KEYS = mostly(st.sampled_from(["k1", "k2", "k3", "k4", "ключ"]), HOSTILE_TEXT)
MEMORY_VALUES = mostly(JSON_VALUES, st.one_of(HOSTILE_VALUES, NON_STRINGS, HUGE))
POINTS = mostly(
    st.integers(-200, 200),
    st.one_of(st.integers(2**63, 2**80), st.floats(), st.text(max_size=3), NON_STRINGS),
)
V11_USERS = mostly(st.sampled_from(["u1", "u2"]), HOSTILE_TEXT)

CLIENT_CALLS = st.one_of(
    st.builds(
        lambda sid, message, options: C("send_message", sid, message, **options),
        SESSION_IDS,
        MESSAGES,
        OPTIONS,
    ),
    st.builds(
        lambda sid, message, options: C("stream_message", sid, message, **options),
        SESSION_IDS,
        MESSAGES,
        OPTIONS,
    ),
    st.builds(
        lambda name, provider, user, config, sid, meta: C(
            "create_session",
            name,
            provider,
            user_id=user,
            session_config=config,
            session_id=sid,
            metadata=meta,
        ),
        mostly(
            st.sampled_from(["aurora", "vex", " lyra "]),
            st.one_of(PERSONALITY_OBJECTS, st.sampled_from(["fuzzed", "mix", None]) | HOSTILE_TEXT),
        ),
        PROVIDER_CONFIGS,
        USER_IDS,
        SESSION_CONFIGS,
        NEW_SESSION_IDS,
        METADATA,
    ),
    st.builds(
        lambda name, data, replace: C("load_personality", name, data, replace=replace),
        NEW_NAMES,
        PERSONALITY_DATA,
        REPLACE,
    ),
    st.builds(
        lambda names, weights, name, blend_type, rules, replace: C(
            "blend_personalities",
            names,
            weights,
            name,
            blend_type=blend_type,
            custom_rules=rules,
            replace=replace,
        ),
        BLEND_SOURCES,
        WEIGHTS,
        NEW_NAMES,
        BLEND_TYPES,
        CUSTOM_RULES,
        REPLACE,
    ),
    st.builds(
        lambda blend, name, replace: C("blend", blend, name, replace=replace), RECIPES, NEW_NAMES, REPLACE
    ),
    st.builds(C, st.just("get_personality"), NAMES),
    st.builds(C, st.sampled_from(["get_conversation", "session_info", "delete_session"]), SESSION_IDS),
    st.builds(C, st.just("resume_session"), SESSION_IDS, PROVIDER_CONFIGS),
    st.builds(lambda user: C("list_sessions", user_id=user), USER_IDS),
    st.builds(C, st.just("store_memory"), SESSION_IDS, MEMORY_KEYS, MEMORY_VALUES),
    st.builds(C, st.just("get_memory"), SESSION_IDS, MEMORY_KEYS),
)
V11_CALLS = st.one_of(
    st.builds(
        C,
        st.just("update_affinity"),
        V11_USERS,
        NAMES,
        POINTS,
        mostly(st.sampled_from(["positive", "negative"]), st.one_of(ANY_TEXT, NON_STRINGS)),
    ),
    st.builds(C, st.just("get_affinity"), V11_USERS, NAMES),
    st.builds(C, st.just("get_facts"), V11_USERS, mostly(st.sampled_from([None, "likes"]), HOSTILE_TEXT)),
    st.builds(
        C,
        st.just("get_episodes"),
        V11_USERS,
        mostly(st.sampled_from([None, 0.5]), NUMBERS),
        mostly(st.sampled_from([None, 3]), NUMBERS),
    ),
)
CALLS = st.one_of(CLIENT_CALLS, V11_CALLS, st.builds(C, st.just("stop_stream"), SESSION_IDS))
CALL_LISTS = st.lists(CALLS, min_size=1, max_size=6)

# -- options of a new facade ---------------------------------------------------------------
# "{tmp}" becomes the example's own directory: nothing is written outside it (the tests
# may run as root). Server backends are left out: without a server each would wait for
# its connect timeout.
STORAGE_OPTIONS = mostly(
    st.one_of(
        st.sampled_from([None, "memory", " Memory ", "in_memory", {"storage_type": "memory"}]),
        st.builds(
            lambda kind, path, compressed: {
                "storage_type": kind,
                "connection_string": "{tmp}/" + path,
                "compression_enabled": compressed,
            },
            st.sampled_from(["file", "duckdb", " DuckDB "]),
            st.sampled_from(["store", "s.duckdb", "sub/dir/s", "Ünïcødé"]),
            st.booleans(),
        ),
    ),
    st.one_of(
        st.sampled_from(["bogus", "", " ", "file\x00", "duckdb://x", "memory" * 50]),
        st.fixed_dictionaries(
            {"storage_type": st.sampled_from(["file", "duckdb", "memory", "nope", 5, None, ""])},
            optional={
                "connection_string": st.one_of(
                    st.sampled_from(["{tmp}", "{tmp}/a\x00b", "{tmp}/\ud800", "{tmp}/" + "x" * 300, ""]),
                    st.sampled_from(["{tmp}/f/../g", "{tmp}/.", "{tmp}/s.duckdb/"]),
                    NON_STRINGS,
                ),
                "table_name": st.one_of(st.sampled_from(["x; drop", "", "a" * 64, "ok_table"]), NON_STRINGS),
                "connect_timeout": NUMBERS,
                "compression_enabled": NON_STRINGS,
                "encryption_enabled": st.just(True),
                "key_prefix": HOSTILE_TEXT,
                "extra": st.one_of(NON_STRINGS, st.just({"read_only": "yes"})),
                "storage_typ": st.just("memory"),
            },
        ),
        NON_STRINGS,
    ),
)
MEMORY_OPTIONS = mostly(
    st.sampled_from([None, MemoryConfig(max_entries=3), {"max_entries": 2}, {"enabled": False}]),
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "max_entries": INTS,
                "decay_factor": NUMBERS,
                "enabled": NON_STRINGS,
                "bogus": st.integers(),
            },
        ),
        NON_STRINGS,
        st.text(max_size=3),
    ),
)
