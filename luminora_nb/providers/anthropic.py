"""Anthropic Messages API adapter, speaking one chosen API version.

Every request names the API version it is written for (the ``anthropic-version``
header), and what a request may carry depends on it. This adapter speaks the two
versions below; ``ProviderConfig.extra["api_version"]`` picks one (default: the current
one, which Anthropic's own SDK sends), and any other value is refused when the provider
is created, since nothing says what its requests look like.

* ``2026-10-21`` (the default): the key as ``Authorization: Bearer <key>``; the body
  holds ``model``, ``max_tokens``, ``messages``, ``system``, ``stop_sequences`` and
  ``stream``, and **no sampling settings**: ``temperature`` and ``top_p`` do not exist
  in this version (the model samples as it was tuned to), so they are not sent, and a
  warning saying so is logged once per provider;
* ``2023-06-01``: the key as ``x-api-key: <key>``; the same body, plus ``temperature``
  *or* ``top_p``: current models refuse the two together, so when both are set only
  ``temperature`` is sent (a warning is logged once per provider).

Both versions (``POST {base_url}/v1/messages``):

* request: ``max_tokens`` is required (default 1024); ``messages`` carry the ``user``
  and ``assistant`` turns; the system prompt, followed by any ``system`` messages of the
  conversation, is the top-level ``system`` string;
* reply: ``content`` blocks — ``text`` blocks are the reply (their citations do not
  change the text), ``thinking`` blocks go to ``metadata["thinking"]``,
  ``redacted_thinking`` and tool blocks are not text; ``stop_reason`` (``end_turn``,
  ``stop_sequence``, ``pause_turn`` -> ``stop``; ``max_tokens``,
  ``model_context_window_exceeded`` -> ``length``; ``tool_use`` -> ``tool_calls``;
  ``refusal`` -> ``content_filter``);
* usage: ``prompt_tokens`` counts every input token — ``input_tokens`` (the uncached
  part) + ``cache_read_input_tokens`` + ``cache_creation_input_tokens`` — and
  ``completion_tokens`` is ``output_tokens``; when a cache count is non-zero the three
  input parts are kept in the usage dict under their Anthropic names;
* stream: SSE events ``message_start`` (model, input usage), ``content_block_start``,
  ``content_block_delta`` (``text_delta`` is reply text; ``thinking_delta``,
  ``signature_delta``, ``citations_delta`` and ``input_json_delta`` are not),
  ``content_block_stop``, ``message_delta`` (``stop_reason``, cumulative usage whose
  null counts keep the earlier ones), ``message_stop``, ``ping`` and ``error`` (e.g.
  ``overloaded_error``, mapped to the status of its type).

HTTP 529 (``overloaded_error``) is retried like a 503.

Defaults: base URL ``https://api.anthropic.com``, model ``claude-haiku-4-5``, key from
``ANTHROPIC_API_KEY``.

Example:
    >>> from luminora_nb.types import ProviderConfig, ChatMessage
    >>> p = AnthropicProvider(ProviderConfig(name="anthropic", api_key="sk-ant-demo"))
    >>> body = p.build_body(ChatRequest(system="Be brief.",
    ...                                 messages=[ChatMessage(role="user", content="Hi")]), stream=False)
    >>> body["system"], body["max_tokens"], p.api_version
    ('Be brief.', 1024, '2026-10-21')
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import httpx

from ..errors import ProviderError
from ..types.provider import ChatResponse, ProviderConfig
from ._http import HTTPProvider, StreamState
from ._normalise import FinishReasons, merge_usage, token_count, vendor_params
from ._retry import RETRYABLE_STATUS
from .base import ChatRequest

__all__ = [
    "ANTHROPIC_FINISH_REASONS",
    "API_VERSIONS",
    "CURRENT_API_VERSION",
    "LEGACY_API_VERSION",
    "AnthropicProvider",
    "anthropic_usage",
]

logger = logging.getLogger("luminora_nb.providers")

#: The version Anthropic's current SDK sends, and the default here.
CURRENT_API_VERSION = "2026-10-21"
#: The first version of the Messages API, with ``x-api-key`` and sampling settings.
LEGACY_API_VERSION = "2023-06-01"
#: Each API version this adapter speaks, with the sampling settings its requests carry.
API_VERSIONS: dict[str, tuple[str, ...]] = {
    CURRENT_API_VERSION: (),
    LEGACY_API_VERSION: ("temperature", "top_p"),
}
DEFAULT_MAX_TOKENS = 1024

#: The Messages API's ``stop_reason`` values.
ANTHROPIC_FINISH_REASONS = FinishReasons(
    stop="end_turn stop_sequence pause_turn",
    length="max_tokens model_context_window_exceeded",
    tool_calls="tool_use",
    content_filter="refusal",
)

# The documented error types, with the HTTP status each corresponds to.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

#: The parts of Anthropic's input count: uncached, written to the cache, read from it.
_INPUT_PARTS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def anthropic_usage(raw: Any, previous: dict[str, int] | None = None) -> dict[str, int]:
    """Our usage from an Anthropic ``usage`` object; null or missing counts keep ``previous``.

    ``prompt_tokens`` is the sum of the three input parts (Anthropic's ``input_tokens`` is
    only the uncached part); when a cache count is non-zero the parts are kept too.

    Example:
        >>> anthropic_usage({"input_tokens": 3, "cache_read_input_tokens": 2000,
        ...                  "cache_creation_input_tokens": 0, "output_tokens": 9})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'prompt_tokens': 2003, 'completion_tokens': 9, 'total_tokens': 2012, 'input_tokens': 3,
         'cache_creation_input_tokens': 0, 'cache_read_input_tokens': 2000}
        >>> anthropic_usage({"input_tokens": 12, "output_tokens": 1})
        {'prompt_tokens': 12, 'completion_tokens': 1, 'total_tokens': 13}
    """
    previous = previous or {}
    if not isinstance(raw, dict):
        return dict(previous)
    parts: dict[str, int] = {}
    for key in _INPUT_PARTS:
        value = token_count(raw.get(key))
        if value is None:
            value = previous.get(key)
        if value is not None:
            parts[key] = value
    if "input_tokens" not in parts and "prompt_tokens" in previous:
        # An earlier event's input count that was not split into parts.
        parts["input_tokens"] = previous["prompt_tokens"]
    usage = merge_usage(previous, sum(parts.values()) if parts else None, raw.get("output_tokens"))
    if parts.get("cache_read_input_tokens") or parts.get("cache_creation_input_tokens"):
        usage.update(parts)
    return usage


class AnthropicProvider(HTTPProvider):
    """Claude models through the Anthropic Messages API.

    Args:
        config: The provider configuration; ``extra["api_version"]`` picks the API
            version (see the module notes), default :data:`CURRENT_API_VERSION`.
        transport: See :class:`~._http.HTTPProvider`.

    Raises:
        ProviderError: ``extra["api_version"]`` names a version this adapter does not speak.

    Example:
        >>> from luminora_nb.types import ProviderConfig
        >>> p = AnthropicProvider(ProviderConfig(name="anthropic", api_key="sk-ant-demo",
        ...                                      extra={"api_version": "2023-06-01"}))
        >>> sorted(p.auth_headers())
        ['anthropic-version', 'x-api-key']
    """

    name: ClassVar[str] = "anthropic"
    default_model: ClassVar[str] = "claude-haiku-4-5"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    retryable_status: ClassVar[frozenset[int]] = RETRYABLE_STATUS | {529}
    finish_reasons = ANTHROPIC_FINISH_REASONS

    def __init__(self, config: ProviderConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        version = (config.extra or {}).get("api_version", CURRENT_API_VERSION)
        if version not in API_VERSIONS:
            known = ", ".join(repr(v) for v in API_VERSIONS)
            raise ProviderError(
                f"anthropic: extra['api_version'] must be one of {known} (the request shape of "
                f"other versions is unknown here), got {version!r}",
                provider=self.name,
            )
        self.api_version: str = version
        self._sampling = API_VERSIONS[version]
        self._warned: set[str] = set()
        super().__init__(config, transport=transport)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} name={self.name!r} model={self.model!r} "
            f"api_version={self.api_version!r}>"
        )

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": self.api_version}
        key = self.api_key
        if key:
            if self.api_version == LEGACY_API_VERSION:
                headers["x-api-key"] = key
            else:
                headers["Authorization"] = f"Bearer {key}"
        return headers

    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        return "/v1/messages", {}

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("%s: %s", self.name, message)

    def _sampling_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The sampling settings of ``params`` this API version accepts, never the pair."""
        asked = [name for name in ("temperature", "top_p") if name in params]
        if not asked:
            return {}
        refused = [name for name in asked if name not in self._sampling]
        if refused:
            self._warn_once(
                "unsupported",
                f"{' and '.join(refused)} not sent: API version {self.api_version} has no sampling "
                f"settings; set extra={{'api_version': '{LEGACY_API_VERSION}'}} to send them",
            )
        sent: dict[str, Any] = {name: params[name] for name in asked if name in self._sampling}
        if len(sent) == 2:
            self._warn_once(
                "pair",
                "top_p not sent: current Claude models refuse temperature and top_p together, "
                "and temperature was set too",
            )
            del sent["top_p"]
        return sent

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        params = self.generation_params(request)
        # The Messages API has no system role: system text goes to the top level.
        system, messages = self.system_apart(request)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.get("max_tokens", DEFAULT_MAX_TOKENS),
            "messages": messages,
            "stream": stream,
        }
        if system:
            body["system"] = "\n\n".join(system)
        body.update(self._sampling_params(params))
        body.update(vendor_params(params, {"stop": "stop_sequences"}))
        return body

    def parse_reply(self, data: Any) -> ChatResponse:
        if data.get("type") == "error":
            raise self._error_event(data)
        text: list[str] = []
        thinking: list[str] = []
        for block in data["content"]:
            kind = block.get("type")
            if kind == "text":
                text.append(block["text"])
            elif kind == "thinking":
                thinking.append(str(block.get("thinking") or ""))
        raw_finish = data.get("stop_reason")
        metadata: dict[str, Any] = {"raw_finish_reason": raw_finish}
        if data.get("id"):
            metadata["id"] = data["id"]
        if any(thinking):
            metadata["thinking"] = "".join(thinking)
        return self.response(
            "".join(text),
            role=data.get("role"),
            finish_reason=self.finish_reasons(raw_finish) or "stop",
            usage=anthropic_usage(data.get("usage")),
            model=data.get("model"),
            metadata=metadata,
        )

    def _error_event(self, payload: Any) -> Exception:
        error = payload.get("error") if isinstance(payload, dict) else None
        kind = error.get("type") if isinstance(error, dict) else None
        return self.stream_error(payload, status=_ERROR_STATUS.get(str(kind), 500))

    def handle_stream_item(self, item: Any, state: StreamState) -> str | None:
        payload = self.event_json(item, "stream event")
        kind = payload.get("type") or item.event
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            delta_kind = delta.get("type")
            if delta_kind == "text_delta":
                text = delta.get("text")
                if not isinstance(text, str):
                    raise self.malformed("content_block_delta", payload)
                return text
            if delta_kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
                state.thinking.append(delta["thinking"])
            return None  # signature / citation / tool input deltas are not reply text
        if kind == "message_start":
            message = payload.get("message") or {}
            state.model = message.get("model") or state.model
            state.response_id = message.get("id") or state.response_id
            state.usage = anthropic_usage(message.get("usage"), state.usage)
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "text" and block.get("text"):
                return str(block["text"])
            if block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
                state.thinking.append(block["thinking"])
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            if delta.get("stop_reason") is not None:
                self.set_finish(state, delta["stop_reason"])
            # Counts may be present but null ("input_tokens": null): keep message_start's.
            state.usage = anthropic_usage(payload.get("usage"), state.usage)
        elif kind == "message_stop":
            state.done = True
        elif kind == "error":
            raise self._error_event(payload)
        # ping, content_block_stop and future event types carry no reply text.
        return None
