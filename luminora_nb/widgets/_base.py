"""What every luminora_nb widget shares: assets, errors in place, work off the kernel thread.

A widget is a small Python class over :class:`anywidget.AnyWidget`; its browser code is
an ES module (and a CSS file) in the top-level ``widgets/`` folder of the repository,
shipped inside the wheel as ``luminora_nb/_static``; :func:`widget_module` and
:func:`widget_css` put the shared helpers (``dom.js``) and styles (``base.css``) in
front of a widget's own. State the browser renders lives in
synced traits; actions (send, stop, rate, ...) arrive as custom messages and are public
Python methods too, so a test (or a user in the next cell) drives a widget exactly as
the browser does, with no browser.

Long actions never block the kernel: they run as coroutines on the facade's loop
thread (:meth:`LuminoraWidget._background`); when they fail, the widget shows a short
message in place (``error``) and keeps the exception in ``last_error``. Streamed text
reaches the browser through a :class:`DeltaBatcher`, which coalesces chunks into a few
messages so a 5,000-chunk reply costs about its own size on the wire.

A browser action is a custom message ``{"type": kind, ...}``; a widget lists the kinds it
answers in ``_actions`` and :meth:`LuminoraWidget._on_action` runs them, so every widget
shows a failed action the same way. The inspectors show stored state that follows the
client's events: :class:`LiveWidget` holds what they share (the first load, the
subscription, coalesced reloads through :class:`LiveRefresh`, refresh and teardown).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anywidget
import traitlets

from ..errors import LuminoraError

if TYPE_CHECKING:
    from ..events import Event, Subscription
    from ..sync import Luminora

__all__ = [
    "DeltaBatcher",
    "LiveRefresh",
    "LiveWidget",
    "LuminoraWidget",
    "asset_text",
    "friendly_error",
    "launch",
    "track",
    "widget_css",
    "widget_module",
]

T = TypeVar("T")
logger = logging.getLogger("luminora_nb.widgets")

_MAX_ERROR_CHARS = 300


def _asset_dirs() -> list[Path]:
    dirs = []
    packaged = resources.files("luminora_nb") / "_static"
    if packaged.is_dir():  # an installed wheel
        dirs.append(Path(str(packaged)))
    dirs.append(Path(__file__).resolve().parents[2] / "widgets")  # a source checkout
    return dirs


@cache
def asset_text(name: str) -> str:
    """The text of a browser asset (``chat.js``, ``base.css``, ...).

    Raises:
        FileNotFoundError: the asset is in neither the wheel nor the source tree.

    Example:
        >>> "export default" in asset_text("chat.js")
        True
    """
    for folder in _asset_dirs():
        path = folder / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    searched = ", ".join(str(d) for d in _asset_dirs())
    raise FileNotFoundError(f"widget asset {name!r} not found in {searched}; reinstall luminora_nb")


@cache
def widget_module(name: str) -> str:
    """The ES module of widget ``name`` as anywidget gets it (its ``_esm``).

    anywidget loads ``_esm`` as the text of one module, so a relative ``import`` has
    nothing to resolve against; the helpers the modules share (``h``, ``button``, ...)
    therefore live in ``dom.js``, which is put in front of ``<name>.js``.

    Args:
        name: The widget's asset stem (``"chat"`` for ``chat.js``).

    Raises:
        FileNotFoundError: an asset is in neither the wheel nor the source tree.

    Example:
        >>> source = widget_module("chat")
        >>> source.startswith(asset_text("dom.js")) and source.endswith(asset_text("chat.js"))
        True
    """
    return asset_text("dom.js") + "\n" + asset_text(f"{name}.js")


@cache
def widget_css(name: str) -> str:
    """The stylesheet of widget ``name`` (its ``_css``): ``base.css``, then ``<name>.css``.

    Args:
        name: The widget's asset stem (``"chat"`` for ``chat.css``).

    Raises:
        FileNotFoundError: an asset is in neither the wheel nor the source tree.
    """
    return asset_text("base.css") + "\n" + asset_text(f"{name}.css")


def friendly_error(exc: BaseException) -> str:
    """A short, one-paragraph message for showing ``exc`` inside a widget.

    Our own errors already say what to do; anything else is named by its type.

    Example:
        >>> from luminora_nb.errors import PersonalityError
        >>> friendly_error(PersonalityError("unknown personality 'x'"))
        "unknown personality 'x'"
    """
    if isinstance(exc, asyncio.CancelledError | concurrent.futures.CancelledError):
        return "cancelled"
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, LuminoraError):
        text = f"{type(exc).__name__}: {text}"
    first = text.splitlines()[0] if text else text
    return first if len(first) <= _MAX_ERROR_CHARS else first[: _MAX_ERROR_CHARS - 1] + "…"


class LuminoraWidget(anywidget.AnyWidget):
    """Base of the luminora_nb widgets.

    Traits shared with the browser: ``error`` (a short message shown in red inside the
    widget, empty when all is well) and ``busy`` (an action runs; the widget shows a
    spinner and offers to stop it). ``last_error`` holds the full exception.
    """

    error = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)

    def __init__(self, lum: Luminora, **kwargs: Any) -> None:
        from ..sync import Luminora

        if not isinstance(lum, Luminora):
            raise LuminoraError(
                f"{type(self).__name__} needs a Luminora facade as its first argument "
                f"(got {type(lum).__name__}); create one with `lum = Luminora()`"
            )
        super().__init__(**kwargs)
        self.lum = lum
        self.last_error: BaseException | None = None
        # each running action and an event set once its outcome is shown (busy, error)
        self._tasks: dict[concurrent.futures.Future[Any], threading.Event] = {}
        self._subscription: Subscription | None = None  # to the client's events, if the widget follows them

    # -- errors ---------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        self.last_error = exc
        self.error = friendly_error(exc)

    def clear_error(self) -> None:
        """Hide the error message (the exception stays in ``last_error``)."""
        self.error = ""

    # -- background work ------------------------------------------------------------
    def _background(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        on_done: Callable[[T], None] | None = None,
        busy: bool = True,
    ) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the facade's loop; failures land in ``error``/``last_error``."""
        if busy:
            self.busy = True
        self.error = ""
        future = self.lum.submit(coro)
        settled = self._tasks[future] = threading.Event()

        def finished(done: concurrent.futures.Future[T]) -> None:
            try:
                if busy and not any(not t.done() for t in self._tasks if t is not done):
                    self.busy = False
                if done.cancelled():
                    return
                exc = done.exception()
                if exc is not None:
                    self._fail(exc)
                    return
                if on_done is not None:
                    try:
                        on_done(done.result())
                    except Exception as callback_exc:  # shown in place, never a traceback flood
                        logger.debug("widget callback failed", exc_info=True)
                        self._fail(callback_exc)
            finally:
                # wait() returns only now: a future wakes its waiters before its callbacks run
                self._tasks.pop(done, None)
                settled.set()

        future.add_done_callback(finished)
        return future

    def wait(self, timeout: float | None = 30.0) -> None:
        """Block until the widget's running actions are done (for scripts and tests).

        Raises:
            LuminoraError: they did not finish within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pending = list(self._tasks.values())  # actions started meanwhile are waited for too
            if not pending:
                return
            for settled in pending:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not settled.wait(left):
                    raise LuminoraError(f"{type(self).__name__}: actions still running after {timeout} s")

    # -- browser actions ------------------------------------------------------------
    def _actions(self) -> dict[str, Callable[[Mapping[str, Any]], object]]:
        """The browser messages this widget answers: ``{"type": kind, ...}`` -> a call taking the message."""
        return {}

    def _on_action(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Run the action a browser message names (see :meth:`_actions`); others are ignored.

        A failure is shown in place (``error``, ``last_error``) and logged at debug level
        only: a browser action never floods the kernel log.
        """
        if not isinstance(content, Mapping):
            return
        kind = content.get("type")
        action = self._actions().get(kind) if isinstance(kind, str) else None
        if action is None:
            return
        try:
            action(content)
        except Exception as exc:
            logger.debug("%s action %r failed", type(self).__name__, kind, exc_info=True)
            self._fail(exc)

    # -- events ---------------------------------------------------------------------
    def _unsubscribe(self) -> None:
        """Stop listening to the client's events, on the loop where the handlers run."""
        subscription = getattr(self, "_subscription", None)  # None if __init__ failed early
        if subscription is not None:
            self._subscription = None
            if not self.lum.closed:
                self.lum.call_soon(subscription.close)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
        # ipywidgets would cut the text form at 110 characters; ours is meant to be read.
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        data["text/plain"] = self._text()
        return data, metadata

    def _text(self) -> str:
        """The plain-text form (nbconvert, GitHub previews, terminals)."""
        return f"<{type(self).__name__}>"

    def __repr__(self) -> str:
        return self._text()


class LiveRefresh:
    """Coalesced, ordered reloads of a widget's state, safe from any thread.

    ``poke()`` (from an event handler on the loop thread, or from any other thread)
    schedules ``load()`` on the facade's loop unless one is already waiting to start; a
    burst of events therefore costs one reload. Each reload is numbered when it starts;
    ``apply`` gets its result only if no later reload has been applied already, under a
    lock, so the widget's state never goes back in time.

    Args:
        submit: Runs a coroutine on the facade's loop (``lum.submit``) and returns its future.
        load: The coroutine function reading the state (runs on the loop).
        apply: Called with the loaded state (on the loop thread).
        fail: Called with the exception of a failed reload.

    Example:
        >>> import asyncio, concurrent.futures
        >>> got = []
        >>> async def load():
        ...     return 42
        >>> def submit(coro):
        ...     future = concurrent.futures.Future()
        ...     future.set_result(asyncio.run(coro))
        ...     return future
        >>> live = LiveRefresh(submit, load, got.append, print)
        >>> live.poke().result() is None, got
        (True, [42])
    """

    def __init__(
        self,
        submit: Callable[[Coroutine[Any, Any, Any]], Any],
        load: Callable[[], Coroutine[Any, Any, Any]],
        apply: Callable[[Any], None],
        fail: Callable[[BaseException], None],
    ) -> None:
        self._submit = submit
        self._load = load
        self._apply = apply
        self._fail = fail
        self._lock = threading.Lock()
        # the future of a reload that has not started yet
        self._waiting: concurrent.futures.Future[None] | None = None
        self._numbers = itertools.count(1)
        self._applied = 0

    def poke(self) -> concurrent.futures.Future[None]:
        """Schedule a reload (or join the one waiting to start); returns its future.

        The future completes once that reload is applied (or failed, or never ran
        because the facade closed).
        """
        with self._lock:
            if self._waiting is not None:
                return self._waiting
            outer: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._waiting = outer
        # submitted outside the lock: a submit that runs the coroutine at once must not deadlock
        try:
            inner = self._submit(self._run(outer))
        except BaseException:
            with self._lock:
                if self._waiting is outer:
                    self._waiting = None
            _settle(outer)
            raise
        inner.add_done_callback(lambda _: _settle(outer))
        return outer

    async def _run(self, outer: concurrent.futures.Future[None]) -> None:
        try:
            with self._lock:
                if self._waiting is outer:
                    self._waiting = None  # events from now on need another reload
                number = next(self._numbers)
            try:
                state = await self._load()
            except Exception as exc:  # shown in place; the previous state stays
                self._fail(exc)
                return
            with self._lock:
                if number < self._applied:
                    return
                self._applied = number
                self._apply(state)
        finally:
            _settle(outer)


def _settle(future: concurrent.futures.Future[None]) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # the other path settled it
        future.set_result(None)


def track(widget: LuminoraWidget, future: Any) -> None:
    """Make ``widget.wait()`` wait for ``future`` too (a reload started by an event).

    Safe from any thread; a future already tracked (a coalesced reload) is tracked once.
    """
    if future in widget._tasks:
        return
    settled = widget._tasks[future] = threading.Event()

    def done(_: Any) -> None:
        widget._tasks.pop(future, None)
        settled.set()

    future.add_done_callback(done)


def launch(
    widget: LuminoraWidget, coro: Coroutine[Any, Any, Any], on_done: Callable[[Any], None] | None = None
) -> None:
    """Run an action of ``widget`` in the background; a facade that cannot run it is said in place."""
    try:
        widget._background(coro, on_done=on_done)
    except Exception as exc:  # a closed facade
        coro.close()
        widget.busy = False
        widget._fail(exc)


class LiveWidget(LuminoraWidget):
    """A widget showing stored state that follows the client's events (the inspectors).

    A subclass reads its state in :meth:`_load` (a coroutine, run on the facade's loop)
    and shows it in :meth:`_apply`; once its arguments are checked, it calls
    :meth:`_go_live` with the events that concern it. From then on each such event
    schedules one coalesced, ordered reload (:class:`LiveRefresh`), :meth:`refresh`
    does the same on demand, and :meth:`close` stops listening. Browser messages go to
    :meth:`~LuminoraWidget._actions`.
    """

    def __init__(self, lum: Luminora, **kwargs: Any) -> None:
        super().__init__(lum, **kwargs)
        self._live = LiveRefresh(self.lum.submit, self._load, self._apply, self._fail)
        self._valid = False  # the arguments are checked: actions may run
        self.on_msg(self._on_action)

    async def _load(self) -> Any:
        """The state shown, read from the client (on the facade's loop)."""
        raise NotImplementedError(f"{type(self).__name__} must say how its state is read")

    def _apply(self, state: Any) -> None:
        """Show ``state`` (what :meth:`_load` read) in the synced traits."""
        raise NotImplementedError(f"{type(self).__name__} must say how its state is shown")

    def _go_live(self, types: Sequence[type[Event]], concerns: Callable[[Event], bool]) -> None:
        """Show the stored state now, then reload on each event of ``types`` that ``concerns`` this widget.

        ``concerns`` must not hold the widget: the client keeps the handler, and only a
        weak reference lets a widget nobody shows any more go away.
        """
        self._valid = True
        self._apply(self.lum.run(self._load()))  # the first view shows the state at once
        ref = weakref.ref(self)

        def on_event(event: Event) -> None:
            widget = ref()
            if widget is not None and concerns(event):
                track(widget, widget._live.poke())

        self._subscription = self.lum.subscribe(on_event, types=list(types))

    def refresh(self) -> None:
        """Reload the state from the store (on the facade's loop; returns at once)."""
        if not self._valid:
            return
        try:
            track(self, self._live.poke())
        except Exception as exc:  # a closed facade: said in place
            self._fail(exc)

    def close(self) -> None:
        """Stop listening to the client and close the widget."""
        self._unsubscribe()
        super().close()


@dataclass(eq=False)  # eq=False: a batcher is one stream's, compared (and hashed) by identity
class DeltaBatcher:
    """Coalesces streamed text into few front-end messages.

    ``add`` is called for every chunk on the facade's loop thread; text goes out at
    most every ``interval`` seconds (or when ``max_chars`` pile up), and ``finish``
    sends the rest with the final fields. Each message is ``{"type": kind, "id": ...,
    "text": ...}`` plus extras.

    Example:
        >>> sent = []
        >>> batcher = DeltaBatcher(sent.append, kind="delta", message_id="m1", interval=60)
        >>> for word in ["a ", "b ", "c"]:
        ...     batcher.add(word)
        >>> batcher.finish(finish_reason="stop")
        >>> sent
        [{'type': 'delta', 'id': 'm1', 'text': 'a b c', 'final': True, 'finish_reason': 'stop'}]
    """

    send: Callable[[dict[str, Any]], None]
    _: KW_ONLY
    kind: str
    message_id: str
    interval: float = 0.05
    max_chars: int = 8192
    extra: dict[str, Any] | None = None
    _parts: list[str] = field(default_factory=list, init=False, repr=False)
    _size: int = field(default=0, init=False, repr=False)
    _last: float = field(default_factory=time.monotonic, init=False, repr=False)
    _timer: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)

    def add(self, text: str) -> None:
        """Queue ``text``; sends when the interval has passed or enough has piled up."""
        if not text:
            return
        self._parts.append(text)
        self._size += len(text)
        now = time.monotonic()
        if self._size >= self.max_chars or now - self._last >= self.interval:
            self.flush()
        elif self._timer is None:
            # A stalled stream still shows what it has within one interval.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(self.interval, self.flush)

    def flush(self, **fields: Any) -> None:
        """Send what is queued now (with ``fields``), if anything is."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._parts and not fields:
            return
        text = "".join(self._parts)
        message = {"type": self.kind, "id": self.message_id, "text": text, **(self.extra or {}), **fields}
        self._parts.clear()
        self._size = 0
        self._last = time.monotonic()
        self.send(message)

    def finish(self, **fields: Any) -> None:
        """Send the rest with ``final: True`` and ``fields`` (finish reason, usage, ...)."""
        self.flush(final=True, **fields)
