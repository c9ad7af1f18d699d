"""Cohere Chat API v2 adapter.

Wire format (``POST {base_url}/v2/chat``, ``Authorization: Bearer <key>``):

* request: ``model``, ``messages`` (the system prompt is the first message, role
  ``system``), ``stream``, ``temperature``, ``max_tokens``, ``p`` (top-p) and
  ``stop_sequences``;
* reply: ``message.content`` (a list of ``{"type": "text", "text": ...}`` items),
  ``finish_reason`` (``COMPLETE``, ``STOP_SEQUENCE``, ``MAX_TOKENS``, ``TOOL_CALL``,
  ``ERROR``, ...) and ``usage`` (``tokens`` and ``billed_units``, each with
  ``input_tokens`` / ``output_tokens``; the processed ``tokens`` are reported);
* stream: SSE events whose JSON carries ``type``: ``message-start``, ``content-start``,
  ``content-delta`` (text at ``delta.message.content.text``), ``content-end``,
  ``message-end`` (``delta.finish_reason``, ``delta.usage``, ``delta.error``); tool,
  citation and plan events carry no reply text.

Defaults: base URL ``https://api.cohere.com``, model ``command-a-03-2025``, key from
``CO_API_KEY`` or ``COHERE_API_KEY``.

Example:
    >>> from luminora_nb.types import ProviderConfig
    >>> p = CohereProvider(ProviderConfig(name="cohere", api_key="demo", extra={"top_p": 0.5}))
    >>> p.build_body(ChatRequest(messages=[]), stream=False)["p"]
    0.5
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..types.provider import ChatResponse
from ._http import (
    HTTPProvider,
    ServerSentEvent,
    StreamState,
    decode_json,
    is_transient_error,
    merge_usage,
    stop_list,
)
from .base import ChatRequest

__all__ = ["CohereProvider"]

_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "USER_CANCEL": "stop",
    "MAX_TOKENS": "length",
    "ERROR_LIMIT": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",
    "ERROR": "error",
    "TIMEOUT": "error",
}


def _finish(value: Any) -> str | None:
    return None if value is None else _FINISH.get(str(value).upper(), "stop")


def _usage(raw: Any, previous: dict[str, int] | None = None) -> dict[str, int]:
    """Processed ``tokens`` (else ``billed_units``); null counts keep ``previous`` values."""
    if not isinstance(raw, dict):
        return dict(previous or {})
    counts = raw.get("tokens") or raw.get("billed_units")
    if not isinstance(counts, dict):
        return dict(previous or {})
    return merge_usage(previous or {}, counts.get("input_tokens"), counts.get("output_tokens"))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    return "".join(
        str(item.get("text", ""))
        for item in content or []
        if isinstance(item, dict) and item.get("type", "text") == "text"
    )


class CohereProvider(HTTPProvider):
    """Command models through Cohere's v2 Chat API."""

    name: ClassVar[str] = "cohere"
    default_model: ClassVar[str] = "command-a-03-2025"
    requires_api_key: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://api.cohere.com"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("CO_API_KEY", "COHERE_API_KEY")

    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        return "/v2/chat", {}

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        params = self.generation_params(request)
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": stream}
        if "temperature" in params:
            body["temperature"] = params["temperature"]
        if "max_tokens" in params:
            body["max_tokens"] = params["max_tokens"]
        if "top_p" in params:
            body["p"] = params["top_p"]
        stops = stop_list(params.get("stop"))
        if stops:
            body["stop_sequences"] = stops
        return body

    def parse_reply(self, data: Any) -> ChatResponse:
        message = data["message"]
        raw_finish = data.get("finish_reason")
        metadata: dict[str, Any] = {"raw_finish_reason": raw_finish}
        if data.get("id"):
            metadata["id"] = data["id"]
        return ChatResponse(
            content=_text(message.get("content")),
            role=message.get("role") or "assistant",
            finish_reason=_finish(raw_finish) or "stop",
            usage=_usage(data.get("usage")),
            model=self.model,
            metadata=metadata,
        )

    def handle_stream_item(self, item: Any, state: StreamState) -> str | None:
        if not isinstance(item, ServerSentEvent):
            raise self.malformed("stream item", repr(item))
        payload = decode_json(item.data, provider=self.name, what="stream event")
        if not isinstance(payload, dict):
            raise self.malformed("stream event", payload)
        kind = payload.get("type") or item.event
        delta = payload.get("delta") or {}
        if not isinstance(delta, dict):
            raise self.malformed("stream event", payload)
        if kind == "content-delta":
            content = (delta.get("message") or {}).get("content") or {}
            text = content.get("text") if isinstance(content, dict) else None
            if text is not None and not isinstance(text, str):
                raise self.malformed("content-delta", payload)
            return text or None
        if kind == "message-start":
            state.response_id = payload.get("id") or state.response_id
        elif kind == "message-end":
            raw_finish = delta.get("finish_reason") or ("ERROR" if delta.get("error") else "COMPLETE")
            state.raw_finish_reason = str(raw_finish)
            state.finish_reason = _finish(raw_finish)
            state.usage = _usage(delta.get("usage"), state.usage)
            if delta.get("error"):
                state.error = str(delta["error"])
                state.error_retryable = is_transient_error(delta["error"])
            state.done = True
        elif kind == "error" or (kind == "message" and "error" in payload):
            raise self.stream_error(payload)
        return None
