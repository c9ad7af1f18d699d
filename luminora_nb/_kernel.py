"""``asyncio.run(...)`` in a Jupyter cell: the kernel's event loop made re-entrant, for that call only.

The API reference's examples end with ``asyncio.run(example())``. Pasted into a notebook
cell they fail with "asyncio.run() cannot be called from a running event loop": the
kernel (ipykernel) executes every cell inside a task on its own asyncio loop. Importing
:mod:`luminora_nb` in a kernel (directly, through the seed paths ``luminoracore`` /
``luminoracore_sdk``, or with ``%load_ext luminora_nb``) calls :func:`enable_asyncio_run`,
which replaces ``asyncio.run`` with :func:`run`:

* in the **main thread of an IPython kernel, while the kernel's loop runs** (the cell
  case), ``run(main)`` runs ``main`` as a task **on the kernel's own loop**, turning that
  loop's crank from inside the cell until the task is done, and returns its result
  (or raises its exception);
* everywhere else (another thread, a plain script, a terminal IPython, another loop)
  it *is* the original ``asyncio.run``: the call is handed over unchanged.

Outside a kernel nothing is patched at all; ``LUMINORA_NO_NEST_ASYNCIO=1`` in the
environment turns the patch off inside kernels too (the original ``RuntimeError`` comes
back).

Decision (made by test). Three candidates ran the same scenarios in real ipykernel
7.4.0 kernels, on Python 3.11 and 3.13 (the scenarios are in ``tests/test_kernel.py``):

(a) a re-entrant kernel loop: ``nest_asyncio.apply(kernel_loop)`` (nest-asyncio 1.6.0);
(b) a replacement ``asyncio.run`` that runs the coroutine to completion on a helper loop
    in another thread while the cell waits;
(c) a re-entrant kernel loop as in (a), but scoped to the cell case: this module.

(b) failed where notebooks live: what earlier top-level-``await`` cells made belongs to
the kernel's loop, and that loop is blocked while the cell waits for the helper. An
``httpx.AsyncClient`` from an earlier cell raised "... is bound to a different event
loop", awaiting a future of the kernel loop raised "... attached to a different loop",
and taking an ``asyncio.Lock`` held by a task of the kernel loop deadlocked. (Our own
``LuminoraCoreClient`` survived only because its providers keep one HTTP client per
loop and reconnect.) (a) and (c) keep one loop, so all of that works, as do top-level
``await`` before and after, repeated and nested runs, ipywidgets callbacks (``click()``
in a cell and from a task), the :class:`~luminora_nb.sync.Luminora` facade in the same
kernel, and 20 concurrent ``httpx`` requests to a local server inside one run.

(c) over (a). Under (a), "Run All" broke: every cell queued behind a cell whose
``asyncio.run`` was running was lost, and so was a widget event or any other request
arriving meanwhile (the notebook then waits for good). ipykernel 7 runs each shell
message's task in one persistent ``contextvars.Context``; the running cell has it
entered, and a task of the next message cannot enter it a second time ("cannot enter
context: ... is already entered"), so its first step fails and the message is gone.
(c) runs such callbacks in a copy of that context and passes: cells queued behind an
``asyncio.run`` run in order, a button clicked three times while a cell waits (inside
``asyncio.run``) for that click works, each callback calling ``asyncio.run`` itself.
Interrupting a cell with top-level ``await`` while its ``asyncio.run`` waits also left
the cell without a reply under (a); under (c) it ends with ``KeyboardInterrupt`` within a
second. Besides, ``nest_asyncio.apply`` patches the process rather than the cell case:
``asyncio.run`` for every thread (a worker thread's run then leaves its loop open), the
pure-Python ``asyncio.Task``/``Future`` for every loop (the facade's included),
``_run_once`` on the loop *class* and the event-loop policy; and nest-asyncio is
archived upstream. (c) needs no third-party package. It relies on CPython's selector
loop internals (``_ready``, ``_scheduled``, ``_selector``, ``_process_events``), the
same ones nest-asyncio uses; the tests run it in real kernels.

How one nested run works (:func:`_run_nested`): the running cell is a step of a task on
the kernel loop. The run creates the task for ``main``, takes the cell's task out of
"current task" (asyncio refuses to step a task while another one is current), then
repeats one loop iteration (select with the right timeout, move due timers to the ready
queue, run the ready callbacks) until ``main`` is done, and puts the cell's task back.
The kernel's own loop iteration, paused under the cell, counted its ready callbacks
before it started; the nested run leaves at least as many entries in the ready queue
(cancelled no-op handles where it consumed some), so that iteration never pops an empty
queue. A ready callback bound to a context that is entered further up the stack (the
cell's own) runs in a copy of it. While the run lasts, Ctrl-C is handled as
``asyncio.Runner`` does: the first cancels ``main`` (which may clean up) and
``KeyboardInterrupt`` follows; a second raises at once. ipykernel's own handler for
cells with top-level ``await`` (which cancels the cell's task, one step too late for a
nested run) is set aside meanwhile. If the cell's task is cancelled by anything else (a
timeout around it), ``main`` is cancelled too.
Differences from a fresh ``asyncio.run``: the loop is the kernel's, so tasks that
``main`` started and left running keep running there (as with top-level ``await``), and
``debug`` is not applied to the shared loop. Code that took ``from asyncio import run``
before ``luminora_nb`` was imported keeps the original.

Example:
    Outside a kernel (here: a doctest) nothing is patched:

    >>> import asyncio
    >>> enable_asyncio_run()
    False
    >>> asyncio.run is original_asyncio_run()
    True
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio
    import contextvars

__all__ = [
    "OPT_OUT_ENV",
    "disable_asyncio_run",
    "enable_asyncio_run",
    "in_kernel_main_thread",
    "original_asyncio_run",
    "run",
]

T = TypeVar("T")

#: Environment variable that keeps ``asyncio.run`` untouched in kernels too.
OPT_OUT_ENV = "LUMINORA_NO_NEST_ASYNCIO"

# asyncio.run as it was before we replaced it (None until enable_asyncio_run installs).
_original: Callable[..., Any] | None = None
# The kernel's loop, captured from inside a cell when the patch is installed.
_kernel_loop: asyncio.AbstractEventLoop | None = None
# A one-shot pre_run_cell hook waiting for the kernel loop to run (import at kernel start).
_deferred: Callable[..., None] | None = None
# CPython's longest select() timeout (asyncio.base_events.MAXIMUM_SELECT_TIMEOUT).
_MAX_SELECT = 24 * 3600


def _opted_out() -> bool:
    return os.environ.get(OPT_OUT_ENV, "").strip().lower() not in ("", "0", "false", "no")


def original_asyncio_run() -> Callable[..., Any]:
    """The ``asyncio.run`` that was there before :func:`enable_asyncio_run` (or the current one).

    Example:
        >>> import asyncio
        >>> original_asyncio_run() is asyncio.runners.run
        True
    """
    if _original is not None:
        return _original
    import asyncio

    return asyncio.run


def _kernel_shell() -> Any:
    """The running IPython shell if it is a kernel's, else ``None``; never imports IPython."""
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:  # a half-imported or stub IPython
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def in_kernel_main_thread() -> bool:
    """Whether this code runs in the main thread of an IPython kernel (``get_ipython().kernel``).

    Example:
        >>> in_kernel_main_thread()
        False
    """
    import threading

    return _kernel_shell() is not None and threading.current_thread() is threading.main_thread()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _nestable(loop: asyncio.AbstractEventLoop) -> bool:
    # The nested run drives the loop's own selector and queues: CPython's selector loop
    # (what ipykernel runs on every platform) has them; uvloop and others do not.
    from asyncio.selector_events import BaseSelectorEventLoop

    return isinstance(loop, BaseSelectorEventLoop) and all(
        hasattr(loop, name) for name in ("_ready", "_scheduled", "_selector", "_process_events")
    )


def enable_asyncio_run() -> bool:
    """Let ``asyncio.run(...)`` work in this kernel's cells; a no-op anywhere else.

    Installs :func:`run` as ``asyncio.run`` when called in the main thread of an IPython
    kernel whose asyncio loop is running (from a cell), unless ``LUMINORA_NO_NEST_ASYNCIO``
    is set. Called in a kernel before its loop runs (an extension loaded at start-up),
    it waits for the first cell. Idempotent.

    Returns:
        Whether ``asyncio.run`` is now the kernel-aware :func:`run`.

    Example:
        >>> enable_asyncio_run()  # not in a kernel: nothing happens
        False
    """
    if _opted_out():
        return False
    shell = _kernel_shell()
    if shell is None:
        return False
    try:
        return _install(shell)
    except Exception as exc:  # never let `import luminora_nb` fail over this convenience
        import warnings

        warnings.warn(f"luminora_nb: asyncio.run() stays unpatched in this kernel: {exc!r}", stacklevel=2)
        return False


def _install(shell: Any) -> bool:
    global _original, _kernel_loop, _deferred
    import asyncio
    import threading

    if asyncio.run is run:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    loop = _running_loop()
    if loop is None:
        # Imported while the kernel starts (exec_lines, startup files): finish at the first cell.
        if _deferred is None:

            def _on_first_cell(*_: Any) -> None:
                global _deferred
                hook, _deferred = _deferred, None
                if hook is not None:
                    shell.events.unregister("pre_run_cell", hook)
                enable_asyncio_run()

            _deferred = _on_first_cell
            shell.events.register("pre_run_cell", _on_first_cell)
        return False
    if not _nestable(loop):
        return False
    _original, _kernel_loop = asyncio.run, loop
    asyncio.run = run
    return True


def disable_asyncio_run() -> None:
    """Put the original ``asyncio.run`` back (if :func:`enable_asyncio_run` replaced it).

    Example:
        >>> disable_asyncio_run()
        >>> import asyncio
        >>> asyncio.run is original_asyncio_run()
        True
    """
    global _original, _kernel_loop
    import asyncio

    if _original is not None and asyncio.run is run:
        asyncio.run = _original
    _original, _kernel_loop = None, None


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None, **kwargs: Any) -> T:
    """``asyncio.run`` that also works inside a running kernel cell.

    In the main thread of the kernel, while the kernel's loop runs, ``main`` runs on
    that loop (nested) and its result is returned; anywhere else this is the original
    ``asyncio.run(main, debug=debug, **kwargs)``.

    Example:
        >>> async def answer():
        ...     return 42
        >>> run(answer())  # no running loop here: the original asyncio.run
        42
    """
    import asyncio
    import threading

    original = original_asyncio_run()
    if original is run:  # called directly before any install
        original = asyncio.runners.run
    loop = _running_loop()
    if (
        loop is None
        or kwargs  # loop_factory (3.12+) asks for a loop of its own: the original says no
        or loop is not _kernel_loop
        or threading.current_thread() is not threading.main_thread()
    ):
        return original(main, debug=debug, **kwargs)  # type: ignore[no-any-return]
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    return _run_nested(loop, main)


def _noop() -> None:
    """Callback of the cancelled placeholder handles; never runs."""


def _run_nested(loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on ``loop``, which is running further up this very stack, until it is done."""
    import asyncio
    import signal
    from asyncio import events, tasks

    lp: Any = loop  # the private queues of CPython's BaseEventLoop
    ready = lp._ready
    entry_len = len(ready)
    task = loop.create_task(main)
    outer = tasks.current_task(loop)
    outer_cancels = outer.cancelling() if outer is not None else 0
    interrupts = 0

    def on_sigint(signum: int, frame: object) -> None:
        # As asyncio.Runner does: the first Ctrl-C cancels main (which may clean up),
        # a second one raises at once. It also keeps ipykernel's handler for async cells
        # (which cancels the cell's task, one step too late for a nested run) out of it.
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1 and not task.done():
            task.cancel()
            loop.call_soon_threadsafe(_noop)  # wake the selector
            return
        raise KeyboardInterrupt()

    previous_sigint = signal.getsignal(signal.SIGINT)
    if previous_sigint is not None:
        signal.signal(signal.SIGINT, on_sigint)
    if outer is not None:
        tasks._leave_task(loop, outer)
    try:
        try:
            while not task.done():
                if outer is not None and outer.cancelling() > outer_cancels:
                    # The cell's task was cancelled (a timeout around it): the nested run
                    # is part of that task's work, so it is cancelled too.
                    outer_cancels = outer.cancelling()
                    task.cancel()
                _iterate(lp)
                if lp._stopping and not task.done():
                    raise RuntimeError("Event loop stopped before Future completed.")
        except BaseException:  # a second Ctrl-C, or the loop stopped: stop main, let it clean up
            if not task.done():
                task.cancel()
                while not task.done():
                    _iterate(lp)
            raise
    finally:
        if outer is not None:
            tasks._enter_task(loop, outer)
        if previous_sigint is not None:
            signal.signal(signal.SIGINT, previous_sigint)
        # The loop iteration paused under this call counted its ready handles before it
        # ran us; give it back at least as many entries (cancelled no-ops are skipped).
        missing = entry_len - len(ready)
        if missing > 0:
            placeholder = events.Handle(_noop, (), loop, None)
            placeholder.cancel()
            ready.extendleft([placeholder] * missing)
    try:
        return task.result()
    except asyncio.CancelledError:
        if interrupts:
            raise KeyboardInterrupt() from None
        raise


def _iterate(lp: Any) -> None:
    """One pass of CPython's ``BaseEventLoop._run_once`` on the loop's private queues."""
    import heapq
    from asyncio import events

    ready = lp._ready
    scheduled = lp._scheduled
    while scheduled and scheduled[0]._cancelled:
        lp._timer_cancelled_count -= 1
        heapq.heappop(scheduled)._scheduled = False
    if ready or lp._stopping:
        timeout: float | None = 0
    elif scheduled:
        timeout = min(max(0.0, scheduled[0]._when - lp.time()), _MAX_SELECT)
    else:
        timeout = None
    lp._process_events(lp._selector.select(timeout))
    end_time = lp.time() + lp._clock_resolution
    while scheduled and scheduled[0]._when < end_time:
        handle = heapq.heappop(scheduled)
        handle._scheduled = False
        ready.append(handle)
    for _ in range(len(ready)):
        if not ready:
            break
        handle = ready.popleft()
        if handle._cancelled:
            continue
        context = getattr(handle, "_context", None)
        if context is not None and _entered(context):
            # Bound to a context entered further up this stack (ipykernel 7 runs every
            # shell message in one persistent context, the running cell's included): run
            # it in a copy, as it cannot be entered twice. Without this, a message that
            # arrives meanwhile (the next queued cell, a widget event) would be lost.
            handle = events.Handle(handle._callback, handle._args, lp, context.copy())
        handle._run()


def _entered(context: contextvars.Context) -> bool:
    """Whether ``context`` is entered further up this thread's stack (it cannot be entered twice)."""
    try:
        context.run(_noop)
    except RuntimeError:
        return True
    return False
