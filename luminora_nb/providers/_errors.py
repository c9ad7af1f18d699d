"""Error mapping of the HTTP providers: every failure becomes one of our ProviderErrors.

* :func:`error_from_status` maps an HTTP error answer to the
  :mod:`luminora_nb.errors` hierarchy — 401/403
  :class:`~luminora_nb.errors.ProviderAuthenticationError`, 429
  :class:`~luminora_nb.errors.ProviderRateLimitError`, 408
  :class:`~luminora_nb.errors.ProviderTimeoutError`, 400/404/413/422
  :class:`~luminora_nb.errors.ProviderBadRequestError`, anything else
  :class:`~luminora_nb.errors.ProviderError` — with ``provider``, ``status`` and
  ``retryable`` set, the vendor's own message (:func:`vendor_error_message`, trimmed) and
  a hint saying what to do.
* :func:`error_from_transport` does the same for failures below HTTP (connecting,
  timeouts, dropped connections); :func:`error_in_stream`, :func:`finished_with_error`
  and :func:`malformed` for errors a vendor reports inside a reply, replies that end
  with an error, and replies of the wrong shape.
* :func:`with_context` is the one way to add context to an error (how many attempts,
  why it was not retried): it returns the same kind of error with the same attributes
  and a longer message.

Every message is credential-free: it passes through
:func:`~luminora_nb.providers._redact.redact` with the adapter's secrets before it is
raised, so a vendor that echoes the API key back never puts it into an exception.

Example:
    >>> err = error_from_status(429, provider="openai", vendor_text="Slow down",
    ...                         secrets=["sk-demo-1"])
    >>> type(err).__name__, err.status, err.retryable
    ('ProviderRateLimitError', 429, True)
    >>> str(with_context(err, " (gave up after 3 attempts)")).endswith("attempts)")
    True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from ..errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
)
from ._redact import redact
from ._retry import RETRYABLE_STATUS, transport_retryable
from ._settings import HTTPSettings

__all__ = [
    "collapse",
    "error_from_status",
    "error_from_transport",
    "error_in_stream",
    "finished_with_error",
    "malformed",
    "not_json",
    "vendor_error_message",
    "with_context",
]

_BAD_REQUEST_STATUS = frozenset({400, 404, 413, 422})
_AUTH_STATUS = frozenset({401, 403})
_MAX_VENDOR_TEXT = 400


def collapse(text: str) -> str:
    """``text`` on one line, whitespace runs folded, cut to 400 characters.

    Example:
        >>> collapse("  the\\n vendor   says no  ")
        'the vendor says no'
    """
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VENDOR_TEXT else text[: _MAX_VENDOR_TEXT - 1] + "…"


def with_context(error: ProviderError, note: str) -> ProviderError:
    """``error`` again, same class, ``provider``, ``status`` and ``retryable``, with ``note``
    appended to its message.

    Example:
        >>> err = with_context(ProviderError("openai: HTTP 503", provider="openai", status=503,
        ...                                  retryable=True), " (gave up after 3 attempts)")
        >>> str(err), err.status, err.retryable
        ('openai: HTTP 503 (gave up after 3 attempts)', 503, True)
    """
    return type(error)(
        f"{error}{note}", provider=error.provider, status=error.status, retryable=error.retryable
    )


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
    ``retryable_status``. The message holds the vendor's text, trimmed and redacted.
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
    text = f": {collapse(vendor_text)}" if vendor_text else " (no error message in the body)"
    hint = _STATUS_HINTS.get(status) or _HINTS.get(cls)
    if hint is None:
        hint = (
            "the provider is unavailable; try again later or raise extra['max_retries']"
            if retryable
            else "see the provider's status page or documentation"
        )
    message = f"{head}{text} — {hint.format(env=env_hint)}"
    return cls(redact(message, secrets), provider=provider, status=shown, retryable=retryable)


def error_from_transport(
    exc: httpx.HTTPError,
    *,
    provider: str,
    url: str,
    settings: HTTPSettings,
    stream: bool,
    secrets: Sequence[str] = (),
) -> ProviderError:
    """The exception for a failure below HTTP: connecting, timing out, a dropped connection.

    ``url`` is the base URL named in the message (credentials in it are redacted).

    Example:
        >>> err = error_from_transport(httpx.ConnectError("refused"), provider="llama",
        ...                            url="http://u:pw@gpu:11434", settings=HTTPSettings(),
        ...                            stream=True)
        >>> str(err).split(" — ")[0], err.retryable
        ('llama: connection to http://gpu:11434 failed (ConnectError: refused)', True)
    """
    retryable = transport_retryable(exc, stream=stream)
    if isinstance(exc, httpx.ReadTimeout) and not stream:
        # The headers of a non-streamed reply come once the whole reply is generated:
        # the server may still be working (and billing) on it, so a retry pays twice.
        limit = settings.chat_read_timeout
        message = (
            f"{provider}: request to {url} timed out (no reply within read_timeout "
            f"{limit:g} s; the model may still be generating it) — not retried, to avoid paying "
            f"for the reply twice; raise extra['read_timeout'] (e.g. extra={{'read_timeout': "
            f"{max(600.0, limit * 4):g}}}), lower max_tokens, or stream the reply"
        )
        return ProviderTimeoutError(redact(message, secrets), provider=provider, retryable=retryable)
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: f"connecting took longer than {settings.connect_timeout:g} s",
            httpx.ReadTimeout: f"no data for {settings.read_timeout:g} s",
            httpx.WriteTimeout: f"sending took longer than {settings.write_timeout:g} s",
            httpx.PoolTimeout: f"no free connection within {settings.pool_timeout:g} s",
        }.get(type(exc), "timed out")
        message = (
            f"{provider}: request to {url} timed out ({kind}) — "
            "raise extra['timeout'] / extra['read_timeout'] or try again later"
        )
        return ProviderTimeoutError(redact(message, secrets), provider=provider, retryable=retryable)
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TransportError):
        message = (
            f"{provider}: connection to {url} failed ({type(exc).__name__}: {detail}) — "
            "check that the server is running and base_url is right"
        )
        return ProviderError(redact(message, secrets), provider=provider, retryable=retryable)
    return ProviderError(
        redact(f"{provider}: HTTP failure: {detail}", secrets), provider=provider, retryable=False
    )


def _as_text(payload: Any) -> str:
    if isinstance(payload, str):
        return payload
    if isinstance(payload, bytes):
        return payload.decode("utf-8", errors="replace")
    return json.dumps(payload, default=str)


def error_in_stream(
    body: Any, *, provider: str, retryable: bool, secrets: Sequence[str] = ()
) -> ProviderError:
    """The exception for an error the vendor reported inside a stream (or a 200 body).

    Example:
        >>> str(error_in_stream({"error": "model runner stopped"}, provider="llama", retryable=False))
        'llama: the provider reported an error in the stream: model runner stopped'
    """
    text = vendor_error_message(body) or _as_text(body)
    return ProviderError(
        redact(f"{provider}: the provider reported an error in the stream: {collapse(text)}", secrets),
        provider=provider,
        retryable=retryable,
    )


def finished_with_error(
    raw_finish_reason: str | None,
    text: str | None,
    *,
    provider: str,
    retryable: bool = False,
    secrets: Sequence[str] = (),
) -> ProviderError:
    """The exception for a reply the vendor ended with a finish reason that means "error".

    Example:
        >>> str(finished_with_error("ERROR", "boom", provider="cohere")).split(" — ")[0]
        "cohere: the provider ended the reply with finish_reason 'ERROR': boom"
    """
    head = f"{provider}: the provider ended the reply with finish_reason {raw_finish_reason or 'error'!r}"
    detail = f": {collapse(text)}" if text else ""
    hint = (
        "a transient failure; it is retried while nothing has been delivered"
        if retryable
        else "the reply is unusable; try the turn again or change the request"
    )
    return ProviderError(redact(f"{head}{detail} — {hint}", secrets), provider=provider, retryable=retryable)


def malformed(what: str, payload: Any, *, provider: str, secrets: Sequence[str] = ()) -> ProviderError:
    """The exception for a reply or stream item of the wrong shape (it quotes the input).

    Example:
        >>> str(malformed("reply shape", {"choices": []}, provider="openai"))
        'openai: unexpected reply shape from the provider: \\'{"choices": []}\\''
    """
    return ProviderError(
        redact(
            f"{provider}: unexpected {what} from the provider: {collapse(_as_text(payload))[:200]!r}", secrets
        ),
        provider=provider,
    )


def not_json(text: str | bytes, *, provider: str, what: str, secrets: Sequence[str] = ()) -> ProviderError:
    """The exception for a reply or stream item that is not JSON (it quotes the input).

    Example:
        >>> str(not_json("{oops", provider="llama", what="stream line"))
        "llama: malformed stream line from the provider (not JSON): '{oops'"
    """
    return ProviderError(
        redact(
            f"{provider}: malformed {what} from the provider (not JSON): {collapse(_as_text(text))[:200]!r}",
            secrets,
        ),
        provider=provider,
    )
