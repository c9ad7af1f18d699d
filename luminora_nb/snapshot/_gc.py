"""Pausing the cyclic garbage collector while a snapshot is built or written, or a log flushed.

A snapshot of a large user allocates hundreds of thousands of small dicts and models
that all stay alive until the end, so each automatic collection the allocations trigger
walks an ever larger heap and frees nothing: measured on the benchmark user (10,000
facts, 5,000 episodes, 50,000 messages) it was two thirds of the import's time. The
session log's flush (:mod:`luminora_nb.sessionlog._writer`) is the same case: turning
100,000 buffered events into columns allocates millions of objects, and without the
pause the collector walks every buffered event again and again (half the time of a
flush). The pause is process-wide and lasts one export, import or flush; a collection
runs afterwards only if the collector was enabled before (a caller that disabled it
keeps it disabled).

Example:
    >>> import gc
    >>> with gc_paused():
    ...     gc.isenabled()
    False
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable automatic garbage collection inside the block (restored after it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
