"""Secrets out of what the session log stores: event payloads, provider URLs, error texts.

**Secrets.** Events carry no API keys, but payloads are scrubbed anyway: credential-named
keys are removed (:func:`~luminora_nb.types._base.scrub_secrets`), URL-like provider
fields lose their credentials (:func:`~luminora_nb.types._base.redact_url`), and error
texts (``TurnFailed.message``) are masked where they look like keys (``sk-...``,
``Bearer ...``, ``api_key=...``, credentials in URLs). Chat content is stored as sent.

JSON written here has no NaN or infinity (JSON has no such numbers: they become ``null``)
and keeps non-ASCII text as it is.

Example:
    >>> clean_url("https://user:pw@llm.example/v1")
    'https://llm.example/v1'
    >>> json_or_none({"aurora": 0.7, "api_key": "sk-123456789", "x": float("nan")})
    '{"aurora": 0.7, "x": null}'
    >>> from luminora_nb.events import FactLearned
    >>> '"key": "favorite_color"' in event_json(FactLearned(user_id="u", category="preferences",
    ...     key="favorite_color", value="blue", confidence=0.9))
    True
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..events import Event
from ..types._base import redact, redact_url, scrub_secrets

__all__ = ["clean_url", "event_json", "json_or_none", "scrub_text"]

_URL_FIELDS = ("provider", "base_url", "url", "endpoint")
_TEXT_FIELDS = ("message", "error", "detail", "reason")
# Fields events declare whose names look like credentials but are not: a learned fact's
# ``key`` is the fact's name ("favorite_color"). Kept when it is a plain string.
_NOT_SECRET_FIELDS = ("key",)


def scrub_text(text: str) -> str:
    """``text`` with what looks like a credential masked: for error messages.

    The package's one redaction rule (:func:`luminora_nb.types._base.redact`).

    Example:
        >>> scrub_text("bad key sk-abc123456 for https://u:pw@x.example/v1?key=1 (api_key=xyz)")
        'bad key *** for https://x.example/v1 (api_key=***)'
    """
    return redact(text)


def clean_url(value: str) -> str:
    """``value`` without credentials when it looks like a URL; anything else as it is."""
    return redact_url(value) if ("://" in value or "@" in value) else value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)


def event_json(event: Event) -> str:
    """The event's record as scrubbed JSON text (the ``payload`` column)."""
    raw = event.to_record()
    record = scrub_secrets(raw)
    for key in _NOT_SECRET_FIELDS:
        if key in type(event).model_fields and isinstance(raw.get(key), str):
            record[key] = raw[key]
    for key in _URL_FIELDS:
        if isinstance(record.get(key), str):
            record[key] = clean_url(record[key])
    for key in _TEXT_FIELDS:
        if isinstance(record.get(key), str):
            record[key] = scrub_text(record[key])
    try:
        return _dumps(record)
    except ValueError:  # NaN or infinity somewhere: JSON has no such numbers
        return _dumps(_finite(record))


def json_or_none(value: Any) -> str | None:
    """``value`` scrubbed of credential-named keys as JSON text; ``None`` stays ``None``."""
    if value is None:
        return None
    return _dumps(_finite(scrub_secrets(value)))
