"""The retry policy of the HTTP providers: what is retried, and how long to wait first.

What is retryable:

* the HTTP statuses in :data:`RETRYABLE_STATUS` (408, 429, 500, 502, 503, 504, plus any
  an adapter adds, such as Anthropic's 529); other 4xx fail at once;
* connection failures and timeouts (:func:`transport_retryable`) — except the read
  timeout of a non-streamed call, whose reply the server may still be generating (and
  billing): retrying it would pay twice;
* errors a vendor reports inside a stream or a 200 body, when their type says they are
  transient (:func:`is_transient_error`);
* a stream only while nothing has been delivered to the caller (the HTTP core enforces
  that; a partial reply is never silently replaced by another one).

How long to wait: exponential backoff with full jitter (:meth:`RetryPolicy.backoff`),
unless the server said how long (``Retry-After`` in seconds or as an HTTP date,
``retry-after-ms``, or a vendor's own field such as Gemini's ``RetryInfo``), which is
honoured up to ``retry_after_cap``; beyond it the call gives up at once instead of
retrying into a certain refusal.

Everything here is pure: the sleep and the random generator are injectable, so tests
record the delays instead of waiting them.

Example:
    >>> policy = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=4.0)
    >>> 0.0 <= policy.backoff(2) <= 2.0
    True
    >>> parse_retry_after({"retry-after": "7"})
    7.0
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ._settings import extra_integer, extra_number

__all__ = [
    "RETRYABLE_STATUS",
    "RetryPolicy",
    "is_transient_error",
    "parse_retry_after",
    "transport_retryable",
]

#: Statuses retried by default: request timeout, rate limited, and the transient server errors.
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After``, or None.

    ``Retry-After`` may be a number of seconds or an HTTP date; dates in the past give 0.

    Example:
        >>> parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
        ...                   now=datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC))
        30.0
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value / 1000.0
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = now or datetime.now(UTC)
        return max(0.0, (when - current).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass(slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After`` up to a cap.

    Attempt ``n`` (0-based) waits a uniform random time in
    ``[0, min(max_delay, base_delay * 2**n)]`` unless the server said how long to wait,
    in which case it waits that long. When the server asks for more than
    ``retry_after_cap`` seconds (:meth:`beyond_cap`), the HTTP core gives up at once (the
    error says how long the server asked for) instead of retrying into a certain
    refusal; :meth:`delay` itself never returns more than the cap.

    ``sleep`` and ``rng`` are injectable so tests can record delays instead of waiting.
    Configure from ``ProviderConfig.extra``: ``max_retries`` (default 2),
    ``retry_base_delay`` (0.5 s), ``retry_max_delay`` (8 s), ``retry_after_cap`` (60 s).

    Example:
        >>> RetryPolicy(retry_after_cap=5.0).delay(0, retry_after=30.0)
        5.0
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None, *, provider: str) -> RetryPolicy:
        """Read and validate the retry settings in ``extra``."""
        extra = extra or {}
        return cls(
            max_retries=extra_integer(extra, "max_retries", 2, provider=provider, minimum=0),
            base_delay=extra_number(extra, "retry_base_delay", 0.5, provider=provider, minimum=0.0),
            max_delay=extra_number(extra, "retry_max_delay", 8.0, provider=provider, minimum=0.0),
            retry_after_cap=extra_number(extra, "retry_after_cap", 60.0, provider=provider, minimum=0.0),
        )

    def backoff(self, attempt: int) -> float:
        """The jittered delay before retry number ``attempt + 1``."""
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** min(attempt, 62)))
        return self.rng.uniform(0.0, ceiling)

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """The delay to use: the server's ``Retry-After`` (capped) or :meth:`backoff`."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return self.backoff(attempt)

    def beyond_cap(self, retry_after: float | None) -> bool:
        """Whether the server asks for a longer wait than this policy is willing to do.

        Example:
            >>> RetryPolicy(retry_after_cap=3.0).beyond_cap(3600.0)
            True
        """
        return retry_after is not None and retry_after > self.retry_after_cap


def transport_retryable(exc: httpx.HTTPError, *, stream: bool) -> bool:
    """Whether a failure below HTTP (connecting, sending, waiting) is worth retrying.

    Connection errors and timeouts are, except the read timeout of a non-streamed call:
    its headers come only once the whole reply is generated, so the server may still be
    working (and billing) on it.

    Example:
        >>> transport_retryable(httpx.ConnectError("refused"), stream=False)
        True
        >>> transport_retryable(httpx.ReadTimeout("slow"), stream=False)
        False
    """
    if isinstance(exc, httpx.ReadTimeout) and not stream:
        return False
    return isinstance(exc, httpx.TransportError)


_TRANSIENT_TYPE = re.compile(r"server_error|overloaded(_error)?|rate_limit\w*|api_error|service_unavailable")
_TRANSIENT_TEXT = re.compile(r"(?i)\bserver busy\b|\boverloaded\b")


def is_transient_error(body: Any) -> bool:
    """True when an error reported inside a stream (or a 200 body) is worth retrying.

    Only known transient kinds count: an error ``type``/``code`` of ``server_error``,
    ``overloaded_error``, ``rate_limit*``, ``api_error`` or ``service_unavailable``
    (OpenAI, Anthropic, vLLM), and Ollama's ``"server busy"`` / ``"overloaded"`` texts.
    Anything else (bad request, context too long, unknown model, ...) would fail again.

    Example:
        >>> is_transient_error({"error": {"type": "server_error", "message": "oops"}})
        True
        >>> is_transient_error({"error": {"type": "invalid_request_error", "message": "too long"}})
        False
        >>> is_transient_error({"error": "server busy, please try again."})
        True
    """
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            for key in ("type", "code", "status"):
                value = error.get(key)
                if isinstance(value, str) and _TRANSIENT_TYPE.fullmatch(value.lower()):
                    return True
            return False
        if isinstance(error, str):
            return bool(_TRANSIENT_TEXT.search(error))
        kind = body.get("type")
        return isinstance(kind, str) and _TRANSIENT_TYPE.fullmatch(kind.lower()) is not None
    if isinstance(body, str):
        return bool(_TRANSIENT_TEXT.search(body))
    return False
