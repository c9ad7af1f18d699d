"""Mistral AI chat completions adapter.

Wire format (``POST {base_url}/chat/completions``, ``Authorization: Bearer <key>``): the
OpenAI-style body (``model``, ``messages`` with the system prompt as the first message,
``temperature``, ``top_p``, ``max_tokens``, ``stop``) and replies with
``choices[0].message.content``, ``finish_reason`` (``stop``, ``length``,
``model_length``, ``error``, ``tool_calls``) and ``usage``. Streaming is SSE like
OpenAI's, ended by ``data: [DONE]``; Mistral puts ``usage`` in the chunk that carries the
``finish_reason`` and rejects unknown fields, so no ``stream_options`` are sent.

Reasoning models (Magistral) answer with ``content`` as a list of chunks, in whole
messages and in stream deltas alike::

    "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me see..."}]},
                {"type": "text", "text": "Hello!"}]

The ``text`` chunks are the reply; the ``thinking`` chunks never reach it and are kept in
``metadata["thinking"]`` (other chunk types, such as references, are neither). A plain
string ``content`` is read as before. A reply whose choice carries ``messages`` (a list
of message deltas) instead of ``message`` is read as their concatenation.

Defaults: base URL ``https://api.mistral.ai/v1``, model ``mistral-small-latest``, key
from ``MISTRAL_API_KEY``.

Example:
    >>> from luminora_nb.providers import ChatRequest
    >>> from luminora_nb.types import ProviderConfig
    >>> p = MistralProvider(ProviderConfig(name="mistral", api_key="demo", extra={"max_tokens": 9}))
    >>> p.build_body(ChatRequest(messages=[]), stream=True)["max_tokens"]
    9
"""

from __future__ import annotations

from typing import ClassVar

from .openai import OpenAICompatibleProvider

__all__ = ["MistralProvider"]


class MistralProvider(OpenAICompatibleProvider):
    """Mistral models through ``api.mistral.ai``."""

    name: ClassVar[str] = "mistral"
    default_model: ClassVar[str] = "mistral-small-latest"
    default_base_url: ClassVar[str] = "https://api.mistral.ai/v1"
    api_key_env_vars: ClassVar[tuple[str, ...]] = ("MISTRAL_API_KEY",)
    max_tokens_field: ClassVar[str | None] = "max_tokens"
    send_stream_options: ClassVar[bool] = False
    send_names: ClassVar[bool] = False
