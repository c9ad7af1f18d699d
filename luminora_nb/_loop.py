"""One asyncio event loop on a background thread, callable from any thread.

The synchronous facade (:mod:`luminora_nb.sync`) owns one :class:`LoopThread` and runs
every coroutine of its async client there. That single design works the same in a
script, in a Jupyter kernel whose own loop is already running (no nested loops: the
kernel's loop is never touched), from an ipywidgets callback, and from many threads at
once: callers hand coroutines over with :func:`asyncio.run_coroutine_threadsafe` and
block on the result, so the async client only ever sees its one loop.

Why not a loop per call: the client's locks, HTTP connection pools and server drivers
bind to the loop they first run on; one long-lived loop keeps them valid for the life
of the facade. Why a daemon thread: a forgotten facade must never keep the interpreter
alive; :func:`atexit` closes every live loop cleanly before daemon threads die.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .errors import LuminoraError

__all__ = ["LoopThread"]

T = TypeVar("T")

_live: weakref.WeakSet[LoopThread] = weakref.WeakSet()


class LoopThread:
    """An event loop running forever in a daemon thread until :meth:`close`.

    Example:
        >>> import asyncio
        >>> loop = LoopThread()
        >>> async def add(a, b):
        ...     await asyncio.sleep(0)
        ...     return a + b
        >>> loop.run(add(2, 3))
        5
        >>> loop.close()
    """

    def __init__(self, *, name: str = "luminora-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._closed = False
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._started.wait()
        _live.add(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<LoopThread {self._thread.name!r} {state}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def in_loop_thread(self) -> bool:
        """Whether the calling code runs on this loop's own thread."""
        return threading.current_thread() is self._thread

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            self._drain()

    def _drain(self) -> None:
        # Whatever still runs when the loop stops is cancelled and given a chance to
        # clean up (close HTTP responses, release locks) before the loop closes.
        loop = self.loop
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def _check_usable(self) -> None:
        if self._closed:
            raise LuminoraError("this Luminora facade is closed; create a new one")
        if self.in_loop_thread():
            raise LuminoraError(
                "a blocking Luminora call was made from its own event loop (an event handler or "
                "callback running there); use the async client (lum.client) inside handlers, or "
                "schedule the call with lum.submit(...)"
            )

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a thread-safe future of its result."""
        if self._closed:
            coro.close()
            raise LuminoraError("this Luminora facade is closed; create a new one")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and return its result in the calling thread.

        Exceptions are re-raised in the caller's thread with the traceback of the
        code that failed. An interrupt while waiting (Ctrl-C, a notebook's stop button)
        cancels the coroutine before propagating.
        """
        try:
            self._check_usable()
        except LuminoraError:
            coro.close()
            raise
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise LuminoraError(f"the call did not finish within {timeout} s and was cancelled") from None
        except BaseException:
            future.cancel()
            raise

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop thread as soon as possible (thread-safe)."""
        if not self._closed:
            self.loop.call_soon_threadsafe(callback, *args)

    def close(self, *, timeout: float = 10.0) -> None:
        """Stop the loop (cancelling what still runs) and join its thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        if self.in_loop_thread():
            self.loop.stop()  # the thread finishes on its own once this callback returns
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


@atexit.register
def _close_all() -> None:
    for loop_thread in list(_live):
        loop_thread.close(timeout=5.0)
