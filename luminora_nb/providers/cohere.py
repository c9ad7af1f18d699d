"""Cohere Chat API v2 adapter.

Wire format (``POST {base_url}/v2/chat``, ``Authorization: Bearer <key>``):

* request: ``model``, ``messages`` (the system prompt is the first message, role
  ``system``), ``stream``, ``temperature``, ``max_tokens``, ``p`` (top-p) and
  ``stop_sequences``;
* reply: ``message.content`` (a list of ``{"type": "text", "text": ...}`` and
  ``{"type": "thinking", "thinking": ...}`` items: the text items are the reply, the
  thinking goes to ``metadata["thinking"]``), ``finish_reason`` (``COMPLETE``,
  ``STOP_SEQUENCE`` -> ``stop``; ``MAX_TOKENS`` -> ``length``; ``TOOL_CALL`` ->
  ``tool_calls``; ``ERROR``, ``TIMEOUT`` -> ``error``) and ``usage`` (``tokens`` and
  ``billed_units``, each with ``input_tokens`` / ``output_tokens``; the processed
  ``tokens`` are reported, ``billed_units`` only when ``tokens`` is missing);
* stream: SSE events whose JSON carries ``type``: ``message-start``, ``content-start``
  (which may already carry text: ``delta.message.content.text``, for a content item of
  type ``text``), ``content-delta`` (text at ``delta.message.content.text``, reasoning at
  ``delta.message.content.thinking``), ``content-end``, ``message-end``
  (``delta.finish_reason``, ``delta.usage``, ``delta.error``); tool, citation, plan and
  debug events carry no reply text.

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
from ._http import HTTPProvider, StreamState
from ._normalise import FinishReasons, merge_usage, vendor_params
from ._retry import is_transient_error
from .base import ChatRequest

__all__ = ["COHERE_FINISH_REASONS", "CohereProvider"]

#: Cohere's ``finish_reason`` values (matched case-insensitively), with the v1 API's
#: ``ERROR_LIMIT`` and ``ERROR_TOXIC``.
COHERE_FINISH_REASONS = FinishReasons(
    stop="COMPLETE STOP_SEQUENCE",
    length="MAX_TOKENS ERROR_LIMIT",
    tool_calls="TOOL_CALL",
    content_filter="ERROR_TOXIC",
    error="ERROR TIMEOUT",
    fold_case=True,
)


def _usage(raw: Any, previous: dict[str, int] | None = None) -> dict[str, int]:
    """Processed ``tokens`` (else ``billed_units``); null counts keep ``previous`` values."""
    if not isinstance(raw, dict):
        return dict(previous or {})
    counts = raw.get("tokens") or raw.get("billed_units")
    if not isinstance(counts, dict):
        return dict(previous or {})
    return merge_usage(previous or {}, counts.get("input_tokens"), counts.get("output_tokens"))


def _text(content: Any) -> tuple[str, str]:
    """``(text, thinking)`` of a reply's ``message.content``."""
    if isinstance(content, str):
        return content, ""
    if isinstance(content, dict):
        content = [content]
    text: list[str] = []
    thinking: list[str] = []
    for item in content or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "text")
        if kind == "text":
            text.append(str(item.get("text", "")))
        elif kind == "thinking":
            thinking.append(str(item.get("thinking") or ""))
    return "".join(text), "".join(thinking)


class CohereProvider(HTTPProvider):
    """Command models through Cohere's v2 Chat API.

    Usage counts are the processed ``tokens`` (what the model saw), not the
    ``billed_units``; a stream Cohere ends with an error (``message-end`` carrying
    ``error``) is raised, and retried only while nothing was delivered and the error
    reads as transient.
    """

    name: ClassVar[str] = "cohere"
    default_model: ClassVar[str] = "command-a-03-2025"
    default_base_url: ClassVar[str] = "https://api.cohere.com"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("CO_API_KEY", "COHERE_API_KEY")
    finish_reasons = COHERE_FINISH_REASONS

    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        return "/v2/chat", {}

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = self.messages_body(request, stream=stream)
        names = {
            "temperature": "temperature",
            "max_tokens": "max_tokens",
            "top_p": "p",
            "stop": "stop_sequences",
        }
        body.update(vendor_params(self.generation_params(request), names))
        return body

    def parse_reply(self, data: Any) -> ChatResponse:
        message = data["message"]
        raw_finish = data.get("finish_reason")
        metadata: dict[str, Any] = {"raw_finish_reason": raw_finish}
        if data.get("id"):
            metadata["id"] = data["id"]
        text, thinking = _text(message.get("content"))
        if thinking:
            metadata["thinking"] = thinking
        return self.response(
            text,
            role=message.get("role"),
            finish_reason=self.finish_reasons(raw_finish) or "stop",
            usage=_usage(data.get("usage")),
            metadata=metadata,
        )

    def handle_stream_item(self, item: Any, state: StreamState) -> str | None:
        payload = self.event_json(item, "stream event")
        kind = payload.get("type") or item.event
        delta = payload.get("delta") or {}
        if not isinstance(delta, dict):
            raise self.malformed("stream event", payload)
        if kind in ("content-delta", "content-start"):
            content = (delta.get("message") or {}).get("content") or {}
            if not isinstance(content, dict):
                raise self.malformed(kind, payload)
            thinking = content.get("thinking")
            if isinstance(thinking, str) and thinking:
                state.thinking.append(thinking)
            if content.get("type") == "thinking":
                return None  # the start of a reasoning item: no reply text
            text = content.get("text")
            if text is not None and not isinstance(text, str):
                raise self.malformed(kind, payload)
            return text or None
        if kind == "message-start":
            state.response_id = payload.get("id") or state.response_id
        elif kind == "message-end":
            self.set_finish(
                state, delta.get("finish_reason") or ("ERROR" if delta.get("error") else "COMPLETE")
            )
            state.usage = _usage(delta.get("usage"), state.usage)
            if delta.get("error"):
                state.error = str(delta["error"])
                state.error_retryable = is_transient_error(delta["error"])
            state.done = True
        elif kind == "error" or (kind == "message" and "error" in payload):
            raise self.stream_error(payload)
        return None
