"""OpenAI Chat Completions adapter (also the base of OpenAI-compatible servers).

Wire format (``POST {base_url}/chat/completions``, ``Authorization: Bearer <key>``; the
API is unversioned beyond ``/v1``):

* request: ``model``, ``messages`` (the system prompt is the first message, role
  ``system``), ``temperature``, ``top_p``, ``stop`` and the token limit — sent as
  ``max_completion_tokens`` to every OpenAI host (``api.openai.com`` and the regional
  and mTLS hosts such as ``eu.api.openai.com``: any ``*.openai.com``), where
  ``max_tokens`` is deprecated and refused by reasoning models, and as ``max_tokens`` to
  any other base URL, which is what OpenAI-compatible servers accept;
* reply: ``choices[0].message.content``, ``choices[0].finish_reason`` (``stop``,
  ``length``, ``content_filter``, ``tool_calls``, ``function_call``) and ``usage``;
* stream: SSE ``data:`` chunks with ``choices[0].delta.content``, ended by
  ``data: [DONE]``. ``stream_options: {"include_usage": true}`` asks for a last chunk
  with ``usage`` and empty ``choices``; set ``extra={"stream_usage": False}`` for servers
  that reject it.

**Refusals.** A model that declines answers with ``message.refusal`` (streamed:
``delta.refusal``) and ``content: null``, and ``finish_reason`` ``stop``. The refusal is
what the user must see, so it *is* the reply text, the finish reason is
``content_filter`` (the vendor's own value stays in ``metadata["raw_finish_reason"]``)
and ``metadata["refusal"]`` holds the refusal text: the same in plain and streamed calls.

**Content chunks.** ``content`` may be a list of typed chunks instead of a string
(Mistral's reasoning models: ``[{"type": "thinking", ...}, {"type": "text", ...}]``, in
whole messages and in deltas): text chunks are the reply, thinking chunks go to
``metadata["thinking"]`` (:func:`~._normalise.chunk_text`).

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
from ._normalise import FinishReasons, chunk_text, merge_usage, usage_dict, vendor_params
from ._sse import ServerSentEvent
from .base import ChatRequest

__all__ = ["OPENAI_FINISH_REASONS", "OpenAICompatibleProvider", "OpenAIProvider", "is_openai_host"]

#: ``finish_reason`` values of the Chat Completions format, with Mistral's extra values
#: (``model_length``, ``error``) and the llama.cpp / vLLM spellings seen in the wild
#: (``abort``, ``eos``).
OPENAI_FINISH_REASONS = FinishReasons(
    stop="stop eos",
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
        return "max_completion_tokens" if is_openai_host(host) else "max_tokens"

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
        # Mistral may answer with ``messages`` (a list of message deltas) instead of ``message``.
        message = choice.get("message")
        messages = [message] if message is not None else choice["messages"]
        raw_finish = choice.get("finish_reason")
        metadata: dict[str, Any] = {"raw_finish_reason": raw_finish}
        if data.get("id"):
            metadata["id"] = data["id"]
        texts: list[str] = []
        thinking: list[str] = []
        refusals: list[str] = []
        for item in messages:
            text, thought = chunk_text(item.get("content"))
            texts.append(text)
            thinking.append(thought)
            refusal = item.get("refusal")
            if refusal:
                refusals.append(str(refusal))
        finish = self.finish_reasons(raw_finish) or "stop"
        if refusals:
            # A refusal is what the user must see: it is the reply, filtered.
            metadata["refusal"] = "".join(refusals)
            texts.extend(refusals)
            finish = "content_filter"
        if any(thinking):
            metadata["thinking"] = "".join(thinking)
        return self.response(
            "".join(texts),
            role=messages[0].get("role") if messages else None,
            finish_reason=finish,
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
            elif piece is not None:
                try:
                    piece, thought = chunk_text(piece)
                except TypeError:
                    raise self.malformed("stream chunk", chunk) from None
                text.append(piece)
                if thought:
                    state.thinking.append(thought)
            refusal = delta.get("refusal")
            if refusal:
                if not isinstance(refusal, str):
                    raise self.malformed("stream chunk", chunk)
                text.append(refusal)
                state.extra["refusal"] = state.extra.get("refusal", "") + refusal
            if choice.get("finish_reason") is not None:
                self.set_finish(state, choice["finish_reason"])
        if state.finish_reason is not None and "refusal" in state.extra:
            state.finish_reason = "content_filter"
        return "".join(text) or None


def is_openai_host(host: str) -> bool:
    """Whether ``host`` is one of OpenAI's own API hosts (``api.openai.com``, the regional
    ``eu.``/``us.``/``jp.api.openai.com``, ``mtls.api.openai.com``, ...).

    Example:
        >>> is_openai_host("eu.api.openai.com"), is_openai_host("api.openai.com.evil.test")
        (True, False)
    """
    host = host.lower().rstrip(".")
    return host == "openai.com" or host.endswith(".openai.com")


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
