"""Load and validate personality data, with errors that name each fault's JSON path."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import PersonalityError
from ..types.persona import PersonaDefinition
from ..types.personality import PersonalityData

__all__ = [
    "MAX_JSON_DEPTH",
    "check_name",
    "definition_for",
    "format_validation_error",
    "json_problem",
    "parse_personality",
    "validate_definition",
]

_SIMPLE_FIELDS = {"name", "description", "system_prompt", "name_override", "description_override", "metadata"}
# A dumped simple-form PersonalityData carries "definition": None.
_DUMPED_FIELDS = _SIMPLE_FIELDS | {"definition"}


def _path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(root)"


def _shown(value: Any) -> str:
    # Echo short scalars only: a fault line must not dump a whole section back.
    if isinstance(value, (dict, list, tuple)):
        return ""
    text = repr(value)
    return f" (got {text})" if len(text) <= 60 else f" (got {text[:57]}...)"


def format_validation_error(exc: ValidationError) -> list[str]:
    """One ``path: problem`` line per fault of a pydantic validation error."""
    lines = []
    for err in exc.errors(include_url=False):
        path = _path(tuple(err["loc"]))
        kind = err["type"]
        if kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            lines.append(f"{path}: {err['input']!r} is not one of {expected}")
        elif kind == "missing":
            lines.append(f"{path}: required field is missing")
        elif kind == "extra_forbidden":
            lines.append(f"{path}: unknown field (check its spelling against the schema)")
        else:
            message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            lines.append(f"{path}: {message}{_shown(err['input'])}")
    return lines


def validate_definition(data: Mapping[str, Any], *, source: str = "personality") -> PersonaDefinition:
    """Validate a full persona definition.

    Raises:
        PersonalityError: listing every fault, one per line, each with its JSON path.

    Example:
        >>> validate_definition({"persona": {"name": "x"}})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        luminora_nb.errors.PersonalityError: personality 'personality' is invalid (3 problems):
          persona.description: required field is missing
          ...
    """
    try:
        return PersonaDefinition.model_validate(dict(data))
    except ValidationError as exc:
        lines = format_validation_error(exc)
        noun = "problem" if len(lines) == 1 else "problems"
        raise PersonalityError(
            f"personality {source!r} is invalid ({len(lines)} {noun}):\n  " + "\n  ".join(lines)
        ) from None


MAX_NAME_LENGTH = 200


def check_name(name: object, *, what: str = "personality name") -> str:
    """``name`` with surrounding spaces removed, after checking it can name a personality.

    The same normalisation applies when a personality is registered and when it is
    looked up, so ``" aurora "`` finds ``"aurora"``.

    Raises:
        PersonalityError: not a string, empty, longer than 200 characters, or holding a
            control character (NUL, a newline, ...).

    Example:
        >>> check_name("  my_blend ")
        'my_blend'
    """
    if not isinstance(name, str):
        raise PersonalityError(f"{what} must be a non-empty string, not {type(name).__name__}")
    name = name.strip()
    if not name:
        raise PersonalityError(f"{what} must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise PersonalityError(f"{what} is {len(name)} characters long; use at most {MAX_NAME_LENGTH}")
    bad = next((c for c in name if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise PersonalityError(f"{what} {name!r} holds the control character {bad!r}; use printable text")
    return name


def json_problem(value: Any, path: str = "") -> str | None:
    """Where ``value`` stops being storable as JSON (``"['o'] (object)"``), or ``None``.

    Metadata is stored as JSON: a value that cannot be written must be refused when it
    is given, not when a later write fails. Besides types JSON lacks, that refuses NaN
    and infinities (JSON has neither: they would come back as something else), text
    holding a lone surrogate (not UTF-8, so no backend on disk can write it), integers
    too long to print, a container holding itself, and nesting deeper than
    :data:`MAX_JSON_DEPTH`, which no encoder can walk.

    Example:
        >>> json_problem({"a": [1, {"b": {1, 2}}]})
        "['a'][1]['b'] (set)"
        >>> json_problem({"ok": [1, 2.5, None, "x"]}) is None
        True
        >>> json_problem({"x": float("nan")})
        "['x'] (nan; JSON has no NaN or infinity)"
    """
    return _json_problem(value, path, 0)


#: How deep metadata may nest: far beyond any real use, well within what encoders walk.
MAX_JSON_DEPTH = 100
# Python refuses to print integers longer than this many digits (sys.int_max_str_digits).
_MAX_INT_BITS = 4000 * 3


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")  # in C: fast on long text
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        return f"holds the unpaired surrogate {bad!r}, which is not text; decode with errors='replace'"
    return None


def _json_problem(value: Any, path: str, depth: int, inside: frozenset[int] = frozenset()) -> str | None:
    # ``inside``: the containers on the way down, so a dict holding itself is named as such
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        problem = _text_problem(value)
        return f"{path} ({problem})" if problem else None
    if isinstance(value, int):
        if value.bit_length() > _MAX_INT_BITS:
            return f"{path} (an integer of {value.bit_length()} bits; store it as a string)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} ({value}; JSON has no NaN or infinity)"
    if not isinstance(value, Mapping | list | tuple):
        return f"{path} ({type(value).__name__})"
    if id(value) in inside:
        return f"{path} (holds itself; JSON cannot hold a cycle)"
    if depth >= MAX_JSON_DEPTH:
        return f"{path[:80]}... (nested more than {MAX_JSON_DEPTH} levels deep; flatten it)"
    inside = inside | {id(value)}
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}] (a key of type {type(key).__name__}; keys must be strings)"
            problem = _text_problem(key)
            if problem is not None:
                return f"{path}[{key!r}] (the key {problem})"
            inner = _json_problem(item, f"{path}[{key!r}]", depth + 1, inside)
            if inner is not None:
                return inner
        return None
    for index, item in enumerate(value):
        inner = _json_problem(item, f"{path}[{index}]", depth + 1, inside)
        if inner is not None:
            return inner
    return None


def parse_personality(name: str, data: Mapping[str, Any] | PersonalityData) -> PersonalityData:
    """Turn what a user passes to ``load_personality`` into :class:`PersonalityData`.

    Accepts a full definition (with ``persona``, ``core_traits``, ...), the simple seed
    form (``name``, ``description``, ``system_prompt``), a dumped ``PersonalityData``
    (with ``definition``) or a ``PersonalityData``. The result is registered as ``name``.

    Raises:
        PersonalityError: empty name, non-mapping data, or invalid content.
    """
    from .compile import compile_prompt  # local: compile imports this module's types only

    name = check_name(name)
    if isinstance(data, PersonalityData):
        _check_metadata(name, data.metadata)
        return data.model_copy(update={"name": name}, deep=True)
    if not isinstance(data, Mapping):
        raise PersonalityError(
            f"personality {name!r}: data must be a dict (a persona definition or "
            f"name/description/system_prompt), got {type(data).__name__}"
        )
    if not data:
        raise PersonalityError(
            f"personality {name!r}: data is empty; give a full definition (persona, core_traits, "
            "linguistic_profile, ...) or at least a system_prompt"
        )
    given = data.get("name")
    if given is not None and (not isinstance(given, str) or given.strip() != name):
        raise PersonalityError(
            f"personality {name!r}: data['name'] is {given!r}, which differs from the name it is "
            "loaded under; drop data['name'] or use the same name for both"
        )
    _check_metadata(name, data.get("metadata"))
    if "definition" in data and isinstance(data["definition"], Mapping):
        definition = validate_definition(data["definition"], source=name)
        fields = {k: v for k, v in data.items() if k in _SIMPLE_FIELDS}
        fields.setdefault("description", definition.persona.description)
        fields.setdefault("system_prompt", compile_prompt(definition))
        return _build(name, {**fields, "definition": definition})
    if "persona" in data or "core_traits" in data:
        definition = validate_definition(data, source=name)
        return PersonalityData(
            name=name,
            description=definition.persona.description,
            system_prompt=compile_prompt(definition),
            metadata=dict(definition.metadata),
            definition=definition,
        )
    if data.get("definition") is not None:
        raise PersonalityError(
            f"personality {name!r}: definition must be a full persona definition (a dict with 'persona' "
            f"and 'core_traits'), got {type(data['definition']).__name__}"
        )
    if not str(data.get("system_prompt") or "").strip():
        others = sorted(str(k) for k in set(data) - _DUMPED_FIELDS)
        hint = f" (it has other fields: {others})" if others else ""
        raise PersonalityError(
            f"personality {name!r}: system_prompt: required field is missing or empty{hint}; the simple "
            f"form takes {sorted(_SIMPLE_FIELDS)}, a full definition needs 'persona' and 'core_traits'"
        )
    # Other tools' fields in the simple form are kept and given back (PersonalityData
    # allows extra fields); full definitions stay strict.
    return _build(name, {**{k: v for k, v in data.items() if k != "definition"}, "name": name})


def _check_metadata(name: str, metadata: Any) -> None:
    problem = json_problem(metadata)
    if problem is not None:
        raise PersonalityError(
            f"personality {name!r}: metadata{problem} cannot be stored as JSON; use strings, numbers, "
            "booleans, None, lists and dicts"
        )


def _build(name: str, fields: Mapping[str, Any]) -> PersonalityData:
    try:
        return PersonalityData.model_validate({**fields, "name": name})
    except ValidationError as exc:
        raise PersonalityError(
            f"personality {name!r} is invalid:\n  " + "\n  ".join(format_validation_error(exc))
        ) from None


def definition_for(personality: PersonalityData) -> PersonaDefinition:
    """The structured definition of ``personality``; a neutral one for the simple seed form.

    The simple form (name, description, system_prompt) has no traits, so blending and the
    offline simulator see a neutral profile whose ``instructions`` carry the seed's
    system prompt verbatim.

    Example:
        >>> p = PersonalityData(name="helper", description="Helps.", system_prompt="Be helpful.")
        >>> definition_for(p).instructions
        'Be helpful.'
    """
    if personality.definition is not None:
        return personality.definition
    return PersonaDefinition.model_validate(
        {
            "persona": {
                "name": personality.display_name[:100],
                "description": (personality.display_description or f"The {personality.name} personality.")[
                    :2000
                ],
            },
            "core_traits": {
                "archetype": "companion",
                "temperament": "calm",
                "communication_style": "conversational",
            },
            "linguistic_profile": {"tone": ["helpful"]},
            "instructions": personality.system_prompt or None,
        }
    )
