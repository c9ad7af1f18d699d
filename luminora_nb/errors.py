"""The exception hierarchy of luminora_nb.

Every error raised on purpose by the library derives from :class:`LuminoraError`, and
every message says what was wrong and what to do about it. No message, ``repr`` or
``str`` of an exception ever contains an API key or an encryption key.

Example:
    >>> from luminora_nb.errors import PersonalityError
    >>> try:
    ...     raise PersonalityError("unknown personality 'zed'; load it first")
    ... except PersonalityError as exc:
    ...     print(exc)
    unknown personality 'zed'; load it first
"""

from __future__ import annotations

import reprlib

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

_SHORT = reprlib.Repr()  # attributes, not keywords: Python 3.11 takes none
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlevel = 3
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4


def shown(value: object) -> str:
    """``repr(value)`` cut short: a message quotes what was given, never 100,000 characters of it.

    Example:
        >>> shown("x" * 1000)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
        >>> shown(["a", "b"])
        "['a', 'b']"
    """
    return _SHORT.repr(value)


class LuminoraError(Exception):
    """Base class of every error raised by luminora_nb."""


class PersonalityError(LuminoraError):
    """A personality definition, name or blend is invalid."""


class SessionError(LuminoraError):
    """A session is unknown, expired or used in a way it does not allow."""


class StorageError(LuminoraError):
    """A storage backend failed, or stored data could not be read back."""


class ProviderError(LuminoraError):
    """An LLM provider could not be configured or failed to answer.

    Attributes:
        provider: Name of the provider (``"openai"``, ``"offline"``, ...).
        status: HTTP status code when the failure came from an HTTP answer.
        retryable: Whether repeating the same request may succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retryable = retryable

    def __reduce__(self) -> tuple[object, ...]:
        # Keeps the keyword-only attributes through pickling (multiprocessing, pytest-xdist).
        return (_rebuild_provider_error, (type(self), str(self), self.provider, self.status, self.retryable))


def _rebuild_provider_error(
    cls: type[ProviderError], message: str, provider: str | None, status: int | None, retryable: bool
) -> ProviderError:
    return cls(message, provider=provider, status=status, retryable=retryable)


class ProviderAuthenticationError(ProviderError):
    """The provider rejected the credentials (HTTP 401 or 403) or none were given."""


class ProviderRateLimitError(ProviderError):
    """The provider asked us to slow down (HTTP 429)."""


class ProviderTimeoutError(ProviderError):
    """The provider did not connect or answer within the configured timeout."""


class ProviderBadRequestError(ProviderError):
    """The provider refused the request as malformed (HTTP 400, 404, 413, 422)."""
