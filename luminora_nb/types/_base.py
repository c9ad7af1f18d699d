"""Shared helpers of the data models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

# Keys whose values are credentials: never serialised, never shown in a repr.
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|passwd|authorization|encryption[_-]?key)", re.I)


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a credential (``api_key``, ``Authorization``, ...)."""
    return bool(_SECRET_KEY.search(key))


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


class SecretHoldingModel(Model):
    """A model holding credentials: validation errors never echo the input values."""

    model_config = ConfigDict(validate_assignment=True, populate_by_name=True, hide_input_in_errors=True)


class StrictModel(Model):
    """A model that rejects unknown fields, used for persona definitions."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid", populate_by_name=True)
