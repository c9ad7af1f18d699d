"""The provider protocol every adapter implements.

A provider turns a :class:`ChatRequest` (system prompt + conversation) into a
:class:`~luminora_nb.types.ChatResponse`, whole or streamed in chunks. Adapters do
their own network I/O; nothing above this layer knows a vendor's wire format.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import Field

from ..types._base import Model
from ..types.persona import PersonaDefinition
from ..types.provider import ChatMessage, ChatResponse, ProviderConfig

__all__ = ["GENERATION_PARAMETERS", "ChatRequest", "Provider"]

# Generation parameters accepted in ProviderConfig.extra and per call; each adapter maps
# them to its vendor's own names.
GENERATION_PARAMETERS: tuple[str, ...] = ("temperature", "max_tokens", "top_p", "stop")


class ChatRequest(Model):
    """What a provider is asked: the compiled system prompt and the conversation.

    ``persona`` and ``context`` are for simulators (the offline provider) that need the
    structured persona rather than its prompt text; HTTP adapters ignore them.
    """

    system: str | None = None
    messages: list[ChatMessage]
    persona: PersonaDefinition | None = None
    persona_name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)


class Provider(abc.ABC):
    """Base class of provider adapters.

    Subclasses set ``name``, ``default_model`` and ``requires_api_key`` and implement
    :meth:`chat` and :meth:`stream`. The constructor must fail with a
    :class:`~luminora_nb.errors.ProviderError` when the configuration cannot work
    (for example a missing API key), so sessions fail at creation, not at the first
    message.
    """

    name: ClassVar[str] = ""
    default_model: ClassVar[str] = ""
    requires_api_key: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @property
    def model(self) -> str:
        """The model this provider asks for."""
        return self.config.model or self.default_model

    def generation_params(self, request: ChatRequest) -> dict[str, Any]:
        """Generation parameters from the config's ``extra``, overridden per call."""
        extra = self.config.extra or {}
        params = {k: extra[k] for k in GENERATION_PARAMETERS if extra.get(k) is not None}
        params.update(
            {k: v for k, v in request.params.items() if k in GENERATION_PARAMETERS and v is not None}
        )
        return params

    @abc.abstractmethod
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Answer ``request`` with one complete response."""

    @abc.abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[ChatResponse]:
        """Answer ``request`` in chunks; the last chunk has ``finish_reason`` and ``usage``."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most adapters override it
        """Release connections. Safe to call more than once."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} model={self.model!r}>"
