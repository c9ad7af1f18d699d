"""Seed import path ``luminoracore.utils.exceptions``."""

from luminora_nb.errors import (
    LuminoraError,
    PersonalityError,
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    SessionError,
    StorageError,
)

__all__ = [
    "LuminoraError",
    "PersonalityError",
    "ProviderAuthenticationError",
    "ProviderBadRequestError",
    "ProviderError",
    "ProviderRateLimitError",
    "ProviderTimeoutError",
    "SessionError",
    "StorageError",
]
