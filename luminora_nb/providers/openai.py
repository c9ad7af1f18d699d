"""OpenAI Chat Completions adapter (also the base of OpenAI-compatible servers).

Wire format (``POST {base_url}/chat/completions``, ``Authorization: Bearer <key>``):

* request: ``model``, ``messages`` (the system prompt is the first message, role
  ``system``), ``temperature``, ``top_p``, ``stop`` and the token limit — sent as
  ``max_completion_tokens`` to api.openai.com (``max_tokens`` is deprecated there) and as
  ``max_tokens`` to any other base URL, which is what OpenAI-compatible servers accept;
* reply: ``choices[0].message.content``, ``choices[0].finish_reason`` (``stop``,
  ``length``, ``content_filter``, ``tool_calls``, ``function_call``) and ``usage``;
* stream: SSE ``data:`` chunks with ``choices[0].delta.content``, ended by
  ``data: [DONE]``. ``stream_options: {"include_usage": true}`` asks for a last chunk
  with ``usage`` and empty ``choices``; set ``extra={"stream_usage": False}`` for servers
  that reject it.

Defaults: base URL ``https://api.openai.com/v1``, model ``gpt-4o-mini``, key from
``OPENAI_API_KEY``.

Example:
    >>> from luminora_nb.types import ProviderConfig
    >>> p = OpenAIProvider(ProviderConfig(name="openai", api_key="sk-demo"))
    >>> p.model, p.url("/chat/completions")
    ('gpt-4o-mini', 'https://api.openai.com/v1/chat/completions')
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from ..types.provider import ChatResponse
from ._http import (
    HTTPProvider,
    ServerSentEvent,
    StreamState,
    decode_json,
    merge_usage,
    stop_list,
    usage_dict,
)
from .base import ChatRequest

__all__ = ["OpenAICompatibleProvider", "OpenAIProvider"]

_FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    # Mistral's extra values (same wire format).
    "model_length": "length",
    "error": "error",
    # llama.cpp / vLLM spellings seen in the wild.
    "eos": "stop",
    "abort": "error",
}


def map_finish_reason(value: Any) -> str | None:
    """Normalise an OpenAI-style ``finish_reason`` (unknown values count as ``stop``)."""
    if value is None:
        return None
    return _FINISH.get(str(value), "stop")


class OpenAICompatibleProvider(HTTPProvider):
    """The OpenAI Chat Completions wire format, shared by OpenAI, Mistral and llama servers.

    Subclasses tune it with class attributes: ``max_tokens_field``, ``send_stream_options``
    and ``send_names``.
    """

    chat_path: ClassVar[str] = "/chat/completions"
    #: Name of the token-limit field; None means "decide from the base URL".
    max_tokens_field: ClassVar[str | None] = "max_tokens"
    send_stream_options: ClassVar[bool] = True
    send_names: ClassVar[bool] = True

    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        return self.chat_path, {}

    def _max_tokens_field(self) -> str:
        if self.max_tokens_field is not None:
            return self.max_tokens_field
        host = httpx.URL(self.base_url).host
        return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"

    def _messages(self, request: ChatRequest) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        for message in request.messages:
            item: dict[str, Any] = {"role": message.role, "content": message.content}
            if self.send_names and message.name:
                item["name"] = message.name
            messages.append(item)
        return messages

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        params = self.generation_params(request)
        body: dict[str, Any] = {"model": self.model, "messages": self._messages(request), "stream": stream}
        if "temperature" in params:
            body["temperature"] = params["temperature"]
        if "top_p" in params:
            body["top_p"] = params["top_p"]
        if "max_tokens" in params:
            body[self._max_tokens_field()] = params["max_tokens"]
        stops = stop_list(params.get("stop"))
        if stops:
            body["stop"] = stops
        extra = self.config.extra or {}
        if stream and self.send_stream_options and extra.get("stream_usage", True):
            body["stream_options"] = {"include_usage": True}
        return body

    @staticmethod
    def _usage(raw: Any) -> dict[str, int]:
        if not isinstance(raw, dict):
            return {}
        return usage_dict(raw.get("prompt_tokens"), raw.get("completion_tokens"), raw.get("total_tokens"))

    def parse_reply(self, data: Any) -> ChatResponse:
        if isinstance(data, dict) and "error" in data and "choices" not in data:
            raise self.stream_error(data, retryable=False)
        choice = data["choices"][0]
        message = choice["message"]
        content = message.get("content") or ""
        if not isinstance(content, str):
            raise TypeError("content is not a string")
        raw_finish = choice.get("finish_reason")
        metadata: dict[str, Any] = {"raw_finish_reason": raw_finish}
        if data.get("id"):
            metadata["id"] = data["id"]
        if message.get("refusal"):
            metadata["refusal"] = message["refusal"]
        return ChatResponse(
            content=content,
            role=message.get("role") or "assistant",
            finish_reason=map_finish_reason(raw_finish) or "stop",
            usage=self._usage(data.get("usage")),
            model=data.get("model") or self.model,
            metadata=metadata,
        )

    def handle_stream_item(self, item: Any, state: StreamState) -> str | None:
        if not isinstance(item, ServerSentEvent):
            raise self.malformed("stream item", repr(item))
        if item.data.strip() == "[DONE]":
            state.done = True
            return None
        chunk = decode_json(item.data, provider=self.name, what="stream chunk")
        if not isinstance(chunk, dict):
            raise self.malformed("stream chunk", chunk)
        if "error" in chunk and not chunk.get("choices"):
            raise self.stream_error(chunk)
        if chunk.get("model"):
            state.model = chunk["model"]
        if chunk.get("id"):
            state.response_id = chunk["id"]
        raw_usage = chunk.get("usage")
        if isinstance(raw_usage, dict):
            state.usage = merge_usage(
                state.usage,
                raw_usage.get("prompt_tokens"),
                raw_usage.get("completion_tokens"),
                raw_usage.get("total_tokens"),
            )
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise self.malformed("stream chunk", chunk)
        text: list[str] = []
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise self.malformed("stream chunk", chunk)
            piece = delta.get("content")
            if isinstance(piece, str):
                text.append(piece)
            raw_finish = choice.get("finish_reason")
            if raw_finish is not None:
                state.raw_finish_reason = str(raw_finish)
                state.finish_reason = map_finish_reason(raw_finish)
        return "".join(text) or None


class OpenAIProvider(OpenAICompatibleProvider):
    """OpenAI (``api.openai.com``) or any server speaking its Chat Completions API.

    Example:
        >>> from luminora_nb.types import ProviderConfig
        >>> p = OpenAIProvider(ProviderConfig(name="openai", api_key="sk-demo",
        ...                                   extra={"max_tokens": 64}))
        >>> sorted(p.build_body(ChatRequest(messages=[]), stream=True))
        ['max_completion_tokens', 'messages', 'model', 'stream', 'stream_options']
    """

    name: ClassVar[str] = "openai"
    default_model: ClassVar[str] = "gpt-4o-mini"
    requires_api_key: ClassVar[bool] = True
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    max_tokens_field: ClassVar[str | None] = None
