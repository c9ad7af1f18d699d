"""luminora_nb: a Jupyter-first toolkit for designing, blending, chatting with and
analysing AI personalities, on a complete implementation of the LuminoraCore SDK API.

Example:
    >>> from luminora_nb import Luminora
    >>> with Luminora(log=None) as lum:
    ...     lum.blend_personalities(["aurora", "vex"], [7, 3], "aurora_vex").metadata["blend"]["weights"]
    {'aurora': 0.7, 'vex': 0.3}
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._kernel import enable_asyncio_run as _enable_asyncio_run
from .errors import (
    LuminoraError,
    PersonalityError,
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    SessionError,
    StorageError,
)

__version__ = "0.1.0"

# Public names resolved on first access, so `import luminora_nb` stays fast.
_LAZY: dict[str, str] = {
    "Luminora": "luminora_nb.sync",
    "ChatStream": "luminora_nb.sync",
    "LuminoraCoreClient": "luminora_nb.client",
    "LuminoraCoreClientV11": "luminora_nb.client_v11",
    "ChatMessage": "luminora_nb.types",
    "ChatResponse": "luminora_nb.types",
    "Conversation": "luminora_nb.types",
    "MemoryConfig": "luminora_nb.types",
    "Message": "luminora_nb.types",
    "MessageRole": "luminora_nb.types",
    "PersonaDefinition": "luminora_nb.types",
    "PersonalityBlend": "luminora_nb.types",
    "PersonalityData": "luminora_nb.types",
    "ProviderConfig": "luminora_nb.types",
    "SessionConfig": "luminora_nb.types",
    "SessionType": "luminora_nb.types",
    "StorageConfig": "luminora_nb.types",
    "StorageType": "luminora_nb.types",
    "EventBus": "luminora_nb.events",
    "register_provider": "luminora_nb.providers",
    "available_providers": "luminora_nb.providers",
    "import_card": "luminora_nb.personality.cards",
    "export_card": "luminora_nb.personality.cards",
}

__all__ = [
    "ChatMessage",
    "ChatResponse",
    "ChatStream",
    "Conversation",
    "EventBus",
    "Luminora",
    "LuminoraCoreClient",
    "LuminoraCoreClientV11",
    "LuminoraError",
    "MemoryConfig",
    "Message",
    "MessageRole",
    "PersonaDefinition",
    "PersonalityBlend",
    "PersonalityData",
    "PersonalityError",
    "ProviderAuthenticationError",
    "ProviderBadRequestError",
    "ProviderConfig",
    "ProviderError",
    "ProviderRateLimitError",
    "ProviderTimeoutError",
    "SessionConfig",
    "SessionError",
    "SessionType",
    "StorageConfig",
    "StorageError",
    "StorageType",
    "__version__",
    "available_providers",
    "export_card",
    "import_card",
    "register_provider",
]

if TYPE_CHECKING:
    from .client import LuminoraCoreClient
    from .client_v11 import LuminoraCoreClientV11
    from .events import EventBus
    from .personality.cards import export_card, import_card
    from .providers import available_providers, register_provider
    from .sync import ChatStream, Luminora
    from .types import (
        ChatMessage,
        ChatResponse,
        Conversation,
        MemoryConfig,
        Message,
        MessageRole,
        PersonaDefinition,
        PersonalityBlend,
        PersonalityData,
        ProviderConfig,
        SessionConfig,
        SessionType,
        StorageConfig,
        StorageType,
    )


def _lazy_exports(
    namespace: dict[str, Any], table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__`` for names imported on first access.

    ``table`` maps each lazy name to the module defining it; the value found is stored
    in ``namespace`` (the package's globals), so later lookups are plain attribute reads.
    ``__dir__`` lists the globals and ``namespace["__all__"]``. Used here and by
    :mod:`luminora_nb.widgets`.

    Example:
        >>> ns = {"__name__": "demo", "__all__": ["sqrt"]}
        >>> getattr_, dir_ = _lazy_exports(ns, {"sqrt": "math"})
        >>> getattr_("sqrt")(9.0), "sqrt" in ns, dir_()
        (3.0, True, ['__all__', '__name__', 'sqrt'])
        >>> getattr_("cbrt")
        Traceback (most recent call last):
        AttributeError: module 'demo' has no attribute 'cbrt'
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace["__all__"]))

    return __getattr__, __dir__


__getattr__, __dir__ = _lazy_exports(globals(), _LAZY)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext luminora_nb``: registers the ``%%luminora`` magics (:mod:`luminora_nb.magics`)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext luminora_nb``: closes the magics' facade and removes the magics."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)


# In the main thread of a running Jupyter kernel, let the reference's
# `asyncio.run(example())` work in a cell; a no-op anywhere else (see luminora_nb._kernel).
_enable_asyncio_run()
