"""The provider protocol every adapter implements, and the checks every adapter shares.

A provider turns a :class:`ChatRequest` (system prompt + conversation) into a
:class:`~luminora_nb.types.ChatResponse`, whole or streamed in chunks. Adapters do
their own network I/O; nothing above this layer knows a vendor's wire format.

Generation parameters (``temperature``, ``max_tokens``, ``top_p``, ``stop``) come from
``ProviderConfig.extra`` and, per call, from ``ChatRequest.params``.
:meth:`Provider.generation_params` merges them and checks them with
:func:`check_generation_params` — the same types and ranges for every adapter, HTTP or
simulated — so a bad value fails here, as a
:class:`~luminora_nb.errors.ProviderBadRequestError` naming the parameter, instead of as
a vendor's 400 (or not at all). Ranges are the widest any vendor accepts (temperature
0-2, top_p 0-1); a vendor with a narrower range still answers 400 for what it refuses.

Example:
    >>> check_generation_params({"temperature": 0.2, "stop": "END"}, provider="openai")
    {'temperature': 0.2, 'stop': ['END']}
"""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from pydantic import Field

from ..errors import ProviderBadRequestError
from ..types._base import Model
from ..types.persona import PersonaDefinition
from ..types.provider import ChatMessage, ChatResponse, ProviderConfig

__all__ = ["GENERATION_PARAMETERS", "ChatRequest", "Provider", "check_generation_params"]

# Generation parameters accepted in ProviderConfig.extra and per call; each adapter maps
# them to its vendor's own names.
GENERATION_PARAMETERS: tuple[str, ...] = ("temperature", "max_tokens", "top_p", "stop")

#: Inclusive ranges of the numeric parameters.
_RANGES: dict[str, tuple[float, float]] = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


def _bad(provider: str, message: str) -> ProviderBadRequestError:
    return ProviderBadRequestError(f"{provider}: {message}", provider=provider)


def check_generation_params(params: Mapping[str, Any], *, provider: str) -> dict[str, Any]:
    """``params`` checked, with ``None`` values left out and ``stop`` as a list of strings.

    * ``temperature``: a finite number from 0 to 2; ``top_p``: a finite number from 0 to 1
      (numbers are returned as given: an int stays an int);
    * ``max_tokens``: a positive integer (not a bool);
    * ``stop``: a string or a list/tuple of strings; empty strings are dropped and an
      empty result leaves ``stop`` out.

    Raises:
        ProviderBadRequestError: a value of the wrong type or out of range, or a name
            that is not a generation parameter; the message names it and the value.

    Example:
        >>> check_generation_params({"max_tokens": 64, "top_p": None, "stop": ["", "###"]},
        ...                         provider="cohere")
        {'max_tokens': 64, 'stop': ['###']}
        >>> check_generation_params({"temperature": 3}, provider="openai")
        Traceback (most recent call last):
        ...
        luminora_nb.errors.ProviderBadRequestError: openai: temperature must lie between 0 and 2, got 3
    """
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if name in _RANGES:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise _bad(provider, f"{name} must be a finite number, got {value!r}")
            low, high = _RANGES[name]
            if not low <= value <= high:
                raise _bad(provider, f"{name} must lie between {low:g} and {high:g}, got {value!r}")
            checked[name] = value
        elif name == "max_tokens":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _bad(provider, f"max_tokens must be a positive integer, got {value!r}")
            checked[name] = value
        elif name == "stop":
            if isinstance(value, str):
                stops = [value]
            elif isinstance(value, list | tuple) and all(isinstance(s, str) for s in value):
                stops = list(value)
            else:
                raise _bad(provider, f"stop must be a string or a list of strings, got {value!r}")
            stops = [s for s in stops if s]
            if stops:
                checked[name] = stops
        else:
            raise _bad(
                provider, f"unknown generation parameter {name!r}; known: {', '.join(GENERATION_PARAMETERS)}"
            )
    return checked


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
    extra: dict[str, Any] = Field(default_factory=dict)
    """Provider options we do not model (``seed``, ``response_format``, ...), sent as given."""
    context: dict[str, Any] = Field(default_factory=dict)


class Provider(abc.ABC):
    """Base class of provider adapters.

    Subclasses set ``name``, ``default_model`` and ``requires_api_key`` and implement
    :meth:`chat` and :meth:`stream`. The constructor must fail with a
    :class:`~luminora_nb.errors.ProviderError` when the configuration cannot work
    (for example a missing API key or a bad generation parameter in ``extra``: see
    :meth:`config_params`), so sessions fail at creation, not at the first message.
    """

    name: ClassVar[str] = ""
    default_model: ClassVar[str] = ""
    requires_api_key: ClassVar[bool] = False
    #: Whether ``send_message`` options beyond the modelled ones reach this provider
    #: (``ChatRequest.extra``); providers that take none refuse them with the list of
    #: accepted options.
    accepts_extra_options: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @property
    def model(self) -> str:
        """The model this provider asks for."""
        return self.config.model or self.default_model

    def config_params(self) -> dict[str, Any]:
        """The generation parameters of the config's ``extra``, checked.

        Call it from the constructor to reject a bad configuration at once.

        Raises:
            ProviderBadRequestError: see :func:`check_generation_params`.
        """
        extra = self.config.extra or {}
        return check_generation_params(
            {k: extra[k] for k in GENERATION_PARAMETERS if k in extra}, provider=self.name
        )

    def generation_params(self, request: ChatRequest) -> dict[str, Any]:
        """Generation parameters from the config's ``extra``, overridden per call, checked.

        Raises:
            ProviderBadRequestError: see :func:`check_generation_params`.

        Example:
            >>> class Echo(Provider):
            ...     name = "echo"
            ...     async def chat(self, request): ...
            ...     def stream(self, request): ...
            >>> p = Echo(ProviderConfig(name="echo", extra={"temperature": 0.5, "stop": "END"}))
            >>> p.generation_params(ChatRequest(messages=[], params={"temperature": 0.9}))
            {'temperature': 0.9, 'stop': ['END']}
        """
        extra = self.config.extra or {}
        params = {k: extra[k] for k in GENERATION_PARAMETERS if extra.get(k) is not None}
        if request.params:
            params.update(
                {k: v for k, v in request.params.items() if k in GENERATION_PARAMETERS and v is not None}
            )
        return check_generation_params(params, provider=self.name) if params else params

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
