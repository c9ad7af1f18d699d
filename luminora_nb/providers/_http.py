"""The one HTTP layer every vendor adapter is built on: :class:`HTTPProvider`.

Everything that is the same for all HTTP providers is written once, here and in the
private modules beside it:

* **The attempt loop** (:meth:`HTTPProvider._exchange`). ``chat()`` and ``stream()``
  share one loop: send, read (the whole reply, or the stream item by item), and on a
  failure decide between retrying (after the policy's delay) and raising. A stream is
  retried only while nothing has been yielded; once chunks have reached the caller a
  failure is raised with that said (:func:`~._errors.with_context`).
* **Clients** (:mod:`._clients`): one shared ``httpx.AsyncClient`` per configuration and
  event loop, cookie-free, closed with the last adapter using it. An ``httpx``
  transport can be injected (``transport=``, see below).
* **Settings** (:mod:`._settings`): connect/read/write/pool timeouts (the read timeout
  bounds each gap between bytes, never a whole stream; non-streamed calls wait 600 s for
  their reply unless told otherwise) and the pool size, from ``ProviderConfig.extra``.
* **Retries** (:mod:`._retry`): backoff with full jitter, ``Retry-After`` honoured up to
  a cap, what is retryable.
* **Errors** (:mod:`._errors`): HTTP statuses, transport failures and vendor errors
  mapped to :mod:`luminora_nb.errors`, every message redacted (:mod:`._redact`).
* **Parsers** (:mod:`._sse`): Server-Sent Events and NDJSON.
* **Bodies** (:mod:`._body`): each message's wire JSON is built once and reused on
  every later turn that re-sends it.
* **Normalising** (:mod:`._normalise`): finish reasons, usage counts and generation
  parameter names, from each vendor's vocabulary to ours. Every reply's metadata keeps
  the vendor's own finish reason (``raw_finish_reason``) and flags one the adapter's
  table does not know (``unknown_finish_reason``: it was read as ``stop``); a model's
  reasoning (thinking blocks, thought parts, thinking chunks) is never reply text and
  goes to ``metadata["thinking"]``.

Adapters subclass :class:`HTTPProvider`, set a few class attributes (base URL, key
variables, a :class:`~._normalise.FinishReasons` table) and implement the hooks:
:meth:`~HTTPProvider.endpoint`, :meth:`~HTTPProvider.build_body`,
:meth:`~HTTPProvider.parse_reply` and :meth:`~HTTPProvider.handle_stream_item`
(optionally :meth:`~HTTPProvider.auth_headers`, :meth:`~HTTPProvider.message_wire`,
:meth:`~HTTPProvider.stream_format`, :meth:`~HTTPProvider.classify_status`,
:meth:`~HTTPProvider.retry_after_from_body`).

**Transport injection.** ``HTTPProvider(config, transport=...)`` (or
``create_provider(config, transport=...)``) sends every request through the given
``httpx.AsyncBaseTransport`` — ``httpx.MockTransport`` in tests, or a customised
``httpx.AsyncHTTPTransport`` (local address, retries, UDS). It is a constructor argument
and never part of :class:`~luminora_nb.types.ProviderConfig`, whose ``extra`` is
serialised with the session: ``extra["transport"]`` is refused. To make the client use
it, register a factory: ``register_provider("openai", functools.partial(OpenAIProvider,
transport=t), replace=True)``.

Example:
    >>> import httpx, json
    >>> from luminora_nb.providers.openai import OpenAIProvider
    >>> from luminora_nb.types import ChatMessage
    >>> def vendor(request):
    ...     said = json.loads(request.content)["messages"][-1]["content"]
    ...     return httpx.Response(200, json={"choices": [{"message": {"content": said.upper()},
    ...                                                   "finish_reason": "stop"}]})
    >>> p = OpenAIProvider(ProviderConfig(name="openai", api_key="sk-demo"),
    ...                    transport=httpx.MockTransport(vendor))
    >>> ask = ChatRequest(messages=[ChatMessage(role="user", content="hi")])
    >>> reply = asyncio.run(p.chat(ask))
    >>> reply.content, reply.finish_reason, reply.metadata["attempts"]
    ('HI', 'stop', 1)
"""

from __future__ import annotations

import abc
import asyncio  # noqa: F401 - used by the doctests
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any, ClassVar, Literal

import httpx

from ..errors import ProviderAuthenticationError, ProviderBadRequestError, ProviderError
from ..types.provider import ChatResponse, ProviderConfig
from . import _errors
from ._body import MessageEncoder, WireList, dumps_body
from ._clients import ClientKey, LoopClient
from ._normalise import FinishReasons
from ._redact import Secret, redact
from ._retry import RETRYABLE_STATUS, RetryPolicy, is_transient_error, parse_retry_after
from ._settings import HTTPSettings
from ._sse import ServerSentEvent, decode_json, iter_ndjson, iter_sse
from .base import ChatRequest, Provider

__all__ = ["HTTPProvider", "StreamFormat", "StreamState"]

logger = logging.getLogger("luminora_nb.providers")

StreamFormat = Literal["sse", "ndjson"]
_VERSION_SEGMENT = re.compile(r"/v\d+(?:alpha\d*|beta\d*)?")


# --------------------------------------------------------------------------- streaming state


class StreamState:
    """What an adapter learns while reading one streamed reply.

    ``done`` means the vendor's explicit end marker arrived (``[DONE]``, ``message_stop``,
    ``message-end``, ``done: true``); a stream that ends without it still counts as
    complete when a ``finish_reason`` was seen. A stream whose ``finish_reason`` is
    ``"error"`` is raised as a :class:`ProviderError` carrying ``error`` (the vendor's
    text), retryable only when the adapter set ``error_retryable``. ``thinking`` collects
    the model's reasoning text, which is never reply text (the final chunk's
    ``metadata["thinking"]``); ``extra`` is merged into that chunk's metadata.
    """

    __slots__ = (
        "done",
        "error",
        "error_retryable",
        "extra",
        "finish_reason",
        "model",
        "raw_finish_reason",
        "response_id",
        "thinking",
        "usage",
    )

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.raw_finish_reason: str | None = None
        self.usage: dict[str, int] = {}
        self.done = False
        self.error: str | None = None
        #: Whether an error finish (``finish_reason == "error"``) is worth retrying.
        self.error_retryable = False
        self.extra: dict[str, Any] = {}
        self.thinking: list[str] = []

    @property
    def complete(self) -> bool:
        return self.done or self.finish_reason is not None


class _AttemptFailed(Exception):
    """Internal: one attempt failed with ``error``; never leaves this module."""

    def __init__(self, error: ProviderError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _Prepared:
    """The parts of a call that are the same on every turn (they hold the API key).

    The headers are those ``httpx`` would send — ``Host``, the client's defaults, ours —
    in the same order, so :meth:`request` only adds ``Content-Length`` and skips the
    per-request merging and re-encoding of ``client.post()``: the same bytes go out.
    """

    __slots__ = ("client", "extensions", "headers", "url")

    def __init__(
        self, client: httpx.AsyncClient, url: httpx.URL, headers: httpx.Headers, timeout: httpx.Timeout
    ) -> None:
        self.client = client
        self.url = url
        self.headers = httpx.Headers([(b"Host", url.netloc), *headers.raw])
        self.extensions = {"timeout": timeout.as_dict()}

    def request(self, body: bytes) -> httpx.Request:
        headers = httpx.Headers(self.headers)
        headers["Content-Length"] = str(len(body))
        return httpx.Request(
            "POST", self.url, headers=headers, stream=httpx.ByteStream(body), extensions=dict(self.extensions)
        )

    def __repr__(self) -> str:
        return "<prepared request ***>"

    def __reduce__(self) -> Any:
        raise TypeError("prepared requests hold an API key and cannot be pickled")


# --------------------------------------------------------------------------- the base class


class HTTPProvider(Provider):
    """Base of the HTTP adapters: key resolution, clients, the attempt loop, errors.

    Subclasses set the class attributes and implement :meth:`endpoint`,
    :meth:`build_body`, :meth:`parse_reply` and :meth:`handle_stream_item`; they may
    override :meth:`auth_headers`, :meth:`message_wire` and :meth:`stream_format`.

    Args:
        config: The provider configuration.
        transport: An ``httpx`` transport to send every request through (tests:
            ``httpx.MockTransport``); None uses the shared connection pools.

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
    #: Whether the constructor insists on an API key (from the config or the environment).
    requires_api_key: ClassVar[bool] = True
    accepts_extra_options: ClassVar[bool] = True
    #: Statuses worth retrying for this vendor.
    retryable_status: ClassVar[frozenset[int]] = RETRYABLE_STATUS
    #: The vendor's finish reasons, mapped to ours.
    finish_reasons: FinishReasons = FinishReasons()

    def __init__(self, config: ProviderConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config)
        extra = config.extra or {}
        if "transport" in extra:
            raise ProviderError(
                f"{self.name}: extra['transport'] is not supported (extra is saved with the session); "
                f"pass the transport to the provider instead: create_provider(config, transport=...)",
                provider=self.name,
            )
        self._api_key = self._resolve_api_key(config)
        base_url = (config.base_url or self.default_base_url).strip()
        try:
            parsed = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ProviderError(
                redact(
                    f"{self.name}: invalid base_url {base_url!r} ({exc}); use e.g. 'http://127.0.0.1:8000/v1'"
                ),
                provider=self.name,
            ) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ProviderError(
                redact(f"{self.name}: base_url must be an absolute http(s) URL, got {base_url!r}"),
                provider=self.name,
            )
        self.base_url = base_url.rstrip("/")
        self.settings = HTTPSettings.from_extra(extra, provider=self.name)
        self.retry = RetryPolicy.from_extra(extra, provider=self.name)
        self.config_params()
        self._clients = LoopClient(ClientKey.for_base_url(self.base_url, self.settings, transport))
        self._wire = MessageEncoder(self.message_wire)
        self._prepared: dict[bool, _Prepared] = {}

    # -- configuration --------------------------------------------------------------

    def _resolve_api_key(self, config: ProviderConfig) -> Secret | None:
        if config.api_key:
            return Secret(config.api_key)
        for var in self.api_key_env_vars:
            value = os.environ.get(var, "").strip()
            if value:
                return Secret(value)
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
        if _VERSION_SEGMENT.fullmatch(first) and self.base_url.endswith(first):
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

    def message_wire(self, role: str, content: str, name: str | None) -> dict[str, Any]:
        """One conversation message in the vendor's format (default ``{"role", "content"}``).

        Built once per distinct message and reused on every later turn that re-sends it.
        """
        return {"role": role, "content": content}

    @abc.abstractmethod
    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        """Path (relative to ``base_url``) and query parameters of the chat call."""

    @abc.abstractmethod
    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The vendor's JSON request body."""

    def with_extra(self, body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        """``body`` with the turn's unmodelled options (``send_message(..., seed=7)``) added.

        Default: as top-level fields of the body (OpenAI, Mistral, Anthropic, Cohere and
        OpenAI-compatible servers take ``seed``, ``presence_penalty``, ``response_format``,
        ``top_k``, ... there). An option naming a field the adapter already sets
        (``messages``, ``model``, ``stream``, ...) is refused rather than overwriting it.

        Raises:
            ProviderBadRequestError: an option collides with a field the adapter sets.
        """
        return merge_options(self, body, extra)

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

    def messages_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """``{"model", "messages", "stream"}``: the core of a chat body whose ``messages``
        carry the system prompt as their first message, with role ``system``."""
        keys = [(m.role, m.content, m.name) for m in request.messages]
        if request.system:
            keys.insert(0, ("system", request.system, None))
        return {"model": self.model, "messages": self._wire.encode(keys), "stream": stream}

    def system_apart(self, request: ChatRequest) -> tuple[list[str], WireList]:
        """For APIs without a system role: the system texts (the prompt first, then any
        ``system`` messages) and the other messages in wire form."""
        system = [request.system] if request.system else []
        system.extend(m.content for m in request.messages if m.role == "system")
        keys = [(m.role, m.content, m.name) for m in request.messages if m.role != "system"]
        return system, self._wire.encode(keys)

    def event_json(self, item: Any, what: str) -> dict[str, Any]:
        """The JSON object one Server-Sent Event carries; malformed-stream errors otherwise."""
        if not isinstance(item, ServerSentEvent):
            raise self.malformed("stream item", repr(item))
        payload = self.decode(item.data, what)
        if not isinstance(payload, dict):
            raise self.malformed(what, payload)
        return payload

    def decode(self, text: str | bytes, what: str) -> Any:
        """``text`` decoded as JSON; a ProviderError quoting it (redacted) otherwise."""
        return decode_json(text, provider=self.name, what=what, secrets=self._secrets())

    def response(
        self,
        content: Any,
        *,
        finish_reason: str | None,
        usage: dict[str, int] | None = None,
        model: Any = None,
        role: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> ChatResponse:
        """A :class:`ChatResponse` of normalised values, built without re-validation.

        Raises:
            TypeError: ``content``, ``role`` or ``model`` is not text (a malformed reply).
        """
        model = model or self.model
        role = role or "assistant"
        if type(content) is not str or type(role) is not str or type(model) is not str:
            raise TypeError("content, role and model must be strings")
        return ChatResponse.model_construct(
            content=content,
            role=role,
            finish_reason=finish_reason,
            usage=usage or {},
            model=model,
            metadata=metadata if metadata is not None else {},
        )

    def set_finish(self, state: StreamState, raw: Any) -> None:
        """Record the vendor's finish reason ``raw`` (and ours, from :attr:`finish_reasons`)."""
        state.raw_finish_reason = None if raw is None else str(raw)
        state.finish_reason = self.finish_reasons(raw)

    def stream_error(
        self, body: Any, *, status: int | None = None, retryable: bool | None = None
    ) -> ProviderError:
        """The exception for an error the vendor reported inside a stream (or a 200 body).

        With ``status``, the error is mapped like that HTTP status. Otherwise it is
        retryable only when ``retryable`` says so or, when that is None, when
        :func:`~._retry.is_transient_error` recognises the vendor's error type as transient.
        """
        if status is None:
            transient = is_transient_error(body) if retryable is None else retryable
            return _errors.error_in_stream(
                body, provider=self.name, retryable=transient, secrets=self._secrets()
            )
        text = _errors.vendor_error_message(body) or (body if isinstance(body, str) else json.dumps(body))
        return self._status_error(status, body, f"error in stream: {text}")

    def finished_with_error(
        self, raw_finish_reason: str | None, text: str | None, *, retryable: bool = False
    ) -> ProviderError:
        """The exception for a reply the vendor ended with ``finish_reason`` "error"."""
        return _errors.finished_with_error(
            raw_finish_reason, text, provider=self.name, retryable=retryable, secrets=self._secrets()
        )

    def malformed(self, what: str, payload: Any) -> ProviderError:
        """The exception for a reply or stream item of the wrong shape."""
        return _errors.malformed(what, payload, provider=self.name, secrets=self._secrets())

    def _status_error(
        self, status: int, body: Any, vendor_text: str | None, *, reason: str = "", attempts: int = 1
    ) -> ProviderError:
        classified = self.classify_status(status, body)
        return _errors.error_from_status(
            classified,
            wire_status=status if classified != status else None,
            provider=self.name,
            vendor_text=vendor_text,
            reason=reason,
            retryable_status=self.retryable_status,
            secrets=self._secrets(),
            env_hint=self._env_hint(),
            attempts=attempts,
        )

    # -- client ---------------------------------------------------------------------

    @property
    def _client(self) -> httpx.AsyncClient | None:
        """The shared client this adapter holds now (None before its first call)."""
        return self._clients.client

    async def aclose(self) -> None:
        """Release this adapter's share of the connection pool. Safe to call twice."""
        self._prepared.clear()
        self._wire.clear()
        await self._clients.aclose()

    async def __aenter__(self) -> HTTPProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _prepare(self, *, stream: bool) -> _Prepared:
        """The call's fixed parts, for the client of the running loop (built once per client)."""
        client = self._clients.get()
        prepared = self._prepared.get(stream)
        if prepared is not None and prepared.client is client:
            return prepared
        path, params = self.endpoint(stream=stream)
        url = httpx.URL(self.url(path), params=params or None)
        accept = "application/json"
        if stream:
            accept = "application/x-ndjson" if self.stream_format() == "ndjson" else "text/event-stream"
        # The client's defaults (Accept-Encoding, Connection, ...) as httpx would merge them.
        headers = httpx.Headers(client.headers)
        headers.update({"Content-Type": "application/json", "Accept": accept, "User-Agent": "luminora_nb"})
        headers.update(self.auth_headers())
        prepared = _Prepared(client, url, headers, self.settings.httpx_timeout(stream=stream))
        self._prepared[stream] = prepared
        return prepared

    # -- the attempt loop -----------------------------------------------------------

    async def _status_failure(self, response: httpx.Response, *, attempts: int) -> _AttemptFailed:
        try:
            raw = (await response.aread()).decode(response.encoding or "utf-8", errors="replace")
        except httpx.HTTPError:
            raw = ""
        try:
            body: Any = decode_json(raw, provider=self.name, what="error") if raw else None
        except ProviderError:
            body = raw
        vendor_text = _errors.vendor_error_message(body) or (raw if isinstance(body, str) else None)
        error = self._status_error(
            response.status_code, body, vendor_text, reason=response.reason_phrase, attempts=attempts
        )
        retry_after = parse_retry_after(response.headers)
        if retry_after is None and error.retryable:
            retry_after = self.retry_after_from_body(body)
        return _AttemptFailed(error, retry_after)

    def _next_delay(self, failure: _AttemptFailed, attempt: int) -> float:
        """The wait before retrying failed attempt number ``attempt`` (0-based); raises
        the failure's error, with why, when it is not to be retried."""
        error, wait = failure.error, failure.retry_after
        if error.retryable and self.retry.beyond_cap(wait):
            # Waiting only the cap would earn another refusal: give up now and say how long.
            raise _errors.with_context(
                error,
                f" — the provider asks to retry in {wait:.0f} s, longer than "
                f"extra['retry_after_cap'] ({self.retry.retry_after_cap:g} s), so the request was "
                "not retried; try again later, or raise extra['retry_after_cap'] to let the "
                "library wait that long",
            )
        if not error.retryable or attempt >= self.retry.max_retries:
            attempts = attempt + 1
            if attempts > 1 and f"after {attempts} attempts" not in str(error):
                raise _errors.with_context(error, f" (gave up after {attempts} attempts)")
            raise error
        delay = self.retry.delay(attempt, retry_after=wait)
        logger.info(
            "%s: %s; retrying in %.2f s (retry %d of %d)",
            self.name,
            error,
            delay,
            attempt + 1,
            self.retry.max_retries,
        )
        return delay

    def _transport_error(self, exc: httpx.HTTPError, *, stream: bool) -> ProviderError:
        return _errors.error_from_transport(
            exc,
            provider=self.name,
            url=self.base_url,
            settings=self.settings,
            stream=stream,
            secrets=self._secrets(),
        )

    def _stream_items(self, response: httpx.Response) -> AsyncIterator[Any]:
        if self.stream_format() == "ndjson":
            return iter_ndjson(response.aiter_lines(), provider=self.name, secrets=self._secrets())
        return iter_sse(response.aiter_lines())

    def _plain_reply(self, response: httpx.Response) -> ChatResponse:
        data = self.decode(response.content, "reply")
        try:
            reply = self.parse_reply(data)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise _AttemptFailed(self.malformed("reply shape", data)) from None
        raw = reply.metadata.get("raw_finish_reason")
        if reply.finish_reason == "error":
            error = reply.metadata.get("error")
            raise _AttemptFailed(
                self.finished_with_error(
                    None if raw is None else str(raw), None if error is None else str(error)
                )
            )
        if reply.finish_reason == "stop" and not self.finish_reasons.known(raw):
            reply.metadata["unknown_finish_reason"] = True
        return reply

    def _stream_reply(self, state: StreamState, chunks: int, first_chunk_ms: float | None) -> ChatResponse:
        if not state.complete:
            raise _AttemptFailed(
                ProviderError(
                    f"{self.name}: the stream ended before the provider signalled the end of the reply",
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
        metadata: dict[str, Any] = {"chunks": chunks, "raw_finish_reason": state.raw_finish_reason}
        if first_chunk_ms is not None:
            metadata["first_chunk_ms"] = first_chunk_ms
        if state.response_id:
            metadata["id"] = state.response_id
        if state.error:
            metadata["error"] = redact(state.error, self._secrets())
        if state.thinking:
            metadata["thinking"] = "".join(state.thinking)
        if state.finish_reason in (None, "stop") and not self.finish_reasons.known(state.raw_finish_reason):
            metadata["unknown_finish_reason"] = True
        metadata.update(state.extra)
        try:
            return self.response(
                "",
                finish_reason=state.finish_reason or "stop",
                usage=state.usage,
                model=state.model,
                metadata=metadata,
            )
        except TypeError:
            raise _AttemptFailed(self.malformed("stream model", state.model)) from None

    async def _exchange(self, request: ChatRequest, *, stream: bool) -> AsyncIterator[ChatResponse]:
        """The attempt loop shared by :meth:`chat` and :meth:`stream`.

        Yields the reply's chunks as they arrive (streams only), then the final reply
        (for a stream: empty content, with finish reason, usage and metadata).
        """
        built = self.build_body(request, stream=stream)
        body = dumps_body(self.with_extra(built, request.extra) if request.extra else built)
        started = time.perf_counter()
        chunks = 0
        first_chunk_ms: float | None = None
        attempt = 0
        while True:
            prepared = self._prepare(stream=stream)
            if logger.isEnabledFor(logging.DEBUG):
                shown = redact(str(prepared.url), self._secrets())
                kind = "stream, " if stream else ""
                logger.debug("%s: POST %s (%sattempt %d)", self.name, shown, kind, attempt + 1)
            state = StreamState()
            try:
                response = await prepared.client.send(prepared.request(body), stream=stream)
                try:
                    if response.status_code >= 400:
                        raise await self._status_failure(response, attempts=attempt + 1)
                    if stream:
                        async for item in self._stream_items(response):
                            text = self.handle_stream_item(item, state)
                            if text:
                                model = state.model or self.model
                                if type(model) is not str:
                                    raise self.malformed("stream model", model)
                                if first_chunk_ms is None:
                                    first_chunk_ms = round((time.perf_counter() - started) * 1000.0, 3)
                                chunks += 1
                                yield ChatResponse.model_construct(content=text, model=model)
                            if state.done:
                                break
                finally:
                    if stream:
                        await response.aclose()
                if stream:
                    reply = self._stream_reply(state, chunks, first_chunk_ms)
                else:
                    reply = self._plain_reply(response)
            except httpx.HTTPError as exc:
                failure = _AttemptFailed(self._transport_error(exc, stream=stream))
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
                yield reply
                return
            if chunks:
                raise _errors.with_context(
                    failure.error,
                    f" — the stream broke after {chunks} chunk(s); the partial reply was already "
                    "delivered, so the request was not retried",
                )
            await self.retry.sleep(self._next_delay(failure, attempt))
            attempt += 1

    # -- public API -----------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` and return the whole reply, retrying transient failures."""
        async for reply in self._exchange(request, stream=False):
            final = reply
        return final

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        """Send ``request`` and yield the reply in chunks as they arrive.

        Each chunk's ``content`` is new text only; the last chunk has empty content and
        carries ``finish_reason``, ``usage`` and ``metadata["latency_ms"]``. Failures are
        retried only while no chunk has been yielded.
        """
        return self._exchange(request, stream=True)


def merge_options(
    provider: HTTPProvider, target: dict[str, Any], extra: Mapping[str, Any], *, where: str = "the request"
) -> dict[str, Any]:
    """``target`` updated with ``extra``, refusing a key ``target`` already holds."""
    taken = sorted(set(extra) & set(target))
    if taken:
        raise ProviderBadRequestError(
            f"{provider.name}: message option(s) {taken} would replace what luminora_nb sets in "
            f"{where}; use the modelled options (temperature, max_tokens, top_p, stop) or the session",
            provider=provider.name,
        )
    target.update(extra)
    return target


def merge_split_options(
    provider: HTTPProvider,
    body: dict[str, Any],
    extra: Mapping[str, Any],
    *,
    top_level: Collection[str],
    nested: str,
) -> dict[str, Any]:
    """``body`` with ``extra`` merged: the keys in ``top_level`` at the top, the rest under
    ``body[nested]`` (created only when something goes there), as :func:`merge_options`.

    For the APIs whose free-form options live in one object of the request (Gemini's
    ``generationConfig``, Ollama's ``options``) beside a few top-level fields.
    """
    merge_options(provider, body, {k: v for k, v in extra.items() if k in top_level})
    inner = {k: v for k, v in extra.items() if k not in top_level}
    if inner:
        merge_options(provider, body.setdefault(nested, {}), inner, where=nested)
    return body
