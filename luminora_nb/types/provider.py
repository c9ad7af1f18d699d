"""Provider-side models: ``ProviderConfig``, ``ChatMessage``, ``ChatResponse``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_serializer, field_validator

from ..errors import ProviderError
from ._base import (
    Coercible,
    Coercion,
    DisplayedModel,
    Model,
    SecretHoldingModel,
    mask_secrets,
    redact_url,
    scrub_secrets,
)

__all__ = ["ChatMessage", "ChatResponse", "FinishReason", "ProviderConfig", "Usage"]

# "stopped": the user stopped a stream; the partial reply was kept.
FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "error", "stopped"]


class ProviderConfig(Coercible, SecretHoldingModel):
    """Which LLM provider a session talks to, and how.

    The API key is held in memory only: it is excluded from ``model_dump`` /
    ``model_dump_json`` and hidden from ``repr``, so it cannot reach storage, logs or
    snapshots. Keys in ``extra`` that look like credentials are dropped the same way.

    Example:
        >>> cfg = ProviderConfig(name="openai", api_key="sk-123", model="gpt-4o-mini")
        >>> "sk-123" in repr(cfg) or "sk-123" in cfg.model_dump_json()
        False
        >>> ProviderConfig.coerce("openai").name, ProviderConfig.coerce({"name": "llama"}).name
        ('openai', 'llama')
    """

    coercion: ClassVar[Coercion] = Coercion(
        "provider_config", "a ProviderConfig, a dict or a provider name", ProviderError, text_field="name"
    )

    name: str = Field(default="offline", min_length=1, description="Provider name, e.g. 'openai'.")
    api_key: str | None = Field(default=None, exclude=True, repr=False, description="API key (never stored).")
    model: str | None = Field(default=None, description="Model name; each provider has a default.")
    base_url: str | None = Field(default=None, description="Base URL overriding the provider's default.")
    extra: dict[str, Any] | None = Field(
        default=None, description="timeout, max_retries, and generation parameters."
    )

    @field_validator("name")
    @classmethod
    def _normalise_name(cls, value: str) -> str:
        return value.strip().lower()

    @field_serializer("base_url")
    def _serialise_base_url(self, base_url: str | None) -> str | None:
        # A proxy URL may carry credentials (user info, ?key=...): they never leave memory.
        return None if base_url is None else redact_url(base_url)

    @field_serializer("extra")
    def _serialise_extra(self, extra: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if extra is None else scrub_secrets(extra)

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            if key == "extra":
                value = mask_secrets(value)
            elif key == "base_url" and isinstance(value, str):
                value = redact_url(value)
            yield key, value

    @property
    def has_api_key(self) -> bool:
        """Whether a key was given explicitly (environment variables are read by the adapter)."""
        return bool(self.api_key)


class ChatMessage(Model):
    """One message sent to a provider.

    Example:
        >>> ChatMessage(role="user", content="Hello!").role
        'user'
    """

    role: Literal["system", "user", "assistant"]
    content: str
    name: str | None = None


class Usage(Model):
    """Token counts of one provider call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatResponse(DisplayedModel):
    """A provider's reply, or one streamed chunk of it.

    When streaming, each chunk's ``content`` is the new text only; the concatenation of
    all chunks is the full reply, and the last chunk carries ``finish_reason`` and
    ``usage``.

    Example:
        >>> r = ChatResponse(content="Hi!", role="assistant", finish_reason="stop",
        ...                  usage={"prompt_tokens": 10, "completion_tokens": 20}, model="m")
        >>> r.usage["total_tokens"]
        30
    """

    content: str = ""
    role: str = "assistant"
    finish_reason: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    model: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("usage")
    @classmethod
    def _complete_usage(cls, usage: dict[str, int]) -> dict[str, int]:
        if usage and "total_tokens" not in usage:
            usage = {
                **usage,
                "total_tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
            }
        return usage

    _display_as: ClassVar[str] = "chat_response"
