"""An async lock that does not belong to one event loop.

``asyncio.Lock`` binds to the loop it is first contended on, and excludes tasks of
that loop only. A client is used from several loops in practice: successive
``asyncio.run`` calls in a script or notebook, a facade's loop and a kernel's loop, two
threads each running a loop. :class:`LoopFreeLock` works from any of them and excludes
holders across all of them: its state is a :class:`threading.Lock`, and waiters (in
any loop) queue in arrival order and are woken in their own loop with
``call_soon_threadsafe``. Uncontended, acquiring it costs a non-blocking
``threading.Lock.acquire``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from typing import Any

__all__ = ["LoopFreeLock"]


class LoopFreeLock:
    """A FIFO async lock usable from any event loop and any thread.

    Example:
        >>> import asyncio
        >>> lock = LoopFreeLock()
        >>> async def hold():
        ...     async with lock:
        ...         return lock.locked()
        >>> asyncio.run(hold()), asyncio.run(hold()), lock.locked()
        (True, True, False)
    """

    def __init__(self) -> None:
        self._held = threading.Lock()
        self._guard = threading.Lock()  # protects _waiters
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    def __repr__(self) -> str:
        state = "locked" if self.locked() else "unlocked"
        return f"<LoopFreeLock {state} waiters={len(self._waiters)}>"

    def locked(self) -> bool:
        """Whether someone holds the lock."""
        return self._held.locked()

    async def acquire(self) -> bool:
        """Wait until the lock is free and take it (waiters are served in arrival order)."""
        with self._guard:
            if not self._waiters and self._held.acquire(blocking=False):
                return True
            loop = asyncio.get_running_loop()
            entry = (loop, loop.create_future())
            self._waiters.append(entry)
        try:
            while True:
                await entry[1]
                with self._guard:
                    if self._held.acquire(blocking=False):
                        self._remove(entry)
                        return True
                    # woken but beaten to it: wait for the next release, keeping our place
                    entry = self._renew(entry)
        except BaseException:
            with self._guard:
                self._remove(entry)
            self._wake_next()  # a release may have woken us just before we gave up
            raise

    def release(self) -> None:
        """Free the lock and wake the first waiter."""
        self._held.release()
        self._wake_next()

    def _renew(
        self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]
    ) -> tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]:
        loop = entry[0]
        fresh = (loop, loop.create_future())
        for index, waiting in enumerate(self._waiters):
            if waiting is entry:
                self._waiters[index] = fresh
                break
        else:
            self._waiters.appendleft(fresh)
        return fresh

    def _remove(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(entry)

    def _wake_next(self) -> None:
        with self._guard:
            if self._held.locked():
                return
            for loop, future in self._waiters:
                if not future.done():
                    if loop.is_closed():
                        continue
                    loop.call_soon_threadsafe(_set, future)
                    return

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self.release()


def _set(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
