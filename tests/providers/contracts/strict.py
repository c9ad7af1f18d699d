"""Strict validation of JSON data against a vendor SDK's request types.

The SDKs describe their request bodies with ``TypedDict`` classes (OpenAI, Anthropic),
pydantic models (Mistral, Cohere, Google, Ollama) and unions, literals and aliases of
those. Their own validation is lenient on purpose — pydantic ignores unknown keys unless
a model says otherwise, ``TypedDict`` is not checked at run time at all, and an
``Iterable[...]`` field is validated lazily — so it cannot tell us that a body carries a
field the API does not define. :func:`check` walks the *annotations* instead, with
unknown keys forbidden at every level:

* ``TypedDict``: every key must be declared, every ``Required`` key present;
* pydantic model: every key must be a field's wire name (its alias), every required
  field present, whatever the model's own ``extra`` setting says;
* ``Union``/``Optional``: some branch must accept the value; a *loose* branch (``Any``,
  ``Mapping[str, Any]``: "anything goes") is only tried when no other branch exists, so
  ``Union[Mapping[str, Any], Message]`` is read as ``Message``;
* ``Literal``, enums, ``str``/``int``/``float``/``bool`` (a bool is no number), lists
  (``list``, ``Sequence``, ``Iterable``, ``SequenceNotStr``), dicts; ``Annotated``,
  ``Required``/``NotRequired``, type aliases (generic ones too) are unwrapped.

A type it does not know is reported, never waved through.

Example:
    >>> from typing import Literal, TypedDict
    >>> Msg = TypedDict("Msg", {"role": Literal["user"], "content": str})
    >>> check([{"role": "user", "content": "hi"}], list[Msg])
    >>> check({"role": "user", "content": "hi", "name": "x"}, Msg)
    Traceback (most recent call last):
    ...
    AssertionError: $: unknown field 'name' (Msg allows content, role)
"""

from __future__ import annotations

import collections.abc
import datetime
import enum
import types
import typing
from typing import Any

import pydantic
import typing_extensions

__all__ = ["check", "problem"]

_NONE = type(None)
_WRAPPERS = {typing.Required, typing.NotRequired, typing_extensions.Required, typing_extensions.NotRequired}
_READONLY = {getattr(typing, "ReadOnly", None), getattr(typing_extensions, "ReadOnly", None)} - {None}
_LIST_ORIGINS = {
    list,
    tuple,
    collections.abc.Sequence,
    collections.abc.Iterable,
    collections.abc.Collection,
    collections.abc.MutableSequence,
}
_DICT_ORIGINS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
_ALIAS_TYPES = tuple(
    {typing_extensions.TypeAliasType, getattr(typing, "TypeAliasType", typing_extensions.TypeAliasType)}
)


def check(value: Any, tp: Any, path: str = "$") -> None:
    """Raise AssertionError naming the first place where ``value`` is not a ``tp``."""
    error = problem(value, tp, path)
    if error is not None:
        raise AssertionError(error)


def problem(value: Any, tp: Any, path: str = "$") -> str | None:
    """Why ``value`` is not a ``tp`` (the first fault, with its JSON path), or None."""
    tp = _unwrap(tp)
    if tp is Any or tp is object:
        return None
    if tp is _NONE or tp is None:
        return None if value is None else f"{path}: expected null, got {value!r}"
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return _union(value, typing.get_args(tp), path)
    if origin is typing.Literal or origin is typing_extensions.Literal:
        allowed = typing.get_args(tp)
        if any(value == a and type(value) is type(a) for a in allowed):
            return None
        return f"{path}: {value!r} is not one of {list(allowed)!r}"
    if _is_typeddict(tp):
        return _typeddict(value, tp, path)
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return _model(value, tp, path)
    if origin in _LIST_ORIGINS or (
        origin is not None and getattr(origin, "__name__", "") == "SequenceNotStr"
    ):
        if not isinstance(value, list):
            return f"{path}: expected a list, got {type(value).__name__}"
        args = typing.get_args(tp)
        item = args[0] if args else Any
        for i, element in enumerate(value):
            error = problem(element, item, f"{path}[{i}]")
            if error:
                return error
        return None
    if origin in _DICT_ORIGINS:
        if not isinstance(value, dict):
            return f"{path}: expected an object, got {type(value).__name__}"
        args = typing.get_args(tp)
        value_type = args[1] if len(args) == 2 else Any
        for key, element in value.items():
            error = problem(element, value_type, f"{path}.{key}")
            if error:
                return error
        return None
    return _scalar(value, tp, path)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated or origin in _WRAPPERS or origin in _READONLY:
            tp = typing.get_args(tp)[0]
        elif isinstance(tp, _ALIAS_TYPES):
            tp = tp.__value__
        elif isinstance(origin, _ALIAS_TYPES):
            tp = origin.__value__[typing.get_args(tp)]
        elif isinstance(tp, typing.NewType):
            tp = tp.__supertype__
        else:
            return tp


def _loose(tp: Any) -> bool:
    tp = _unwrap(tp)
    if tp is Any or tp is object:
        return True
    if typing.get_origin(tp) in _DICT_ORIGINS:
        args = typing.get_args(tp)
        return not args or _unwrap(args[1]) is Any
    return False


def _union(value: Any, branches: tuple[Any, ...], path: str) -> str | None:
    strict = [b for b in branches if not _loose(b)]
    errors = []
    for branch in strict or branches:
        error = problem(value, branch, path)
        if error is None:
            return None
        errors.append(error)
    # The most telling fault: the one found deepest in the value.
    return max(errors, key=lambda e: e.count(".") + e.count("["))


def _is_typeddict(tp: Any) -> bool:
    return typing.is_typeddict(tp) or typing_extensions.is_typeddict(tp)


def _typeddict(value: Any, tp: Any, path: str) -> str | None:
    if not isinstance(value, dict):
        return f"{path}: expected an object ({tp.__name__}), got {type(value).__name__}"
    hints = typing_extensions.get_type_hints(tp, include_extras=True)
    unknown = sorted(set(value) - set(hints))
    if unknown:
        return f"{path}: unknown field {unknown[0]!r} ({tp.__name__} allows {', '.join(sorted(hints))})"
    missing = sorted(set(tp.__required_keys__) - set(value))
    if missing:
        return f"{path}: required field {missing[0]!r} of {tp.__name__} is missing"
    for key, element in value.items():
        error = problem(element, hints[key], f"{path}.{key}")
        if error:
            return error
    return None


def _model(value: Any, tp: type[pydantic.BaseModel], path: str) -> str | None:
    if not isinstance(value, dict):
        return f"{path}: expected an object ({tp.__name__}), got {type(value).__name__}"
    fields = {(f.alias or name): f for name, f in tp.model_fields.items()}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        return f"{path}: unknown field {unknown[0]!r} ({tp.__name__} allows {', '.join(sorted(fields))})"
    missing = sorted(k for k, f in fields.items() if f.is_required() and k not in value)
    if missing:
        return f"{path}: required field {missing[0]!r} of {tp.__name__} is missing"
    for key, element in value.items():
        error = problem(element, fields[key].annotation, f"{path}.{key}")
        if error:
            return error
    return None


def _scalar(value: Any, tp: Any, path: str) -> str | None:
    if not isinstance(tp, type):
        return f"{path}: cannot check against {tp!r}"
    if issubclass(tp, enum.Enum):
        allowed = [m.value for m in tp]
        return None if value in allowed else f"{path}: {value!r} is not one of {allowed!r}"
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    elif tp in (bytes, datetime.datetime, datetime.date):
        ok = isinstance(value, str)  # base64 / ISO 8601 text on the wire
    else:
        return f"{path}: cannot check against {tp.__module__}.{tp.__qualname__}"
    return None if ok else f"{path}: expected {tp.__name__}, got {value!r}"
