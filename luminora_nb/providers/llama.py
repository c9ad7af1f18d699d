"""Local models: Ollama's native API, or any OpenAI-compatible server.

Two wire formats, chosen per configuration:

``api="ollama"`` (the default): ``POST {base_url}/api/chat`` on ``http://localhost:11434``
    Request ``model``, ``messages`` (system prompt first, role ``system``), ``stream``
    (always sent: Ollama streams unless told otherwise) and ``options`` with
    ``temperature``, ``top_p``, ``num_predict`` (max tokens) and ``stop``. The reply has
    ``message.content`` (``message.thinking``, from thinking models, goes to
    ``metadata["thinking"]``), ``done_reason`` (``length`` -> ``length``; ``stop``,
    ``load``, ``unload`` -> ``stop``), ``prompt_eval_count`` and ``eval_count``; streamed
    replies are NDJSON lines, the last with ``done: true``. Errors are ``{"error": "..."}``.

``api="openai"``: ``POST {base_url}/chat/completions`` with the OpenAI format and SSE
    For llama.cpp's server, llama-cpp-python (``python -m llama_cpp.server``), vLLM, LM
    Studio, or Ollama's own ``/v1`` endpoint. The token limit is sent as ``max_tokens``
    and usage is requested with ``stream_options`` (``extra={"stream_usage": False}``
    turns that off for servers that reject it).

How the switch works: ``extra={"api": "openai"}`` or ``extra={"api": "ollama"}`` decides
explicitly; otherwise a ``base_url`` whose path ends in ``/v1`` (for example
``http://127.0.0.1:8000/v1``) selects the OpenAI-compatible API and anything else
Ollama. With ``api="openai"`` and a base URL without ``/v1``, requests go to
``{base_url}/v1/chat/completions``.

No API key is needed; if ``api_key`` is given it is sent as ``Authorization: Bearer``
(vLLM ``--api-key``, llama.cpp ``--api-key``). Default model: ``llama3.2`` (servers that
host a single model, like llama-cpp-python, accept any name).

Example:
    >>> from luminora_nb.types import ProviderConfig
    >>> LlamaProvider(ProviderConfig(name="llama")).api
    'ollama'
    >>> p = LlamaProvider(ProviderConfig(name="llama", base_url="http://127.0.0.1:8000/v1"))
    >>> p.api, p.url(p.endpoint(stream=False)[0])
    ('openai', 'http://127.0.0.1:8000/v1/chat/completions')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx

from ..errors import ProviderError
from ..types.provider import ChatResponse, ProviderConfig
from ._http import StreamFormat, StreamState, merge_split_options
from ._normalise import FinishReasons, merge_usage, usage_dict, vendor_params
from .base import ChatRequest
from .openai import OpenAICompatibleProvider

# Ollama request fields beside ``options`` (unmodelled options go inside it otherwise).
_OLLAMA_TOP_LEVEL = frozenset({"format", "keep_alive", "think", "tools"})

__all__ = ["OLLAMA_FINISH_REASONS", "LlamaProvider"]

#: Ollama's ``done_reason`` values.
OLLAMA_FINISH_REASONS = FinishReasons(stop="stop load unload", length="length")


class LlamaProvider(OpenAICompatibleProvider):
    """Local models through Ollama, or through an OpenAI-compatible server."""

    name: ClassVar[str] = "llama"
    default_model: ClassVar[str] = "llama3.2"
    requires_api_key: ClassVar[bool] = False
    default_base_url: ClassVar[str] = "http://localhost:11434"
    max_tokens_field: ClassVar[str | None] = "max_tokens"

    def __init__(self, config: ProviderConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config, transport=transport)
        api = (config.extra or {}).get("api")
        if api is None:
            path = httpx.URL(self.base_url).path.rstrip("/")
            api = "openai" if path.endswith("/v1") else "ollama"
        if api not in ("ollama", "openai"):
            raise ProviderError(
                f"llama: extra['api'] must be 'ollama' (native /api/chat) or 'openai' "
                f"(OpenAI-compatible /v1/chat/completions), got {api!r}",
                provider=self.name,
            )
        self.api: Literal["ollama", "openai"] = "openai" if api == "openai" else "ollama"
        if self.api == "ollama":
            self.finish_reasons = OLLAMA_FINISH_REASONS

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} model={self.model!r} api={self.api!r}>"

    def stream_format(self) -> StreamFormat:
        return "ndjson" if self.api == "ollama" else "sse"

    def endpoint(self, *, stream: bool) -> tuple[str, dict[str, str]]:
        if self.api == "openai":
            return "/v1/chat/completions", {}
        return "/api/chat", {}

    def message_wire(self, role: str, content: str, name: str | None) -> dict[str, Any]:
        if self.api == "openai":
            return super().message_wire(role, content, name)
        return {"role": role, "content": content}

    def build_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        if self.api == "openai":
            return super().build_body(request, stream=stream)
        body = self.messages_body(request, stream=stream)
        names = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "num_predict", "stop": "stop"}
        options = vendor_params(self.generation_params(request), names)
        if options:
            body["options"] = options
        return body

    def with_extra(self, body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        """OpenAI-compatible servers: top-level fields. Ollama: ``options`` (``seed``,
        ``num_ctx``, ``repeat_penalty``, ...), except its top-level ``format``,
        ``keep_alive``, ``think`` and ``tools``."""
        if self.api == "openai":
            return super().with_extra(body, extra)
        return merge_split_options(self, body, extra, top_level=_OLLAMA_TOP_LEVEL, nested="options")

    def parse_reply(self, data: Any) -> ChatResponse:
        if self.api == "openai":
            return super().parse_reply(data)
        if "error" in data and "message" not in data:
            raise self.stream_error(data, retryable=False)
        message = data["message"]
        raw_finish = data.get("done_reason")
        metadata: dict[str, Any] = {"raw_finish_reason": raw_finish}
        if message.get("thinking"):
            metadata["thinking"] = str(message["thinking"])
        return self.response(
            message.get("content") or "",
            role=message.get("role"),
            finish_reason=self.finish_reasons(raw_finish) or "stop",
            usage=usage_dict(data.get("prompt_eval_count"), data.get("eval_count")),
            model=data.get("model"),
            metadata=metadata,
        )

    def handle_stream_item(self, item: Any, state: StreamState) -> str | None:
        if self.api == "openai":
            return super().handle_stream_item(item, state)
        if not isinstance(item, dict):
            raise self.malformed("stream line", item)
        if "error" in item:
            raise self.stream_error(item)
        if item.get("model"):
            state.model = item["model"]
        message = item.get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        if text is not None and not isinstance(text, str):
            raise self.malformed("stream line", item)
        thinking = message.get("thinking") if isinstance(message, dict) else None
        if isinstance(thinking, str) and thinking:
            state.thinking.append(thinking)
        if item.get("done"):
            self.set_finish(state, item.get("done_reason"))
            # Ollama leaves prompt_eval_count out when the prompt was cached.
            state.usage = merge_usage(state.usage, item.get("prompt_eval_count"), item.get("eval_count"))
            state.done = True
        return text or None
