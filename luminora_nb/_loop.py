"""One asyncio event loop for the synchronous facade, callable from any thread.

The synchronous facade (:mod:`luminora_nb.sync`) owns one :class:`LoopThread` and runs
every coroutine of its async client on its loop. The client's locks, HTTP connection
pools and server drivers bind to the loop they first run on, so there is exactly one
loop for the life of the facade, and only ever one thread running it at a time.

Who runs the loop:

* **the caller, when it can** (a script, a worker thread: any thread with no event loop
  of its own running, while nobody else runs ours): the call drives the loop itself
  with ``run_until_complete``. No thread hand-over, so a blocking call costs about what
  ``await`` costs; the hand-over alone (two thread wake-ups) would cost more than a
  whole offline turn on these machines.
* **the loop's own daemon thread otherwise**: a caller whose thread already runs a loop
  (the main thread of a Jupyter kernel, an ipywidgets callback) or who finds the loop
  busy hands its coroutine over with :func:`asyncio.run_coroutine_threadsafe` and waits.
  The daemon thread also keeps driving the loop while work is left over after a call
  (a stream feeding a widget, a timer), and goes back to sleep once the loop is idle.

A mutex decides who drives; whoever hands work over also wakes the daemon thread, so
work never waits for a driver. A caller driving from the main thread handles Ctrl-C as
:class:`asyncio.Runner` does (the first cancels the call, which may clean up; a second
raises at once), so an interrupt never lands in the middle of the client's bookkeeping.
A forgotten facade never keeps the interpreter alive (the thread is a daemon), and
:func:`atexit` closes every live loop cleanly before daemon threads die.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import signal
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .errors import LuminoraError

__all__ = ["LoopThread"]

T = TypeVar("T")

_live: weakref.WeakSet[LoopThread] = weakref.WeakSet()
# How often the daemon thread re-checks for idleness while tasks are pending.
_IDLE_POLL_S = 0.05


class LoopThread:
    """An event loop that runs coroutines for any thread until :meth:`close`.

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
        self._driver = threading.Lock()  # held by whichever thread runs the loop
        self._wake = threading.Event()  # the daemon thread has work to drive
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        _live.add(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<LoopThread {self._thread.name!r} {state}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def in_loop_thread(self) -> bool:
        """Whether the calling code runs on this loop right now (a task, a callback)."""
        return asyncio._get_running_loop() is self.loop

    # -- the daemon thread --------------------------------------------------------------
    def _main(self) -> None:
        while True:
            self._wake.wait()
            with self._driver:
                self._wake.clear()
                if self._closed:
                    self._shutdown()
                    return
                self.loop.run_until_complete(self._until_idle())

    def _busy(self) -> bool:
        """Whether the loop has work left: ready callbacks, tasks or timers."""
        loop: Any = self.loop
        # CPython's BaseEventLoop queues; a loop without them is driven while tasks exist.
        if getattr(loop, "_ready", None):
            return True
        current = asyncio.current_task(self.loop) if self.in_loop_thread() else None
        if any(t is not current for t in asyncio.all_tasks(self.loop)):
            return True
        return any(not h.cancelled() for h in getattr(loop, "_scheduled", ()))

    async def _until_idle(self) -> None:
        while not self._closed:
            await asyncio.sleep(0)  # let callbacks queued meanwhile run first
            if not self._busy():
                return
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if others:
                await asyncio.wait(others, timeout=_IDLE_POLL_S, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(_IDLE_POLL_S)  # a timer is due later

    def _shutdown(self) -> None:
        # Whatever still runs is cancelled and given a chance to clean up (close HTTP
        # responses, release locks) before the loop closes.
        loop = self.loop
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    # -- running coroutines ---------------------------------------------------------------
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
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        self._wake.set()
        return future

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and return its result in the calling thread.

        Exceptions are re-raised in the caller's thread with the traceback of the
        code that failed. An interrupt while waiting (Ctrl-C, a notebook's stop button)
        cancels the coroutine before propagating.

        Raises:
            LuminoraError: the loop is closed, the call comes from the loop itself, or
                ``timeout`` seconds passed (the coroutine is then cancelled).
        """
        running = asyncio._get_running_loop()
        if self._closed or running is self.loop:
            coro.close()
            self._check_usable()  # raises the right error
        if timeout is not None:
            coro = asyncio.wait_for(coro, timeout)
        try:
            if running is None and self._driver.acquire(blocking=False):
                return self._drive(coro)
            return self._hand_over(coro)
        except TimeoutError:
            if timeout is None:
                raise
            raise LuminoraError(f"the call did not finish within {timeout} s and was cancelled") from None

    def _drive(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run the loop in this thread until ``coro`` is done (the driver mutex is held)."""
        task = self.loop.create_task(coro)
        drive = _Drive(self.loop, task) if _watch_sigint() else None
        global _main_drive
        if drive is not None:
            _main_drive = drive
        try:
            self._spin(task)
            result = task.result()
        except asyncio.CancelledError:
            if drive is not None and drive.interrupted:
                raise KeyboardInterrupt() from None
            raise
        except BaseException:
            task.cancel()  # a second Ctrl-C: the daemon thread lets it clean up
            raise
        finally:
            if drive is not None:
                _main_drive = None
            try:
                if not task.done():  # interrupted: done-callbacks may still be queued
                    self._run_ready()
            finally:
                leftover = self._busy()
                self._driver.release()
                if leftover:
                    self._wake.set()  # a stream, a timer: the daemon thread drives on
        return result

    def _spin(self, task: asyncio.Task[Any]) -> None:
        """``run_until_complete(task)``, leaner: the hot path of every blocking call.

        On CPython's loop it turns the loop's crank until the task is done and then runs
        the callbacks its completion queued (what the stop callback of
        ``run_until_complete`` would cost a whole extra pass for); elsewhere it is
        ``run_until_complete``. Either way the result or exception stays in ``task``.
        """
        loop: Any = self.loop
        run_once = getattr(loop, "_run_once", None)
        if run_once is None or not hasattr(loop, "_ready"):
            loop.run_until_complete(task)
            return
        # What run_forever sets up, once per call: this thread runs the loop, async
        # generators started here are finalised by it.
        hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(
            firstiter=loop._asyncgen_firstiter_hook, finalizer=loop._asyncgen_finalizer_hook
        )
        loop._thread_id = threading.get_ident()
        asyncio.events._set_running_loop(loop)
        try:
            while not task.done():
                run_once()
            ready = loop._ready
            for _ in range(len(ready)):  # the task's done-callbacks, run in this pass
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
        finally:
            asyncio.events._set_running_loop(None)
            loop._thread_id = None
            sys.set_asyncgen_hooks(*hooks)

    def _run_ready(self) -> None:
        """Run the callbacks a finished call left queued (done-callbacks), one loop pass.

        Cheaper here than waking the daemon thread for them after every call.
        """
        loop: Any = self.loop
        if getattr(loop, "_ready", None) and not loop.is_closed():
            loop.call_soon(loop.stop)
            loop.run_forever()

    def _hand_over(self, coro: Coroutine[Any, Any, T]) -> T:
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop as soon as possible (thread-safe)."""
        if not self._closed:
            self.loop.call_soon_threadsafe(callback, *args)
            self._wake.set()

    def close(self, *, timeout: float = 10.0) -> None:
        """Cancel what still runs, close the loop and end its thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        self._wake.set()
        if self.in_loop_thread():
            return  # the daemon thread finishes once the driving code returns
        self._thread.join(timeout)


class _Drive:
    """The call the main thread is driving, for the Ctrl-C handler."""

    __slots__ = ("interrupted", "loop", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.loop, self.task, self.interrupted = loop, task, False


_main_drive: _Drive | None = None
_MAIN_THREAD_ID = threading.main_thread().ident
_sigint_previous: Any = None


def _on_sigint(signum: int, frame: Any) -> None:
    # As asyncio.Runner does while the main thread drives a call: the first Ctrl-C
    # cancels the call (which may clean up), a second raises at once. Outside a call it
    # is Python's own handler.
    drive = _main_drive
    if drive is None or drive.interrupted or drive.task.done():
        if callable(_sigint_previous):
            _sigint_previous(signum, frame)
            return
        raise KeyboardInterrupt()
    drive.interrupted = True
    drive.task.cancel()
    drive.loop.call_soon_threadsafe(lambda: None)  # wake the selector


def _watch_sigint() -> bool:
    """Whether this drive is the main thread's, with our Ctrl-C handler in place.

    The handler is installed once (setting a signal handler costs a system call, too
    much for every call) and only over Python's default one, never over a handler the
    program set itself.
    """
    global _sigint_previous
    if threading.get_ident() != _MAIN_THREAD_ID:
        return False
    current = signal.getsignal(signal.SIGINT)
    if current is _on_sigint:
        return True
    if current is not signal.default_int_handler:
        return False
    _sigint_previous = signal.signal(signal.SIGINT, _on_sigint)
    return True


@atexit.register
def _close_all() -> None:
    for loop_thread in list(_live):
        loop_thread.close(timeout=5.0)
