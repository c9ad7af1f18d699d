"""The one HTTP layer every vendor adapter is built on.

Everything that is the same for all HTTP providers lives here, written once:

* **Clients.** One :class:`httpx.AsyncClient` per provider configuration (base URL,
  timeouts, pool size) and event loop, shared by every adapter built from an equal
  configuration and closed when the last of them is closed, so connections are reused
  across turns and sessions. The clients keep no cookies (a shared client serves
  different API keys).
* **Timeouts.** Connect, read, write and pool timeouts are separate. The read timeout
  bounds each *gap* between bytes, never the whole response, so a long healthy stream is
  never cut. ``extra={"timeout": 60}`` sets them all; ``connect_timeout`` and
  ``read_timeout`` override one each. A non-streamed ``chat()`` gets its response headers
  only once the whole reply is generated, so its read timeout covers the generation
  time: it defaults to 600 s (like the vendors' own SDKs) unless ``timeout`` or
  ``read_timeout`` is set, and a read timeout there is **not** retried (the server may
  still be generating, and billing, the reply); connect and pool timeouts are.
* **Parsers.** An incremental Server-Sent Events parser (:func:`iter_sse`: multi-line
  ``data:``, ``event:``/``id:``/``retry:`` fields, comments, CR/LF/CRLF line ends) and an
  NDJSON parser (:func:`iter_ndjson`), both over ``response.aiter_lines()``.
* **Retries.** :class:`RetryPolicy`: exponential backoff with full jitter on 408, 429,
  500, 502, 503, 504 (plus any status an adapter adds), connection errors and timeouts (but
  not a read timeout of a non-streamed call);
  ``Retry-After`` / ``retry-after-ms`` honoured (seconds or HTTP date) up to a cap,
  beyond which the call gives up at once with the server's requested wait; other
  4xx fail at once; a stream is retried only while nothing has been yielded.
* **Errors.** :func:`error_from_status` maps an HTTP answer to the
  :mod:`luminora_nb.errors` hierarchy with ``provider``, ``status`` and ``retryable``
  set and the vendor's own message (trimmed) included. Every message is scrubbed of the
  API key before it is raised.

Adapters subclass :class:`HTTPProvider` and implement a handful of hooks: the endpoint,
the request body, the parsing of a whole reply and of one stream item.

Example:
    >>> policy = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=4.0)
    >>> 0.0 <= policy.backoff(2) <= 2.0
    True
    >>> parse_retry_after({"retry-after": "7"})
    7.0
"""

from __future__ import annotations

import abc
import asyncio
import email.utils
import functools
import http.cookiejar
import json
import logging
import math
import os
import random
import re
import ssl
import threading
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx

from ..errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
)
from ..types.provider import ChatResponse, ProviderConfig
from .base import ChatRequest, Provider

__all__ = [
    "RETRYABLE_STATUS",
    "HTTPProvider",
    "HTTPSettings",
    "RetryPolicy",
    "ServerSentEvent",
    "StreamState",
    "decode_json",
    "error_from_status",
    "is_transient_error",
    "iter_ndjson",
    "iter_sse",
    "merge_usage",
    "parse_retry_after",
    "scrub",
    "stop_list",
    "usage_dict",
    "vendor_error_message",
]

logger = logging.getLogger("luminora_nb.providers")

#: Statuses retried by default: request timeout, rate limited, and the transient server errors.
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
_BAD_REQUEST_STATUS = frozenset({400, 404, 413, 422})
_AUTH_STATUS = frozenset({401, 403})
_MAX_VENDOR_TEXT = 400
_MASK = "***"

StreamFormat = Literal["sse", "ndjson"]


# --------------------------------------------------------------------------- secrets


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (and common credential spellings) masked.

    Example:
        >>> scrub("bad key sk-abc123 (Bearer sk-abc123)", ["sk-abc123"])
        'bad key *** (Bearer ***)'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _MASK)
    # Defensive: a credential we were not told about, echoed in an Authorization form.
    return re.sub(r"(?i)\b(bearer|basic)\s+(?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}", r"\1 " + _MASK, text)


class _Secret:
    """Holds an API key; its ``repr``/``str`` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret ***>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("API keys cannot be pickled")


# --------------------------------------------------------------------------- settings


def _number(extra: Mapping[str, Any], key: str, default: float, *, provider: str, minimum: float) -> float:
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


def _integer(extra: Mapping[str, Any], key: str, default: int, *, provider: str, minimum: int) -> int:
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
        timeout = _number(extra, "timeout", 60.0, provider=provider, minimum=0.001)
        read_timeout = _number(extra, "read_timeout", timeout, provider=provider, minimum=0.001)
        explicit = extra.get("read_timeout") is not None or extra.get("timeout") is not None
        return cls(
            connect_timeout=_number(
                extra, "connect_timeout", min(timeout, 10.0), provider=provider, minimum=0.001
            ),
            read_timeout=read_timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
            max_connections=_integer(extra, "max_connections", 100, provider=provider, minimum=1),
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


# --------------------------------------------------------------------------- retries


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
    ``retry_after_cap`` seconds, :class:`HTTPProvider` gives up at once (the error says
    how long the server asked for) instead of retrying into a certain refusal;
    :meth:`delay` itself never returns more than the cap.

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
            max_retries=_integer(extra, "max_retries", 2, provider=provider, minimum=0),
            base_delay=_number(extra, "retry_base_delay", 0.5, provider=provider, minimum=0.0),
            max_delay=_number(extra, "retry_max_delay", 8.0, provider=provider, minimum=0.0),
            retry_after_cap=_number(extra, "retry_after_cap", 60.0, provider=provider, minimum=0.0),
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


# --------------------------------------------------------------------------- errors


def _collapse(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VENDOR_TEXT else text[: _MAX_VENDOR_TEXT - 1] + "…"


def vendor_error_message(body: Any) -> str | None:
    """The vendor's own error text from a decoded error body, if one is recognisable.

    Understands the documented shapes: ``{"error": {"message": ...}}`` (OpenAI, Anthropic,
    Gemini), ``{"message": ...}`` (Cohere, Mistral), ``{"error": "..."}`` (Ollama) and
    ``{"detail": ...}`` (validation errors of FastAPI-style servers).

    Example:
        >>> vendor_error_message({"type": "error", "error": {"type": "x", "message": "Overloaded"}})
        'Overloaded'
    """
    if isinstance(body, str):
        return body or None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, str) and message:
            return message
    if isinstance(error, str) and error:
        return error
    message = body.get("message")
    if isinstance(message, str) and message:
        return message
    detail = body.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        parts = [str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail]
        return "; ".join(parts)
    return None


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


_HINTS: dict[type[ProviderError], str] = {
    ProviderAuthenticationError: "check the API key (ProviderConfig.api_key or the {env} "
    "environment variable)",
    ProviderRateLimitError: "the provider is rate limiting you; wait, lower the request rate or raise "
    "extra['max_retries']",
    ProviderBadRequestError: "check the model name, base_url and generation parameters",
    ProviderTimeoutError: "the server gave up waiting for the request to arrive (a network or "
    "proxy problem, not a slow model); check the connection or try again later",
}
#: Hints for statuses whose exception class alone says too little.
_STATUS_HINTS: dict[int, str] = {
    413: "the request is too large for the provider or the model's context window; shorten the "
    "conversation (lower max_history), the system prompt or the message, or lower max_tokens",
}


def error_from_status(
    status: int,
    *,
    provider: str,
    vendor_text: str | None,
    reason: str = "",
    retryable_status: frozenset[int] = RETRYABLE_STATUS,
    secrets: Sequence[str] = (),
    env_hint: str = "provider's API key",
    attempts: int = 1,
    wire_status: int | None = None,
) -> ProviderError:
    """The :mod:`luminora_nb.errors` exception for an HTTP error answer.

    401/403 -> :class:`ProviderAuthenticationError`, 429 -> :class:`ProviderRateLimitError`,
    408 -> :class:`ProviderTimeoutError` (retried), 400/404/413/422 ->
    :class:`ProviderBadRequestError` (413 with a "request too large" hint),
    anything else -> :class:`ProviderError`. ``retryable`` is true for the statuses in
    ``retryable_status``. The message holds the vendor's text, trimmed and scrubbed.
    ``wire_status`` is the status the server actually sent when an adapter classified the
    answer as another one (Gemini's 400 ``API_KEY_INVALID`` is treated as a 401); the
    message and the exception's ``status`` show the real one.

    Example:
        >>> err = error_from_status(401, provider="openai", vendor_text="Incorrect API key sk-x123")
        >>> type(err).__name__, err.retryable, "sk-x123" in str(err)
        ('ProviderAuthenticationError', False, True)
    """
    cls: type[ProviderError]
    if status in _AUTH_STATUS:
        cls = ProviderAuthenticationError
    elif status == 429:
        cls = ProviderRateLimitError
    elif status == 408:
        cls = ProviderTimeoutError
    elif status in _BAD_REQUEST_STATUS:
        cls = ProviderBadRequestError
    else:
        cls = ProviderError
    retryable = status in retryable_status
    shown = status if wire_status is None else wire_status
    head = f"{provider}: HTTP {shown}{(' ' + reason) if reason else ''}"
    if attempts > 1:
        head += f" after {attempts} attempts"
    text = f": {_collapse(vendor_text)}" if vendor_text else " (no error message in the body)"
    hint = _STATUS_HINTS.get(status) or _HINTS.get(cls)
    if hint is None:
        hint = (
            "the provider is unavailable; try again later or raise extra['max_retries']"
            if retryable
            else "see the provider's status page or documentation"
        )
    message = f"{head}{text} — {hint.format(env=env_hint)}"
    return cls(scrub(message, secrets), provider=provider, status=shown, retryable=retryable)


# --------------------------------------------------------------------------- parsers


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched Server-Sent Event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


async def iter_sse(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Parse Server-Sent Events from decoded lines (without their line terminators).

    Follows the WHATWG event-stream rules: ``data:`` lines accumulate (joined by ``\\n``),
    a blank line dispatches, ``:`` starts a comment, one space after the colon is dropped,
    events without data are not dispatched, and an unterminated event at end of stream is
    discarded.

    Example:
        >>> async def lines():
        ...     for line in [": hi", "event: delta", "data: a", "data: b", ""]:
        ...         yield line
        >>> async def collect():
        ...     return [e async for e in iter_sse(lines())]
        >>> asyncio.run(collect())
        [ServerSentEvent(event='delta', data='a\\nb', id=None, retry=None)]
    """
    event = ""
    data: list[str] = []
    last_id: str | None = None
    retry: int | None = None
    first = True
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if first:
            first = False
            line = line.removeprefix("\ufeff")
        if not line:
            if data:
                yield ServerSentEvent(event=event or "message", data="\n".join(data), id=last_id, retry=retry)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)


async def iter_ndjson(lines: AsyncIterable[str], *, provider: str) -> AsyncIterator[Any]:
    """Parse newline-delimited JSON: one value per non-blank line.

    Raises:
        ProviderError: a line is not valid JSON.
    """
    async for raw in lines:
        line = raw.strip()
        if not line:
            continue
        yield decode_json(line, provider=provider, what="stream line")


def decode_json(text: str, *, provider: str, what: str) -> Any:
    """``json.loads(text)``, raising a ProviderError that quotes the bad input."""
    try:
        return json.loads(text)
    except ValueError:
        raise ProviderError(
            f"{provider}: malformed {what} from the provider (not JSON): {_collapse(text)[:200]!r}",
            provider=provider,
        ) from None


# --------------------------------------------------------------------------- shared clients


@dataclass(frozen=True, slots=True)
class _ClientKey:
    origin: str
    settings: HTTPSettings


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~0.1-0.3 s; do it once per process, not per client.
    return httpx.create_ssl_context(trust_env=True)


class _NoCookies(http.cookiejar.CookiePolicy):
    """Refuse to store or send any cookie.

    One client is shared by every adapter with an equal configuration, whatever its API
    key; a cookie jar would carry one key's session (load-balancer affinity, auth cookies)
    into another key's requests. LLM APIs need no cookies.
    """

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


def _cookieless_jar() -> http.cookiejar.CookieJar:
    return http.cookiejar.CookieJar(policy=_NoCookies())


class _SharedClient:
    __slots__ = ("client", "refs")

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.refs = 0


class _ClientCache:
    """One AsyncClient per (event loop, origin, settings), reference counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[_ClientKey, _SharedClient]
        ] = weakref.WeakKeyDictionary()

    def acquire(self, loop: asyncio.AbstractEventLoop, key: _ClientKey) -> httpx.AsyncClient:
        with self._lock:
            clients = self._by_loop.setdefault(loop, {})
            shared = clients.get(key)
            if shared is None or shared.client.is_closed:
                limits = httpx.Limits(
                    max_connections=key.settings.max_connections,
                    max_keepalive_connections=key.settings.max_connections,
                    keepalive_expiry=30.0,
                )
                shared = _SharedClient(
                    httpx.AsyncClient(
                        timeout=key.settings.httpx_timeout(),
                        limits=limits,
                        verify=_ssl_context(),
                        trust_env=True,
                        cookies=_cookieless_jar(),
                    )
                )
                clients[key] = shared
            shared.refs += 1
            return shared.client

    def release(self, loop: asyncio.AbstractEventLoop, key: _ClientKey, client: httpx.AsyncClient) -> bool:
        """Drop one reference; True when the caller must close ``client`` (last user)."""
        with self._lock:
            clients = self._by_loop.get(loop)
            shared = clients.get(key) if clients is not None else None
            if shared is None or shared.client is not client:
                return not client.is_closed
            shared.refs -= 1
            if shared.refs > 0:
                return False
            del clients[key]  # type: ignore[union-attr]
            return True


_CLIENTS = _ClientCache()


def _close_on_loop(client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
    """Close ``client`` on the loop that owns its connections, if that loop still runs."""
    if loop.is_running() and not loop.is_closed():
        asyncio.run_coroutine_threadsafe(client.aclose(), loop)
    # A stopped loop took its sockets with it; nothing is left to close cleanly.


# --------------------------------------------------------------------------- streaming state


@dataclass(slots=True)
class StreamState:
    """What an adapter learns while reading one streamed reply.

    ``done`` means the vendor's explicit end marker arrived (``[DONE]``, ``message_stop``,
    ``message-end``, ``done: true``); a stream that ends without it still counts as
    complete when a ``finish_reason`` was seen. A stream whose ``finish_reason`` is
    ``"error"`` is raised as a :class:`ProviderError` carrying ``error`` (the vendor's
    text), retryable only when the adapter set ``error_retryable``.
    """

    model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    raw_finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    done: bool = False
    error: str | None = None
    #: Whether an error finish (``finish_reason == "error"``) is worth retrying.
    error_retryable: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.done or self.finish_reason is not None


class _AttemptFailed(Exception):
    """Internal: one attempt failed with ``error``; never leaves this module."""

    def __init__(self, error: ProviderError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


# --------------------------------------------------------------------------- the base class


class HTTPProvider(Provider):
    """Base of the HTTP adapters: key resolution, clients, retries, errors, streaming.

    Subclasses set the class attributes and implement :meth:`endpoint`,
    :meth:`build_body`, :meth:`parse_reply` and :meth:`handle_stream_item`; they may
    override :meth:`auth_headers` and :meth:`stream_format`.

    Example:
        >>> from luminora_nb.providers.registry import create_provider
        >>> p = create_provider(ProviderConfig(name="openai", api_key="sk-demo"))
        >>> p.retry.max_retries, "sk-demo" in repr(p)
        (2, False)
    """

    #: Base URL used when ``ProviderConfig.base_url`` is not set.
    default_base_url: ClassVar[str] = ""
    #: Environment variables holding the API key, in order of preference.
    api_key_env_vars: ClassVar[tuple[str, ...]] = ()
    #: Statuses worth retrying for this vendor.
    retryable_status: ClassVar[frozenset[int]] = RETRYABLE_STATUS

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._api_key = self._resolve_api_key(config)
        base_url = (config.base_url or self.default_base_url).strip()
        try:
            parsed = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ProviderError(
                f"{self.name}: invalid base_url {base_url!r} ({exc}); use e.g. 'http://127.0.0.1:8000/v1'",
                provider=self.name,
            ) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ProviderError(
                f"{self.name}: base_url must be an absolute http(s) URL, got {base_url!r}",
                provider=self.name,
            )
        self.base_url = base_url.rstrip("/")
        self.settings = HTTPSettings.from_extra(config.extra, provider=self.name)
        self.retry = RetryPolicy.from_extra(config.extra, provider=self.name)
        origin = str(parsed.copy_with(path="/", query=None))
        self._client_key = _ClientKey(origin=origin, settings=self.settings)
        self._client: httpx.AsyncClient | None = None
        self._client_loop: weakref.ReferenceType[asyncio.AbstractEventLoop] | None = None

    # -- configuration --------------------------------------------------------------

    def _resolve_api_key(self, config: ProviderConfig) -> _Secret | None:
        if config.api_key:
            return _Secret(config.api_key)
        for var in self.api_key_env_vars:
            value = os.environ.get(var, "").strip()
            if value:
                return _Secret(value)
        if self.requires_api_key:
            names = " or ".join(self.api_key_env_vars) or "an API key"
            raise ProviderAuthenticationError(
                f"{self.name}: no API key; set the {names} environment variable or pass "
                f"ProviderConfig(name={self.name!r}, api_key=...)",
                provider=self.name,
            )
        return None

    @property
    def api_key(self) -> str | None:
        """The API key in use (from the config or the environment), or None."""
        return self._api_key.reveal() if self._api_key is not None else None

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key.reveal(),) if self._api_key is not None else ()

    def _env_hint(self) -> str:
        return " or ".join(self.api_key_env_vars) or "provider's API key"

    def url(self, path: str) -> str:
        """``base_url`` joined with ``path``, without doubling a version segment (``/v1``)."""
        path = "/" + path.lstrip("/")
        first = "/" + path[1:].split("/", 1)[0]
        if re.fullmatch(r"/v\d+(?:alpha\d*|beta\d*)?", first) and self.base_url.endswith(first):
            path = path[len(first) :]
        return self.base_url + path

    # -- hooks ----------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """Authentication headers (default: ``Authorization: Bearer <key>`` when a key is set)."""
        key = self.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def stream_format(self) -> StreamFormat:
        """How streamed replies are framed: ``"sse"`` or ``"ndjson"``."""
        return "sse"

    @abc.abstractmethod
    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        """Path (relative to ``base_url``) and query parameters of the chat call."""

    @abc.abstractmethod
    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The vendor's JSON request body."""

    @abc.abstractmethod
    def parse_reply(self, data: Any) -> ChatResponse:
        """A whole (non-streamed) reply; raise KeyError/TypeError/... on a wrong shape."""

    @abc.abstractmethod
    def handle_stream_item(self, item: Any, state: StreamState) -> str | None:
        """Digest one stream item (ServerSentEvent or NDJSON value); return new text, if any.

        Updates ``state`` (finish reason, usage, model, done) and raises ProviderError for
        an error reported inside the stream.
        """

    def classify_status(self, status: int, body: Any) -> int:
        """The status an error answer should be treated as (default: the one sent).

        Lets an adapter fix a vendor's misleading status before it is mapped to an
        exception class, e.g. Gemini's HTTP 400 with reason ``API_KEY_INVALID`` -> 401.
        """
        return status

    def retry_after_from_body(self, body: Any) -> float | None:
        """A retry delay the vendor put in an error body (default: none)."""
        return None

    # -- helpers for adapters -------------------------------------------------------

    def stream_error(
        self, body: Any, *, status: int | None = None, retryable: bool | None = None
    ) -> ProviderError:
        """The exception for an error the vendor reported inside a stream (or a 200 body).

        With ``status``, the error is mapped like that HTTP status. Otherwise it is
        retryable only when ``retryable`` says so or, when that is None, when
        :func:`is_transient_error` recognises the vendor's error type as transient.
        """
        text = vendor_error_message(body) or (body if isinstance(body, str) else json.dumps(body))
        if retryable is None:
            retryable = is_transient_error(body)
        if status is not None:
            classified = self.classify_status(status, body)
            return error_from_status(
                classified,
                wire_status=status if classified != status else None,
                provider=self.name,
                vendor_text=f"error in stream: {text}",
                retryable_status=self.retryable_status,
                secrets=self._secrets(),
                env_hint=self._env_hint(),
            )
        return ProviderError(
            scrub(
                f"{self.name}: the provider reported an error in the stream: {_collapse(text)}",
                self._secrets(),
            ),
            provider=self.name,
            retryable=retryable,
        )

    def finished_with_error(
        self, raw_finish_reason: str | None, text: str | None, *, retryable: bool = False
    ) -> ProviderError:
        """The exception for a reply the vendor ended with ``finish_reason`` "error"."""
        head = (
            f"{self.name}: the provider ended the reply with finish_reason {raw_finish_reason or 'error'!r}"
        )
        detail = f": {_collapse(text)}" if text else ""
        hint = (
            "a transient failure; it is retried while nothing has been delivered"
            if retryable
            else "the reply is unusable; try the turn again or change the request"
        )
        return ProviderError(
            scrub(f"{head}{detail} — {hint}", self._secrets()), provider=self.name, retryable=retryable
        )

    def malformed(self, what: str, payload: Any) -> ProviderError:
        """The exception for a reply or stream item of the wrong shape."""
        text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        return ProviderError(
            scrub(
                f"{self.name}: unexpected {what} from the provider: {_collapse(text)[:200]!r}",
                self._secrets(),
            ),
            provider=self.name,
        )

    # -- client ---------------------------------------------------------------------

    def _client_for_loop(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        current = self._client_loop() if self._client_loop is not None else None
        if self._client is not None and current is loop:
            return self._client
        # Used from another event loop (connections belong to the loop that opened them):
        # give the old share back and close it over there if it was the last.
        if (
            self._client is not None
            and current is not None
            and _CLIENTS.release(current, self._client_key, self._client)
        ):
            _close_on_loop(self._client, current)
        self._client = _CLIENTS.acquire(loop, self._client_key)
        self._client_loop = weakref.ref(loop)
        return self._client

    async def aclose(self) -> None:
        """Release this adapter's share of the connection pool. Safe to call twice."""
        client, loop_ref = self._client, self._client_loop
        self._client, self._client_loop = None, None
        if client is None or loop_ref is None:
            return
        loop = loop_ref()
        if loop is None or not _CLIENTS.release(loop, self._client_key, client):
            return
        if loop is asyncio.get_running_loop():
            await client.aclose()
        else:
            _close_on_loop(client, loop)

    async def __aenter__(self) -> HTTPProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- one attempt ----------------------------------------------------------------

    def _headers(self, *, stream: bool) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": ("application/x-ndjson" if self.stream_format() == "ndjson" else "text/event-stream")
            if stream
            else "application/json",
            "User-Agent": "luminora_nb",
        }
        headers.update(self.auth_headers())
        return headers

    def _transport_error(self, exc: httpx.HTTPError, *, stream: bool) -> ProviderError:
        detail = scrub(str(exc) or type(exc).__name__, self._secrets())
        if isinstance(exc, httpx.ReadTimeout) and not stream:
            # The headers of a non-streamed reply come once the whole reply is generated:
            # the server may still be working (and billing) on it, so a retry pays twice.
            limit = self.settings.chat_read_timeout
            return ProviderTimeoutError(
                f"{self.name}: request to {self.base_url} timed out (no reply within read_timeout "
                f"{limit:g} s; the model may still be generating it) — not retried, to avoid paying "
                f"for the reply twice; raise extra['read_timeout'] (e.g. extra={{'read_timeout': "
                f"{max(600.0, limit * 4):g}}}), lower max_tokens, or stream the reply",
                provider=self.name,
                retryable=False,
            )
        if isinstance(exc, httpx.TimeoutException):
            kind = {
                httpx.ConnectTimeout: f"connecting took longer than {self.settings.connect_timeout:g} s",
                httpx.ReadTimeout: f"no data for {self.settings.read_timeout:g} s",
                httpx.WriteTimeout: f"sending took longer than {self.settings.write_timeout:g} s",
                httpx.PoolTimeout: f"no free connection within {self.settings.pool_timeout:g} s",
            }.get(type(exc), "timed out")
            return ProviderTimeoutError(
                f"{self.name}: request to {self.base_url} timed out ({kind}) — "
                "raise extra['timeout'] / extra['read_timeout'] or try again later",
                provider=self.name,
                retryable=True,
            )
        if isinstance(exc, httpx.TransportError):
            return ProviderError(
                f"{self.name}: connection to {self.base_url} failed ({type(exc).__name__}: {detail}) — "
                "check that the server is running and base_url is right",
                provider=self.name,
                retryable=True,
            )
        return ProviderError(f"{self.name}: HTTP failure: {detail}", provider=self.name, retryable=False)

    async def _status_failure(self, response: httpx.Response, *, attempts: int) -> _AttemptFailed:
        try:
            raw = (await response.aread()).decode(response.encoding or "utf-8", errors="replace")
        except httpx.HTTPError:
            raw = ""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        classified = self.classify_status(response.status_code, body)
        error = error_from_status(
            classified,
            wire_status=response.status_code if classified != response.status_code else None,
            provider=self.name,
            vendor_text=vendor_error_message(body) or (raw if isinstance(body, str) else None),
            reason=response.reason_phrase,
            retryable_status=self.retryable_status,
            secrets=self._secrets(),
            env_hint=self._env_hint(),
            attempts=attempts,
        )
        retry_after = parse_retry_after(response.headers)
        if retry_after is None and error.retryable:
            retry_after = self.retry_after_from_body(body)
        return _AttemptFailed(error, retry_after)

    async def _backoff(self, attempt: int, failure: _AttemptFailed) -> None:
        delay = self.retry.delay(attempt, retry_after=failure.retry_after)
        logger.info(
            "%s: %s; retrying in %.2f s (retry %d of %d)",
            self.name,
            failure.error,
            delay,
            attempt + 1,
            self.retry.max_retries,
        )
        await self.retry.sleep(delay)

    def _check_retry(self, failure: _AttemptFailed, attempt: int) -> None:
        """Raise unless ``failure`` of attempt number ``attempt`` (0-based) is to be retried."""
        error, wait = failure.error, failure.retry_after
        if error.retryable and wait is not None and wait > self.retry.retry_after_cap:
            # Waiting only the cap would earn another refusal: give up now and say how long.
            raise type(error)(
                f"{error} — the provider asks to retry in {wait:.0f} s, longer than "
                f"extra['retry_after_cap'] ({self.retry.retry_after_cap:g} s), so the request was "
                "not retried; try again later, or raise extra['retry_after_cap'] to let the "
                "library wait that long",
                provider=error.provider,
                status=error.status,
                retryable=error.retryable,
            )
        if not error.retryable or attempt >= self.retry.max_retries:
            raise self._give_up(failure, attempt + 1)

    def _give_up(self, failure: _AttemptFailed, attempts: int) -> ProviderError:
        error = failure.error
        if attempts > 1 and f"after {attempts} attempts" not in str(error):
            return type(error)(
                f"{error} (gave up after {attempts} attempts)",
                provider=error.provider,
                status=error.status,
                retryable=error.retryable,
            )
        return error

    # -- public API -----------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` and return the whole reply, retrying transient failures."""
        path, params = self.endpoint(stream=False)
        url = self.url(path)
        body = self.build_body(request, stream=False)
        headers = self._headers(stream=False)
        started = time.perf_counter()
        attempt = 0
        while True:
            client = self._client_for_loop()
            logger.debug("%s: POST %s (attempt %d)", self.name, url, attempt + 1)
            try:
                response = await client.post(
                    url,
                    json=body,
                    params=params or None,
                    headers=headers,
                    timeout=self.settings.httpx_timeout(stream=False),
                )
                if response.status_code >= 400:
                    raise await self._status_failure(response, attempts=attempt + 1)
                data = decode_json(response.text, provider=self.name, what="reply")
                try:
                    reply = self.parse_reply(data)
                except ProviderError as exc:
                    raise _AttemptFailed(exc) from None
                except (KeyError, IndexError, TypeError, AttributeError, ValueError):
                    raise _AttemptFailed(self.malformed("reply shape", data)) from None
                if reply.finish_reason == "error":
                    raw = reply.metadata.get("raw_finish_reason")
                    error = reply.metadata.get("error")
                    raise _AttemptFailed(
                        self.finished_with_error(
                            None if raw is None else str(raw), None if error is None else str(error)
                        )
                    )
            except httpx.HTTPError as exc:
                failure = _AttemptFailed(self._transport_error(exc, stream=False))
            except _AttemptFailed as exc:
                failure = exc
            except ProviderError as exc:
                failure = _AttemptFailed(exc)
            else:
                reply.metadata.update(
                    latency_ms=round((time.perf_counter() - started) * 1000.0, 3),
                    provider=self.name,
                    attempts=attempt + 1,
                )
                if reply.model is None:
                    reply.model = self.model
                return reply
            self._check_retry(failure, attempt)
            await self._backoff(attempt, failure)
            attempt += 1

    async def _stream_items(self, response: httpx.Response) -> AsyncIterator[Any]:
        if self.stream_format() == "ndjson":
            async for value in iter_ndjson(response.aiter_lines(), provider=self.name):
                yield value
        else:
            async for event in iter_sse(response.aiter_lines()):
                yield event

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        """Send ``request`` and yield the reply in chunks as they arrive.

        Each chunk's ``content`` is new text only; the last chunk has empty content and
        carries ``finish_reason``, ``usage`` and ``metadata["latency_ms"]``. Failures are
        retried only while no chunk has been yielded.
        """
        path, params = self.endpoint(stream=True)
        url = self.url(path)
        body = self.build_body(request, stream=True)
        headers = self._headers(stream=True)
        started = time.perf_counter()
        first_chunk_ms: float | None = None
        chunks = 0
        attempt = 0
        while True:
            state = StreamState()
            client = self._client_for_loop()
            logger.debug("%s: POST %s (stream, attempt %d)", self.name, url, attempt + 1)
            try:
                opened = client.stream("POST", url, json=body, params=params or None, headers=headers)
                async with opened as response:
                    if response.status_code >= 400:
                        raise await self._status_failure(response, attempts=attempt + 1)
                    async for item in self._stream_items(response):
                        text = self.handle_stream_item(item, state)
                        if text:
                            if first_chunk_ms is None:
                                first_chunk_ms = round((time.perf_counter() - started) * 1000.0, 3)
                            chunks += 1
                            yield ChatResponse(content=text, model=state.model or self.model)
                        if state.done:
                            break
                if not state.complete:
                    raise _AttemptFailed(
                        ProviderError(
                            f"{self.name}: the stream ended before the provider signalled the end "
                            "of the reply",
                            provider=self.name,
                            retryable=True,
                        )
                    )
                if state.finish_reason == "error":
                    raise _AttemptFailed(
                        self.finished_with_error(
                            state.raw_finish_reason, state.error, retryable=state.error_retryable
                        )
                    )
            except httpx.HTTPError as exc:
                failure = _AttemptFailed(self._transport_error(exc, stream=True))
            except _AttemptFailed as exc:
                failure = exc
            except ProviderError as exc:
                failure = _AttemptFailed(exc)
            else:
                break
            if chunks:
                error = failure.error
                raise type(error)(
                    f"{error} — the stream broke after {chunks} chunk(s); the partial reply was already "
                    "delivered, so the request was not retried",
                    provider=error.provider,
                    status=error.status,
                    retryable=error.retryable,
                )
            self._check_retry(failure, attempt)
            await self._backoff(attempt, failure)
            attempt += 1

        metadata: dict[str, Any] = {
            "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
            "provider": self.name,
            "attempts": attempt + 1,
            "chunks": chunks,
            "raw_finish_reason": state.raw_finish_reason,
        }
        if first_chunk_ms is not None:
            metadata["first_chunk_ms"] = first_chunk_ms
        if state.response_id:
            metadata["id"] = state.response_id
        if state.error:
            metadata["error"] = scrub(state.error, self._secrets())
        metadata.update(state.extra)
        yield ChatResponse(
            content="",
            finish_reason=state.finish_reason or "stop",
            usage=state.usage,
            model=state.model or self.model,
            metadata=metadata,
        )


def usage_dict(prompt: Any, completion: Any, total: Any = None) -> dict[str, int]:
    """Normalised usage from vendor counts (missing counts are 0; total defaults to the sum)."""
    p = int(prompt) if isinstance(prompt, int | float) and not isinstance(prompt, bool) else 0
    c = int(completion) if isinstance(completion, int | float) and not isinstance(completion, bool) else 0
    t = int(total) if isinstance(total, int | float) and not isinstance(total, bool) else p + c
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": t}


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def merge_usage(
    previous: Mapping[str, int], prompt: Any, completion: Any, total: Any = None
) -> dict[str, int]:
    """``previous`` usage updated with the counts a later event reports.

    A count that is missing or null (``"input_tokens": null`` in Anthropic's
    ``message_delta``, a Gemini chunk without ``candidatesTokenCount``) keeps its previous
    value instead of dropping to 0; the total is the new total if given, else the sum.

    Example:
        >>> merge_usage({"prompt_tokens": 12, "completion_tokens": 0, "total_tokens": 12}, None, 5)
        {'prompt_tokens': 12, 'completion_tokens': 5, 'total_tokens': 17}
    """
    p = _count(prompt)
    c = _count(completion)
    p = previous.get("prompt_tokens", 0) if p is None else p
    c = previous.get("completion_tokens", 0) if c is None else c
    t = _count(total)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c if t is None else t}


def stop_list(value: Any) -> list[str]:
    """The ``stop`` generation parameter as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
