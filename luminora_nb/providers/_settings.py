"""Transport settings of an HTTP provider, read from ``ProviderConfig.extra`` and checked.

``extra`` is user input: every value read here is validated (type, finiteness, lower
bound) and a bad one raises a :class:`~luminora_nb.errors.ProviderError` naming the key,
so a misconfigured session fails when it is created rather than at its first message.
:func:`extra_number` and :func:`extra_integer` are shared with the retry policy.

Timeouts: connect, read, write and pool timeouts are separate, and the read timeout
bounds each *gap* between bytes, never the whole response, so a long healthy stream is
never cut. ``extra={"timeout": 60}`` sets them all; ``connect_timeout`` and
``read_timeout`` override one each. A non-streamed ``chat()`` gets its response headers
only once the whole reply is generated, so its read timeout covers the generation time:
it defaults to 600 s (like the vendors' own SDKs) unless ``timeout`` or ``read_timeout``
is set.

Example:
    >>> s = HTTPSettings.from_extra({"timeout": 30}, provider="openai")
    >>> s.connect_timeout, s.read_timeout, s.chat_read_timeout
    (10.0, 30.0, 30.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import ProviderError

__all__ = ["HTTPSettings", "extra_integer", "extra_number"]


def extra_number(
    extra: Mapping[str, Any], key: str, default: float, *, provider: str, minimum: float
) -> float:
    """``extra[key]`` as a finite number of seconds ``>= minimum`` (``default`` when unset).

    Example:
        >>> extra_number({"timeout": 5}, "timeout", 60.0, provider="openai", minimum=0.001)
        5.0
    """
    value = extra.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProviderError(
            f"{provider}: extra[{key!r}] must be a number of seconds, got {value!r}", provider=provider
        )
    if value < minimum:
        raise ProviderError(
            f"{provider}: extra[{key!r}] must be >= {minimum}, got {value!r}", provider=provider
        )
    return float(value)


def extra_integer(extra: Mapping[str, Any], key: str, default: int, *, provider: str, minimum: int) -> int:
    """``extra[key]`` as an integer ``>= minimum`` (``default`` when unset).

    Example:
        >>> extra_integer({}, "max_retries", 2, provider="openai", minimum=0)
        2
    """
    value = extra.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProviderError(
            f"{provider}: extra[{key!r}] must be an integer >= {minimum}, got {value!r}", provider=provider
        )
    return value


@dataclass(frozen=True, slots=True)
class HTTPSettings:
    """Timeouts and pool size of one provider configuration.

    Built from ``ProviderConfig.extra``: ``timeout`` (default 60 s) sets read, write and
    pool timeouts; ``connect_timeout`` defaults to ``min(timeout, 10)``; ``read_timeout``
    overrides the per-read timeout; ``max_connections`` (default 100) sizes the pool.
    ``chat_read_timeout`` is the read timeout of non-streamed calls, whose first byte
    arrives only after the whole reply is generated: ``read_timeout`` (or ``timeout``)
    when one is set, else 600 s.

    Example:
        >>> HTTPSettings.from_extra({"timeout": 30}, provider="openai").connect_timeout
        10.0
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    write_timeout: float = 60.0
    pool_timeout: float = 60.0
    max_connections: int = 100
    chat_read_timeout: float = 600.0

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None, *, provider: str) -> HTTPSettings:
        """Read and validate the settings in ``extra``; raise ProviderError on nonsense."""
        extra = extra or {}
        timeout = extra_number(extra, "timeout", 60.0, provider=provider, minimum=0.001)
        read_timeout = extra_number(extra, "read_timeout", timeout, provider=provider, minimum=0.001)
        explicit = extra.get("read_timeout") is not None or extra.get("timeout") is not None
        return cls(
            connect_timeout=extra_number(
                extra, "connect_timeout", min(timeout, 10.0), provider=provider, minimum=0.001
            ),
            read_timeout=read_timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
            max_connections=extra_integer(extra, "max_connections", 100, provider=provider, minimum=1),
            chat_read_timeout=read_timeout if explicit else 600.0,
        )

    def httpx_timeout(self, *, stream: bool = True) -> httpx.Timeout:
        """The equivalent :class:`httpx.Timeout` (never a total deadline).

        ``stream=False`` gives the timeouts of a non-streamed call (``chat_read_timeout``).
        """
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout if stream else self.chat_read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )
