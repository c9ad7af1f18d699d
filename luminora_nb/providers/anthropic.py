"""Anthropic Messages API adapter.

Wire format (``POST {base_url}/v1/messages``; headers ``x-api-key: <key>`` and
``anthropic-version: 2023-06-01``):

* request: ``model``, ``max_tokens`` (required by the API; default 1024), ``messages``
  (``user``/``assistant`` only), the system prompt as the top-level ``system`` string,
  ``temperature``, ``top_p``, ``stop_sequences``;
* reply: ``content`` blocks (the ``text`` blocks are joined), ``stop_reason``
  (``end_turn``, ``stop_sequence``, ``max_tokens``, ``tool_use``, ``pause_turn``,
  ``refusal``) and ``usage.input_tokens`` / ``usage.output_tokens``;
* stream: SSE events ``message_start`` (model, input tokens), ``content_block_start``,
  ``content_block_delta`` (``text_delta``), ``content_block_stop``, ``message_delta``
  (``stop_reason``, cumulative ``output_tokens``), ``message_stop``, ``ping`` and
  ``error`` (e.g. ``overloaded_error``).

HTTP 529 (``overloaded_error``) is retried like a 503.

Defaults: base URL ``https://api.anthropic.com``, model ``claude-haiku-4-5``, key from
``ANTHROPIC_API_KEY``.

Example:
    >>> from luminora_nb.types import ProviderConfig, ChatMessage
    >>> p = AnthropicProvider(ProviderConfig(name="anthropic", api_key="sk-ant-demo"))
    >>> body = p.build_body(ChatRequest(system="Be brief.",
    ...                                 messages=[ChatMessage(role="user", content="Hi")]), stream=False)
    >>> body["system"], body["max_tokens"]
    ('Be brief.', 1024)
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..types.provider import ChatResponse
from ._http import HTTPProvider, StreamState
from ._normalise import FinishReasons, merge_usage, usage_dict, vendor_params
from ._retry import RETRYABLE_STATUS
from .base import ChatRequest

__all__ = ["ANTHROPIC_FINISH_REASONS", "AnthropicProvider"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024

#: The Messages API's ``stop_reason`` values.
ANTHROPIC_FINISH_REASONS = FinishReasons(
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


class AnthropicProvider(HTTPProvider):
    """Claude models through the Anthropic Messages API."""

    name: ClassVar[str] = "anthropic"
    default_model: ClassVar[str] = "claude-haiku-4-5"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    retryable_status: ClassVar[frozenset[int]] = RETRYABLE_STATUS | {529}
    finish_reasons = ANTHROPIC_FINISH_REASONS

    def auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        return "/v1/messages", {}

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
        body.update(
            vendor_params(params, {"temperature": "temperature", "top_p": "top_p", "stop": "stop_sequences"})
        )
        return body

    def parse_reply(self, data: Any) -> ChatResponse:
        if data.get("type") == "error":
            raise self._error_event(data)
        blocks = data["content"]
        text = "".join(b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        usage = data.get("usage") or {}
        raw_finish = data.get("stop_reason")
        metadata: dict[str, Any] = {"raw_finish_reason": raw_finish}
        if data.get("id"):
            metadata["id"] = data["id"]
        return self.response(
            text,
            role=data.get("role"),
            finish_reason=self.finish_reasons(raw_finish) or "stop",
            usage=usage_dict(usage.get("input_tokens"), usage.get("output_tokens")),
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
            if delta.get("type") == "text_delta":
                text = delta.get("text")
                if not isinstance(text, str):
                    raise self.malformed("content_block_delta", payload)
                return text
            return None  # thinking / tool input deltas are not reply text
        if kind == "message_start":
            message = payload.get("message") or {}
            state.model = message.get("model") or state.model
            state.response_id = message.get("id") or state.response_id
            usage = message.get("usage") or {}
            state.usage = merge_usage(state.usage, usage.get("input_tokens"), usage.get("output_tokens"))
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "text" and block.get("text"):
                return str(block["text"])
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            if delta.get("stop_reason") is not None:
                self.set_finish(state, delta["stop_reason"])
            usage = payload.get("usage") or {}
            # Fields may be present but null ("input_tokens": null): keep message_start's counts.
            state.usage = merge_usage(state.usage, usage.get("input_tokens"), usage.get("output_tokens"))
        elif kind == "message_stop":
            state.done = True
        elif kind == "error":
            raise self._error_event(payload)
        # ping, content_block_stop and future event types carry no reply text.
        return None
