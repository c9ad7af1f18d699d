"""The shipped persona library: original personas stored as JSON next to this module.

Example:
    >>> "aurora" in builtin_names()
    True
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ..errors import PersonalityError
from ..types.personality import PersonalityData
from .validate import parse_personality

__all__ = ["PERSONAS_DIR", "builtin_names", "get_builtin", "load_builtins"]

PERSONAS_DIR = Path(__file__).with_name("personas")


@cache
def builtin_names() -> tuple[str, ...]:
    """Names of the shipped personas, sorted."""
    return tuple(sorted(p.stem for p in PERSONAS_DIR.glob("*.json")))


@cache
def _load(name: str) -> PersonalityData:
    # Only the shipped names: a name is never a path ("../../x" reads no other file).
    if name not in builtin_names():
        raise PersonalityError(
            f"no shipped persona named {name!r}; shipped personas: {', '.join(builtin_names())}"
        )
    path = PERSONAS_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PersonalityError(f"shipped persona file {path.name} is not valid JSON: {exc}") from None
    return parse_personality(name, data)


def get_builtin(name: str) -> PersonalityData:
    """A fresh copy of the shipped persona ``name``.

    Raises:
        PersonalityError: no such persona (the message lists the shipped ones).
    """
    return _load(name).model_copy(deep=True)


def load_builtins() -> dict[str, PersonalityData]:
    """Every shipped persona by name."""
    return {name: get_builtin(name) for name in builtin_names()}
