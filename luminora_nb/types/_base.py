"""Shared helpers of the data models."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

# Keys whose values are credentials: never serialised, never shown in a repr.
# Whole name segments only: "access_token" and "X-Api-Key" are credentials, "max_tokens" is not.
_SECRET_KEY = re.compile(
    r"(?:^|[_\-.])(api[_\-]?key|apikey|key|secret|token|password|passwd|passphrase|authorization|"
    r"credentials?|signature|sig|encryption[_\-]?key)(?:$|[_\-.])",
    re.I,
)
_URL_USERINFO = re.compile(r"^([a-z][a-z0-9+.\-]*://)[^/@]*@", re.I)
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.I)


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a credential (``api_key``, ``Authorization``, ...)."""
    return bool(_SECRET_KEY.search(key))


def redact_url(url: str) -> str:
    """``url`` without user info, credential-named query parameters or ``password=`` words.

    Example:
        >>> redact_url("https://u:sk-1@proxy.example/v1?key=sk-2&v=3")
        'https://proxy.example/v1?v=3'
    """
    url = _KEYWORD_PASSWORD.sub(r"\1***", _URL_USERINFO.sub(r"\1", url))
    base, sep, query = url.partition("?")
    if not sep:
        return url
    kept = [p for p in query.split("&") if p and not is_secret_key(p.split("=", 1)[0])]
    return base + ("?" + "&".join(kept) if kept else "")


#: What a masked credential is replaced with.
MASK = "***"

_TEXT_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"), MASK),  # OpenAI / Anthropic style keys
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), MASK),  # Google keys
    (re.compile(r"(?i)\b(bearer|basic)\s+(?!\*\*\*)[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + MASK),
)
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+", re.I)
# ``api_key=...``, ``"token": "..."``; an ``Authorization: Bearer ...`` is masked above, its scheme kept
_KEY_VALUE = re.compile(r"([A-Za-z][\w\-.]*)(\s*[=:]\s*)(['\"]?)(?!(?i:bearer|basic)\s)([^\s'\",;&)]+)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential masked: the one redaction rule of the package.

    It masks the ``secrets`` given (an adapter's API key, wherever a vendor echoes it),
    what looks like a key (``sk-...``, ``AIza...``, ``Bearer ...`` / ``Basic ...``
    tokens), credentials in URLs (:func:`redact_url`) and the values of credential-named
    ``key=value`` pairs. Secrets shorter than four characters are not masked: replacing
    every ``ab`` in a text would mangle it while protecting nothing.

    Example:
        >>> redact("bad key sk-abc123456 for https://u:pw@x.example/v1?key=1 (api_key=xyz)")
        'bad key *** for https://x.example/v1 (api_key=***)'
        >>> redact("token zz-secret-1 refused", ["zz-secret-1"])
        'token *** refused'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    for pattern, replacement in _TEXT_SECRETS:
        text = pattern.sub(replacement, text)
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text)

    def mask(match: re.Match[str]) -> str:
        if not is_secret_key(match.group(1)) or match.group(4) == MASK:
            return match.group()
        return f"{match.group(1)}{match.group(2)}{match.group(3)}{MASK}{match.group(3)}"

    return _KEY_VALUE.sub(mask, text)


def scrub_secrets(value: Any) -> Any:
    """A deep copy of ``value`` with every credential-named key removed."""
    if isinstance(value, dict):
        return {
            k: scrub_secrets(v) for k, v in value.items() if not (isinstance(k, str) and is_secret_key(k))
        }
    if isinstance(value, list):
        return [scrub_secrets(v) for v in value]
    return value


def mask_secrets(value: Any) -> Any:
    """A deep copy of ``value`` with every credential-named key's value replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: ("***" if isinstance(k, str) and is_secret_key(k) else mask_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


class Model(BaseModel):
    """Base of the public models: validated on assignment, JSON round-trippable."""

    model_config = ConfigDict(validate_assignment=True, use_enum_values=False, populate_by_name=True)


class DisplayedModel(Model):
    """A model Jupyter renders with :mod:`luminora_nb.display`'s ``<_display_as>_html`` and
    ``<_display_as>_text`` (e.g. ``personality_html`` / ``personality_text``).

    The display package is imported when a model is shown, never with the types: it is
    the heavier side, and most code never renders a model.
    """

    #: The stem of the model's two renderers in :mod:`luminora_nb.display`
    _display_as: ClassVar[str]

    def _renderer(self, form: Literal["html", "text"]) -> Callable[[], str]:
        from .. import display

        render: Callable[[Any], str] = getattr(display, f"{self._display_as}_{form}")
        return lambda: render(self)

    def _repr_html_(self) -> str:
        return self._renderer("html")()

    def _repr_mimebundle_(
        self, include: Collection[str] | None = None, exclude: Collection[str] | None = None
    ) -> dict[str, str]:
        from ..display import mimebundle

        return mimebundle(self._renderer("text"), self._renderer("html"), include, exclude)


class SecretHoldingModel(Model):
    """A model holding credentials: validation errors never echo the input values."""

    model_config = ConfigDict(validate_assignment=True, populate_by_name=True, hide_input_in_errors=True)


def unknown_field_message(model: type[BaseModel], field: str) -> str:
    """What to say about a keyword ``model`` has no field for, with the nearest valid one.

    Example:
        >>> from pydantic import BaseModel
        >>> class Config(BaseModel):
        ...     storage_type: str = "memory"
        >>> unknown_field_message(Config, "storage_typ")
        "Config has no field 'storage_typ'; did you mean 'storage_type'? Its fields: storage_type"
    """
    names = list(model.model_fields)
    nearest = difflib.get_close_matches(field, names, n=1, cutoff=0.6)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else "."
    return f"{model.__name__} has no field {field!r}{hint} Its fields: {', '.join(names)}"


def first_error(exc: ValidationError) -> str:
    """The first fault of a validation error with the field it is in, for one-line messages.

    Example:
        >>> from pydantic import BaseModel
        >>> class Config(BaseModel):
        ...     timeout: int = 0
        >>> try:
        ...     Config(timeout="soon")
        ... except ValidationError as exc:
        ...     first_error(exc)
        'timeout: Input should be a valid integer, unable to parse string as an integer'
    """
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def check_known_fields(model: type[BaseModel], data: Any, error: type[Exception]) -> Any:
    """Refuse keys ``model`` has no field for, naming the nearest valid one.

    A typo must not silently give a default (``storage_typ="redis"`` is not in-memory
    storage). Stored records that embed a config tolerate fields a newer version wrote:
    they drop unknown keys before validating (:func:`known_fields_only`).
    """
    if isinstance(data, dict):
        aliases = {f.alias for f in model.model_fields.values() if f.alias}
        for key in data:
            if key not in model.model_fields and key not in aliases:
                raise error(unknown_field_message(model, str(key)))
    return data


def known_fields_only(model: type[BaseModel], data: Any) -> Any:
    """``data`` without the keys ``model`` does not know (for records read from storage)."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k in model.model_fields}
    return data


class StrictModel(Model):
    """A model that rejects unknown fields, used for persona definitions."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid", populate_by_name=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


def validated_mapping(
    model: type[ModelT], value: object, *, what: str, expected: str, error: type[Exception]
) -> ModelT:
    """``value`` (a mapping) validated as ``model``; anything else, or a fault, is ``error``.

    The one way the configs' ``coerce`` class methods and the client turn a dict into a
    config: ``expected`` says what else would have been accepted, ``what`` names the
    argument in the one-line message.

    Example:
        >>> class Config(BaseModel):
        ...     size: int = 1
        >>> validated_mapping(Config, {"size": 3}, what="config", expected="a dict", error=ValueError).size
        3
        >>> validated_mapping(Config, 5, what="config", expected="a dict", error=ValueError)
        Traceback (most recent call last):
        ValueError: config must be a dict, not int
    """
    if not isinstance(value, Mapping):
        raise error(f"{what} must be {expected}, not {type(value).__name__}")
    try:
        return model.model_validate(dict(value))
    except ValidationError as exc:
        raise error(f"invalid {what}: {first_error(exc)}") from None


@dataclass(frozen=True, slots=True)
class Coercion:
    """How a config's :meth:`Coercible.coerce` reads what a caller passed.

    Attributes:
        what: The argument's name in messages (``"provider_config"``).
        expected: What would have been accepted (``"a ProviderConfig, a dict or a provider name"``).
        error: The exception raised for anything else, or an invalid dict.
        text_field: A string stands for ``{text_field: string}``; ``None``: strings are refused.
        none_is_default: ``None`` gives the default config; else it is refused.
    """

    what: str
    expected: str
    error: type[Exception]
    text_field: str | None = None
    none_is_default: bool = False


class Coercible:
    """A config made from itself, a dict and, as its :class:`Coercion` says, a string or ``None``.

    An unknown field is refused with ``coercion.error`` too, naming the nearest known field.
    """

    coercion: ClassVar[Coercion]

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        # an unknown field is the config's own error, with the nearest known name
        return check_known_fields(cls, data, cls.coercion.error)  # type: ignore[arg-type]

    @classmethod
    def coerce(cls, value: object) -> Self:
        """``value`` as this config: itself, a dict validated, or what ``coercion`` allows.

        Raises:
            Exception: ``coercion.error`` when the value is none of these or the dict is invalid.
        """
        spec = cls.coercion
        if isinstance(value, cls):
            return value
        if value is None and spec.none_is_default:
            return cls()
        if isinstance(value, str) and spec.text_field is not None:
            value = {spec.text_field: value}
        return validated_mapping(cls, value, what=spec.what, expected=spec.expected, error=spec.error)  # type: ignore[type-var]


def generated_json_schema(
    model: type[BaseModel], schema_id: str, *, by_alias: bool = False
) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``model`` as a shipped schema file holds it.

    Example:
        >>> generated_json_schema(Model, "https://example.org/m.json")["$id"]
        'https://example.org/m.json'
    """
    schema = model.model_json_schema(mode="validation", by_alias=by_alias)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id, **schema}


def schema_file_text(schema: Mapping[str, Any]) -> str:
    """``schema`` as the exact text of its shipped file: sorted keys, two-space indent, one last newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
