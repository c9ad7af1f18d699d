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
from ._http import HTTPProvider, StreamState
from ._normalise import FinishReasons, merge_usage, usage_dict, vendor_params
from ._sse import ServerSentEvent
from .base import ChatRequest

__all__ = ["OPENAI_FINISH_REASONS", "OpenAICompatibleProvider", "OpenAIProvider"]

#: ``finish_reason`` values of the Chat Completions format, with Mistral's extra values
#: (``model_length``, ``error``) and the llama.cpp / vLLM spellings seen in the wild
#: (``abort``; ``eos`` means ``stop``, like every value not listed).
OPENAI_FINISH_REASONS = FinishReasons(
    length="length model_length",
    content_filter="content_filter",
    tool_calls="tool_calls function_call",
    error="error abort",
)


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
    finish_reasons = OPENAI_FINISH_REASONS

    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        return self.chat_path, {}

    def _max_tokens_field(self) -> str:
        if self.max_tokens_field is not None:
            return self.max_tokens_field
        host = httpx.URL(self.base_url).host
        return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"

    def message_wire(self, role: str, content: str, name: str | None) -> dict[str, Any]:
        if self.send_names and name:
            return {"role": role, "content": content, "name": name}
        return {"role": role, "content": content}

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body = self.messages_body(request, stream=stream)
        params = self.generation_params(request)
        if params:
            names = {"temperature": "temperature", "top_p": "top_p", "max_tokens": self._max_tokens_field()}
            body.update(vendor_params(params, {**names, "stop": "stop"}))
        if stream and self.send_stream_options and (self.config.extra or {}).get("stream_usage", True):
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
        raw_finish = choice.get("finish_reason")
        metadata: dict[str, Any] = {"raw_finish_reason": raw_finish}
        if data.get("id"):
            metadata["id"] = data["id"]
        if message.get("refusal"):
            metadata["refusal"] = message["refusal"]
        return self.response(
            message.get("content") or "",
            role=message.get("role"),
            finish_reason=self.finish_reasons(raw_finish) or "stop",
            usage=self._usage(data.get("usage")),
            model=data.get("model"),
            metadata=metadata,
        )

    def handle_stream_item(self, item: Any, state: StreamState) -> str | None:
        if isinstance(item, ServerSentEvent) and item.data.strip() == "[DONE]":
            state.done = True
            return None
        chunk = self.event_json(item, "stream chunk")
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
            if choice.get("finish_reason") is not None:
                self.set_finish(state, choice["finish_reason"])
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
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    max_tokens_field: ClassVar[str | None] = None
