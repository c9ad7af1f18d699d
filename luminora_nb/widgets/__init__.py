"""Notebook widgets: blend personas, chat with streaming replies, compare blends, inspect memory.

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

from typing import TYPE_CHECKING

from .. import _lazy_exports

__all__ = [
    "AffinityInspector",
    "BlendStudio",
    "ChatWidget",
    "CompareGrid",
    "LuminoraWidget",
    "MemoryInspector",
]

_LAZY = {
    "AffinityInspector": "luminora_nb.widgets.affinity_inspector",
    "BlendStudio": "luminora_nb.widgets.blend_studio",
    "ChatWidget": "luminora_nb.widgets.chat",
    "CompareGrid": "luminora_nb.widgets.compare_grid",
    "LuminoraWidget": "luminora_nb.widgets._base",
    "MemoryInspector": "luminora_nb.widgets.memory_inspector",
}

if TYPE_CHECKING:
    from ._base import LuminoraWidget
    from .affinity_inspector import AffinityInspector
    from .blend_studio import BlendStudio
    from .chat import ChatWidget
    from .compare_grid import CompareGrid
    from .memory_inspector import MemoryInspector

__getattr__, __dir__ = _lazy_exports(globals(), _LAZY)
