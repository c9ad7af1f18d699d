"""Load and validate personality data, with errors that name each fault's JSON path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import PersonalityError
from ..types.persona import PersonaDefinition
from ..types.personality import PersonalityData

__all__ = ["definition_for", "format_validation_error", "parse_personality", "validate_definition"]

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


def parse_personality(name: str, data: Mapping[str, Any] | PersonalityData) -> PersonalityData:
    """Turn what a user passes to ``load_personality`` into :class:`PersonalityData`.

    Accepts a full definition (with ``persona``, ``core_traits``, ...), the simple seed
    form (``name``, ``description``, ``system_prompt``), a dumped ``PersonalityData``
    (with ``definition``) or a ``PersonalityData``. The result is registered as ``name``.

    Raises:
        PersonalityError: empty name, non-mapping data, or invalid content.
    """
    from .compile import compile_prompt  # local: compile imports this module's types only

    if not isinstance(name, str) or not name.strip():
        raise PersonalityError("personality name must be a non-empty string")
    name = name.strip()
    if isinstance(data, PersonalityData):
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
    unknown = sorted(set(data) - _DUMPED_FIELDS)
    if data.get("definition") is not None:
        unknown.append("definition")
    if unknown:
        raise PersonalityError(
            f"personality {name!r}: unknown fields {unknown}; the simple form takes "
            f"{sorted(_SIMPLE_FIELDS)}, a full definition needs 'persona' and 'core_traits'"
        )
    if not str(data.get("system_prompt") or "").strip():
        raise PersonalityError(f"personality {name!r}: system_prompt: required field is missing or empty")
    return _build(name, {**{k: v for k, v in data.items() if k != "definition"}, "name": name})


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
