"""Name -> provider adapter. Built-in adapters load lazily; users can add their own.

``create_provider(config, transport=...)`` hands an ``httpx`` transport to an HTTP
adapter (``httpx.MockTransport`` in tests; see :mod:`luminora_nb.providers._http`); the
transport is an argument, never part of the configuration, which is saved with sessions.

Example:
    >>> from luminora_nb.providers import available_providers
    >>> "offline" in available_providers()
    True
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from ..errors import ProviderError
from ..types.provider import ProviderConfig
from .base import Provider

__all__ = ["ProviderFactory", "available_providers", "create_provider", "register_provider"]

ProviderFactory = Callable[[ProviderConfig], Provider]

# module:class of the built-in adapters, imported on first use to keep start-up fast.
_BUILTIN: dict[str, str] = {
    "offline": "luminora_nb.providers.offline:OfflineProvider",
    "openai": "luminora_nb.providers.openai:OpenAIProvider",
    "anthropic": "luminora_nb.providers.anthropic:AnthropicProvider",
    "mistral": "luminora_nb.providers.mistral:MistralProvider",
    "cohere": "luminora_nb.providers.cohere:CohereProvider",
    "google": "luminora_nb.providers.google:GoogleProvider",
    "llama": "luminora_nb.providers.llama:LlamaProvider",
}
_custom: dict[str, ProviderFactory] = {}


def register_provider(name: str, factory: ProviderFactory, *, replace: bool = False) -> None:
    """Make ``ProviderConfig(name=name)`` use ``factory`` (a Provider subclass or callable).

    Raises:
        ProviderError: ``name`` is taken and ``replace`` is false.
    """
    key = name.strip().lower()
    if not key:
        raise ProviderError("provider name must not be empty")
    if not replace and (key in _custom or key in _BUILTIN):
        raise ProviderError(f"provider {key!r} is already registered; pass replace=True to override it")
    _custom[key] = factory


def available_providers() -> list[str]:
    """Names that ``create_provider`` accepts, sorted."""
    return sorted(set(_BUILTIN) | set(_custom))


def _load_builtin(name: str) -> ProviderFactory:
    module_name, _, class_name = _BUILTIN[name].partition(":")
    module = importlib.import_module(module_name)
    factory: ProviderFactory = getattr(module, class_name)
    return factory


def _accepts_transport(factory: ProviderFactory) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "transport" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def create_provider(config: ProviderConfig, *, transport: Any = None) -> Provider:
    """Build the adapter for ``config``.

    Args:
        config: Which provider, model, base URL, key and options.
        transport: An ``httpx.AsyncBaseTransport`` for an HTTP adapter to send every
            request through (e.g. ``httpx.MockTransport``); None for real connections.

    Raises:
        ProviderError: unknown name (the message lists the supported ones), a
            configuration the adapter rejects, such as a missing API key, or a transport
            given to an adapter that takes none.

    Example:
        >>> import httpx
        >>> mock = httpx.MockTransport(lambda request: httpx.Response(500))
        >>> create_provider(ProviderConfig(name="llama"), transport=mock).name
        'llama'
    """
    name = config.name
    if name in _custom:
        factory = _custom[name]
    elif name in _BUILTIN:
        factory = _load_builtin(name)
    else:
        raise ProviderError(
            f"unknown provider {name!r}; supported providers: {', '.join(available_providers())} "
            "(or add your own with register_provider)",
            provider=name,
        )
    if transport is None:
        return factory(config)
    if not _accepts_transport(factory):
        raise ProviderError(
            f"provider {name!r} takes no transport (only the HTTP adapters do)", provider=name
        )
    provider: Provider = factory(config, transport=transport)  # type: ignore[call-arg]
    return provider
