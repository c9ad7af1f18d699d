"""Seed import path ``luminoracore_sdk.utils.exceptions``: the SDK's name for each error.

``LuminoraCoreSDKError`` is the base of every error the library raises
(:class:`luminora_nb.errors.LuminoraError`), so ``except LuminoraCoreSDKError`` catches
them all.

Example:
    >>> from luminora_nb.errors import SessionError
    >>> issubclass(SessionError, LuminoraCoreSDKError)
    True
"""

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

LuminoraCoreSDKError = LuminoraError

__all__ = [
    "LuminoraCoreSDKError",
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
