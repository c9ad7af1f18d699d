"""Notebook widgets: blend personas with sliders, chat with streaming replies, compare blends.

Each widget takes a :class:`~luminora_nb.sync.Luminora` facade first and runs its work
on the facade's loop thread, so the kernel stays free. Importing this package needs the
``notebook`` extra (ipywidgets, anywidget).

Example:
    >>> from luminora_nb import Luminora
    >>> from luminora_nb.widgets import ChatWidget
    >>> with Luminora(log=None) as lum:
    ...     chat = ChatWidget(lum, personality="aurora")
    ...     chat.send("Hello!")
    ...     chat.wait()
    ...     [m["role"] for m in chat.messages]
    ['user', 'assistant']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["BlendStudio", "ChatWidget", "CompareGrid", "LuminoraWidget"]

_LAZY = {
    "BlendStudio": "luminora_nb.widgets.blend_studio",
    "ChatWidget": "luminora_nb.widgets.chat",
    "CompareGrid": "luminora_nb.widgets.compare_grid",
    "LuminoraWidget": "luminora_nb.widgets._base",
}

if TYPE_CHECKING:
    from ._base import LuminoraWidget
    from .blend_studio import BlendStudio
    from .chat import ChatWidget
    from .compare_grid import CompareGrid


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'luminora_nb.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
